"""Refine jobs against the real binary: synthesise → train → evaluate →
gate → activate on a tiny input. With the gate off the candidate serves
(X-Model-Version changes); with an impossible gate it is kept, not
activated, and the job says why; a corpus too small fails with that reason
and leaves serving alone; two refines at once run in turn; a disk that
fills while the version is written, or training that diverges to NaN,
fails the job with no half version;
bad fields are 422s that name the field. One
server for the module (job workers at nice 0); a small dev file keeps the
evaluation short."""
from __future__ import annotations

import resource
import signal

import pytest
import requests

from conftest import ROOT, Server

SENTENCES = [
    "A man is playing a guitar on the street.",
    "Two dogs run across a snowy field.",
    "A woman is slicing tomatoes in the kitchen.",
    "Children are building a sandcastle on the beach.",
]
# A few rounds and steps: the point is the pipeline, not the gain.
SMALL = {"teacher_filter": False, "rounds": 3, "min_list_length": 3, "max_new_tokens": 24, "steps": 2, "evaluate_every": 1,
         "learning_rate": 1e-5, "dev": "dev-small.jsonl"}
STAGES = ["synthesize", "train", "evaluate", "gate", "activate"]


@pytest.fixture(scope="module")
def refine_server(tmp_path_factory):
    s = Server(tmp_path_factory.mktemp("refine"), "--threads", "1", "--job-nice", "0")
    # The first 40 pairs of the STS-B dev set, under the data directory.
    lines = (ROOT / "data" / "stsb" / "stsb_dev.jsonl").read_text().splitlines()[:40]
    (s.data_dir / "dev-small.jsonl").write_text("\n".join(lines) + "\n")
    yield s
    s.terminate()


def serving_version(server) -> str:
    r = requests.post(server.url + "/embed", json={"inputs": "A man plays a guitar."}, timeout=30)
    assert r.status_code == 200
    return r.headers["X-Model-Version"]


def models(server) -> dict:
    return requests.get(server.url + "/models", timeout=10).json()


def stage_states(job) -> dict[str, str]:
    return {s["name"]: s["state"] for s in job["result"]["stages"]}


def test_gate_off_activates_the_candidate(refine_server):
    s = refine_server
    assert serving_version(s) == "base"
    job = s.submit_job("refine", sentences=SENTENCES, gate=False, version="refined-open", **SMALL)
    assert job["kind"] == "refine" and job["state"] in ("queued", "running")
    done = s.wait_for_job(job["id"])
    assert done["state"] == "succeeded", done
    result = done["result"]
    assert [x["name"] for x in result["stages"]] == STAGES
    assert stage_states(done) == {"synthesize": "succeeded", "train": "succeeded", "evaluate": "succeeded",
                                  "gate": "skipped", "activate": "succeeded"}
    assert result["parent"] == "base" and result["version"] == "refined-open" and result["activated"] is True
    assert result["lists"] >= 1
    train = next(x for x in result["stages"] if x["name"] == "train")
    assert train["done"] == train["total"] == 2
    dev = result["evaluation"][0]
    assert dev["name"] == "dev-small.jsonl" and dev["kind"] == "dev" and dev["metric"] == "spearman"
    assert -100 <= dev["before"] <= 100 and -100 <= dev["after"] <= 100
    assert abs(dev["delta"] - (dev["after"] - dev["before"])) < 0.02
    # The candidate serves now, and GET /models agrees.
    assert serving_version(s) == "refined-open"
    listing = models(s)
    assert listing["active"] == "refined-open"
    manifest = next(v for v in listing["versions"] if v["version"] == "refined-open")["manifest"]
    assert manifest["parent"] == "base" and manifest["dataset"]["job"] == job["id"]


def test_impossible_gate_keeps_the_version_without_activating_it(refine_server):
    s = refine_server
    before = serving_version(s)
    job = s.submit_job("refine", sentences=SENTENCES[:3], min_gain=100, version="refined-gated",
                       checks=[{"kind": "sts", "file": "dev-small.jsonl", "max_loss": 100}], **SMALL)
    done = s.wait_for_job(job["id"])
    assert done["state"] == "succeeded", done
    result = done["result"]
    check = result["evaluation"][1]
    assert [r["kind"] for r in result["evaluation"]] == ["dev", "sts"]
    assert check["name"] == "dev-small.jsonl" and check["max_loss"] == 100
    assert abs(check["before"] - result["evaluation"][0]["before"]) < 0.02, "the same pairs score the same"
    assert stage_states(done)["gate"] == "failed" and stage_states(done)["activate"] == "skipped"
    assert result["activated"] is False and result["gate"] == {
        "enabled": True, "passed": False, "reasons": result["gate"]["reasons"]}
    assert any("below min_gain 100" in r for r in result["gate"]["reasons"]), result["gate"]
    assert any("gate refused refined-gated" in n for n in done["notes"]), done["notes"]
    # Kept as a version, not serving.
    assert serving_version(s) == before
    listing = models(s)
    assert listing["active"] == before
    assert "refined-gated" in [v["version"] for v in listing["versions"]]


def test_too_few_lists_fails_with_the_reason_and_keeps_serving(refine_server):
    s = refine_server
    before = serving_version(s)
    job = s.submit_job("refine", sentences=SENTENCES[:1], min_lists=50, version="refined-tiny", **SMALL)
    done = s.wait_for_job(job["id"])
    assert done["state"] == "failed", done
    assert "fewer than min_lists (50)" in done["error"] and f"{before} keeps serving" in done["error"], done["error"]
    assert stage_states(done)["synthesize"] == "failed" and stage_states(done)["train"] == "pending"
    assert serving_version(s) == before
    assert "refined-tiny" not in [v["version"] for v in models(s)["versions"]]


@pytest.mark.parametrize("body,field", [
    ({"sentences": SENTENCES, "steps": 0}, "steps"),
    ({"sentences": SENTENCES, "learning_rate": -1}, "learning_rate"),
    ({"sentences": SENTENCES, "omega": 0}, "omega"),
    ({"sentences": SENTENCES, "gate": "yes"}, "gate"),
    ({"sentences": SENTENCES, "dev": "../../outside.jsonl"}, "dev"),
    ({"sentences": SENTENCES, "dev": "missing.jsonl"}, "dev"),
    ({"sentences": SENTENCES, "checks": [{"kind": "bleu"}]}, "checks[0].kind"),
    ({"sentences": SENTENCES, "checks": [{"kind": "retrieval", "dir": "nowhere"}]}, "checks[0].dir"),
    ({"sentences": SENTENCES, "min_list_length": 2}, "min_list_length"),
    ({"sentences": SENTENCES, "teacher": "no-such-version"}, "teacher"),
    ({"sentences": SENTENCES, "version": "base"}, "version"),
    ({"sentences": SENTENCES, "stepz": 3}, "stepz"),
    ({"sentences": []}, "sentences"),
])
def test_bad_fields_are_422_naming_the_field(refine_server, body, field):
    r = requests.post(refine_server.url + "/jobs/refine", json=body, timeout=30)
    assert r.status_code == 422, r.text
    assert f"'{field}'" in r.json()["error"]["message"], r.text


def test_two_refine_jobs_at_once_run_one_after_the_other(refine_server):
    """One job worker: the second refine waits for the first and both
    activate, in order; serving never stops."""
    s = refine_server
    first = s.submit_job("refine", sentences=SENTENCES[:2], gate=False, version="refined-first", **SMALL)
    second = s.submit_job("refine", sentences=SENTENCES[2:], gate=False, version="refined-second", **SMALL)
    a = s.wait_for_job(first["id"])
    b = s.wait_for_job(second["id"])
    assert a["state"] == b["state"] == "succeeded", (a, b)
    assert a["result"]["activated"] and b["result"]["activated"]
    assert b["started_at"] >= a["finished_at"], "the second started after the first had finished"
    assert serving_version(s) == "refined-second" and models(s)["active"] == "refined-second"


def test_a_disk_that_fills_while_the_version_is_written_fails_the_job_and_keeps_serving(tmp_path):
    """Files cannot grow past 1 MiB (EFBIG, as on a full disk): lists and
    records fit, the candidate's weights do not. The job fails at the train
    stage, no half version is visible, and the base model keeps serving."""
    def small_files():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))

    s = Server(tmp_path, "--threads", "1", "--job-nice", "0", "--quiet", name="full", preexec=small_files)
    try:
        lines = (ROOT / "data" / "stsb" / "stsb_dev.jsonl").read_text().splitlines()[:40]
        (s.data_dir / "dev-small.jsonl").write_text("\n".join(lines) + "\n")
        job = s.submit_job("refine", sentences=SENTENCES[:2], gate=False, version="refined-full", **SMALL)
        done = s.wait_for_job(job["id"])
        assert done["state"] == "failed", done
        assert stage_states(done)["train"] == "failed" and stage_states(done)["activate"] == "pending", done
        assert "base keeps serving" in done["error"], done["error"]
        assert "models" in done["error"] and "too large" in done["error"].lower(), "names the version write"
        assert "refined-full" not in [v["version"] for v in models(s)["versions"]]
        assert not (s.data_dir / "models" / "refined-full").exists()
        assert serving_version(s) == "base"
    finally:
        s.terminate()


def test_a_candidate_whose_training_diverges_fails_the_job_and_keeps_serving(refine_server):
    """A learning rate of 1e30 sends the weights to inf within two steps:
    the loss turns NaN, the job fails at train naming the step, nothing is
    published and the active version keeps serving."""
    s = refine_server
    before = serving_version(s)
    job = s.submit_job("refine", sentences=SENTENCES[:2], gate=False, version="refined-nan",
                       **{**SMALL, "learning_rate": 1e30, "steps": 4})
    done = s.wait_for_job(job["id"])
    assert done["state"] == "failed", done
    assert stage_states(done)["train"] == "failed" and stage_states(done)["activate"] == "pending"
    assert "training stopped at step" in done["error"] and "nan" in done["error"].lower(), done["error"]
    assert f"{before} keeps serving" in done["error"], done["error"]
    assert serving_version(s) == before
    assert "refined-nan" not in [v["version"] for v in models(s)["versions"]]

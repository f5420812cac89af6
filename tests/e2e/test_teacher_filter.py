"""The teacher filter in synthesis jobs, against the real binary: a job's
result says how many lists and rounds the teacher kept, cut and dropped and
why, the job folder holds the lists to train on and the dropped ones, the
thresholds are job fields (a strict one drops every list for its reason),
and bad filter fields are 422s naming the field."""
from __future__ import annotations

import json

import requests

from conftest import ROOT, Server

SENTENCES = [
    "A man is playing a guitar on the street.",
    "Two dogs run across a snowy field.",
    "The committee approved the new budget on Monday.",
]
JOB_FLAGS = ("--threads", "1", "--job-nice", "0")


def lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_synthesis_job_reports_what_the_teacher_kept_and_why(tmp_path):
    s = Server(tmp_path, *JOB_FLAGS)
    try:
        # Default thresholds: counts that add up, files that match them.
        job = s.submit_job("synthesize", sentences=SENTENCES, rounds=4, min_list_length=3)
        assert job["parameters"]["teacher_filter"] is True
        assert job["parameters"]["filter_max_previous_cosine"] == 0.95
        done = s.wait_for_job(job["id"], {"succeeded", "failed"}, timeout=900)
        assert done["state"] == "succeeded", done
        result, folder = done["result"], s.data_dir / "jobs" / job["id"]
        f = result["teacher_filter"]
        kept = lines(folder / "lists.jsonl")
        assert kept, "at least one chain is kept"
        assert f["enabled"] is True and f["lists_in"] == result["kept"] == len(kept)
        assert f["lists_kept"] + f["lists_cut"] + f["lists_dropped"] == f["lists_in"]
        assert sum(f["cut_by"].values()) == f["lists_cut"] and sum(f["dropped_by"].values()) == f["lists_dropped"]
        assert f["rounds_in"] == sum(len(x["list"]) - 1 for x in kept)
        assert f["rounds_kept"] + sum(f["rounds_removed_by"].values()) == f["rounds_in"]
        to_train = lines(folder / "filtered.jsonl")
        assert result["lists_to_train"] == len(to_train) == f["lists_kept"] + f["lists_cut"]
        assert sum(len(x["list"]) - 1 for x in to_train) == f["rounds_kept"]
        assert len(lines(folder / "filtered-out.jsonl")) == f["lists_dropped"]
        assert any(n.startswith("teacher filter:") for n in done["notes"]), done["notes"]

        # A threshold no rewrite meets: every list is cut at round 1, so dropped as off topic.
        strict = s.submit_job("synthesize", sentences=SENTENCES, rounds=4, min_list_length=3,
                              filter_min_anchor_cosine=0.999)
        done = s.wait_for_job(strict["id"], {"succeeded", "failed"}, timeout=900)
        assert done["state"] == "succeeded", done
        f = done["result"]["teacher_filter"]
        n = done["result"]["kept"]
        assert n > 0
        assert f["lists_dropped"] == n and f["dropped_by"] == {"off_topic": n}
        assert f["rounds_kept"] == 0 and done["result"]["lists_to_train"] == 0
        folder = s.data_dir / "jobs" / strict["id"]
        assert lines(folder / "filtered.jsonl") == []
        assert {x["teacher_filter"]["reason"] for x in lines(folder / "filtered-out.jsonl")} == {"off_topic"}

        # Off: no check, no filtered file.
        off = s.submit_job("synthesize", sentences=SENTENCES[:1], rounds=2, min_list_length=3, teacher_filter=False)
        done = s.wait_for_job(off["id"], {"succeeded", "failed"}, timeout=900)
        assert done["state"] == "succeeded", done
        assert "teacher_filter" not in done["result"]
        assert not (s.data_dir / "jobs" / off["id"] / "filtered.jsonl").exists()
    finally:
        s.terminate()


def test_bad_filter_fields_are_422s_naming_the_field(server):
    cases = [
        ({"teacher_filter": "yes"}, "teacher_filter"),
        ({"filter_max_previous_cosine": 1.5}, "filter_max_previous_cosine"),
        ({"filter_min_anchor_cosine": "low"}, "filter_min_anchor_cosine"),
        ({"filter_max_spearman": -2}, "filter_max_spearman"),
        ({"filter_min_list_length": 2}, "filter_min_list_length"),
    ]
    for extra, field in cases:
        for kind in ("synthesize", "refine"):
            r = requests.post(f"{server.url}/jobs/{kind}", json={"sentences": ["A man plays a guitar."], **extra}, timeout=10)
            assert r.status_code == 422, (kind, extra, r.text)
            assert f"'{field}'" in r.json()["error"]["message"], (kind, extra, r.text)
    r = requests.post(f"{server.url}/jobs/train", json={"file": "x.jsonl", "filter_max_spearman": 3}, timeout=10)
    assert r.status_code == 422 and "'filter_max_spearman'" in r.json()["error"]["message"], r.text


def test_a_refine_job_trains_on_the_lists_the_teacher_kept(tmp_path):
    s = Server(tmp_path, *JOB_FLAGS)
    try:
        lines_ = (ROOT / "data" / "stsb" / "stsb_dev.jsonl").read_text().splitlines()[:40]
        (s.data_dir / "dev-small.jsonl").write_text("\n".join(lines_) + "\n")
        # Near-copy and falling rules off, off-topic on at a threshold every round passes:
        # every list is kept, and the job trains on the filter's file.
        job = s.submit_job("refine", sentences=SENTENCES, rounds=3, min_list_length=3, max_new_tokens=24, steps=2,
                           evaluate_every=1, learning_rate=1e-5, dev="dev-small.jsonl", gate=False, version="filtered-refine",
                           filter_max_previous_cosine=1, filter_max_spearman=1, filter_min_anchor_cosine=-1)
        done = s.wait_for_job(job["id"], {"succeeded", "failed"}, timeout=900)
        assert done["state"] == "succeeded", done
        folder = s.data_dir / "jobs" / job["id"]
        kept = lines(folder / "lists.jsonl")
        assert kept, "at least one chain is kept"
        assert [x["list"] for x in lines(folder / "filtered.jsonl")] == [x["list"] for x in kept]
        synth = next(st for st in done["result"]["stages"] if st["name"] == "synthesize")
        assert "after the teacher filter (0 cut, 0 dropped)" in synth["detail"], synth
        assert any(n.startswith("teacher filter:") for n in done["notes"]), done["notes"]
        manifest = json.loads((s.data_dir / "models" / "filtered-refine" / "manifest.json").read_text())
        assert manifest["dataset"]["lists"] == len(kept)
    finally:
        s.terminate()

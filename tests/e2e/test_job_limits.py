"""Jobs that cannot take the server down, against the real binary: every
row of the table of issue 19 is a test here.

- a training batch or a KV cache too big for --job-memory is a 422 naming
  the field and the limit, never an abort (also under an address-space
  limit that used to end in an allocation failure);
- a job that kills the process every time it runs is resumed a bounded
  number of times, then fails with "interrupted N times";
- a cancel during a refine's evaluation wins (the candidate is never
  activated); a cancel during its activation is refused with 409, truthfully;
- a FIFO is refused as a generator and as a file, with the message a
  missing file gets; a remote generator that never answers releases the
  worker within 2 s of a DELETE; a remote error body is summarised, never
  echoed;
- the queue has a length and a per-job size limit (429, 413), GET /jobs is
  paginated summaries, and a restart with the store full is ready in < 5 s;
- records, manifests and job logs name no absolute host path;
- a SIGKILL during evaluate leaves no stage `running` after the restart.

The crash tests use the test-only environment variable
RANKSMITH_TEST_KILL_AT=<kind>:<stage> (docs/operations.md), which makes the
server SIGKILL itself when a job of that kind publishes that stage."""
from __future__ import annotations

import json
import os
import resource
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from conftest import BIN, GENERATOR, MODEL, ROOT, Server, clean_env, resident_bytes

FLAGS = ("--threads", "1", "--job-nice", "0")
SENTENCES = [
    "A man is playing a guitar on the street.",
    "Two dogs run across a snowy field.",
    "A woman is slicing tomatoes in the kitchen.",
    "Children are building a sandcastle on the beach.",
]
SMALL_REFINE = {"rounds": 3, "min_list_length": 3, "max_new_tokens": 24, "steps": 2, "evaluate_every": 1,
                "learning_rate": 1e-5}


def write_lists(data_dir: Path) -> None:
    lines = (ROOT / "bench" / "data" / "lists-smollm2-n16.jsonl").read_text().splitlines()[:4]
    out = [json.dumps({"anchor": json.loads(l)["anchor"], "list": json.loads(l)["list"][:8]}) for l in lines]
    (data_dir / "lists-small.jsonl").write_text("\n".join(out) + "\n")


def dev_lines(n: int) -> str:
    return "\n".join((ROOT / "data" / "stsb" / "stsb_dev.jsonl").read_text().splitlines()[:n]) + "\n"


def serving_version(server) -> str:
    r = requests.post(server.url + "/embed", json={"inputs": "A man plays a guitar."}, timeout=30)
    assert r.status_code == 200
    return r.headers["X-Model-Version"]


def stage_states(job) -> dict[str, str]:
    return {s["name"]: s["state"] for s in job["result"]["stages"]}


def wait_for_stage(server, job_id: str, stage: str, timeout: float = 300) -> dict:
    deadline = time.monotonic() + timeout
    job = None
    while time.monotonic() < deadline:
        job = requests.get(f"{server.url}/jobs/{job_id}", timeout=10).json()
        if (job.get("result") or {}).get("stage") == stage and job["state"] == "running":
            return job
        assert job["state"] in ("queued", "running"), job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} never reached {stage}: {job}")


def start_until_exit_or_ready(workdir: Path, *extra: str, env: dict | None = None, name: str = "server",
                              timeout: float = 120) -> tuple[Server | None, int | None]:
    """Starts a server that may kill itself: answers (server, None) once it
    is ready, or (None, exit status) if the process ends first."""
    try:
        s = Server(workdir, *FLAGS, *extra, env=env, name=name)
    except RuntimeError as e:
        assert "exited with" in str(e), e
        return None, int(str(e).split("exited with ")[1].split(":")[0])
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if s.proc.poll() is not None:
            s.kill()
            return None, s.proc.returncode
        time.sleep(0.1)
    return s, None


class Silent:
    """A TCP server that accepts connections and never answers."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.held: list[socket.socket] = []
        self.stop = False
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        self.sock.settimeout(0.2)
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
                self.held.append(conn)
            except OSError:
                pass

    def close(self):
        self.stop = True
        for c in self.held:
            c.close()
        self.sock.close()


# MARK: - Row 1 and 2: memory bounded before a job starts


def test_a_training_batch_beyond_the_budget_is_a_422_naming_the_field(tmp_path):
    s = Server(tmp_path, *FLAGS, "--job-memory", "1G")
    try:
        write_lists(s.data_dir)
        # The reported abort: a million lists per step (outside the documented range).
        r = requests.post(s.url + "/jobs/train", json={"file": "lists-small.jsonl", "lists_per_step": 1000000}, timeout=30)
        assert r.status_code == 422 and "'lists_per_step'" in r.text and "256" in r.text, r.text
        # Inside the range, but beyond --job-memory: refused with the figures.
        r = requests.post(s.url + "/jobs/train", json={"file": "lists-small.jsonl", "lists_per_step": 256, "max_length": 128},
                          timeout=30)
        assert r.status_code == 422, r.text
        message = r.json()["error"]["message"]
        assert "'lists_per_step'" in message and "--job-memory" in message and "1.0 GiB" in message, message
        assert "at most" in message, "says how many fit"
        r = requests.post(s.url + "/jobs/refine", json={"sentences": SENTENCES, "lists_per_step": 64},
                          timeout=30)
        assert r.status_code == 422 and "'lists_per_step'" in r.text and "--job-memory" in r.text, r.text
        # Nothing was queued, and the server serves.
        assert requests.get(s.url + "/jobs", timeout=10).json()["jobs"] == []
        assert serving_version(s) == "base"
    finally:
        s.terminate()


def test_a_kv_cache_beyond_an_address_space_limit_is_a_422_not_an_abort(tmp_path):
    """Under a 6 GiB address-space limit the default budget is a share of
    what is left: 256 chains of 1024 new tokens (a cache of well over
    12 GiB) are refused, naming batch_chains; the server keeps serving."""
    def limited():
        resource.setrlimit(resource.RLIMIT_AS, (6 << 30, 6 << 30))

    s = Server(tmp_path, *FLAGS, preexec=limited)
    try:
        r = requests.post(s.url + "/jobs/synthesize", json={"sentences": SENTENCES, "batch_chains": 256, "max_new_tokens": 1024},
                          timeout=30)
        assert r.status_code == 422, r.text
        message = r.json()["error"]["message"]
        assert "'batch_chains'" in message and "KV cache" in message and "--job-memory" in message, message
        assert s.proc.poll() is None and serving_version(s) == "base"
        # A job that fits still runs to its end.
        ok = s.submit_job("synthesize", sentences=SENTENCES[:1], rounds=2, max_new_tokens=16, min_list_length=2)
        assert s.wait_for_job(ok["id"], timeout=120)["state"] == "succeeded"
    finally:
        s.terminate()


def test_a_stored_job_over_a_lower_budget_fails_with_the_reason_when_it_runs(tmp_path):
    """A job accepted under a larger --job-memory (or by an older server)
    is checked again before it allocates: it fails with the reason, the
    server keeps serving, and nothing is retried at the next start."""
    silent = Silent()
    s = Server(tmp_path, *FLAGS, "--job-memory", "2G", name="roomy")
    try:
        write_lists(s.data_dir)
        (s.data_dir / "dev-small.jsonl").write_text(dev_lines(20))
        blocker = s.submit_job("synthesize", sentences=SENTENCES[:1], generator=silent.url, rounds=2)
        s.wait_for_job(blocker["id"], {"running"}, timeout=30)
        job = s.submit_job("train", file="lists-small.jsonl", lists_per_step=8, steps=1, dev="dev-small.jsonl")
    finally:
        s.terminate()
    s = Server(tmp_path, *FLAGS, "--job-memory", "600M", name="tight")
    try:
        requests.delete(f"{s.url}/jobs/{blocker['id']}", timeout=30)
        done = s.wait_for_job(job["id"], timeout=120)
        assert done["state"] == "failed", done
        assert "lists_per_step 8" in done["error"] and "--job-memory" in done["error"], done["error"]
        assert s.proc.poll() is None and serving_version(s) == "base"
    finally:
        s.terminate()
        silent.close()


# MARK: - No crash loop


def test_a_job_that_kills_the_process_every_time_is_failed_after_bounded_resumes(tmp_path):
    env = {"RANKSMITH_TEST_KILL_AT": "train:train"}
    s = Server(tmp_path, *FLAGS, env=env, name="first")  # --job-max-interruptions: default 2
    write_lists(s.data_dir)
    (s.data_dir / "dev-small.jsonl").write_text(dev_lines(20))
    job = s.submit_job("train", file="lists-small.jsonl", steps=2, max_length=24, dev="dev-small.jsonl", version="doomed")
    assert s.proc.wait(timeout=120) == -9, "the hook killed the process"
    s.kill()
    # Resumed twice, killed each time; the fourth start fails it and serves.
    exits = []
    for n in range(2):
        server, status = start_until_exit_or_ready(tmp_path, env=env, name=f"again{n}",
                                                   timeout=120)
        assert server is None, "the resumed job killed it again"
        exits.append(status)
    assert exits == [-9, -9]
    s = Server(tmp_path, *FLAGS, env=env, name="clean")
    try:
        done = requests.get(f"{s.url}/jobs/{job['id']}", timeout=10).json()
        assert done["state"] == "failed", done
        assert "interrupted 3 times" in done["error"], done["error"]
        time.sleep(1)
        assert s.proc.poll() is None and serving_version(s) == "base"
        assert "doomed" not in [v["version"] for v in requests.get(s.url + "/models", timeout=10).json()["versions"]]
    finally:
        s.terminate()


# MARK: - Cancel wins


@pytest.fixture(scope="module")
def refine_server(tmp_path_factory):
    s = Server(tmp_path_factory.mktemp("limits-refine"), *FLAGS)
    (s.data_dir / "dev-full.jsonl").write_text(dev_lines(1500))
    (s.data_dir / "dev-small.jsonl").write_text(dev_lines(40))
    yield s
    s.terminate()


def test_a_cancel_during_evaluate_means_the_candidate_is_never_activated(refine_server):
    s = refine_server
    before = serving_version(s)
    job = s.submit_job("refine", sentences=SENTENCES[:2], gate=False, version="cancelled-in-eval", dev="dev-full.jsonl",
                       **SMALL_REFINE)
    wait_for_stage(s, job["id"], "evaluate")
    r = requests.delete(f"{s.url}/jobs/{job['id']}", timeout=30)
    assert r.status_code == 200 and r.json()["deleted"] is True, r.text
    # The worker is free within 2 s: the next job starts.
    t0 = time.monotonic()
    nxt = s.submit_job("synthesize", sentences=SENTENCES[:1], rounds=2, max_new_tokens=8, min_list_length=2)
    s.wait_for_job(nxt["id"], {"running", "succeeded", "failed"}, timeout=10)
    assert time.monotonic() - t0 < 3
    # Well past the time the evaluation would have taken: still not activated.
    time.sleep(5)
    assert serving_version(s) == before
    assert requests.get(s.url + "/models", timeout=10).json()["active"] == before
    assert requests.get(f"{s.url}/jobs/{job['id']}", timeout=10).status_code == 404


def test_a_cancel_during_activation_is_refused_and_the_reply_is_true(refine_server):
    s = refine_server
    # Enough documents that re-embedding them takes seconds.
    requests.put(s.url + "/collections/bulk", timeout=30).raise_for_status()
    for start in range(0, 3000, 500):
        docs = [{"id": str(i), "text": f"Document number {i} is about topic {i % 37} and place {i % 11}."}
                for i in range(start, start + 500)]
        r = requests.post(s.url + "/collections/bulk/documents", json={"documents": docs}, timeout=300)
        assert r.status_code == 200, r.text
    job = s.submit_job("refine", sentences=SENTENCES[:2], gate=False, version="activated-anyway", dev="dev-small.jsonl",
                       **SMALL_REFINE)
    wait_for_stage(s, job["id"], "activate")
    r = requests.delete(f"{s.url}/jobs/{job['id']}", timeout=30)
    assert r.status_code == 409, r.text
    error = r.json()["error"]
    assert error["code"] == "job_committing" and "activating version activated-anyway" in error["message"], error
    # True: the job was not cancelled, it finishes and the version serves.
    done = s.wait_for_job(job["id"], timeout=300)
    assert done["state"] == "succeeded" and done["result"]["activated"] is True, done
    assert serving_version(s) == "activated-anyway"


def test_a_fifo_is_refused_as_generator_and_file_like_a_missing_one(tmp_path):
    s = Server(tmp_path, *FLAGS)
    try:
        fifo = s.data_dir / "pipe"
        os.mkfifo(fifo)
        answers = {}
        for name, path in (("fifo", str(fifo)), ("missing", str(s.data_dir / "absent.gguf")), ("text", str(s.data_dir))):
            r = requests.post(s.url + "/jobs/synthesize", json={"sentences": SENTENCES[:1], "generator": path}, timeout=10)
            assert r.status_code == 422 and "'generator'" in r.text, r.text
            answers[name] = r.json()["error"]["message"].replace(path, "PATH")
        assert answers["fifo"] == answers["missing"] == answers["text"], answers
        r = requests.post(s.url + "/jobs/synthesize", json={"file": "pipe"}, timeout=10)
        assert r.status_code == 422 and "'file'" in r.text, r.text
        r = requests.post(s.url + "/jobs/refine", json={"sentences": SENTENCES, "dev": "pipe"}, timeout=10)
        assert r.status_code == 422 and "'dev'" in r.text, r.text
        # The worker was never blocked: a job runs at once.
        ok = s.submit_job("synthesize", sentences=SENTENCES[:1], rounds=2, max_new_tokens=8, min_list_length=2)
        assert s.wait_for_job(ok["id"], timeout=60)["state"] == "succeeded"
    finally:
        s.terminate()


def test_a_remote_generator_that_never_answers_frees_the_worker_within_two_seconds_of_a_delete(tmp_path):
    silent = Silent()
    s = Server(tmp_path, *FLAGS)
    try:
        job = s.submit_job("synthesize", sentences=SENTENCES[:1], generator=silent.url, rounds=2)
        s.wait_for_job(job["id"], {"running"}, timeout=30)
        time.sleep(1)  # inside the remote call
        t0 = time.monotonic()
        r = requests.delete(f"{s.url}/jobs/{job['id']}", timeout=30)
        assert r.status_code == 200, r.text
        nxt = s.submit_job("synthesize", sentences=SENTENCES[:1], rounds=2, max_new_tokens=8, min_list_length=2)
        s.wait_for_job(nxt["id"], {"running", "succeeded", "failed"}, timeout=10)
        assert time.monotonic() - t0 < 2.5, "the worker was held after the DELETE"
    finally:
        s.terminate()
        silent.close()


class Forbidden(BaseHTTPRequestHandler):
    BODY = ("<html><title>403</title>" + "secret-internal-page " * 3 + "INTERNAL-MARKER-" + "x" * 4000 + "</html>").encode()

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(403)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(self.BODY)))
        self.end_headers()
        self.wfile.write(self.BODY)

    def log_message(self, *args):
        pass


def test_a_remote_error_body_is_summarised_not_echoed(tmp_path):
    remote = ThreadingHTTPServer(("127.0.0.1", 0), Forbidden)
    threading.Thread(target=remote.serve_forever, daemon=True).start()
    s = Server(tmp_path, *FLAGS)
    try:
        url = f"http://127.0.0.1:{remote.server_address[1]}/v1"
        job = s.submit_job("synthesize", sentences=SENTENCES[:1], generator=url, rounds=2)
        done = s.wait_for_job(job["id"], timeout=60)
        assert done["state"] == "failed", done
        error = done["error"]
        assert "403" in error and len(error) < 400, error
        assert "INTERNAL-MARKER" not in error and "<html>" not in error and "xxxxxxxx" not in error, error
    finally:
        s.terminate()
        remote.shutdown()


# MARK: - A queue with limits


def test_the_queue_has_limits_listing_is_paginated_and_a_full_store_restarts_fast(tmp_path):
    silent = Silent()
    flags = ("--job-max-queued", "40", "--job-max-parameter-bytes", "512K")
    s = Server(tmp_path, *FLAGS, *flags)
    try:
        rss0 = resident_bytes(s.proc.pid)
        # The worker is held by a remote call that never returns: the rest stay queued.
        blocker = s.submit_job("synthesize", sentences=SENTENCES[:1], generator=silent.url, rounds=2)
        s.wait_for_job(blocker["id"], {"running"}, timeout=30)
        # A body over the stored-size limit: 413 with the reason.
        huge = {"sentences": [f"A long sentence number {i} with words." for i in range(20000)]}
        r = requests.post(s.url + "/jobs/synthesize", json=huge, timeout=30)
        assert r.status_code == 413 and "--job-max-parameter-bytes" in r.json()["error"]["message"], r.text
        big = [f"Sentence {i} about a guitar, a dog, a field and a kitchen." for i in range(7000)]  # ~430 KB
        statuses = []
        for i in range(60):
            body = {"sentences": big if i % 2 else SENTENCES, "rounds": 2}
            r = requests.post(s.url + "/jobs/synthesize", json=body, timeout=30)
            statuses.append(r.status_code)
            if r.status_code == 429:
                assert r.headers.get("Retry-After") and "--job-max-queued" in r.json()["error"]["message"], r.text
        assert statuses.count(202) == 39 and statuses.count(429) == 21, statuses
        assert resident_bytes(s.proc.pid) - rss0 < 150 << 20
        # Paginated summaries: every job once, no parameters, small pages.
        seen, cursor, pages = [], None, 0
        while True:
            r = requests.get(s.url + "/jobs", params={"limit": 15, **({"cursor": cursor} if cursor else {})}, timeout=10)
            assert r.status_code == 200 and len(r.content) < 64 << 10, len(r.content)
            page = r.json()
            assert all("parameters" not in j and "result" not in j for j in page["jobs"])
            seen += [j["id"] for j in page["jobs"]]
            pages += 1
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert len(seen) == len(set(seen)) == 40 and pages == 3
        full = requests.get(s.url + "/jobs", params={"full": "true", "limit": 2}, timeout=10).json()
        assert len(full["jobs"]) == 2 and "parameters" in full["jobs"][0]
        assert requests.get(s.url + "/jobs", params={"limit": 100000}, timeout=10).status_code == 422
    finally:
        s.terminate()
    # Restart with the store full: ready within 5 s, every job still there.
    t0 = time.monotonic()
    s = Server(tmp_path, *FLAGS, *flags, name="restarted")
    try:
        assert time.monotonic() - t0 < 5, f"restart took {time.monotonic() - t0:.1f} s"
        r = requests.get(s.url + "/jobs", params={"limit": 500}, timeout=10)
        assert r.status_code == 200 and len(r.json()["jobs"]) == 40
    finally:
        s.terminate()
        silent.close()


def test_two_thousand_submits_with_large_bodies_at_the_defaults_leave_the_server_small_and_listable(tmp_path):
    """The reported flood: 2000 submits in a few seconds, 30 of them with
    7 MB bodies. At the default limits the queue takes 64, the rest are
    429s, the big bodies 413s; memory stays flat, GET /jobs answers."""
    silent = Silent()
    s = Server(tmp_path, *FLAGS, "--quiet")
    try:
        rss0 = resident_bytes(s.proc.pid)
        blocker = s.submit_job("synthesize", sentences=SENTENCES[:1], generator=silent.url, rounds=2)
        s.wait_for_job(blocker["id"], {"running"}, timeout=30)
        seven = json.dumps({"sentences": [f"Sentence {i} of a very large request body." for i in range(160000)]})
        assert len(seven) > 7_000_000
        session = requests.Session()
        statuses: dict[int, int] = {}
        for i in range(2000):
            if i < 30:  # first, while the queue has room: a full queue answers 429 before decoding a body
                r = session.post(s.url + "/jobs/synthesize", data=seven, headers={"Content-Type": "application/json"}, timeout=60)
            else:
                r = session.post(s.url + "/jobs/synthesize", json={"sentences": [f"Sentence {i}."], "rounds": 2}, timeout=30)
            statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
        assert statuses.get(202) == 63 and statuses.get(413) == 30 and statuses.get(429) == 2000 - 63 - 30, statuses
        assert resident_bytes(s.proc.pid) - rss0 < 100 << 20, "memory stays flat"
        r = requests.get(s.url + "/jobs", timeout=10)
        assert r.status_code == 200 and len(r.json()["jobs"]) == 50 and r.json()["next_cursor"]
    finally:
        s.terminate()
        silent.close()


# MARK: - Nothing leaked, stage records true


def test_records_manifests_and_logs_name_no_absolute_host_path(tmp_path):
    dev = tmp_path / "outside" / "dev-outside.jsonl"
    dev.parent.mkdir(parents=True)
    dev.write_text(dev_lines(30))
    s = Server(tmp_path, *FLAGS, "--dev-set", str(dev))
    try:
        write_lists(s.data_dir)
        job = s.submit_job("train", file="lists-small.jsonl", steps=1, max_length=24, version="no-paths")
        done = s.wait_for_job(job["id"], timeout=120)
        assert done["state"] == "succeeded", done
        bad = s.submit_job("synthesize", sentences=SENTENCES[:1], generator="http://127.0.0.1:9/v1", rounds=2)
        failed = s.wait_for_job(bad["id"], timeout=120)
        assert failed["state"] == "failed"
        texts = {
            "records": requests.get(s.url + "/jobs", params={"full": "true"}, timeout=10).text,
            "manifest": (s.data_dir / "models" / "no-paths" / "manifest.json").read_text(),
            "models": requests.get(s.url + "/models", timeout=10).text,
            "job logs": "\n".join(l for l in s.stderr().splitlines() if l.startswith("job ")),
        }
        for name, text in texts.items():
            for root in (str(tmp_path), str(ROOT), str(MODEL.parent), str(dev.parent)):
                assert root not in text, f"{name} names {root}: {text[:2000]}"
        manifest = json.loads(texts["manifest"])
        assert manifest["evaluation"]["dev"] == "dev-outside.jsonl"
    finally:
        s.terminate()


def test_a_sigkill_during_evaluate_leaves_no_stage_running_after_the_restart(tmp_path):
    s = Server(tmp_path, *FLAGS, env={"RANKSMITH_TEST_KILL_AT": "refine:evaluate"}, name="killed")
    (s.data_dir / "dev-small.jsonl").write_text(dev_lines(40))
    job = s.submit_job("refine", sentences=SENTENCES[:2], gate=False, version="killed-in-eval", dev="dev-small.jsonl",
                       **SMALL_REFINE)
    assert s.proc.wait(timeout=300) == -9
    s.kill()
    s = Server(tmp_path, *FLAGS, name="after")
    try:
        done = requests.get(f"{s.url}/jobs/{job['id']}", timeout=10).json()
        assert done["state"] == "failed", done
        states = stage_states(done)
        assert "running" not in states.values(), states
        assert states["synthesize"] == states["train"] == "succeeded" and states["evaluate"] == "failed", states
        assert states["activate"] == "pending" and done["result"]["stage"] == "evaluate", done["result"]
        evaluate = next(x for x in done["result"]["stages"] if x["name"] == "evaluate")
        assert "restart" in evaluate["detail"], evaluate
        assert serving_version(s) == "base"
    finally:
        s.terminate()

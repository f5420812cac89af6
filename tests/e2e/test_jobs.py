"""Background synthesis jobs against the real binary: a small job's lists
pass the filters, cancellation is prompt, a SIGKILLed server resumes its
job without duplicating or tearing lines, and a failing job leaves serving
alone. Each test starts its own server (job workers at nice 0, so the
test's timing does not depend on what else the machine runs)."""
from __future__ import annotations

import json
import os
import re
import resource
import shutil
import signal
import time

import pytest
import requests

from conftest import GENERATOR, Server

SENTENCES = [
    "A man is playing a guitar on the street.",
    "Two dogs run across a snowy field.",
    "The committee approved the new budget on Monday.",
]
MORE = SENTENCES + [
    "A woman is slicing tomatoes in the kitchen.",
    "The train to the airport leaves every ten minutes.",
    "Children are building a sandcastle on the beach.",
    "The museum opens a new exhibition of modern art.",
    "Heavy rain flooded several streets in the city centre.",
]
JOB_FLAGS = ("--threads", "1", "--job-nice", "0")


def dataset_lines(server, job_id: str) -> list[dict]:
    """The dataset of a finished job: streamed (chunked), the lists file's lines."""
    r = requests.get(f"{server.url}/jobs/{job_id}/dataset", timeout=30)
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/x-ndjson")
    assert r.headers["Transfer-Encoding"] == "chunked" and "Content-Length" not in r.headers
    assert r.text == "" or r.text.endswith("\n"), "whole lines only"
    lists = server.data_dir / "jobs" / job_id / "lists.jsonl"
    assert r.text.splitlines() == (lists.read_text().splitlines() if lists.exists() else [])
    return [json.loads(line) for line in r.text.splitlines()]


def assert_passes_filters(lists: list[dict], anchors: list[str], length: int) -> None:
    for item in lists:
        lst = item["list"]
        assert item["anchor"] in anchors and lst[0] == item["anchor"]
        assert len(lst) == length, lst
        assert all(s and "\n" not in s for s in lst), lst
        for k in (-1, -2):
            assert lst.count(lst[k]) < 3, lst
        assert item["generator"] and item["settings"]["rounds"] == length - 1


def test_small_job_yields_lists_of_length_five_that_pass_the_filters(tmp_path):
    s = Server(tmp_path, *JOB_FLAGS)
    try:
        job = s.submit_job("synthesize", sentences=SENTENCES, rounds=4)
        assert job["progress"] == {"done": 0, "total": 0} and job["parameters"]["guidance_scale"] == 1.5
        done = s.wait_for_job(job["id"], {"succeeded", "failed"}, timeout=900)
        assert done["state"] == "succeeded", done
        assert done["progress"]["done"] == done["progress"]["total"] == 3
        lists = dataset_lines(s, job["id"])
        assert lists, "at least one of the three chains is kept"
        assert_passes_filters(lists, SENTENCES, length=5)
        assert done["result"]["kept"] == len(lists)
        assert done["result"]["kept"] + done["result"]["dropped"] == 3
        # Prefix reuse, as a count and as a rate over the run's seconds.
        result = done["result"]
        assert result["reused_prefix_tokens"] > 0 and result["seconds"] > 0
        assert result["prompt_tokens_saved_per_second"] * result["seconds"] == \
            pytest.approx(result["reused_prefix_tokens"], rel=1e-3)
        metrics = requests.get(s.url + "/metrics", timeout=10).text
        assert 'ranksmith_jobs{state="succeeded"} 1' in metrics
        assert f"ranksmith_synthesis_lists_written {len(lists)}" in metrics
        assert f"ranksmith_generator_prompt_tokens_saved {result['reused_prefix_tokens']}" in metrics
        rate = re.search(r"^ranksmith_generator_prompt_tokens_saved_per_second (\S+)$", metrics, re.M)
        assert rate and float(rate.group(1)) == pytest.approx(result["prompt_tokens_saved_per_second"], rel=1e-3)
    finally:
        s.terminate()


def test_cancel_stops_a_running_job_within_two_seconds(tmp_path):
    s = Server(tmp_path, *JOB_FLAGS)
    try:
        job = s.submit_job("synthesize", sentences=MORE, rounds=32)
        s.wait_for_job(job["id"], {"running"}, timeout=60)
        time.sleep(3)  # well inside decoding
        t0 = time.monotonic()
        r = requests.delete(f"{s.url}/jobs/{job['id']}", timeout=30)
        elapsed = time.monotonic() - t0
        assert r.status_code == 200 and r.json() == {"id": job["id"], "deleted": True}
        assert elapsed < 2.0, f"cancel took {elapsed:.2f}s"
        assert requests.get(f"{s.url}/jobs/{job['id']}", timeout=10).status_code == 404
        assert not (s.data_dir / "jobs" / job["id"]).exists()
        # The worker is free again: a new job runs.
        nxt = s.submit_job("synthesize", sentences=SENTENCES[:1], rounds=1, max_new_tokens=8)
        assert s.wait_for_job(nxt["id"], {"succeeded", "failed"}, timeout=300)["state"] == "succeeded"
    finally:
        s.terminate()


def test_sigkill_mid_job_then_restart_completes_without_duplicates_or_torn_lines(tmp_path):
    s = Server(tmp_path, *JOB_FLAGS)
    job = s.submit_job("synthesize", sentences=MORE, rounds=4, batch_chains=2)
    folder = s.data_dir / "jobs" / job["id"]
    try:
        deadline = time.monotonic() + 900
        # Kill once some chains are written but not all.
        while time.monotonic() < deadline:
            written = sum(len(p.read_text().splitlines()) for p in folder.glob("*.jsonl"))
            if written >= 2:
                break
            time.sleep(0.1)
        assert written < len(MORE), "the job finished before it could be killed; make it longer"
    finally:
        s.proc.send_signal(signal.SIGKILL)
        s.kill()
    state = json.loads((folder / "job.json").read_text())
    assert state["state"] == "running"
    s2 = Server(tmp_path, *JOB_FLAGS, name="restarted")
    try:
        done = s2.wait_for_job(job["id"], {"succeeded", "failed"}, timeout=900)
        assert done["state"] == "succeeded", done
        assert done["attempts"] == 2 and any("resumed" in n for n in done["notes"])
        assert done["result"]["already_done"] >= 2
        anchors = []
        for name in ("lists.jsonl", "rejected.jsonl"):
            text = (folder / name).read_text()
            assert text == "" or text.endswith("\n")
            anchors += [json.loads(line)["anchor"] for line in text.splitlines()]
        assert sorted(anchors) == sorted(MORE), "every anchor exactly once across kept and dropped"
        assert_passes_filters(dataset_lines(s2, job["id"]), MORE, length=5)
    finally:
        s2.terminate()


def test_validation_errors_name_the_field(server):
    cases = [
        ({"sentences": []}, "sentences"),
        ({"rounds": 2}, "sentences"),
        ({"sentences": ["x"], "rounds": 0}, "rounds"),
        ({"sentences": ["x"], "guidance_scale": "high"}, "guidance_scale"),
        ({"collection": "no-such-collection", "sample": 10}, "collection"),
        ({"sentences": ["x"], "generator": "/no/such/model.gguf"}, "generator"),
        ({"file": "../../etc/passwd"}, "file"),
        ({"sentences": ["x"], "temperature": 1}, "temperature"),
    ]
    for body, field in cases:
        r = requests.post(server.url + "/jobs/synthesize", json=body, timeout=10)
        assert r.status_code == 422, (body, r.text)
        assert f"'{field}'" in r.json()["error"]["message"], (body, r.text)


def test_generator_error_and_full_disk_fail_the_job_while_embed_answers(tmp_path):
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + os.urandom(4096))

    def small_files():
        # Files past 4 KiB cannot grow (EFBIG, as on a full disk); the
        # signal is ignored so the write fails instead of killing the process.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))

    s = Server(tmp_path, *JOB_FLAGS)
    try:
        # A broken model file is refused when the job is submitted, naming the field.
        r = requests.post(s.url + "/jobs/synthesize", json={"sentences": SENTENCES, "rounds": 2, "generator": str(broken)}, timeout=30)
        assert r.status_code == 422 and "'generator'" in r.text and "not a usable GGUF" in r.text, r.text
        # One that breaks after it was accepted fails its job when it runs.
        copy = tmp_path / "later-broken.gguf"
        shutil.copyfile(GENERATOR, copy)
        first = s.submit_job("synthesize", sentences=SENTENCES[:1], rounds=2, max_new_tokens=16, min_list_length=2)
        job = s.submit_job("synthesize", sentences=SENTENCES, rounds=2, generator=str(copy))
        copy.write_bytes(b"GGUF" + os.urandom(4096))
        failed = s.wait_for_job(job["id"], {"failed", "succeeded"}, timeout=120)
        assert failed["state"] == "failed" and "not a usable GGUF" in failed["error"], failed
        assert str(tmp_path) not in failed["error"], "names the file, not its host path"
        assert s.wait_for_job(first["id"], timeout=120)["state"] == "succeeded"
        assert requests.post(s.url + "/embed", json={"inputs": "still serving"}, timeout=30).status_code == 200
    finally:
        s.terminate()
    # A server whose files cannot grow past 4 KiB: the lists file hits it.
    s = Server(tmp_path / "full", *JOB_FLAGS, "--quiet", name="full", preexec=small_files)
    try:
        anchors = s.data_dir / "anchors.txt"
        anchors.write_text("".join(f"Sentence number {i} describes a different scene in a small town.\n" for i in range(40)))
        big = s.submit_job("synthesize", file="anchors.txt", rounds=1, max_new_tokens=40, min_list_length=2, batch_chains=8)
        failed = s.wait_for_job(big["id"], {"failed", "succeeded"}, timeout=900)
        assert failed["state"] == "failed" and "cannot write the lists" in failed["error"], failed
        lists = (s.data_dir / "jobs" / big["id"] / "lists.jsonl").read_text()
        assert lists.endswith("\n"), "a failed append leaves no torn line"
        assert requests.post(s.url + "/embed", json={"inputs": "still serving"}, timeout=30).status_code == 200
        assert requests.get(s.url + "/ready", timeout=10).status_code == 200
    finally:
        s.terminate()

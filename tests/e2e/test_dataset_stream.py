"""`GET /jobs/{id}/dataset` streamed from the job's lists file, against the
real binary over raw sockets: chunked, whole lines only as of the request,
memory bounded for a large dataset and a slow reader, and a client that
leaves mid-stream frees its file and leaves the server answering.

The dataset is written straight into the folder of a job that failed at
once (a remote generator whose port refuses connections; a broken local
file is refused at submission), which keeps the test fast: the server reads
`<data-dir>/jobs/<id>/lists.jsonl` whatever wrote it."""
from __future__ import annotations

import hashlib
import json
import os
import socket
import time

import pytest
import requests

from conftest import Server, resident_bytes

LINE = json.dumps({"anchor": "A man is playing a guitar on the street.",
                   "list": ["A man is playing a guitar on the street.", "A man plays music outdoors.",
                            "Someone makes a sound.", "A person is outside.", "Something happens."],
                   "generator": "test", "settings": {"rounds": 4}, "seconds": 1.0, "stopped": None}) + "\n"
DATASET_BYTES = 64 * 2**20


def open_descriptors(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    """A server, and a synthesis job whose folder holds a 64 MB lists file
    that ends in a torn line (a line being appended)."""
    workdir = tmp_path_factory.mktemp("dataset-stream")
    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        refused = probe.getsockname()[1]
    s = Server(workdir, "--threads", "1", name="dataset-stream")
    try:
        record = s.submit_job("synthesize", sentences=["One sentence."], rounds=1,
                              generator=f"http://127.0.0.1:{refused}/v1")
        assert s.wait_for_job(record["id"], {"failed", "succeeded"}, timeout=120)["state"] == "failed"
        lists = s.data_dir / "jobs" / record["id"] / "lists.jsonl"
        whole = LINE.encode() * (DATASET_BYTES // len(LINE))
        lists.write_bytes(whole + b'{"anchor": "torn')
        yield s, record["id"], lists, whole
    finally:
        s.terminate()


def connect(port: int, receive_buffer: int | None = None) -> socket.socket:
    c = socket.socket()
    if receive_buffer:
        c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    c.settimeout(30)
    c.connect(("127.0.0.1", port))
    return c


def read_head(c: socket.socket) -> tuple[bytes, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = c.recv(65536)
        assert chunk, "closed before the head"
        data += chunk
    head, rest = data.split(b"\r\n\r\n", 1)
    return head, rest


def dechunk(raw: bytes) -> bytes:
    """The body of a complete chunked message; fails on a missing last chunk."""
    out, at = [], 0
    while True:
        end = raw.index(b"\r\n", at)
        size = int(raw[at:end], 16)
        at = end + 2
        if size == 0:
            assert raw[at:at + 2] == b"\r\n", "no blank line after the last chunk"
            return b"".join(out)
        out.append(raw[at:at + size])
        assert raw[at + size:at + size + 2] == b"\r\n"
        at += size + 2


def test_large_dataset_streams_chunked_to_a_slow_reader_with_memory_bounded(job):
    """A client with a small receive buffer stops reading for two seconds,
    then reads in small steps: the server neither loads the 64 MB file nor
    reads ahead of the client, lines appended meanwhile are not sent, and
    the body is the file's whole lines as of the request."""
    s, job_id, lists, whole = job
    requests.get(s.url + "/health", timeout=10)
    baseline = resident_bytes(s.proc.pid)
    c = connect(s.port, receive_buffer=16 * 1024)
    try:
        stream_slowly(s, c, job_id, lists, whole, baseline)
    finally:
        c.close()
        # Later tests expect the file as it was.
        lists.write_bytes(whole)


def stream_slowly(s, c, job_id, lists, whole, baseline) -> None:
    """Stalls, then reads in small steps; checks the body and the memory."""
    c.sendall(f"GET /jobs/{job_id}/dataset HTTP/1.1\r\nHost: t\r\n\r\n".encode())
    head, raw = read_head(c)
    text = head.decode()
    assert text.startswith("HTTP/1.1 200 "), text
    assert "\r\nTransfer-Encoding: chunked" in text and "Content-Length" not in text, text
    assert "\r\nContent-Type: application/x-ndjson" in text, text
    # The job "appends" while the client is downloading: not part of this body.
    with open(lists, "ab") as f:
        f.write(b'": "now whole"}\n' + LINE.encode() * 1000)
    peak = baseline
    stall_end = time.monotonic() + 2
    while time.monotonic() < stall_end:
        peak = max(peak, resident_bytes(s.proc.pid))
        time.sleep(0.1)
    chunks = [raw]
    received, next_pause = len(raw), 4 * 2**20
    while not b"".join(chunks[-2:]).endswith(b"\r\n0\r\n\r\n"):
        data = c.recv(256 * 1024)
        assert data, "closed before the last chunk"
        chunks.append(data)
        received += len(data)
        if received >= next_pause:
            peak = max(peak, resident_bytes(s.proc.pid))
            next_pause += 4 * 2**20
            time.sleep(0.05)
    body = dechunk(b"".join(chunks))
    assert len(body) == len(whole)
    assert hashlib.sha256(body).digest() == hashlib.sha256(whole).digest(), "whole lines as of the request, in order"
    growth = peak - baseline
    assert growth < 24 * 2**20, f"resident memory grew {growth / 2**20:.1f} MiB streaming a {len(whole) / 2**20:.0f} MiB dataset"


def test_client_that_leaves_mid_stream_frees_the_file_and_the_server_answers(job):
    s, job_id, lists, whole = job
    url = f"{s.url}/jobs/{job_id}/dataset"
    requests.get(s.url + "/health", timeout=10)
    descriptors = open_descriptors(s.proc.pid)
    for _ in range(3):
        c = connect(s.port)
        c.sendall(f"GET /jobs/{job_id}/dataset HTTP/1.1\r\nHost: t\r\n\r\n".encode())
        read_head(c)
        c.recv(1 << 20)
        # Reset, as a client killed mid-download.
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        c.close()
    deadline = time.monotonic() + 10
    while open_descriptors(s.proc.pid) > descriptors and time.monotonic() < deadline:
        time.sleep(0.05)
    assert open_descriptors(s.proc.pid) <= descriptors, "a descriptor (the lists file or the socket) stayed open"
    assert requests.get(s.url + "/health", timeout=10).status_code == 200
    logged = [e for e in s.access_log() if e.get("path", "").endswith("/dataset")]
    assert logged and all(e["status"] == 200 for e in logged)
    assert any(e["bytes"] < len(whole) for e in logged), "a cut-short download logs the bytes it got"
    # Read whole by an ordinary client (which asks for gzip: a stream is sent as is).
    r = requests.get(url, timeout=60)
    assert r.status_code == 200 and r.headers["Transfer-Encoding"] == "chunked"
    assert "Content-Encoding" not in r.headers
    assert len(r.content) == len(whole) and r.content[-len(LINE):] == LINE.encode()


def test_http10_client_gets_the_dataset_close_delimited(job):
    s, job_id, lists, whole = job
    c = connect(s.port)
    with c:
        c.sendall(f"GET /jobs/{job_id}/dataset HTTP/1.0\r\n\r\n".encode())
        head, raw = read_head(c)
        text = head.decode()
        assert "Transfer-Encoding" not in text and "Content-Length" not in text, text
        assert "\r\nConnection: close" in text, text
        parts = [raw]
        while data := c.recv(1 << 20):
            parts.append(data)
    assert b"".join(parts) == whole

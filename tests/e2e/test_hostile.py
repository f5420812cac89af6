"""Hostile and careless clients against a real `ranksmith serve` child
process over real sockets: what one client sends must not crash the
server, grow its memory or labels without bound, or starve other clients;
shutdown under load exits 0."""
from __future__ import annotations

import gzip
import json
import re
import signal
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from conftest import Server, resident_bytes

KEY = "hostile-test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
WORDS = ("the quick brown fox jumps over a lazy dog while seven wizards quietly "
         "judge boxing matches near the old harbour under grey winter skies").split()


def sentence(n: int, seed: int = 0) -> str:
    return " ".join(WORDS[(seed + i * 7) % len(WORDS)] for i in range(n))


@pytest.fixture(scope="module")
def guarded(tmp_path_factory):
    """A server with an API key and a 1 MiB body limit, as in the report."""
    s = Server(tmp_path_factory.mktemp("hostile"), "--threads", "2", "--api-keys", KEY,
               "--max-body-bytes", "1048576", name="guarded")
    yield s
    s.terminate()


def raw_exchange(port: int, data: bytes, *, wait: float = 5.0, first_only: bool = False) -> bytes:
    """Sends `data` on a fresh connection; answers what came back until the
    server closes (or, with `first_only`, the first chunk)."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as s:
        s.sendall(data)
        out = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                out += chunk
                if first_only:
                    break
        except socket.timeout:
            pass
        return out


# MARK: - Request bodies


def test_gzip_body_is_limited_after_inflation(guarded):
    """5 MB inflated from a few KB on the wire is refused with 413 (the body
    limit is 1 MiB); a small gzip body still works."""
    big = json.dumps({"inputs": "word " * 1_000_000}).encode()
    packed = gzip.compress(big)
    assert len(packed) < 64 * 1024 and len(big) > 4_000_000
    started = time.monotonic()
    r = requests.post(guarded.url + "/embed", data=packed, timeout=60,
                      headers={**AUTH, "Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert r.status_code == 413, r.text
    assert "1048576" in r.json()["error"]["message"]
    assert time.monotonic() - started < 5
    small = gzip.compress(json.dumps({"inputs": ["a small body"]}).encode())
    r = requests.post(guarded.url + "/embed", data=small, timeout=60,
                      headers={**AUTH, "Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert r.status_code == 200, r.text


def nested_filter(depth: int) -> dict:
    f: dict = {"key": "topic", "match": {"value": "x"}}
    for _ in range(depth):
        f = {"must": [f]}
    return f


def test_deep_json_is_refused_fast_and_names_the_limit(guarded):
    """A filter nested 250 levels (2.8 KB) is a 422 naming the limit, in
    milliseconds; eight of them at once leave an /embed next to them fast."""
    body = json.dumps({"collection": "nope", "query": "q", "filter": nested_filter(250)})
    started = time.monotonic()
    r = requests.post(guarded.url + "/search", data=body, timeout=30,
                      headers={**AUTH, "Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "too_deep"
    assert "32" in r.json()["error"]["message"]
    assert time.monotonic() - started < 1.0

    # Within the limit the body is read (the collection lookup answers).
    r = requests.post(guarded.url + "/search", timeout=30, headers=AUTH,
                      json={"collection": "nope", "query": "q", "filter": nested_filter(10)})
    assert r.status_code == 404, r.text

    def deep():
        return requests.post(guarded.url + "/search", data=body, timeout=60,
                             headers={**AUTH, "Content-Type": "application/json"}).status_code

    with ThreadPoolExecutor(8) as pool:
        hostile = [pool.submit(deep) for _ in range(8)]
        started = time.monotonic()
        r = requests.post(guarded.url + "/embed", json={"inputs": ["an ordinary request"]}, headers=AUTH, timeout=60)
        embed_seconds = time.monotonic() - started
        assert all(f.result() == 422 for f in hostile)
    assert r.status_code == 200
    assert embed_seconds < 2.0, f"/embed next to deep bodies took {embed_seconds:.1f}s"


def test_json_depth_limit_is_configurable(tmp_path):
    s = Server(tmp_path, "--threads", "1", "--max-json-depth", "4", name="depth4")
    try:
        r = requests.post(s.url + "/search", timeout=30,
                          json={"collection": "nope", "query": "q", "filter": nested_filter(3)})
        assert r.status_code == 422 and "4" in r.json()["error"]["message"], r.text
        r = requests.post(s.url + "/search", timeout=30, json={"collection": "nope", "query": "q"})
        assert r.status_code == 404, r.text
    finally:
        assert s.terminate() == 0


def test_duplicate_json_keys_are_refused(guarded):
    for body in ('{"inputs": ["a"], "inputs": ["b"]}',
                 '{"inputs": ["a"], "\\u0069nputs": ["b"]}',
                 '{"collection": "c", "query": "q", "filter": {"must": [], "must": []}}'):
        path = "/search" if "collection" in body else "/embed"
        r = requests.post(guarded.url + path, data=body, timeout=30,
                          headers={**AUTH, "Content-Type": "application/json"})
        assert r.status_code == 400, (body, r.text)
        assert r.json()["error"]["code"] == "duplicate_key"


def test_fractional_top_k_says_what_to_send(guarded):
    r = requests.post(guarded.url + "/search", timeout=30, headers=AUTH,
                      json={"collection": "c", "query": "q", "top_k": 2.5})
    assert r.status_code == 422, r.text
    message = r.json()["error"]["message"]
    assert "top_k" in message and "whole number" in message, message
    assert "64 bits" not in message


# MARK: - Headers


def test_duplicate_authorization_headers_are_refused(guarded):
    for second in (f"Bearer {KEY}", "Bearer wrong"):
        body = b'{"inputs": ["x"]}'
        head = (f"POST /embed HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {KEY}\r\n"
                f"Authorization: {second}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
        reply = raw_exchange(guarded.port, head + body)
        assert reply.startswith(b"HTTP/1.1 400 "), reply[:200]
        assert b"Authorization" in reply


def test_expect_continue_without_a_valid_key_gets_401_first(guarded):
    for auth in ("", "Authorization: Bearer wrong\r\n"):
        head = (f"POST /embed HTTP/1.1\r\nHost: t\r\n{auth}Content-Type: application/json\r\n"
                "Content-Length: 17\r\nExpect: 100-continue\r\n\r\n").encode()
        reply = raw_exchange(guarded.port, head, wait=5)
        assert reply.startswith(b"HTTP/1.1 401 "), reply[:200]
        assert b"100 Continue" not in reply
    # With the key the server still invites the body.
    head = (f"POST /embed HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {KEY}\r\nContent-Type: application/json\r\n"
            "Content-Length: 17\r\nExpect: 100-continue\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", guarded.port), timeout=10) as s:
        s.sendall(head)
        assert s.recv(1024).startswith(b"HTTP/1.1 100 Continue")
        s.sendall(b'{"inputs": ["x"]}')
        assert s.recv(1024).startswith(b"HTTP/1.1 200 ")


# MARK: - Metrics


def test_unknown_methods_share_one_metrics_label(guarded):
    before = requests.get(guarded.url + "/metrics", timeout=30).text
    for i in range(200):
        reply = raw_exchange(guarded.port, f"JUNK{i} /embed HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode())
        assert reply.startswith(b"HTTP/1.1 "), reply[:100]
        raw_exchange(guarded.port, f"GET /nowhere-{i} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode())
    text = requests.get(guarded.url + "/metrics", timeout=30).text
    assert "JUNK" not in text and "nowhere" not in text
    assert 'method="other"' in text and 'route="other"' in text
    methods = set(re.findall(r'method="([^"]*)"', text))
    assert methods <= {"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "CONNECT", "other"}
    assert len(text) < len(before) + 20_000


# MARK: - Rerank validation


def test_rerank_parameters_are_checked_before_the_work(guarded):
    """`top_n: -1` with many long documents is answered at once, and the
    batcher computes nothing for it."""
    def tokens_total() -> float:
        text = requests.get(guarded.url + "/metrics", timeout=30).text
        m = re.search(r"^ranksmith_batch_tokens_total (\S+)$", text, re.M)
        return float(m.group(1)) if m else 0.0

    before = tokens_total()
    documents = [sentence(200, i) for i in range(400)]
    started = time.monotonic()
    r = requests.post(guarded.url + "/v1/rerank", headers=AUTH, timeout=120,
                      json={"query": "a fox", "documents": documents, "top_n": -1})
    seconds = time.monotonic() - started
    assert r.status_code == 422 and "top_n" in r.text, r.text
    assert tokens_total() == before
    assert seconds < 2.0
    r = requests.post(guarded.url + "/rerank", headers=AUTH, timeout=120,
                      json={"query": "a fox", "texts": documents, "top_n": 0})
    assert r.status_code == 422 and "top_n" in r.text, r.text
    assert tokens_total() == before


# MARK: - Collections


def test_upsert_racing_collection_delete_is_404_or_409(guarded):
    """Upserts and a delete of the same collection at once: each upsert is
    200, 404 or 409 with a message that says it once; never a 503."""
    statuses = []
    for round_ in range(6):
        name = f"race{round_}"
        r = requests.put(f"{guarded.url}/collections/{name}", headers=AUTH, timeout=30)
        assert r.status_code in (200, 201), r.text
        docs = [{"id": f"d{i}", "text": sentence(30, i)} for i in range(64)]

        def upsert():
            return requests.post(f"{guarded.url}/collections/{name}/documents", headers=AUTH,
                                 json={"documents": docs}, timeout=120)

        with ThreadPoolExecutor(3) as pool:
            futures = [pool.submit(upsert) for _ in range(3)]
            time.sleep(0.05 * (round_ % 3))
            d = requests.delete(f"{guarded.url}/collections/{name}", headers=AUTH, timeout=60)
            assert d.status_code in (200, 204, 404), d.text
            for f in futures:
                r = f.result()
                statuses.append(r.status_code)
                assert r.status_code in (200, 404, 409), r.text
                if r.status_code != 200:
                    message = r.json()["error"]["message"]
                    words = message.split()
                    half = len(words) // 2
                    assert words[:half] != words[half:2 * half], message
                    assert name in message, message
    assert any(s != 200 for s in statuses), "no upsert met the delete; the race was not exercised"


# MARK: - Slow readers


def test_clients_that_never_read_cannot_grow_memory(tmp_path):
    """Ten clients ask /tokenize for ~7 MB answers and never read them. The
    unsent responses stay within --max-unsent-bytes (the rest get 503), other
    clients are answered, and memory goes back once they are gone."""
    budget = 16 * 1024 * 1024
    s = Server(tmp_path, "--threads", "2", "--max-unsent-bytes", str(budget), "--write-timeout", "4",
               "--quiet", name="slow-readers")
    try:
        body = json.dumps({"inputs": [sentence(300, i) for i in range(600)]}).encode()
        head = (f"POST /tokenize HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        # Warm up: one full answer read, so the baseline includes the
        # tokenizer's and the allocator's steady state.
        r = requests.post(s.url + "/tokenize", data=body, headers={"Content-Type": "application/json"}, timeout=120)
        assert r.status_code == 200 and len(r.content) > 5_000_000
        response_bytes = len(r.content)
        time.sleep(1)
        baseline = resident_bytes(s.proc.pid)

        sockets = []
        for _ in range(10):
            c = socket.socket()
            c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            c.connect(("127.0.0.1", s.port))
            c.sendall(head + body)
            sockets.append(c)
        peak = baseline
        deadline = time.monotonic() + 12
        health = []
        while time.monotonic() < deadline:
            peak = max(peak, resident_bytes(s.proc.pid))
            t0 = time.monotonic()
            assert requests.get(s.url + "/health", timeout=10).status_code == 200
            health.append(time.monotonic() - t0)
            time.sleep(0.2)
        for c in sockets:
            c.close()
        time.sleep(2)
        after = resident_bytes(s.proc.pid)
        growth = peak - baseline
        # The budget, the working memory of the two handlers that run at
        # once (a response each, and the request bodies), slack.
        assert growth < budget + 3 * response_bytes + 32 * 2**20, \
            f"peak grew {growth / 2**20:.0f} MiB over {baseline / 2**20:.0f} MiB"
        assert after - baseline < 32 * 2**20, f"{(after - baseline) / 2**20:.0f} MiB stayed after the clients left"
        assert max(health) < 2.0
    finally:
        assert s.terminate() == 0


# MARK: - Shutdown under load


def test_sigterm_under_load_exits_zero(tmp_path):
    """Six clients embed 128 texts of ~200 words each; SIGTERM a moment
    later. Over many rounds the process always exits 0 after "drained", and
    logs nothing after it."""
    documents = [sentence(200, i) for i in range(128)]
    rounds = 8
    for round_ in range(rounds):
        s = Server(tmp_path / f"round{round_}", "--threads", "2", "--drain-timeout", "1", name="sigterm")
        stop = threading.Event()

        def client():
            while not stop.is_set():
                try:
                    requests.post(s.url + "/embed", json={"inputs": documents}, timeout=30)
                except requests.RequestException:
                    return

        threads = [threading.Thread(target=client, daemon=True) for _ in range(6)]
        for t in threads:
            t.start()
        time.sleep(0.5 + 0.25 * (round_ % 4))
        s.proc.send_signal(signal.SIGTERM)
        try:
            code = s.proc.wait(timeout=30)
        finally:
            stop.set()
            s.kill()
        for t in threads:
            t.join(timeout=30)
        log = s.stderr()
        assert code == 0, f"round {round_}: exit {code}\n{log[-2000:]}"
        tail = log.split("drained, exiting", 1)
        assert len(tail) == 2, f"round {round_}: no drained line\n{log[-2000:]}"
        assert tail[1].strip() == "", f"round {round_}: output after drained: {tail[1][:500]}"

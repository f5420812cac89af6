"""The API through a real nginx configured with deploy/nginx/ranksmith.conf,
in front of two real `ranksmith serve` instances (loopback only).

The instances run with a 4 MiB body limit, under nginx's 8 MiB, so that
both 413s (the proxy's and the server's) can be provoked.
"""
from __future__ import annotations

import gzip
import http.client
import json
import signal
import threading
import time
import uuid

import pytest
import requests

from conftest import Nginx, Server

SERVER_BODY_LIMIT = 4 * 1024 * 1024
PROXY_BODY_LIMIT = 8 * 1024 * 1024
SENTENCES = [f"Sentence number {i} about a cat on a mat." for i in range(32)]


@pytest.fixture(scope="module")
def upstreams(tmp_path_factory):
    base = tmp_path_factory.mktemp("upstreams")
    flags = ("--threads", "1", "--max-body-bytes", str(SERVER_BODY_LIMIT), "--drain-timeout", "5")
    a = Server(base / "a", *flags, name="a")
    try:
        b = Server(base / "b", *flags, name="b")
    except Exception:
        a.kill()
        raise
    yield a, b
    for s in (a, b):
        s.terminate(timeout=15)


@pytest.fixture(scope="module")
def proxy(upstreams, tmp_path_factory):
    n = Nginx(tmp_path_factory.mktemp("nginx"), [s.port for s in upstreams])
    yield n
    n.stop()


def logged(upstreams, request_id: str, timeout: float = 5) -> list[dict]:
    """Access-log lines of either instance with this request id (lines are
    written after the response, so wait a moment for them)."""
    deadline = time.monotonic() + timeout
    while True:
        lines = [l for s in upstreams for l in s.access_log() if l.get("request_id") == request_id]
        if lines or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


def padded_embed_body(size: int) -> bytes:
    """A valid /embed body of exactly `size` bytes (JSON whitespace padding),
    cheap for the server to parse and embed."""
    head, tail = b'{"inputs": "a large but cheap request"', b"}"
    return head + b" " * (size - len(head) - len(tail)) + tail


def post_raw(url_port: int, path: str, body: bytes, headers: dict) -> tuple[int, dict, bytes]:
    c = http.client.HTTPConnection("127.0.0.1", url_port, timeout=30)
    try:
        c.request("POST", path, body=body, headers={"Content-Type": "application/json", **headers})
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


# MARK: - Through the proxy


def test_nginx_config_is_valid(proxy):
    # The fixture already ran `nginx -t`; the rendered file keeps every
    # location of the deploy config.
    text = proxy.conf.read_text()
    for needle in ("keepalive 32", "client_max_body_size 8m", "proxy_buffering off", "non_idempotent",
                   "X-Forwarded-For", "X-Request-Id"):
        assert needle in text


def test_keepalive_reuse(proxy, upstreams):
    """Twenty requests on one client connection; nginx reuses its upstream
    connections instead of opening one per request."""
    c = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
    ids = []
    for i in range(20):
        rid = f"keepalive-{uuid.uuid4().hex}"
        ids.append(rid)
        c.request("GET", "/health", headers={"X-Request-Id": rid})
        r = c.getresponse()
        r.read()
        assert r.status == 200
        assert r.getheader("X-Request-Id") == rid
        assert not r.will_close, "nginx closed the client connection"
    c.close()
    remotes = {l["remote"] for rid in ids for l in logged(upstreams, rid)}
    assert len([rid for rid in ids if logged(upstreams, rid)]) == 20
    # One nginx worker, two instances: at most one connection per instance
    # for sequential requests (a little slack for a reconnect).
    assert len(remotes) <= 4, remotes


def test_forwarded_for_and_request_id_reach_the_access_log(proxy, upstreams):
    rid = "xff-" + uuid.uuid4().hex
    r = requests.post(proxy.url + "/embed", json={"inputs": "hello"},
                      headers={"X-Request-Id": rid, "X-Forwarded-For": "203.0.113.7"}, timeout=10)
    assert r.status_code == 200
    assert r.headers["X-Request-Id"] == rid
    assert r.headers.get("X-Model-Version")
    [line] = logged(upstreams, rid)
    assert line["method"] == "POST" and line["path"] == "/embed" and line["status"] == 200
    # nginx appends the address it saw to what the client sent.
    assert line["forwarded_for"] == "203.0.113.7, 127.0.0.1"
    assert line["remote"].startswith("127.0.0.1")


def test_compatibility_routes_pass_the_proxy(proxy, upstreams):
    """The routes of TEI and Ollama (docs/compatibility.md) go through the
    deploy config to an instance, POST / included."""
    for method, path, body, status in [("POST", "/", {"inputs": "hello"}, 200), ("GET", "/", None, 200),
                                       ("GET", "/ping", None, 200), ("POST", "/invocations", {"inputs": "x"}, 200),
                                       ("POST", "/api/embed", {"model": "m", "input": "x"}, 200),
                                       ("POST", "/decode", {"ids": [101]}, 200), ("POST", "/predict", {"inputs": "x"}, 424)]:
        rid = "compat-" + uuid.uuid4().hex
        r = requests.request(method, proxy.url + path, json=body, headers={"X-Request-Id": rid}, timeout=10)
        assert r.status_code == status, (path, r.text)
        [line] = logged(upstreams, rid)
        assert line["path"] == path and line["method"] == method


def test_request_id_made_by_the_proxy_when_absent(proxy, upstreams):
    r = requests.get(proxy.url + "/health", timeout=10)
    assert r.status_code == 200
    rid = r.headers["X-Request-Id"]
    assert len(rid) == 32  # nginx's $request_id
    assert logged(upstreams, rid)


def test_large_body(proxy):
    body = padded_embed_body(3 * 1024 * 1024)
    status, headers, data = post_raw(proxy.port, "/embed", body, {})
    assert status == 200, data[:300]
    vectors = json.loads(data)
    assert len(vectors) == 1 and len(vectors[0]) == 384


def test_gzip_response_passes_through(proxy):
    status, headers, data = post_raw(proxy.port, "/embed", json.dumps({"inputs": SENTENCES}).encode(),
                                     {"Accept-Encoding": "gzip"})
    assert status == 200
    assert headers.get("content-encoding") == "gzip"
    vectors = json.loads(gzip.decompress(data))
    assert len(vectors) == 32


def test_gzip_request_body_passes_through(proxy):
    body = gzip.compress(json.dumps({"inputs": SENTENCES[:4]}).encode())
    status, headers, data = post_raw(proxy.port, "/embed", body, {"Content-Encoding": "gzip"})
    assert status == 200, data[:300]
    assert len(json.loads(data)) == 4


def test_proxy_413(proxy):
    """Over nginx's limit: nginx answers (JSON, no X-Model-Version) without
    bothering an instance."""
    body = padded_embed_body(PROXY_BODY_LIMIT + 1024 * 1024)
    try:
        status, headers, data = post_raw(proxy.port, "/embed", body, {})
    except (ConnectionResetError, BrokenPipeError) as e:  # pragma: no cover - reported precisely below
        pytest.fail(f"nginx reset the connection instead of answering 413: {e!r}")
    assert status == 413
    assert json.loads(data)["error"]["code"] == "payload_too_large"
    assert "x-model-version" not in headers


def test_server_413(proxy):
    """Under nginx's limit but over the instances' --max-body-bytes: the
    server's own 413 reaches the client."""
    body = padded_embed_body(SERVER_BODY_LIMIT + 512 * 1024)
    status, headers, data = post_raw(proxy.port, "/embed", body, {})
    assert status == 413, data[:300]
    assert json.loads(data)["error"]["code"] == "payload_too_large"
    assert headers.get("x-model-version"), "expected the server's 413, got the proxy's"


# MARK: - Rolling restart (keep last: it stops instance a)


def test_sigterm_during_load_fails_no_request(proxy, upstreams):
    """Four clients send a bounded number of requests through nginx; instance
    a gets SIGTERM a third of the way through. Every request must succeed:
    in-flight ones finish on a (drain), later ones go to b (nginx retries
    on refused connections and on a's 503 while draining)."""
    a, b = upstreams
    total, clients = 240, 4
    results: list[tuple[str, int | str]] = []
    lock = threading.Lock()
    started = threading.Event()
    deadline = time.monotonic() + 60

    def client(k: int):
        s = requests.Session()
        for i in range(total // clients):
            if time.monotonic() > deadline:
                break
            try:
                if i % 2:
                    r = s.post(proxy.url + "/embed", json={"inputs": [f"client {k} request {i}", "a second text"]},
                               timeout=20)
                    ok = r.status_code == 200 and len(r.json()) == 2
                else:
                    r = s.get(proxy.url + "/info", timeout=20)
                    ok = r.status_code == 200
                outcome: int | str = r.status_code if ok else f"{r.status_code} {r.text[:200]}"
            except requests.RequestException as e:
                outcome = repr(e)
            with lock:
                results.append((f"{k}/{i}", outcome))
                if len(results) >= total // 3:
                    started.set()

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    assert started.wait(30), "load did not start"
    a.proc.send_signal(signal.SIGTERM)
    for t in threads:
        t.join(timeout=90)
    code = a.proc.wait(timeout=20)

    failed = [(rid, o) for rid, o in results if o != 200]
    assert len(results) == total, f"only {len(results)} of {total} requests ran before the time bound"
    assert not failed, f"{len(failed)} failed: {failed[:5]}"
    assert code == 0, f"instance a exited {code} after SIGTERM: {a.stderr()[-500:]}"
    # Both instances took part: a until its drain, b through the end.
    served = {s.log_path.stem: sum(1 for l in s.access_log() if l["path"] in ("/embed", "/info")) for s in (a, b)}
    assert served["a"] > 0 and served["b"] > 0, served
    assert requests.get(proxy.url + "/health", timeout=5).status_code == 200

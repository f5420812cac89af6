"""The hot-swap over real sockets with a real `ranksmith serve` child: model
versions are activated and rolled back while /embed, /v1/embeddings,
/rerank, /search and upserts run on several connections; SIGKILL during a
re-embedding; the active version across restarts; --max-memory.

The second version is the bundled model with perturbed weights
(model_versions.py), so its vectors differ measurably from `base`.
"""
from __future__ import annotations

import json
import math
import re
import signal
import threading
import time
from pathlib import Path

import jsonschema
import pytest
import requests
import yaml

from conftest import MODEL, ROOT, Server
from test_contract import resolve, to_json_schema
from model_versions import make_version

# Short documents, so that filling and re-embedding stay within the test's
# time and the re-embedding still lasts long enough to overlap the load.
DOCS = 1600
SWAP_TIMEOUT = 240
PROBES = ["A man is playing a guitar.", "The weather is cold today.", "Stocks fell sharply on Monday.",
          "A cat sleeps on the warm sofa."]
TOPICS = ["cats", "trains", "rain", "bread", "chess", "rivers", "music", "snow", "coffee", "maps", "ships", "tea"]


def doc_text(i: int) -> str:
    return f"note {i} on {TOPICS[i % len(TOPICS)]} and {TOPICS[(i * 7) % len(TOPICS)]}"


def cos(a, b) -> float:
    return sum(x * y for x, y in zip(a, b)) / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


def embed(url, texts):
    r = requests.post(url + "/embed", json={"inputs": texts}, timeout=60)
    assert r.status_code == 200, r.text
    return r.headers["X-Model-Version"], r.json()


def activate(url, version, expect=202):
    r = requests.post(f"{url}/models/{version}/activate", timeout=30)
    assert r.status_code == expect, r.text
    return r


def resident_bytes(url) -> float:
    text = requests.get(url + "/metrics", timeout=10).text
    return float(re.search(r"^process_resident_memory_bytes (\S+)", text, re.M).group(1))


def wait_for_activation(url, version, timeout=SWAP_TIMEOUT, memory: list | None = None) -> dict:
    """Polls until the activation of `version` ends; appends the resident
    memory seen meanwhile to `memory` when given."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if memory is not None:
            memory.append(resident_bytes(url))
        s = requests.get(url + "/models/activation", timeout=10).json()
        if s["version"] == version and s["state"] != "running":
            assert s["state"] == "succeeded", s
            return s
        time.sleep(0.1)
    raise AssertionError(f"activation of {version} did not finish within {timeout}s: {s}")


def index_dirs(data_dir: Path) -> set[str]:
    return {p.name for p in data_dir.iterdir() if p.is_dir() and (p.name == "index" or p.name.startswith("index-"))}


def active_index(data_dir: Path) -> str:
    path = data_dir / "active.json"
    return json.loads(path.read_text())["index"] if path.exists() else "index"


def conforms(body, schema: str):
    """`body` matches components/schemas/`schema` of openapi.yaml."""
    with open(ROOT / "openapi.yaml") as f:
        spec = yaml.safe_load(f)
    jsonschema.validate(body, to_json_schema(resolve(spec["components"]["schemas"][schema], spec)))


# MARK: - A server with two versions and filled collections


@pytest.fixture(scope="module")
def swap_server(tmp_path_factory):
    work = tmp_path_factory.mktemp("swap")
    make_version(MODEL, work / "data", "v2")
    s = Server(work, "--threads", "2", "--quiet", name="swap")
    assert requests.put(s.url + "/collections/docs", json={"index": "hnsw"}, timeout=10).status_code == 201
    assert requests.put(s.url + "/collections/notes", json={"index": "flat"}, timeout=10).status_code == 201
    for name, ids in (("docs", range(0, DOCS * 3 // 4)), ("notes", range(DOCS * 3 // 4, DOCS))):
        ids = list(ids)
        for k in range(0, len(ids), 400):
            batch = [{"id": f"d{i}", "text": doc_text(i), "metadata": {"n": i}} for i in ids[k:k + 400]]
            r = requests.post(f"{s.url}/collections/{name}/documents", json={"documents": batch}, timeout=300)
            assert r.status_code == 200, r.text
    yield s
    s.kill()


# MARK: - Load


class Load:
    """Requests on several connections until stopped; records every answer."""

    def __init__(self, url: str):
        self.url = url
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.failures: list[str] = []
        self.answers: list[tuple[str, float, str, object]] = []  # (kind, time, header version, body)
        self.acked: dict[str, str | None] = {}  # id -> text last acknowledged (None: deleted)
        self.threads = [threading.Thread(target=f, daemon=True) for f in
                        (self.embed_tei, self.embed_openai, self.rerank, self.search, self.search, self.upsert)]

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=120)

    def call(self, session, kind, method, path, body):
        try:
            r = session.request(method, self.url + path, json=body, timeout=120)
        except requests.RequestException as e:
            with self.lock:
                self.failures.append(f"{kind}: {e!r}")
            return None
        if r.status_code != 200:
            with self.lock:
                self.failures.append(f"{kind}: {r.status_code} {r.text[:300]}")
            return None
        with self.lock:
            self.answers.append((kind, time.monotonic(), r.headers.get("X-Model-Version"), r.json()))
        return r

    def kept_live(self, n: int) -> list[tuple[str, str, str]]:
        """The last `n` acknowledged new documents that the load never deletes."""
        with self.lock:
            kept = [(i, t) for i, t in self.acked.items()
                    if t is not None and i.startswith("live") and int(i[4:]) % 5 != 0]
        return [("docs", i, t) for i, t in kept[-n:]]

    def loop(self, body):
        with requests.Session() as session:
            k = 0
            while not self.stop.is_set():
                body(session, k)
                k += 1
                time.sleep(0.01)

    def embed_tei(self):
        self.loop(lambda s, k: self.call(s, "embed", "POST", "/embed", {"inputs": [PROBES[k % 4], PROBES[(k + 1) % 4]]}))

    def embed_openai(self):
        self.loop(lambda s, k: self.call(s, "openai", "POST", "/v1/embeddings", {"input": PROBES[k % 4]}))

    def rerank(self):
        self.loop(lambda s, k: self.call(s, "rerank", "POST", "/rerank", {"query": PROBES[k % 4], "texts": PROBES}))

    def search(self):
        def one(s, k):
            i = (k * 37) % DOCS
            r = self.call(s, "search", "POST", "/search",
                          {"collection": "docs" if i < DOCS * 3 // 4 else "notes", "query": doc_text(i), "top_k": 3,
                           "exact": True})
            if r is not None:
                with self.lock:
                    self.answers[-1] = ("search", time.monotonic(), r.headers.get("X-Model-Version"), (i, r.json()))
        self.loop(one)

    def upsert(self):
        def one(s, k):
            if k % 5 == 4:  # every fifth write deletes one written earlier
                victim = f"live{k - 4}"
                r = self.call(s, "delete", "DELETE", f"/collections/docs/documents/{victim}", None)
                if r is not None:
                    with self.lock:
                        self.acked[victim] = None
                return
            docs = [{"id": f"live{k}", "text": f"fresh note {k} about {TOPICS[k % len(TOPICS)]}"},
                    {"id": f"d{k % 50}", "text": f"rewritten note {k % 50} version {k}"}]
            r = self.call(s, "upsert", "POST", "/collections/docs/documents", {"documents": docs})
            if r is not None:
                with self.lock:
                    for d in docs:
                        self.acked[d["id"]] = d["text"]
        self.loop(one)


# MARK: - Checks


def reference_vectors(url, version) -> dict[str, list[float]]:
    header, vectors = embed(url, PROBES)
    assert header == version
    return dict(zip(PROBES, vectors))


def check_unmixed(load: Load, refs: dict[str, dict[str, list[float]]]):
    """Every answer's numbers come from the version its header names."""
    for kind, _, version, body in load.answers:
        assert version in refs, f"{kind}: unexpected X-Model-Version {version!r}"
        ref = refs[version]
        if kind == "embed":
            for v in body:
                assert max(cos(v, r) for r in ref.values()) > 0.9999, f"embed vector not of {version}"
        elif kind == "openai":
            v = body["data"][0]["embedding"]
            assert max(cos(v, r) for r in ref.values()) > 0.9999, f"openai vector not of {version}"
        elif kind == "rerank":
            scores = sorted(h["score"] for h in body)
            # the query is one of the probes: the scores are cosines against every probe under `version`
            expected = [sorted(cos(ref[q], ref[t]) for t in PROBES) for q in PROBES]
            assert any(max(abs(a - b) for a, b in zip(scores, e)) < 1e-3 for e in expected), f"rerank not of {version}"
        elif kind == "search":
            i, out = body
            assert out["model_version"] == version, f"search header {version} vs body {out['model_version']}"
            top = out["hits"][0]
            if not (i < 50):  # d0…d49 are being rewritten by the load
                assert top["id"] == f"d{i}" and top["score"] > 0.999, f"search {i} mixed versions: {out}"


def check_vectors_are(url, version, ids_texts: list[tuple[str, str, str]]):
    """Stored vectors equal /embed of the same text under `version`."""
    texts = [t for _, _, t in ids_texts]
    header, vectors = embed(url, texts)
    assert header == version
    for (collection, doc_id, text), v in zip(ids_texts, vectors):
        r = requests.get(f"{url}/collections/{collection}/documents/{doc_id}?with_vector=true", timeout=10)
        assert r.status_code == 200, r.text
        assert r.json()["text"] == text
        assert cos(r.json()["vector"], v) > 0.9999, f"{collection}/{doc_id} not re-embedded with {version}"
        r = requests.post(url + "/search", json={"collection": collection, "query": text, "top_k": 1}, timeout=30)
        assert r.headers["X-Model-Version"] == version and r.json()["model_version"] == version
        assert r.json()["hits"][0]["score"] > 0.999


def check_acknowledged(url, acked: dict[str, str | None]):
    for doc_id, text in acked.items():
        r = requests.get(f"{url}/collections/docs/documents/{doc_id}", timeout=10)
        if text is None:
            assert r.status_code == 404, f"{doc_id} was deleted (acknowledged) but is back"
        else:
            assert r.status_code == 200, f"acknowledged {doc_id} is missing after the swap"
            assert r.json()["text"] == text, f"{doc_id}: an older text won"


# MARK: - Tests


def test_swap_and_roll_back_under_load(swap_server):
    url = swap_server.url
    refs = {"base": reference_vectors(url, "base")}
    sample = [("docs", f"d{i}", doc_text(i)) for i in range(60, DOCS * 3 // 4, 97)] + \
             [("notes", f"d{i}", doc_text(i)) for i in range(DOCS * 3 // 4, DOCS, 89)]
    with Load(url) as load:
        time.sleep(1)
        started = time.monotonic()
        r = activate(url, "v2")
        assert r.headers["Location"] == "/models/activation"
        conforms(r.json(), "Activation")
        conforms(requests.get(url + "/models", timeout=10).json(), "ModelList")
        # One activation at a time; the version being loaded and the active one stay.
        assert activate(url, "base", expect=409).json()["error"]["code"] == "activation_in_progress"
        assert requests.delete(url + "/models/v2", timeout=10).status_code == 409
        assert requests.delete(url + "/models/base", timeout=10).status_code == 409
        memory: list[float] = []
        s = wait_for_activation(url, "v2", memory=memory)
        swapped = time.monotonic()
        # Two models and two indexes at most: the peak stays near the
        # estimate the server made from them (and refuses with --max-memory).
        assert max(memory) <= 1.25 * s["memory"]["estimated_peak_bytes"], (max(memory), s["memory"])
        assert s["documents"]["total"] >= DOCS and s["collections"] == {"total": 2, "done": 2}
        refs["v2"] = reference_vectors(url, "v2")
        assert all(cos(refs["v2"][p], refs["base"][p]) < 0.995 for p in PROBES), "v2 should differ from base"
        time.sleep(1)
        check_vectors_are(url, "v2", sample + load.kept_live(10))
        activate(url, "base")  # roll back
        wait_for_activation(url, "base")
        rolled = time.monotonic()
        time.sleep(1)
    assert not load.failures, f"{len(load.failures)} failed requests, e.g. {load.failures[:5]}"
    during = {k for k, t, _, _ in load.answers if started < t < swapped}
    assert during >= {"embed", "openai", "rerank", "search", "upsert"}, f"load did not overlap the swap: {during}"
    versions = {v for _, t, v, _ in load.answers if started < t < rolled}
    assert versions == {"base", "v2"}, versions
    check_unmixed(load, refs)
    check_acknowledged(url, load.acked)
    check_vectors_are(url, "base", sample + load.kept_live(10))
    models = requests.get(url + "/models", timeout=10).json()
    assert models["active"] == "base" and {v["version"] for v in models["versions"]} == {"base", "v2"}
    assert index_dirs(swap_server.data_dir) == {active_index(swap_server.data_dir)}, "retired indexes are deleted"


def test_sigkill_during_reembedding_keeps_the_old_version(swap_server, tmp_path):
    url, data = swap_server.url, swap_server.data_dir
    counts = {c: requests.get(f"{url}/collections/{c}", timeout=10).json()["count"] for c in ("docs", "notes")}
    before = active_index(data)
    activate(url, "v2")
    deadline = time.monotonic() + SWAP_TIMEOUT
    while requests.get(url + "/models/activation", timeout=10).json()["documents"]["done"] < 200:
        assert time.monotonic() < deadline, "re-embedding did not start"
        time.sleep(0.05)
    shadows = index_dirs(data) - {before}
    assert len(shadows) == 1, f"expected one shadow index being built, found {shadows}"
    swap_server.proc.send_signal(signal.SIGKILL)
    swap_server.proc.wait(timeout=10)
    assert (data / next(iter(shadows))).exists(), "the half-built shadow is on disk before the restart"

    again = Server(swap_server.workdir, "--threads", "2", "--quiet", name="after-kill")
    try:
        assert requests.get(again.url + "/models", timeout=10).json()["active"] == "base"
        assert index_dirs(data) == {before}, "the half-built shadow is gone"
        for c, n in counts.items():
            info = requests.get(f"{again.url}/collections/{c}", timeout=10).json()
            assert info["count"] == n and info["model_version"] == "base"
        check_vectors_are(again.url, "base", [("docs", f"d{i}", doc_text(i)) for i in range(60, 400, 113)])
    finally:
        again.kill()


def test_active_version_survives_restart_and_a_broken_one_falls_back(tmp_path):
    make_version(MODEL, tmp_path / "data", "v2")
    s = Server(tmp_path, "--threads", "1", "--quiet", name="first")
    kept = [("kept", f"k{i}", f"a kept note number {i}") for i in range(5)]
    try:
        assert requests.put(s.url + "/collections/kept", timeout=10).status_code == 201
        r = requests.post(s.url + "/collections/kept/documents", timeout=60,
                          json={"documents": [{"id": i, "text": t} for _, i, t in kept]})
        assert r.status_code == 200, r.text
        activate(s.url, "v2")
        wait_for_activation(s.url, "v2")
        check_vectors_are(s.url, "v2", kept)
    finally:
        s.terminate()
    s = Server(tmp_path, "--threads", "1", "--quiet", name="second")
    try:
        assert requests.get(s.url + "/models", timeout=10).json()["active"] == "v2"
        header, _ = embed(s.url, ["hello"])
        assert header == "v2"
        # The active version can be neither deleted nor, being active, re-activated with work.
        r = requests.delete(s.url + "/models/v2", timeout=10)
        assert r.status_code == 409 and r.json()["error"]["code"] == "model_version_in_use"
        assert activate(s.url, "v2", expect=200).json()["state"] == "succeeded"
    finally:
        s.terminate()
    (tmp_path / "data" / "models" / "v2" / "model.safetensors").write_bytes(b"not weights")
    s = Server(tmp_path, "--threads", "1", "--quiet", name="third")
    try:
        assert requests.get(s.url + "/models", timeout=10).json()["active"] == "base"
        assert "active version v2 cannot be loaded" in s.stderr()
        header, _ = embed(s.url, ["hello"])
        assert header == "base"
        # The collection still holds v2's vectors: re-embedded with base in the background.
        assert "re-embedding them with base" in s.stderr()
        wait_for_activation(s.url, "base")
        check_vectors_are(s.url, "base", kept)
    finally:
        s.terminate()


def test_max_memory_refuses_a_swap_that_would_not_fit(tmp_path):
    make_version(MODEL, tmp_path / "data", "v2")
    s = Server(tmp_path, "--threads", "1", "--quiet", "--max-memory", "64M", name="small")
    try:
        r = activate(s.url, "v2", expect=409)
        err = r.json()["error"]
        assert err["code"] == "insufficient_memory" and "--max-memory" in err["message"] and "MiB" in err["message"]
        assert requests.get(s.url + "/models", timeout=10).json()["active"] == "base"
        assert activate(s.url, "no-such-version", expect=404).json()["error"]["code"] == "unknown_model_version"
    finally:
        s.terminate()

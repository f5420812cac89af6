"""Requests per endpoint for the contract test: each live response must have
the expected status, and a status and body that openapi.yaml declares.

To cover a new endpoint, add its cases here (in the order they should run:
they share one server). test_contract.py fails for any operation that the
server routes and openapi.yaml describes without at least one case here;
cases of operations the server does not route yet are skipped.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

LONG_TEXT = " ".join(["word"] * 600)  # over the model's 256-token limit


@dataclass
class Case:
    method: str
    path: str
    status: int
    json: Any = None
    data: bytes | None = None
    headers: dict = field(default_factory=dict)
    # Extra behaviour beyond the schema: called with the parsed body and the response.
    check: Callable[[Any, Any], None] | None = None
    # The spec operation this case exercises, when `path` is not itself one.
    operation: tuple[str, str] | None = None

    @property
    def id(self) -> str:
        return f"{self.method} {self.path} -> {self.status}"


def unit_vectors(n: int, dim: int = 384):
    def check(body, response):
        assert len(body) == n
        for v in body:
            assert len(v) == dim
            assert abs(sum(x * x for x in v) - 1) < 1e-3
    return check


def sorted_by(key: str):
    def check(body, response):
        items = body["results"] if isinstance(body, dict) else body
        scores = [h[key] for h in items]
        assert scores == sorted(scores, reverse=True)
    return check


def truncated_header(body, response):
    assert response.headers.get("X-Truncated-Inputs") == "1"


def base64_vectors(body, response):
    import base64
    import struct
    [item] = body["data"]
    raw = base64.b64decode(item["embedding"])
    assert len(raw) == 384 * 4
    v = struct.unpack("<384f", raw)
    assert abs(sum(x * x for x in v) - 1) < 1e-3


def metrics_text(body, response):
    assert response.headers["Content-Type"].startswith("text/plain")
    for name in ("ranksmith_http_requests_total", "process_resident_memory_bytes", "ranksmith_queue_depth"):
        assert name in response.text


def collection_named(name: str):
    def check(body, response):
        assert body["name"] == name and body["dimensions"] == 384
    return check


def first_hit(doc_id: str):
    def check(body, response):
        assert [h["id"] for h in body["hits"]] == [doc_id]
    return check


def job_state(*states: str):
    def check(body, response):
        assert body["kind"] == "synthesize" and body["state"] in states
    return check


def names_field(field: str):
    def check(body, response):
        assert f"'{field}'" in body["error"]["message"], body
    return check


def only_base(body, response):
    assert body["active"] == "base"
    assert [(v["version"], v["active"], v["bundled"]) for v in body["versions"]] == [("base", True, True)]


def nothing_to_do(body, response):
    assert body["version"] == "base" and body["state"] == "succeeded" and body["progress"] == 1


def equals(expected):
    def check(body, response):
        assert body == expected, body
    return check


def assert_length(items, n: int):
    assert len(items) == n, len(items)


def tei_error(error_type: str, *words: str):
    def check(body, response):
        assert body["error_type"] == error_type, body
        for w in words:
            assert w in body["error"], body
    return check


def ollama_error(*words: str):
    def check(body, response):
        assert isinstance(body["error"], str), body
        for w in words:
            assert w in body["error"], body
    return check


def token_vectors(counts: list[int]):
    def check(body, response):
        assert [len(m) for m in body] == counts
        assert all(len(v) == 384 for m in body for v in m)
    return check


def ollama_vectors(n: int, model: str, dim: int = 384):
    def check(body, response):
        assert body["model"] == model and len(body["embeddings"]) == n
        for v in body["embeddings"]:
            assert len(v) == dim and abs(sum(x * x for x in v) - 1) < 1e-3
        assert body["prompt_eval_count"] > 0
    return check


CASES = [
    # /embed (TEI)
    Case("POST", "/embed", 200, json={"inputs": "A man is playing a guitar."}, check=unit_vectors(1)),
    Case("POST", "/embed", 200, json={"inputs": ["one", "two", "three"]}, check=unit_vectors(3)),
    Case("POST", "/embed", 200, json={"inputs": ["one"], "dimensions": 64}, check=unit_vectors(1, 64)),
    Case("POST", "/embed", 200, json={"inputs": LONG_TEXT}, check=truncated_header),
    Case("POST", "/embed", 422, json={"inputs": LONG_TEXT, "truncate": False}),
    Case("POST", "/embed", 422, json={"inputs": []}),
    Case("POST", "/embed", 422, json={"texts": ["wrong field"]}),
    Case("POST", "/embed", 400, data=b'{"inputs": ', headers={"Content-Type": "application/json"}),
    Case("POST", "/embed", 415, data=b"hello", headers={"Content-Type": "text/plain"}),
    # /v1/embeddings (OpenAI)
    Case("POST", "/v1/embeddings", 200, json={"input": "hello", "model": "all-MiniLM-L6-v2"}),
    Case("POST", "/v1/embeddings", 200, json={"input": ["hello"], "encoding_format": "base64"}, check=base64_vectors),
    Case("POST", "/v1/embeddings", 200, json={"input": ["a", "b"], "dimensions": 32}),
    Case("POST", "/v1/embeddings", 422, json={"input": ""}),
    Case("POST", "/v1/embeddings", 422, json={"input": "x", "encoding_format": "int8"}),
    # Text Embeddings Inference's other routes, errors in its shape (docs/compatibility.md)
    Case("GET", "/", 200),
    Case("GET", "/ping", 200),
    Case("POST", "/", 200, json={"inputs": "A man is playing a guitar."}, check=unit_vectors(1)),
    Case("POST", "/", 200, json={"inputs": ["one", "two"], "truncation_direction": "right"}, check=unit_vectors(2)),
    Case("POST", "/", 413, json={"inputs": []}, check=tei_error("validation", "inputs")),
    Case("POST", "/", 413, json={"inputs": LONG_TEXT, "truncate": False}, check=tei_error("validation", "truncate")),
    Case("POST", "/", 422, json={"inputs": "x", "truncation_direction": "left"}, check=tei_error("validation", "truncation_direction")),
    Case("POST", "/", 422, json={"inputs": "x", "prompt_name": "query"}, check=tei_error("validation", "prompt_name")),
    Case("POST", "/", 422, json={"texts": ["wrong field"]}, check=tei_error("validation", "inputs")),
    Case("POST", "/", 400, data=b'{"inputs": ', headers={"Content-Type": "application/json"}, check=tei_error("validation")),
    Case("POST", "/", 415, data=b"hello", headers={"Content-Type": "text/plain"}, check=tei_error("validation")),
    Case("POST", "/invocations", 200, json={"inputs": ["one", "two", "three"]}, check=unit_vectors(3)),
    Case("POST", "/invocations", 413, json={"inputs": [""]}, check=tei_error("validation")),
    Case("POST", "/embeddings", 200, json={"input": ["hello"], "model": "m"}),
    Case("POST", "/embeddings", 422, json={"input": ""}),
    Case("POST", "/embed_all", 200, json={"inputs": ["Hello, world!", "a"]}, check=token_vectors([6, 3])),
    Case("POST", "/embed_all", 413, json={"inputs": []}, check=tei_error("validation")),
    Case("POST", "/decode", 200, json={"ids": [101, 7592, 1010, 2088, 999, 102]},
         check=equals(["hello, world!"])),
    Case("POST", "/decode", 200, json={"ids": [[101, 7592, 102], [2088]], "skip_special_tokens": False},
         check=equals(["[CLS] hello [SEP]", "world"])),
    Case("POST", "/decode", 422, json={"ids": [101, -1]}, check=tei_error("tokenizer", "ids[1]")),
    Case("POST", "/decode", 422, json={"ids": "hello"}, check=tei_error("validation", "ids")),
    Case("POST", "/predict", 424, json={"inputs": "I like you."}, check=tei_error("backend", "classifier")),
    # Ollama
    Case("POST", "/api/embed", 200, json={"model": "nomic-embed-text", "input": ["one", "two"]},
         check=ollama_vectors(2, "nomic-embed-text")),
    Case("POST", "/api/embed", 200, json={"model": "m", "input": "one", "dimensions": 64, "keep_alive": "5m",
                                          "options": {"num_ctx": 512}},
         check=ollama_vectors(1, "m", dim=64)),
    Case("POST", "/api/embed", 200, json={"model": "m"}, check=equals({"model": "m", "embeddings": []})),
    Case("POST", "/api/embed", 400, json={"input": "x"}, check=ollama_error("model is required")),
    Case("POST", "/api/embed", 400, json={"model": "m", "input": ["x", ""]}, check=ollama_error("input[1]")),
    Case("POST", "/api/embed", 400, json={"model": "m", "input": LONG_TEXT, "truncate": False}, check=ollama_error("truncate")),
    Case("POST", "/api/embed", 400, data=b'{"model": ', headers={"Content-Type": "application/json"}, check=ollama_error()),
    Case("POST", "/api/embeddings", 200, json={"model": "m", "prompt": "hello"},
         check=lambda body, r: assert_length(body["embedding"], 384)),
    Case("POST", "/api/embeddings", 200, json={"model": "m", "prompt": ""}, check=equals({"embedding": []})),
    Case("POST", "/api/embeddings", 400, json={"prompt": "x"}, check=ollama_error("model")),
    # /rerank (TEI)
    Case("POST", "/rerank", 200, json={"query": "What is Deep Learning?", "return_text": True,
                                       "texts": ["Deep Learning is a branch of machine learning.", "Cheese is made from milk."]},
         check=sorted_by("score")),
    Case("POST", "/rerank", 200, json={"query": "q", "texts": ["a", "b", "c"], "top_n": 1}),
    Case("POST", "/rerank", 422, json={"query": "q", "texts": []}),
    # /v1/rerank (Cohere / Jina)
    Case("POST", "/v1/rerank", 200, json={"query": "capital of France", "top_n": 2, "return_documents": True,
                                          "documents": ["Paris is the capital of France.", {"text": "Berlin is in Germany."}]},
         check=sorted_by("relevance_score")),
    Case("POST", "/v1/rerank", 422, json={"documents": ["no query"]}),
    # /tokenize
    Case("POST", "/tokenize", 200, json={"inputs": "Hello, world!"}),
    Case("POST", "/tokenize", 200, json={"inputs": ["a", "b"], "add_special_tokens": False}),
    Case("POST", "/tokenize", 422, json={"inputs": []}),
    # Collections and search: in the order a user goes (create, fill, read,
    # search, delete). Skipped until the server routes them.
    Case("PUT", "/collections/e2e-docs", 201, json={"index": "flat"}, operation=("put", "/collections/{name}"),
         check=collection_named("e2e-docs")),
    Case("PUT", "/collections/e2e-docs", 409, operation=("put", "/collections/{name}")),
    Case("GET", "/collections", 200),
    Case("GET", "/collections/e2e-docs", 200, operation=("get", "/collections/{name}"), check=collection_named("e2e-docs")),
    Case("GET", "/collections/e2e-missing", 404, operation=("get", "/collections/{name}")),
    Case("POST", "/collections/e2e-docs/documents", 200, operation=("post", "/collections/{name}/documents"),
         json={"documents": [{"id": "d1", "text": "Paris is the capital of France.", "metadata": {"topic": "geo"}},
                             {"id": "d2", "text": "Cheese is made from milk.", "metadata": {"topic": "food"}}]}),
    Case("POST", "/collections/e2e-docs/documents", 422, json={"documents": []},
         operation=("post", "/collections/{name}/documents")),
    Case("POST", "/collections/e2e-missing/documents", 404, json={"documents": [{"id": "x", "text": "x"}]},
         operation=("post", "/collections/{name}/documents")),
    Case("GET", "/collections/e2e-docs/documents/d1", 200, operation=("get", "/collections/{name}/documents/{id}")),
    Case("GET", "/collections/e2e-docs/documents/nope", 404, operation=("get", "/collections/{name}/documents/{id}")),
    Case("POST", "/search", 200, json={"collection": "e2e-docs", "query": "capital of France", "top_k": 1},
         check=first_hit("d1")),
    Case("POST", "/search", 200, check=first_hit("d2"),
         json={"collection": "e2e-docs", "query": "capital of France", "top_k": 1,
               "filter": {"must": [{"key": "topic", "match": {"value": "food"}}]}}),
    Case("POST", "/search", 404, json={"collection": "e2e-missing", "query": "x"}),
    Case("DELETE", "/collections/e2e-docs/documents/d2", 200, operation=("delete", "/collections/{name}/documents/{id}")),
    Case("DELETE", "/collections/e2e-docs", 200, operation=("delete", "/collections/{name}")),
    Case("DELETE", "/collections/e2e-docs", 404, operation=("delete", "/collections/{name}")),
    # Jobs (a tiny job: one sentence, one round, few tokens)
    Case("POST", "/jobs/synthesize", 202, json={"sentences": ["A man is playing a guitar."], "rounds": 1, "max_new_tokens": 8},
         check=job_state("queued", "running")),
    Case("POST", "/jobs/synthesize", 422, json={"sentences": []}, check=names_field("sentences")),
    Case("POST", "/jobs/synthesize", 422, json={"sentences": ["x"], "rounds": 0}, check=names_field("rounds")),
    Case("POST", "/jobs/synthesize", 422, json={"collection": "e2e-missing"}, check=names_field("collection")),
    Case("POST", "/jobs/synthesize", 422, json={"sentences": ["x"], "generator": "/no/such.gguf"}, check=names_field("generator")),
    # Refine: the run itself is tests/e2e/test_refine.py (it changes the serving model).
    Case("POST", "/jobs/refine", 422, json={"sentences": ["A man is playing a guitar."], "steps": 0}, check=names_field("steps")),
    Case("POST", "/jobs/refine", 422, json={"sentences": ["x"], "checks": [{"kind": "bleu"}]}, check=names_field("checks[0].kind")),
    # Train: the runs themselves are tests/e2e/test_train_job.py.
    Case("POST", "/jobs/train", 422, json={"steps": 2}, check=names_field("job")),
    Case("POST", "/jobs/train", 422, json={"job": "job-missing", "learning_rate": 1e-5}, check=names_field("job")),
    Case("GET", "/jobs", 200),
    Case("GET", "/jobs/job-missing", 404, operation=("get", "/jobs/{id}")),
    Case("DELETE", "/jobs/job-missing", 404, operation=("delete", "/jobs/{id}")),
    Case("GET", "/jobs/job-missing/dataset", 404, operation=("get", "/jobs/{id}/dataset")),
    # Model versions: the shared server has only the bundled one (the swap
    # itself, with a second version under load, is test_swap.py).
    Case("GET", "/models", 200, check=only_base),
    Case("GET", "/models/activation", 404, operation=("get", "/models/activation")),
    Case("POST", "/models/base/activate", 200, operation=("post", "/models/{version}/activate"), check=nothing_to_do),
    Case("GET", "/models/activation", 200, check=nothing_to_do),
    Case("POST", "/models/no-such-version/activate", 404, operation=("post", "/models/{version}/activate")),
    Case("DELETE", "/models/base", 409, operation=("delete", "/models/{version}")),
    Case("DELETE", "/models/no-such-version", 404, operation=("delete", "/models/{version}")),
    # Operations
    Case("GET", "/health", 200),
    Case("GET", "/ready", 200),
    Case("GET", "/info", 200),
    Case("GET", "/metrics", 200, check=metrics_text),
    # Not in the spec as paths, but errors must still be the spec's Error shape.
    Case("GET", "/no-such-endpoint", 404, operation=("get", "*")),
    Case("GET", "/embed", 405, operation=("get", "*")),
]

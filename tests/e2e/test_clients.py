"""The clients people already have, pointed at Ranksmith by URL alone:
huggingface_hub's InferenceClient, the ollama client, LangChain's
HuggingFaceEndpointEmbeddings and LlamaIndex's TextEmbeddingsInference.
Each must get the vectors POST /embed gives (cosine >= 0.9999), for one
text and for a batch, and an error that carries the server's message for
bad input. Then the routes they call (docs/compatibility.md) must sit
behind the same keys, limits, metrics and X-Model-Version as the rest."""
from __future__ import annotations

import os
import socket
import tempfile

# The clients read tokens from the environment and a cache folder: keep the
# caller's out, so "without a key" means without one.
for _name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HUGGINGFACEHUB_API_TOKEN", "OLLAMA_API_KEY", "OLLAMA_HOST"):
    os.environ.pop(_name, None)
os.environ["HF_HOME"] = tempfile.mkdtemp(prefix="ranksmith-hf-home-")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import requests  # noqa: E402

from api_cases import LONG_TEXT  # noqa: E402
from conftest import MODEL, Server  # noqa: E402

TEXTS = ["A man is playing a guitar.", "A woman is slicing an onion.", "Paris is the capital of France."]
KEY = "client-key"


def reference(server, texts: list[str]) -> np.ndarray:
    r = requests.post(server.url + "/embed", json={"inputs": texts}, timeout=30)
    r.raise_for_status()
    return np.array(r.json(), dtype=np.float64)


def assert_same_vectors(got, want: np.ndarray) -> None:
    got = np.asarray(got, dtype=np.float64).reshape(want.shape)
    cos = (got * want).sum(axis=1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(want, axis=1))
    assert cos.min() >= 0.9999, cos


def paths_requested(server) -> list[str]:
    return [(e["method"], e["path"]) for e in server.access_log()]


@pytest.fixture(scope="module")
def keyed(tmp_path_factory):
    """A server with an API key and small limits."""
    s = Server(tmp_path_factory.mktemp("clients-keyed"), "--threads", "1", "--api-keys", KEY,
               "--max-inputs", "4", "--max-body-bytes", "65536", name="keyed")
    yield s
    s.terminate()


# MARK: - huggingface_hub


def test_huggingface_hub_inference_client(server):
    from huggingface_hub import InferenceClient
    from huggingface_hub.errors import HfHubHTTPError

    client = InferenceClient(base_url=server.url)
    before = len(paths_requested(server))
    one = client.feature_extraction(TEXTS[0])
    assert_same_vectors(one, reference(server, TEXTS[:1]))
    batch = client.feature_extraction(TEXTS)
    assert batch.shape == (3, 384)
    assert_same_vectors(batch, reference(server, TEXTS))
    # It calls TEI's root route, which is what used to be a 404.
    assert ("POST", "/") in paths_requested(server)[before:]

    with pytest.raises(HfHubHTTPError) as bad:
        client.feature_extraction("")
    assert bad.value.response.status_code == 413  # TEI's status for a validation error
    assert "must not be an empty string" in str(bad.value)
    with pytest.raises(HfHubHTTPError) as long:
        client.feature_extraction(LONG_TEXT, truncate=False)
    assert long.value.response.status_code == 413
    assert "truncate" in str(long.value)
    with pytest.raises(HfHubHTTPError) as left:
        client.feature_extraction("x", truncation_direction="left")
    assert "truncation_direction" in str(left.value)


def test_huggingface_hub_with_and_without_a_key(keyed):
    from huggingface_hub import InferenceClient
    from huggingface_hub.errors import HfHubHTTPError

    vectors = InferenceClient(base_url=keyed.url, api_key=KEY).feature_extraction(TEXTS)
    r = requests.post(keyed.url + "/embed", json={"inputs": TEXTS}, headers={"Authorization": f"Bearer {KEY}"}, timeout=30)
    assert_same_vectors(vectors, np.array(r.json()))
    for key in (None, "wrong-key"):
        with pytest.raises(HfHubHTTPError) as refused:
            InferenceClient(base_url=keyed.url, api_key=key).feature_extraction("x")
        assert refused.value.response.status_code == 401
        assert "API key" in str(refused.value)


# MARK: - ollama


def test_ollama_client(server):
    import ollama

    client = ollama.Client(host=server.url)
    one = client.embed(model="nomic-embed-text", input=TEXTS[0])
    assert one.model == "nomic-embed-text"
    assert_same_vectors(one.embeddings, reference(server, TEXTS[:1]))
    assert one.prompt_eval_count > 0
    batch = client.embed(model="nomic-embed-text", input=TEXTS)
    assert len(batch.embeddings) == 3
    assert_same_vectors(batch.embeddings, reference(server, TEXTS))
    # /api/embed answers unit vectors; the older /api/embeddings does not
    # normalise (as Ollama), but points the same way.
    legacy = client.embeddings(model="nomic-embed-text", prompt=TEXTS[1])
    assert abs(np.linalg.norm(legacy.embedding) - 1) > 0.01
    assert_same_vectors([legacy.embedding], reference(server, TEXTS[1:2]))
    assert client.embed(model="nomic-embed-text", input=[]).embeddings == []  # Ollama's "load the model"

    with pytest.raises(ollama.ResponseError) as bad:
        client.embed(model="nomic-embed-text", input=["fine", ""])
    assert bad.value.status_code == 400
    assert bad.value.error == "field 'input[1]': must not be an empty string"
    with pytest.raises(ollama.ResponseError) as long:
        client.embed(model="nomic-embed-text", input=LONG_TEXT, truncate=False)
    assert long.value.status_code == 400 and "truncate" in long.value.error
    with pytest.raises(ollama.ResponseError) as dims:
        client.embed(model="nomic-embed-text", input="x", dimensions=100000)
    assert dims.value.status_code == 400 and "dimensions" in dims.value.error


def test_ollama_client_with_and_without_a_key(keyed):
    import ollama

    got = ollama.Client(host=keyed.url, headers={"Authorization": f"Bearer {KEY}"}).embed(model="m", input=TEXTS[:2])
    assert len(got.embeddings) == 2
    with pytest.raises(ollama.ResponseError) as refused:
        ollama.Client(host=keyed.url).embed(model="m", input="x")
    assert refused.value.status_code == 401 and "API key" in refused.value.error


# MARK: - LangChain


def test_langchain_huggingface_endpoint_embeddings(server, keyed):
    from huggingface_hub import InferenceClient
    from huggingface_hub.errors import HfHubHTTPError
    from langchain_huggingface import HuggingFaceEndpointEmbeddings

    embeddings = HuggingFaceEndpointEmbeddings(model=server.url)
    assert_same_vectors([embeddings.embed_query(TEXTS[0])], reference(server, TEXTS[:1]))
    assert_same_vectors(embeddings.embed_documents(TEXTS), reference(server, TEXTS))
    with pytest.raises(HfHubHTTPError) as bad:
        embeddings.embed_documents(["fine", ""])
    assert "must not be an empty string" in str(bad.value)

    # langchain-huggingface 1.2.2 and later refuse a URL as `model`; there,
    # give the object a client for the URL (docs/compatibility.md).
    replaced = HuggingFaceEndpointEmbeddings(model="sentence-transformers/all-MiniLM-L6-v2")
    replaced.client = InferenceClient(base_url=server.url)
    assert_same_vectors(replaced.embed_documents(TEXTS[:2]), reference(server, TEXTS[:2]))

    with_key = HuggingFaceEndpointEmbeddings(model=keyed.url, huggingfacehub_api_token=KEY)
    assert len(with_key.embed_query("x")) == 384
    with pytest.raises(HfHubHTTPError) as refused:
        HuggingFaceEndpointEmbeddings(model=keyed.url).embed_query("x")
    assert refused.value.response.status_code == 401


# MARK: - LlamaIndex


def test_llama_index_text_embeddings_inference(server, keyed):
    from llama_index.embeddings.text_embeddings_inference import TextEmbeddingsInference

    embed = TextEmbeddingsInference(model_name="all-MiniLM-L6-v2", base_url=server.url)
    assert_same_vectors([embed.get_text_embedding(TEXTS[0])], reference(server, TEXTS[:1]))
    assert_same_vectors([embed.get_query_embedding(TEXTS[1])], reference(server, TEXTS[1:2]))
    assert_same_vectors(embed.get_text_embedding_batch(TEXTS), reference(server, TEXTS))
    # This client never checks the status: it indexes the error body as if
    # it were vectors, so bad input raises inside the client (a KeyError on
    # the error object), never a wrong vector. The body it got says why.
    strict = TextEmbeddingsInference(model_name="all-MiniLM-L6-v2", base_url=server.url, truncate_text=False)
    with pytest.raises((KeyError, TypeError, ValueError)):
        strict.get_text_embedding(LONG_TEXT)
    r = requests.post(server.url + "/embed", json={"inputs": [LONG_TEXT], "truncate": False}, timeout=30)
    assert r.status_code == 422 and "truncate" in r.json()["error"]["message"]

    with_key = TextEmbeddingsInference(model_name="all-MiniLM-L6-v2", base_url=keyed.url, auth_token=KEY)
    assert len(with_key.get_text_embedding("x")) == 384
    with pytest.raises((KeyError, TypeError, ValueError)):
        TextEmbeddingsInference(model_name="all-MiniLM-L6-v2", base_url=keyed.url).get_text_embedding("x")


# MARK: - The TEI routes no client above calls


def test_embed_all_is_the_encoder_before_pooling(server):
    """Mean-pooling the token vectors (all-MiniLM-L6-v2 pools by mean) and
    normalising gives /embed's vector; one row per token of /tokenize."""
    r = requests.post(server.url + "/embed_all", json={"inputs": TEXTS}, timeout=30)
    assert r.status_code == 200 and r.headers.get("X-Model-Version")
    tokens = requests.post(server.url + "/tokenize", json={"inputs": TEXTS}, timeout=30).json()
    per_input = r.json()
    assert [len(m) for m in per_input] == [len(t) for t in tokens]
    pooled = np.array([np.mean(np.array(m), axis=0) for m in per_input])
    assert_same_vectors(pooled, reference(server, TEXTS))
    assert abs(np.linalg.norm(per_input[0][0]) - 1) > 0.01  # raw hidden states, not unit vectors
    one = requests.post(server.url + "/embed_all", json={"inputs": TEXTS[0]}, timeout=30).json()
    np.testing.assert_allclose(np.array(one[0]), np.array(per_input[0]), atol=1e-4)  # alone == in a batch
    truncated = requests.post(server.url + "/embed_all", json={"inputs": LONG_TEXT}, timeout=30)
    assert len(truncated.json()[0]) == 256 and truncated.headers.get("X-Truncated-Inputs") == "1"
    refused = requests.post(server.url + "/embed_all", json={"inputs": LONG_TEXT, "truncate": False}, timeout=30)
    assert refused.status_code == 413 and refused.json()["error_type"] == "validation"


def test_decode_matches_the_tokenizers_package(server):
    from tokenizers import Tokenizer

    reference_tokenizer = Tokenizer.from_file(str(MODEL / "tokenizer.json"))
    texts = ["Hello, world! I don't know; it's Zürich café -- \"quoted\" 3.14 unaffable [MASK] x", TEXTS[0]]
    ids = [reference_tokenizer.encode(t).ids for t in texts]
    for skip in (True, False):
        r = requests.post(server.url + "/decode", json={"ids": ids, "skip_special_tokens": skip}, timeout=30)
        assert r.status_code == 200, r.text
        assert r.json() == [reference_tokenizer.decode(i, skip_special_tokens=skip) for i in ids]
    single = requests.post(server.url + "/decode", json={"ids": ids[1]}, timeout=30).json()
    assert single == [reference_tokenizer.decode(ids[1])]
    bad = requests.post(server.url + "/decode", json={"ids": [[101], [101, 10 ** 9]]}, timeout=30)
    assert bad.status_code == 422
    assert bad.json()["error_type"] == "tokenizer" and "ids[1][1]" in bad.json()["error"]


def test_predict_is_refused_as_tei_refuses_a_model_without_a_classifier(server):
    r = requests.post(server.url + "/predict", json={"inputs": "I like you."}, timeout=30)
    assert r.status_code == 424
    assert r.json()["error_type"] == "backend" and "/rerank" in r.json()["error"]


# MARK: - Same checks as every route

NEW_ROUTES = {
    "/": {"inputs": "x"},
    "/invocations": {"inputs": "x"},
    "/embeddings": {"input": "x"},
    "/embed_all": {"inputs": "x"},
    "/decode": {"ids": [101, 102]},
    "/predict": {"inputs": "x"},
    "/api/embed": {"model": "m", "input": "x"},
    "/api/embeddings": {"model": "m", "prompt": "x"},
}


def error_text(path: str, body) -> str:
    """The message, in whichever dialect the route speaks."""
    if isinstance(body.get("error"), dict):
        return body["error"]["message"]
    return body["error"]


def test_every_new_route_needs_the_key(keyed):
    auth = {"Authorization": f"Bearer {KEY}"}
    for path, body in NEW_ROUTES.items():
        for headers in ({}, {"Authorization": "Bearer nope"}):
            r = requests.post(keyed.url + path, json=body, headers=headers, timeout=30)
            assert r.status_code == 401, (path, r.status_code, r.text)
            assert "API key" in error_text(path, r.json()) and r.headers.get("WWW-Authenticate") == "Bearer"
            assert r.headers.get("X-Model-Version")
        r = requests.post(keyed.url + path, json=body, headers=auth, timeout=30)
        assert r.status_code == (424 if path == "/predict" else 200), (path, r.text)
        assert r.headers.get("X-Model-Version") == "base"
    # The TEI health probes stay open, like /health.
    for path in ("/", "/ping"):
        assert requests.get(keyed.url + path, timeout=10).status_code == 200


def test_expect_continue_is_refused_before_the_body(keyed):
    """A client announcing a body gets its 401 before sending it, on the new routes too."""
    port = int(keyed.url.rsplit(":", 1)[1])
    for path in ("/", "/api/embed"):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      f"Content-Length: 16\r\nExpect: 100-continue\r\n\r\n".encode())
            head = s.recv(4096).decode(errors="replace")
        assert head.startswith("HTTP/1.1 401"), head


def test_new_routes_keep_the_limits(keyed):
    auth = {"Authorization": f"Bearer {KEY}"}
    five = ["a", "b", "c", "d", "e"]  # --max-inputs 4
    cases = [("/", {"inputs": five}, 413), ("/invocations", {"inputs": five}, 413),
             ("/embed_all", {"inputs": five}, 413), ("/decode", {"ids": [[101]] * 5}, 413),
             ("/embeddings", {"input": five}, 422), ("/api/embed", {"model": "m", "input": five}, 400)]
    for path, body, status in cases:
        r = requests.post(keyed.url + path, json=body, headers=auth, timeout=30)
        assert r.status_code == status, (path, r.text)
        assert "at most 4" in error_text(path, r.json())
    big = {"model": "m", "input": ["word " * 20000]}  # over --max-body-bytes 65536
    for path in ("/", "/api/embed"):
        assert requests.post(keyed.url + path, json=big, headers=auth, timeout=30).status_code == 413
    many = " ".join(["word"] * 250)
    r = requests.post(keyed.url + "/embed_all", json={"inputs": [many] * 4}, headers=auth, timeout=30)
    assert r.status_code == 200  # 4 × 252 tokens, under --max-batch-tokens 8192


def test_new_routes_are_labelled_in_metrics(server):
    for path, body in NEW_ROUTES.items():
        requests.post(server.url + path, json=body, timeout=30)
    requests.get(server.url + "/ping", timeout=10)
    text = requests.get(server.url + "/metrics", timeout=10).text
    for path in NEW_ROUTES:
        status = 424 if path == "/predict" else 200
        assert f'ranksmith_http_requests_total{{route="{path}",method="POST",status="{status}"}}' in text, path
    assert 'ranksmith_http_requests_total{route="/ping",method="GET",status="200"}' in text
    # Embedding work on the new routes counts like /embed's.
    assert 'ranksmith_http_request_seconds_count{route="/api/embed"}' in text

"""The remote-generator path, end to end: a synthesis job and a refine job
whose `generator` is the base URL of an OpenAI-compatible server. The server
here is a small deterministic one in the test (each answer swaps one word of
the sentence it is asked to rewrite), so that the lists the job must write
are known exactly; a real deployment points `generator` at llama.cpp's
`llama-server`, vLLM or any other server of the same API (docs/refinement.md,
"A stronger generator")."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from conftest import ROOT, Server

HEAD, TAIL = "Write a sentence that is entailment with: ```", "```. Result:"
SWAPS = [("street", "road"), ("man", "person"), ("playing", "strumming"), ("guitar", "instrument"),
         ("dogs", "puppies"), ("run", "race"), ("snowy", "white"), ("field", "meadow")]
SENTENCES = ["A man is playing a guitar on the street.", "Two dogs run across a snowy field."]


def rewrite(sentence: str) -> str:
    words = sentence.rstrip(".").split(" ")
    for old, new in SWAPS:
        if old in words:
            words[words.index(old)] = new
            return " ".join(words) + "."
    return sentence


class ChatServer:
    """`POST /v1/chat/completions` answering each rewrite request with `rewrite`."""

    def __init__(self):
        self.requests: list[dict] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                owner.requests.append({"path": self.path, "body": body})
                text = body["messages"][-1]["content"]
                assert text.startswith(HEAD) and text.endswith(TAIL), text
                answer = json.dumps({
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": rewrite(text[len(HEAD):-len(TAIL)])},
                                 "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 20, "completion_tokens": 9},
                }).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def remote(tmp_path_factory):
    chat = ChatServer()
    s = Server(tmp_path_factory.mktemp("remote"), "--threads", "1", "--job-nice", "0")
    lines = (ROOT / "data" / "stsb" / "stsb_dev.jsonl").read_text().splitlines()[:40]
    (s.data_dir / "dev-small.jsonl").write_text("\n".join(lines) + "\n")
    yield s, chat
    s.terminate()
    chat.httpd.shutdown()


def expected_list(anchor: str, rounds: int) -> list[str]:
    chain = [anchor]
    for _ in range(rounds):
        chain.append(rewrite(chain[-1]))
    return chain


def test_a_synthesis_job_writes_the_remote_servers_rewrites(remote):
    s, chat = remote
    sent = len(chat.requests)
    job = s.submit_job("synthesize", sentences=SENTENCES, rounds=3, generator=chat.url, generator_model="big-model")
    done = s.wait_for_job(job["id"])
    assert done["state"] == "succeeded", done
    assert any("no classifier-free guidance" in n for n in done["notes"]), done["notes"]
    assert any("no n-gram blocking" in n for n in done["notes"]), done["notes"]
    r = requests.get(f"{s.url}/jobs/{job['id']}/dataset", timeout=30)
    lists = {item["anchor"]: item for item in map(json.loads, r.text.splitlines())}
    assert set(lists) == set(SENTENCES)
    for anchor, item in lists.items():
        assert item["list"] == expected_list(anchor, 3), item
        assert chat.url in item["generator"] and "big-model" in item["generator"]
    asked = chat.requests[sent:]
    assert len(asked) == 2 * 3 and all(a["path"] == "/v1/chat/completions" for a in asked)
    assert all(a["body"]["model"] == "big-model" for a in asked)


def test_a_refine_job_over_the_remote_generator_trains_and_activates(remote):
    s, chat = remote
    job = s.submit_job("refine", sentences=SENTENCES, generator=chat.url, rounds=3, min_list_length=3, teacher_filter=False,
                       steps=2, evaluate_every=1, learning_rate=1e-5, dev="dev-small.jsonl",
                       gate=False, version="refined-remote")
    done = s.wait_for_job(job["id"])
    assert done["state"] == "succeeded", done
    assert done["result"]["activated"] is True
    r = requests.post(f"{s.url}/embed", json={"inputs": "A man plays a guitar."}, timeout=30)
    assert r.status_code == 200 and r.headers["X-Model-Version"] == "refined-remote"
    lists = s.data_dir / "jobs" / job["id"] / "lists.jsonl"
    assert sorted(json.loads(line)["list"][-1] for line in lists.read_text().splitlines()) == \
        sorted(expected_list(a, 3)[-1] for a in SENTENCES), "trained on the remote server's rewrites"

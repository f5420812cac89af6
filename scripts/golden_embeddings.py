#!/usr/bin/env python3
"""Reference embeddings from sentence-transformers (PyTorch, CPU) for the
encoder's golden tests.

Writes Tests/EncoderTests/Fixtures/golden_embeddings.json:
  {"model": ..., "reference": "sentence-transformers x.y / torch z",
   "items": [{"source": ..., "text": ..., "embedding": [384 floats]}],
   "stsb_dev_spearman": float}   # Spearman x 100 of cosine vs gold on STS-B dev

Run: scripts/golden_embeddings.py  (creates .venv-st with sentence-transformers
from PyPI on first use; make test does not need it).
"""
import json, os, random, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv-st"

if os.environ.get("RANKSMITH_IN_VENV") != "1":
    if not (VENV / "bin" / "python").exists():
        subprocess.check_call([sys.executable, "-m", "venv", str(VENV)])
        subprocess.check_call([str(VENV / "bin" / "pip"), "install", "-q", "sentence-transformers", "numpy", "scipy"])
    env = dict(os.environ, RANKSMITH_IN_VENV="1", HF_HUB_OFFLINE="1")
    os.execve(str(VENV / "bin" / "python"), [str(VENV / "bin" / "python"), __file__] + sys.argv[1:], env)

import numpy as np
import torch
import sentence_transformers
from sentence_transformers import SentenceTransformer
from scipy.stats import spearmanr

torch.set_num_threads(2)


def data_dir() -> Path:
    """The evaluation sets committed under data/ (RANKSMITH_DATA_DIR overrides)."""
    return Path(os.environ.get("RANKSMITH_DATA_DIR", ROOT / "data"))


def jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def main():
    data = data_dir()
    rng = random.Random(20261129)
    items = []
    stsb = jsonl(data / "stsb" / "stsb_dev.jsonl")
    for row in rng.sample(stsb, 100):
        items.append(("stsb_dev", row["sentence1"]))
    train = jsonl(data / "stsb" / "stsb_train.jsonl")
    for row in rng.sample(train, 50):
        items.append(("stsb_train", row["sentence2"]))
    sick = jsonl(data / "sick" / "sick_train.jsonl")
    for row in rng.sample(sick, 50):
        items.append(("sick_train", row["sentence1"]))
    sentences = (data / "synthesis" / "sentences.txt").read_text(encoding="utf-8").splitlines()
    for s in rng.sample(sentences, 80):
        items.append(("synthesis", s))
    corpus = jsonl(data / "retrieval_dev" / "cranfield" / "corpus.jsonl")
    # Long documents: many exceed 256 tokens, so truncation is exercised.
    for doc in rng.sample(corpus, 40):
        items.append(("cranfield", (doc["title"] + " " + doc["text"]).strip()))
    queries = jsonl(data / "retrieval_dev" / "cranfield" / "queries.jsonl")
    for q in rng.sample(queries, 20):
        items.append(("cranfield_query", q["text"]))
    for s in ["", " ", "a", "Hello, world!", "naïve café — déjà vu", "東京は日本の首都です。",
              "emoji 🙂👍🏽 and ZWJ 👩‍💻", "x" * 300, "word " * 400]:
        items.append(("hostile", s))

    model_dir = ROOT / "models" / "all-MiniLM-L6-v2"
    model = SentenceTransformer(str(model_dir), device="cpu")
    texts = [t for _, t in items]
    vectors = model.encode(texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True)

    s1 = model.encode([r["sentence1"] for r in stsb], batch_size=64, normalize_embeddings=True)
    s2 = model.encode([r["sentence2"] for r in stsb], batch_size=64, normalize_embeddings=True)
    cos = (s1 * s2).sum(axis=1)
    spearman = spearmanr(cos, [r["score"] for r in stsb]).correlation * 100

    out = {
        "model": "all-MiniLM-L6-v2",
        "reference": f"sentence-transformers {sentence_transformers.__version__} / torch {torch.__version__}",
        "stsb_dev_spearman": round(float(spearman), 4),
        "items": [{"source": src, "text": t, "embedding": [round(float(x), 7) for x in v]}
                  for (src, t), v in zip(items, vectors)],
    }
    path = ROOT / "Tests" / "EncoderTests" / "Fixtures" / "golden_embeddings.json"
    path.write_text(json.dumps(out, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {len(items)} embeddings to {path.relative_to(ROOT)}; STS-B dev spearman {spearman:.4f}")


main()

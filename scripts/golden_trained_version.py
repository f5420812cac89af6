#!/usr/bin/env python3
"""Proof that sentence-transformers loads a model version Ranksmith writes.

Runs `ranksmith train` with the settings ModelVersionTests uses (the tiny
lists fixture, 4 steps, 2 lists per step, lr 1e-4, 16 tokens, seed 7, no
dev set), loads the written folder with sentence-transformers (PyTorch, CPU)
and records its embeddings of a few sentences in
Tests/RefinementTests/Fixtures/golden_trained_version.json. The Swift test
trains the same version again and compares (cosine >= 0.9999).

Run: scripts/golden_trained_version.py   (after `swift build -c release`;
creates .venv-st with sentence-transformers from PyPI on first use; make
test does not need it).
"""
import json, os, subprocess, sys, tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv-st"

if os.environ.get("RANKSMITH_IN_VENV") != "1":
    if not (VENV / "bin" / "python").exists():
        subprocess.check_call([sys.executable, "-m", "venv", str(VENV)])
        subprocess.check_call([str(VENV / "bin" / "pip"), "install", "-q", "sentence-transformers", "numpy"])
    env = dict(os.environ, RANKSMITH_IN_VENV="1", HF_HUB_OFFLINE="1")
    os.execve(str(VENV / "bin" / "python"), [str(VENV / "bin" / "python"), __file__] + sys.argv[1:], env)

import sentence_transformers
import torch
from sentence_transformers import SentenceTransformer

FIXTURES = ROOT / "Tests" / "RefinementTests" / "Fixtures"
SENTENCES = [
    "A man plays the guitar outside on the road.",
    "Kids swim in the lake.",
    "The firm announced that its earnings rose this year.",
    "A woman cuts onions in her kitchen.",
    "The weather forecast says it will rain tomorrow.",
    "Quantum computers use qubits instead of bits.",
]


def main():
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "v-golden"
        subprocess.check_call([
            str(ROOT / ".build" / "release" / "ranksmith"), "train",
            "--model", str(ROOT / "models" / "all-MiniLM-L6-v2"),
            "--lists", str(FIXTURES / "tiny_lists.jsonl"), "--output", str(out), "--dev", "none",
            "--steps", "4", "--lists-per-step", "2", "--lr", "1e-4", "--max-length", "16", "--seed", "7",
        ], cwd=ROOT)
        model = SentenceTransformer(str(out), device="cpu")
        vectors = model.encode(SENTENCES, normalize_embeddings=True, convert_to_numpy=True)
        manifest = json.loads((out / "manifest.json").read_text())
    FIXTURES.mkdir(parents=True, exist_ok=True)
    (FIXTURES / "golden_trained_version.json").write_text(json.dumps({
        "reference": f"sentence-transformers {sentence_transformers.__version__} / torch {torch.__version__}",
        "settings": manifest["hyper_parameters"],
        "sentences": SENTENCES,
        "embeddings": [[round(float(x), 7) for x in v] for v in vectors],
    }, indent=1) + "\n")
    print("wrote", FIXTURES / "golden_trained_version.json")


if __name__ == "__main__":
    main()

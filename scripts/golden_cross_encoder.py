#!/usr/bin/env python3
"""Reference scores for the cross-encoder path (BertForSequenceClassification).

No small cross-encoder ships on PyPI, so the test builds one from the bundled
MiniLM weights plus a deterministic classification head:
  classifier.weight[0][j] = ((j * 37) % 17 - 8) / 80,  classifier.bias = 0.1
(the pooler is MiniLM's own). This script builds the same folder, runs it
with Hugging Face transformers (PyTorch), and writes the logits to
Tests/EncoderTests/Fixtures/golden_cross_encoder.json.
"""
import json, os, shutil, subprocess, sys, tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv-st"
if os.environ.get("RANKSMITH_IN_VENV") != "1":
    if not (VENV / "bin" / "python").exists():
        subprocess.check_call([sys.executable, "-m", "venv", str(VENV)])
        subprocess.check_call([str(VENV / "bin" / "pip"), "install", "-q", "sentence-transformers", "numpy", "scipy"])
    os.execve(str(VENV / "bin" / "python"), [str(VENV / "bin" / "python"), __file__], dict(os.environ, RANKSMITH_IN_VENV="1"))

import torch
from safetensors.torch import load_file, save_file
from transformers import BertForSequenceClassification, BertTokenizerFast

src = ROOT / "models" / "all-MiniLM-L6-v2"
PAIRS = [
    ("What is the capital of France?", "Paris is the capital and largest city of France."),
    ("What is the capital of France?", "Cheese is made from the milk of cows, goats or sheep."),
    ("How do planes fly?", "Wings generate lift because air moves faster over the curved upper surface."),
    ("How do planes fly?", "The striker scored twice in the cup final."),
    ("naïve café", "déjà vu at the café"),
    ("short", "x " * 400),
]

with tempfile.TemporaryDirectory() as tmp:
    folder = Path(tmp)
    for name in ["tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json"]:
        shutil.copy(src / name, folder / name)
    config = json.loads((src / "config.json").read_text())
    config["architectures"] = ["BertForSequenceClassification"]
    config["id2label"] = {"0": "LABEL_0"}
    config["label2id"] = {"LABEL_0": 0}
    (folder / "config.json").write_text(json.dumps(config))
    weights = load_file(str(src / "model.safetensors"))
    out = {"bert." + k: v for k, v in weights.items() if k != "embeddings.position_ids"}
    out["classifier.weight"] = torch.tensor([[((j * 37) % 17 - 8) / 80 for j in range(384)]], dtype=torch.float32)
    out["classifier.bias"] = torch.tensor([0.1], dtype=torch.float32)
    save_file(out, str(folder / "model.safetensors"), metadata={"format": "pt"})
    model = BertForSequenceClassification.from_pretrained(str(folder)).eval()
    tok = BertTokenizerFast.from_pretrained(str(folder))
    with torch.no_grad():
        enc = tok([q for q, _ in PAIRS], [d for _, d in PAIRS], padding=True, truncation="longest_first", max_length=256, return_tensors="pt")
        logits = model(**enc).logits[:, 0].tolist()

fixture = {"max_length": 256, "pairs": [{"query": q, "document": d, "logit": round(l, 6)} for (q, d), l in zip(PAIRS, logits)]}
path = ROOT / "Tests" / "EncoderTests" / "Fixtures" / "golden_cross_encoder.json"
path.write_text(json.dumps(fixture, indent=1) + "\n")
print(f"wrote {path.relative_to(ROOT)}: {[round(l, 4) for l in logits]}")

#!/usr/bin/env python3
"""Reference encoders for bench/embed/run: sentence-transformers on PyTorch
(CPU) and ONNX Runtime on an export of the same model. Prints one JSON line
per engine with sentences/s at each batch size (tokenisation included, as in
Ranksmith's measurement).

usage: reference.py MODEL_DIR INPUT_FILE BATCH_SIZES COUNT REPEATS THREADS
"""
import json, os, statistics, sys, time
from pathlib import Path

model_dir, input_file, sizes, count, repeats, threads = sys.argv[1:7]
sizes = [int(s) for s in sizes.split(",")]
count, repeats, threads = int(count), int(repeats), int(threads)
lines = [l for l in Path(input_file).read_text(encoding="utf-8").splitlines() if l]
texts = [lines[i % len(lines)] for i in range(count)]

import numpy as np
import torch
from sentence_transformers import SentenceTransformer

torch.set_num_threads(threads)
model = SentenceTransformer(model_dir, device="cpu")


def measure(encode):
    encode(texts[:64], 32)  # warm-up
    out = []
    for size in sizes:
        rates, latencies = [], []
        for _ in range(repeats):
            start = time.perf_counter()
            for i in range(0, len(texts), size):
                t0 = time.perf_counter()
                encode(texts[i:i + size], size)
                latencies.append((time.perf_counter() - t0) * 1000)
            rates.append(len(texts) / (time.perf_counter() - start))
        out.append({"batch_size": size, "sentences_per_s": round(statistics.median(rates), 1),
                    "batch_latency_ms_p50": round(statistics.median(latencies), 2)})
    return out


st = measure(lambda batch, size: model.encode(batch, batch_size=size, normalize_embeddings=True))
print(json.dumps({"engine": "sentence-transformers", "torch": torch.__version__, "threads": threads, "results": st}))

# ONNX Runtime: export the transformer once, then tokenise + run + mean-pool.
try:
    import onnxruntime as ort
    from tokenizers import Tokenizer
except ImportError:
    sys.exit(0)
out_dir = Path(os.environ.get("BENCH_OUT", "bench/out"))
out_dir.mkdir(parents=True, exist_ok=True)
onnx_path = out_dir / "minilm.onnx"
if not onnx_path.exists():
    hf = model[0].auto_model.eval()

    class Wrapped(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.inner(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).last_hidden_state

    dummy = model.tokenizer(["hello world"], return_tensors="pt")
    with torch.no_grad():
      torch.onnx.export(Wrapped(hf), (dummy["input_ids"], dummy["attention_mask"], dummy["token_type_ids"]), str(onnx_path),
                        input_names=["input_ids", "attention_mask", "token_type_ids"], output_names=["last_hidden_state"],
                        dynamic_axes={k: {0: "batch", 1: "seq"} for k in ["input_ids", "attention_mask", "token_type_ids", "last_hidden_state"]},
                        opset_version=17, dynamo=False)
options = ort.SessionOptions()
options.intra_op_num_threads = threads
options.inter_op_num_threads = 1
session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
tok = Tokenizer.from_file(str(Path(model_dir) / "tokenizer.json"))
tok.enable_truncation(256)
tok.enable_padding()


def ort_encode(batch, size):
    enc = tok.encode_batch(batch)
    ids = np.array([e.ids for e in enc], dtype=np.int64)
    mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
    hidden = session.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)})[0]
    m = mask[..., None].astype(np.float32)
    pooled = (hidden * m).sum(1) / m.sum(1)
    return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)


print(json.dumps({"engine": "onnxruntime", "version": ort.__version__, "threads": threads, "results": measure(ort_encode)}))

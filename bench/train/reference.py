#!/usr/bin/env python3
"""The same training step as `ranksmith bench train`, in PyTorch with
sentence-transformers' model: one list (anchor + N rewrites) encoded at
--max-length tokens, mean pooling, L2 normalisation, S = cos/tau, the
ranking-list loss of docs/method.md section 2 (teacher target precomputed once,
the teacher being frozen — as Ranksmith's trainer does), backward,
gradient-norm clip 1.0, AdamW (lr 3e-6, weight decay 0.01). Dropout off
(eval mode), as in Ranksmith.

Prints one JSON line: steps/s (median over --steps timed steps after one
warm-up), step time, and the peak resident memory during the steps
(VmHWM after resetting it once the model is loaded).

usage: reference.py MODEL_DIR LIST_FILE STEPS THREADS [MAX_LENGTH]
"""
import json
import os
import statistics
import sys
import time

import numpy as np
import torch
from sentence_transformers import SentenceTransformer

model_dir, list_file, steps, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
max_length = int(sys.argv[5]) if len(sys.argv) > 5 else 32
TAU, TAU2, OMEGA = 0.05, 0.05, 0.5
torch.set_num_threads(threads)
torch.manual_seed(0)

sentences = [l for l in open(list_file, encoding="utf-8").read().splitlines() if l]
st = SentenceTransformer(model_dir, device="cpu")
bert = st[0].auto_model
tok = st.tokenizer
batch = tok(sentences, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
mask = batch["attention_mask"].unsqueeze(-1).float()


def encode(model):
    h = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
              token_type_ids=batch.get("token_type_ids")).last_hidden_state
    pooled = (h * mask).sum(1) / mask.sum(1)
    return torch.nn.functional.normalize(pooled, dim=-1)


def target(teacher_vectors):
    """P = T + sign(B) ln(omega |B| + 1), B by docs/method.md's relative-rank rule."""
    T = (teacher_vectors @ teacher_vectors.T).double().numpy() / TAU2
    n = T.shape[0]
    B = np.zeros_like(T)
    for i in range(n):
        sub = np.sort(T[i, i:])[::-1]
        for j in range(i, n):
            B[i, j] = sub[j - i] - T[i, j]     # +|..| when too far, -|..| when too close
            B[j, i] = B[i, j]
    return torch.from_numpy(T + np.sign(B) * np.log(OMEGA * np.abs(B) + 1))


def list_mle(scores, target_scores):
    perm = torch.randperm(scores.shape[-1])
    s, t = scores[:, perm], target_scores[:, perm]
    order = torch.sort(t, descending=True, dim=-1, stable=True).indices
    s = torch.gather(s, 1, order)
    s = s - s.max(dim=1, keepdim=True).values
    suffix = torch.logcumsumexp(s.flip(1), dim=1).flip(1)
    return (suffix - s).sum(1).mean()


bert.eval()  # no dropout
with torch.no_grad():
    P = target(encode(bert))
opt = torch.optim.AdamW(bert.parameters(), lr=3e-6, weight_decay=0.01, betas=(0.9, 0.999), eps=1e-8)


def step():
    u = encode(bert)
    loss = list_mle(u @ u.T / TAU, P)
    opt.zero_grad(set_to_none=False)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(bert.parameters(), 1.0)
    opt.step()
    return float(loss)


first_loss = step()  # warm-up (allocates the optimiser state); the loss at the starting weights
try:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
except OSError:
    pass
times = []
for _ in range(steps):
    t0 = time.perf_counter()
    loss = step()
    times.append(time.perf_counter() - t0)
hwm = 0
for line in open("/proc/self/status"):
    if line.startswith("VmHWM:"):
        hwm = int(line.split()[1]) // 1024
median = statistics.median(times)
print(json.dumps({"engine": f"PyTorch {torch.__version__}", "sentences": len(sentences),
                  "tokens": int(batch["attention_mask"].sum()), "steps": steps,
                  "step_ms_median": round(median * 1000, 1), "steps_per_s": round(1 / median, 3),
                  "peak_rss_mib": hwm, "first_loss": round(first_loss, 4), "last_loss": round(loss, 4)}))

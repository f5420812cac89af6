"""Clustered synthetic vectors for the index benchmark.

A Gaussian mixture: `centres` centres drawn from N(0, 1)^dim, each point a
random centre plus N(0, noise^2)^dim, unit-normalised. Uniform random
vectors are useless for graph indexes (no neighbourhoods: faiss and hnswlib
both reach recall@10 of about 0.1 on them); sentence embeddings have
clusters, as these do. Queries come from the same mixture.
"""
import argparse
import os

import numpy as np


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=100_000)
    p.add_argument("--queries", type=int, default=1000)
    p.add_argument("--dim", type=int, default=384)
    p.add_argument("--centres", type=int, default=1000)
    p.add_argument("--noise", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--out", required=True)
    a = p.parse_args()
    os.makedirs(a.out, exist_ok=True)
    base_path = os.path.join(a.out, f"base-{a.n}.npy")
    query_path = os.path.join(a.out, f"queries-{a.n}.npy")
    if os.path.exists(base_path) and os.path.exists(query_path):
        return
    rng = np.random.default_rng(a.seed)
    centres = rng.standard_normal((a.centres, a.dim), dtype=np.float32)

    def draw(n):
        out = np.empty((n, a.dim), dtype=np.float32)
        for s in range(0, n, 50_000):
            e = min(n, s + 50_000)
            x = centres[rng.integers(0, a.centres, e - s)]
            x = x + a.noise * rng.standard_normal((e - s, a.dim), dtype=np.float32)
            out[s:e] = x / np.linalg.norm(x, axis=1, keepdims=True)
        return out

    np.save(base_path, draw(a.n))
    np.save(query_path, draw(a.queries))


if __name__ == "__main__":
    main()

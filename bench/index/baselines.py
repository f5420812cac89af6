"""faiss-cpu (IndexFlatIP, IndexHNSWFlat) and hnswlib on the same vectors
and queries as `ranksmith bench index`, with the same measurements: build
time, queries/s one at a time and in batches, recall@k against exact
search, memory per vector. One JSON object per line on stdout.
"""
import argparse
import json
import os
import time

import faiss
import hnswlib
import numpy as np


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def recall(found, truth, k):
    hit = sum(len(set(f[:k]) & set(t[:k])) for f, t in zip(found, truth))
    return hit / (len(truth) * k)


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


PASSES = 3  # set from --passes: each rate is the median of this many timed passes


def single_qps(search, queries, count):
    count = min(count, len(queries))
    rates = []
    for _ in range(PASSES):
        _, s = timed(lambda: [search(queries[i:i + 1]) for i in range(count)])
        rates.append(count / s)
    return float(np.median(rates))


def batch_search(search, queries, batch):
    rates = []
    for _ in range(PASSES):
        out = []

        def run():
            for i in range(0, len(queries), batch):
                out.extend(search(queries[i:i + batch]).tolist())
        _, s = timed(run)
        rates.append(len(queries) / s)
    return out, float(np.median(rates))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--base", required=True)
    p.add_argument("--queries", required=True)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--m", type=int, default=16)
    p.add_argument("--ef-construction", type=int, default=200)
    p.add_argument("--ef-search", default="10,12,16,20,24,32,48,64,128,256")
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--single-queries", type=int, default=300)
    p.add_argument("--tools", default="faiss,hnswlib", help="comma-separated subset of faiss (flat and HNSW), faiss-flat, hnswlib")
    p.add_argument("--passes", type=int, default=3, help="timed passes per figure; the median is reported")
    a = p.parse_args()
    global PASSES
    PASSES = max(1, a.passes)
    xb = np.load(a.base)
    xq = np.load(a.queries)
    n, d = xb.shape
    k = a.k
    efs = [int(e) for e in a.ef_search.split(",")]
    emit = lambda **kw: print(json.dumps(kw, sort_keys=True), flush=True)
    common = dict(n=n, dimensions=d, queries=len(xq), threads=faiss.omp_get_max_threads())

    tools = set(a.tools.split(","))
    # faiss flat (exact): the ground truth, also when faiss is not timed
    r0 = rss_bytes()
    flat = faiss.IndexFlatIP(d)
    _, build = timed(lambda: flat.add(xb))
    mem = rss_bytes() - r0
    search = lambda q: flat.search(q, k)[1]
    truth, qps_b = batch_search(search, xq, a.batch)
    if tools & {"faiss", "faiss-flat"}:
        qps_s = single_qps(search, xq, a.single_queries)
        emit(tool="faiss", index="IndexFlatIP", build_s=round(build, 3), qps_single=round(qps_s, 1),
             **{f"qps_batch{a.batch}": round(qps_b, 1), f"recall_at_{k}": 1.0}, rss_bytes_per_vector=mem // n, **common)
    del flat
    if "faiss" in tools:
        run_faiss_hnsw(a, xb, xq, truth, efs, emit, common)
    if "hnswlib" in tools:
        run_hnswlib(a, xb, xq, truth, efs, emit, common)


def run_faiss_hnsw(a, xb, xq, truth, efs, emit, common):
    n, d = xb.shape
    k = a.k
    # faiss HNSW
    r0 = rss_bytes()
    hn = faiss.IndexHNSWFlat(d, a.m, faiss.METRIC_INNER_PRODUCT)
    hn.hnsw.efConstruction = a.ef_construction
    _, build = timed(lambda: hn.add(xb))
    mem = rss_bytes() - r0
    for ef in efs:
        hn.hnsw.efSearch = ef
        search = lambda q: hn.search(q, k)[1]
        found, qps_b = batch_search(search, xq, a.batch)
        qps_s = single_qps(search, xq, a.single_queries)
        emit(tool="faiss", index="IndexHNSWFlat", m=a.m, ef_construction=a.ef_construction, ef_search=ef,
             build_s=round(build, 3), qps_single=round(qps_s, 1),
             **{f"qps_batch{a.batch}": round(qps_b, 1), f"recall_at_{k}": round(recall(found, truth, k), 4)},
             rss_bytes_per_vector=mem // n, **common)
    del hn


def run_hnswlib(a, xb, xq, truth, efs, emit, common):
    n, d = xb.shape
    k = a.k
    r0 = rss_bytes()
    hl = hnswlib.Index(space="ip", dim=d)
    hl.init_index(max_elements=n, ef_construction=a.ef_construction, M=a.m, random_seed=100)
    _, build = timed(lambda: hl.add_items(xb, np.arange(n), num_threads=-1))
    mem = rss_bytes() - r0
    for ef in efs:
        hl.set_ef(ef)
        search = lambda q: hl.knn_query(q, k=k, num_threads=-1)[0]
        found, qps_b = batch_search(search, xq, a.batch)
        qps_s = single_qps(lambda q: hl.knn_query(q, k=k, num_threads=1)[0], xq, a.single_queries)
        emit(tool="hnswlib", index="hnsw", m=a.m, ef_construction=a.ef_construction, ef_search=ef,
             build_s=round(build, 3), qps_single=round(qps_s, 1),
             **{f"qps_batch{a.batch}": round(qps_b, 1), f"recall_at_{k}": round(recall(found, truth, k), 4)},
             rss_bytes_per_vector=mem // n, **common)


if __name__ == "__main__":
    main()

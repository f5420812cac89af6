"""Markdown summary of the index benchmark's JSON lines: one row per
index and efSearch, then HNSW at the smallest efSearch reaching
recall@10 >= 0.95 (the comparison the targets are stated in)."""
import json
import sys


def main():
    rows = []
    for path in sys.argv[1:]:
        with open(path) as f:
            rows += [json.loads(l) for l in f if l.strip().startswith("{")]
    batch_key = next((k for k in rows[0] if k.startswith("qps_batch")), "qps_batch100")
    name = lambda r: f"{r.get('tool', 'ranksmith')} {r['index']}"
    mem = lambda r: r.get("index_bytes_per_vector", r.get("rss_bytes_per_vector"))
    print(f"| index | efSearch | build s | q/s single | q/s batch | recall@10 | bytes/vector (RSS) |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {name(r)} | {r.get('ef_search', '')} | {r['build_s']} | {r['qps_single']} | {r[batch_key]} "
              f"| {r['recall_at_10']} | {r.get('rss_bytes_per_vector')} |")
    print()
    print("HNSW at recall@10 >= 0.95 (smallest efSearch that reaches it):")
    print()
    print("| index | efSearch | recall@10 | q/s single | q/s batch | build s |")
    print("|---|---|---|---|---|---|")
    for tool in sorted({name(r) for r in rows if "ef_search" in r}):
        ok = [r for r in rows if name(r) == tool and r["recall_at_10"] >= 0.95]
        if ok:
            r = min(ok, key=lambda r: r["ef_search"])
            print(f"| {tool} | {r['ef_search']} | {r['recall_at_10']} | {r['qps_single']} | {r[batch_key]} | {r['build_s']} |")
        else:
            print(f"| {tool} | — | never reached | | | |")


if __name__ == "__main__":
    main()

"""Every distinct sentence in data/ (STS-B, SICK, the synthesis
sentences, Cranfield documents and queries), one per line, for embedding
into the real-vector recall test and benchmark.

    python bench/index/sentences.py DATA_DIR OUT.txt
"""
import json
import os
import sys


def main():
    root, out = sys.argv[1], sys.argv[2]
    seen, order = set(), []

    def add(s):
        s = " ".join(str(s).split())
        if s and s not in seen:
            seen.add(s)
            order.append(s)

    for sub in ("stsb", "sick"):
        for name in sorted(os.listdir(os.path.join(root, sub))):
            if name.endswith(".jsonl"):
                with open(os.path.join(root, sub, name)) as f:
                    for line in f:
                        row = json.loads(line)
                        add(row["sentence1"])
                        add(row["sentence2"])
    for name in ("sentences.txt", "wiki1m_for_simcse.first11914.txt"):
        with open(os.path.join(root, "synthesis", name)) as f:
            for line in f:
                add(line)
    cran = os.path.join(root, "retrieval_dev", "cranfield")
    for name in ("corpus.jsonl", "queries.jsonl"):
        with open(os.path.join(cran, name)) as f:
            for line in f:
                row = json.loads(line)
                add((row.get("title", "") + " " + row["text"]).strip())
    with open(out, "w") as f:
        for s in order:
            f.write(s + "\n")
    print(f"{len(order)} sentences", file=sys.stderr)


if __name__ == "__main__":
    main()

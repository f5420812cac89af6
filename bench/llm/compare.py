#!/usr/bin/env python3
"""Ranksmith's local LLM against llama.cpp (llama-cpp-python), side by side.

Runs in .venv-llama (made by scripts/golden_llama.py). For each of --reps
rounds, alternately: `ranksmith generate --benchmark-pairs N` (one JSON
line) and the same protocol on llama.cpp through its C API:

  single stream  prefill the chat-templated prompt in one batch, then decode
                 --tokens tokens greedily one at a time (past end-of-turn)
  CFG batch      N pairs = 2N sequences (positive, negative prompt) prefilled
                 together, then --tokens steps; each step is ONE llama_decode
                 over the 2N sequences, the guided score
                 l_neg + s·(l_pos − l_neg) computed on log-softmaxed logits
                 and its argmax appended to both sequences of a pair

Reports medians and Ranksmith / llama.cpp ratios, and writes a section to
bench/RESULTS-llm.md.
"""
import argparse
import ctypes
import json
import os
import platform
import statistics
import subprocess
import time

import numpy as np
import llama_cpp as L

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def chat_formatter(model_path):
    """The model's own chat template (GGUF `tokenizer.chat_template`) as a
    function of the user's message, rendered with Jinja as llama.cpp's
    Python bindings do (system line by the template's default)."""
    import gguf
    import jinja2

    field = gguf.GGUFReader(model_path).fields["tokenizer.chat_template"]
    source = field.contents()
    template = jinja2.Environment(loader=jinja2.BaseLoader()).from_string(source)
    return lambda prompt: template.render(messages=[{"role": "user", "content": prompt}], add_generation_prompt=True)


class LlamaCpp:
    def __init__(self, model, threads, seqs, ctx_per_seq):
        L.llama_backend_init()
        mp = L.llama_model_default_params()
        self.model = L.llama_model_load_from_file(model.encode(), mp)
        self.vocab = L.llama_model_get_vocab(self.model)
        self.n_vocab = L.llama_vocab_n_tokens(self.vocab)
        cp = L.llama_context_default_params()
        cp.n_ctx = seqs * ctx_per_seq
        cp.n_batch = 2048
        cp.n_ubatch = 512
        cp.n_seq_max = seqs
        cp.n_threads = threads
        cp.n_threads_batch = threads
        self.ctx = L.llama_init_from_model(self.model, cp)
        self.batch = L.llama_batch_init(2048, 0, seqs)

    def tokenize(self, text):
        buf = (L.llama_token * 4096)()
        n = L.llama_tokenize(self.vocab, text.encode(), len(text.encode()), buf, 4096, False, True)
        return list(buf[:n])

    def clear(self):
        L.llama_memory_clear(L.llama_get_memory(self.ctx), True)

    def decode(self, rows):
        """rows: (token, pos, seq, want_logits)."""
        b = self.batch
        b.n_tokens = len(rows)
        for i, (t, p, s, w) in enumerate(rows):
            b.token[i] = t
            b.pos[i] = p
            b.n_seq_id[i] = 1
            b.seq_id[i][0] = s
            b.logits[i] = 1 if w else 0
        rc = L.llama_decode(self.ctx, b)
        assert rc == 0, rc

    def logits(self, i):
        p = L.llama_get_logits_ith(self.ctx, i)
        return np.ctypeslib.as_array(p, shape=(self.n_vocab,)).copy()

    def run(self, prompt_ids, negative_ids, tokens, pairs, scale):
        out = {}
        # Single stream.
        self.clear()
        t0 = time.perf_counter()
        self.decode([(t, k, 0, False) for k, t in enumerate(prompt_ids[:-1])])
        t1 = time.perf_counter()
        tok, pos = prompt_ids[-1], len(prompt_ids) - 1
        for _ in range(tokens):
            self.decode([(tok, pos, 0, True)])
            tok = int(np.argmax(self.logits(0)))
            pos += 1
        t2 = time.perf_counter()
        out["single_prompt_tok_s"] = (len(prompt_ids) - 1) / (t1 - t0)
        out["single_decode_tok_s"] = tokens / (t2 - t1)
        # CFG: one pair alone, then the batch of pairs.
        one = self.cfg(prompt_ids, negative_ids, tokens, 1, scale)
        out["cfg1_decode_tok_s"] = one["decode_tok_s"]
        many = self.cfg(prompt_ids, negative_ids, tokens, pairs, scale)
        out["cfg_prompt_tok_s"] = many["prompt_tok_s"]
        out["cfg_decode_tok_s"] = many["decode_tok_s"]
        out["cfg_step_ms"] = many["step_ms"]
        return out

    def cfg(self, prompt_ids, negative_ids, tokens, pairs, scale):
        """`pairs` guided pairs in one batch: sequence 2i positive, 2i+1 negative."""
        self.clear()
        prompts = []
        for _ in range(pairs):
            prompts += [prompt_ids, negative_ids]
        rows = [(t, k, s, False) for s, p in enumerate(prompts) for k, t in enumerate(p[:-1])]
        t0 = time.perf_counter()
        for i in range(0, len(rows), 2048):
            self.decode(rows[i:i + 2048])
        t1 = time.perf_counter()
        nxt = [p[-1] for p in prompts]
        pos = [len(p) - 1 for p in prompts]
        for _ in range(tokens):
            self.decode([(nxt[s], pos[s], s, True) for s in range(len(prompts))])
            for i in range(pairs):
                lp = self.logits(2 * i)
                ln = self.logits(2 * i + 1)
                lp = lp - (lp.max() + np.log(np.exp(lp - lp.max()).sum()))
                ln = ln - (ln.max() + np.log(np.exp(ln - ln.max()).sum()))
                t = int(np.argmax(ln + scale * (lp - ln)))
                for s in (2 * i, 2 * i + 1):
                    nxt[s] = t
                    pos[s] += 1
        t2 = time.perf_counter()
        return {"prompt_tok_s": len(rows) / (t1 - t0), "decode_tok_s": pairs * tokens / (t2 - t1),
                "step_ms": (t2 - t1) / tokens * 1000}


def macs_per_token(path):
    """Multiply-adds of the weight products for one token: every matrix
    except the token embedding, which counts once more when it is also the
    output head (no `output.weight`)."""
    import gguf
    tensors = {t.name: [int(x) for x in t.shape] for t in gguf.GGUFReader(path).tensors}
    total = sum(np.prod(s) for n, s in tensors.items() if len(s) == 2 and n != "token_embd.weight")
    if "output.weight" not in tensors:
        total += np.prod(tensors["token_embd.weight"])
    return int(total)


def sgemm_peak_gmacs(binary, threads):
    """The best Float matrix-product rate OpenBLAS reaches here (GMAC/s)."""
    out = json.loads(subprocess.check_output([binary, "bench", "sgemm", "--threads", str(threads)], text=True))
    return max(r["gflops"] for r in out["results"]) / 2


def lscpu_model():
    try:
        for line in subprocess.check_output(["lscpu"], text=True).splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except Exception:
        pass
    return platform.processor()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=os.path.join(ROOT, "models", "SmolLM2-135M-Instruct.Q4_1.gguf"))
    ap.add_argument("--binary", default=os.path.join(ROOT, ".build", "release", "ranksmith"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--pairs", type=int, default=8)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--scale", type=float, default=1.5)
    ap.add_argument("--results", default=os.path.join(ROOT, "bench", "RESULTS-llm.md"))
    ap.add_argument("--command", default="bench/llm/run")
    args = ap.parse_args()

    prompt = ("Rewrite the following sentence with different words and a different structure, keeping its "
              "meaning. Answer with the rewritten sentence only. Sentence: ```A man is playing a guitar on the "
              "street while a small crowd gathers around him and listens to the music in the warm evening "
              "light.``` Result:")
    negative = prompt.replace("a small crowd", "a crowd")
    llama = LlamaCpp(args.model, args.threads, 2 * args.pairs, 512)
    chat = chat_formatter(args.model)
    pid, nid = llama.tokenize(chat(prompt)), llama.tokenize(chat(negative))

    ours, theirs = [], []
    for rep in range(args.reps):
        cmd = [args.binary, "generate", "--model", args.model, "--prompt", prompt, "--negative-prompt", negative,
               "--guidance-scale", str(args.scale), "--max-tokens", str(args.tokens),
               "--threads", str(args.threads), "--benchmark-pairs", str(args.pairs)]
        ours.append(json.loads(subprocess.check_output(cmd, text=True).strip().splitlines()[-1]))
        theirs.append(llama.run(pid, nid, args.tokens, args.pairs, args.scale))
        print(f"round {rep + 1}: ranksmith {ours[-1]}\n         llama.cpp {theirs[-1]}", flush=True)

    keys = [("single_prompt_tok_s", "prompt tokens/s, single stream"),
            ("single_decode_tok_s", "generated tokens/s, single stream"),
            ("cfg1_decode_tok_s", "generated tokens/s, 1 CFG pair (2 sequences)"),
            ("cfg_prompt_tok_s", f"prompt tokens/s, {args.pairs} CFG pairs ({2 * args.pairs} sequences)"),
            ("cfg_decode_tok_s", f"generated tokens/s, {args.pairs} CFG pairs (one token per pair per step)")]
    med = lambda runs, k: statistics.median(r[k] for r in runs)
    rows = []
    for k, label in keys:
        a, b = med(ours, k), med(theirs, k)
        rows.append(f"| {label} | {a:.1f} | {b:.1f} | {a / b:.2f} |")
    macs = macs_per_token(args.model)
    peak = sgemm_peak_gmacs(args.binary, args.threads)
    step_gmacs = lambda runs: 2 * args.pairs * macs / (med(runs, "cfg_step_ms") / 1000) / 1e9
    single_gmacs = lambda runs: macs * med(runs, "single_decode_tok_s") / 1e9

    def gains(runs):
        cfg = med(runs, "cfg_decode_tok_s")
        return cfg / med(runs, "single_decode_tok_s"), cfg / med(runs, "cfg1_decode_tok_s")
    (ours_single, ours_pair), (theirs_single, theirs_pair) = gains(ours), gains(theirs)
    section = "\n".join([
        "## Local LLM: Ranksmith vs llama.cpp",
        "",
        f"Machine: {lscpu_model()}, {os.cpu_count()} cores; both sides on {args.threads} threads, same model "
        f"({os.path.basename(args.model)}), same prompts ({len(pid)} and {len(nid)} tokens, chat template applied), "
        f"{args.tokens} generated tokens, greedy, guidance scale {args.scale}. llama.cpp is llama-cpp-python "
        f"{L.__version__} built from source (GGML_NATIVE), driven through its C API in the same run. "
        f"Medians of {args.reps} alternating rounds.",
        "",
        f"Command: `{args.command}`",
        "",
        "| measure | Ranksmith | llama.cpp | ratio |",
        "|---|---|---|---|",
        *rows,
        "",
        f"Batched CFG throughput ({args.pairs} pairs, guided tokens/s) over single-stream decode: "
        f"Ranksmith {ours_single:.2f}×, llama.cpp {theirs_single:.2f}×. "
        f"Over one CFG pair decoded alone: Ranksmith {ours_pair:.2f}×, llama.cpp {theirs_pair:.2f}×. "
        f"Each guided token costs two sequence rows, so in sequence tokens/s the batch runs "
        f"{2 * ours_single:.2f}× (Ranksmith) and {2 * theirs_single:.2f}× (llama.cpp) single-stream decode.",
        "",
        f"Roofline: one token is {macs / 1e6:.1f} M multiply-adds of weight products. Single-stream decode runs them "
        f"at {single_gmacs(ours):.1f} GMAC/s (Ranksmith) and {single_gmacs(theirs):.1f} (llama.cpp); a batched CFG step "
        f"at {step_gmacs(ours):.1f} and {step_gmacs(theirs):.1f}. OpenBLAS sgemm on {args.threads} thread(s) peaks at "
        f"{peak:.1f} GMAC/s here. A batched step of {2 * args.pairs} rows at that peak would give "
        f"{args.pairs * peak * 1e9 / (2 * args.pairs * macs):.0f} guided tokens/s, "
        f"{args.pairs * peak * 1e9 / (2 * args.pairs * macs) / med(ours, 'single_decode_tok_s'):.2f}× Ranksmith's single stream.",
        "",
    ])
    print(section)
    with open(args.results, "w") as f:
        f.write(section)


if __name__ == "__main__":
    main()

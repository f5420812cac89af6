#!/usr/bin/env python3
"""Golden outputs of llama.cpp (through llama-cpp-python) for the Qwen2.5
generator (scripts/fetch-models --generator qwen2.5-coder-1.5b).

Runs in `.venv-llama` (made by scripts/golden_llama.py) and writes into
Tests/GeneratorTests/Fixtures/:

  qwen2_vocab.gguf.gz  (gzipped) the model's metadata (tokenizer, chat template, sizes)
                     with no tensors: the qwen2 tokenizer and ChatML
                     template tests run from it without the 1.1 GB model
  qwen_golden.json   {"model", "sha256", "template",
                      "strings" + "ids" {"plain", "special"}: awkward strings,
                      "sentences" + "sentence_ids": the first 400 lines of
                      data/synthesis/sentences.txt (no special parsing),
                      "cases": per chat prompt the rendered template, its ids
                      and llama.cpp's greedy tokens (--tokens, default 24)}

Usage: scripts/golden_qwen.py [--model FILE] [--tokens N]
"""
import argparse
import hashlib
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import golden_llama as G  # noqa: E402  (ensure_venv, HOSTILE, tokenize_all)

PROMPTS = [
    "Write a sentence that is entailment with: ```A man is playing a guitar on the street.```. Result:",
    "Write a sentence that is entailment with: ```The 1998 season saw 12 teams compete in 3 divisions.```. Result:",
    "What is the capital of France?",
    "Explain photosynthesis in two sentences.",
    "Give me three tips for learning to code.",
    "Why is the sky blue?",
]


def write_vocab_only(model_path, out_path):
    """The model's metadata, every key as stored, and no tensors."""
    import gguf

    reader = gguf.GGUFReader(model_path)
    writer = gguf.GGUFWriter(out_path, arch=reader.fields["general.architecture"].contents())
    G.copy_metadata(reader, writer)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def main():
    G.ensure_venv()
    import numpy as np
    from llama_cpp import Llama
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=os.path.join(G.ROOT, "models", "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"))
    ap.add_argument("--tokens", type=int, default=24)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    vocab_path = os.path.join(G.FIXTURES, "qwen2_vocab.gguf")
    write_vocab_only(args.model, vocab_path)
    voc = Llama(model_path=vocab_path, vocab_only=True, verbose=False)
    with open(os.path.join(G.find_data_dir(None), "synthesis", "sentences.txt"), encoding="utf-8") as f:
        sentences = f.read().split("\n")[:400]
    golden = {
        "model": os.path.basename(args.model),
        "sha256": sha256(args.model),
        "strings": G.HOSTILE,
        "ids": {"plain": G.tokenize_all(voc, G.HOSTILE, special=False),
                "special": G.tokenize_all(voc, G.HOSTILE, special=True)},
        "sentences": sentences,
        "sentence_ids": G.tokenize_all(voc, sentences, special=False),
    }
    del voc
    # Committed gzipped (the tests unpack it): 1.7 MB instead of 5.9.
    subprocess.check_call(["gzip", "-9", "-f", vocab_path])

    llm = Llama(model_path=args.model, n_ctx=512, n_batch=512, n_threads=args.threads, logits_all=True, verbose=False, seed=0)
    template = llm.metadata["tokenizer.chat_template"]
    golden["template"] = template
    fmt = Jinja2ChatFormatter(template=template, eos_token="<|im_end|>", bos_token="<|im_start|>")
    eog = {llm.token_eos()}
    for name in ("<|im_end|>", "<|endoftext|>"):
        ids = llm.tokenize(name.encode(), add_bos=False, special=True)
        if len(ids) == 1:
            eog.add(ids[0])
    cases = []
    for prompt in PROMPTS:
        text = fmt(messages=[{"role": "user", "content": prompt}]).prompt
        ids = llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
        llm.reset()
        llm.eval(ids)
        out = []
        for _ in range(args.tokens):
            logits = np.array(llm.scores[llm.n_tokens - 1], dtype=np.float64)
            tok = int(np.argmax(logits))
            if tok in eog:
                break
            out.append(tok)
            llm.eval([tok])
        cases.append({"prompt": prompt, "prompt_text": text, "prompt_ids": ids, "greedy": out,
                      "greedy_text": llm.detokenize(out).decode("utf-8", "replace")})
        print(prompt[:50], "->", cases[-1]["greedy_text"][:60], flush=True)
    golden["cases"] = cases
    with open(os.path.join(G.FIXTURES, "qwen_golden.json"), "w") as f:
        json.dump(golden, f, ensure_ascii=False, indent=0)
    print("wrote", vocab_path, "and qwen_golden.json")


if __name__ == "__main__":
    main()

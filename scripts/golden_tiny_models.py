#!/usr/bin/env python3
"""Tiny random Llama-family GGUF models and llama.cpp's logits for them.

Runs in .venv-llama (scripts/golden_llama.py makes it). Writes into
Tests/GeneratorTests/Fixtures/:

  tiny_llama_f32.gguf   2 layers, width 64, GQA 4/2 heads, F32 weights
  tiny_qwen2_f32.gguf   the same shape as qwen2: QKV biases, NeoX RoPE
  tiny_llama_mixed.gguf F16 / BF16 / Q8_0 / Q4_0 / Q4_1 weights and K-quant
                        (Q4_K, Q5_K, Q6_K) feed-forward matrices (width 256)
  tiny_models.json      for each: token ids fed, and llama.cpp's logits of
                        the last position

Float weights leave no activation-quantisation noise, so these pin the
forward pass itself (RoPE variants, GQA, biases, norms) tightly.
"""
import json
import os
import sys

import numpy as np
import gguf
from llama_cpp import Llama

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "Tests", "GeneratorTests", "Fixtures")
Q = gguf.GGMLQuantizationType


def byte_alphabet():
    printable = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    table, n = {}, 0
    for b in range(256):
        if b in printable:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + n)
            n += 1
    return [table[b] for b in range(256)]


def tensor(writer, name, values, qtype, rng):
    if qtype in (Q.F32,):
        writer.add_tensor(name, values.astype(np.float32))
    elif qtype == Q.F16:
        writer.add_tensor(name, values.astype(np.float16))
    else:
        try:
            data = gguf.quants.quantize(values.astype(np.float32), qtype)
        except Exception:
            # No numpy quantiser: random blocks with small f16 scales.
            block, nbytes = gguf.GGML_QUANT_SIZES[qtype]
            nblocks = values.size // block
            raw = rng.integers(0, 256, size=(nblocks, nbytes), dtype=np.uint8)
            halfs = np.float16(rng.uniform(0.0005, 0.003, size=(nblocks, 2)))
            if qtype == Q.Q6_K:
                raw[:, nbytes - 2:nbytes] = halfs[:, :1].view(np.uint8)
            else:
                raw[:, 0:4] = halfs.view(np.uint8).reshape(nblocks, 4)
            data = raw.reshape(values.shape[0], -1)
        writer.add_tensor(name, data, raw_dtype=qtype)


def build(path, arch, dim, ff, types, biases, seed):
    rng = np.random.default_rng(seed)
    vocab = byte_alphabet() + ["Ġt", "he", "<|endoftext|>"]
    heads, kv_heads, layers = 4, 2, 2
    hd = dim // heads
    w = gguf.GGUFWriter(path, arch=arch)
    w.add_block_count(layers)
    w.add_context_length(256)
    w.add_embedding_length(dim)
    w.add_feed_forward_length(ff)
    w.add_head_count(heads)
    w.add_head_count_kv(kv_heads)
    w.add_rope_freq_base(10000.0)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_dimension_count(hd)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("gpt-2")
    w.add_token_list(vocab)
    w.add_token_types([1] * (len(vocab) - 1) + [3])
    w.add_token_merges(["Ġ t", "h e"])
    w.add_bos_token_id(len(vocab) - 1)
    w.add_eos_token_id(len(vocab) - 1)
    w.add_add_bos_token(False)
    V = len(vocab)
    s = 0.5 / np.sqrt(dim)
    tensor(w, "token_embd.weight", rng.standard_normal((V, dim)), types.get("embd", Q.F32), rng)
    w.add_tensor("output_norm.weight", (1 + 0.1 * rng.standard_normal(dim)).astype(np.float32))
    for l in range(layers):
        p = f"blk.{l}."
        w.add_tensor(p + "attn_norm.weight", (1 + 0.1 * rng.standard_normal(dim)).astype(np.float32))
        w.add_tensor(p + "ffn_norm.weight", (1 + 0.1 * rng.standard_normal(dim)).astype(np.float32))
        tensor(w, p + "attn_q.weight", s * rng.standard_normal((dim, dim)), types.get("attn", Q.F32), rng)
        tensor(w, p + "attn_k.weight", s * rng.standard_normal((kv_heads * hd, dim)), types.get("attn", Q.F32), rng)
        tensor(w, p + "attn_v.weight", s * rng.standard_normal((kv_heads * hd, dim)), types.get("attn_v", Q.F32), rng)
        tensor(w, p + "attn_output.weight", s * rng.standard_normal((dim, dim)), types.get("attn_o", Q.F32), rng)
        if biases:
            for n, k in (("attn_q.bias", dim), ("attn_k.bias", kv_heads * hd), ("attn_v.bias", kv_heads * hd)):
                w.add_tensor(p + n, (0.1 * rng.standard_normal(k)).astype(np.float32))
        tensor(w, p + "ffn_gate.weight", s * rng.standard_normal((ff, dim)), types.get("gate", Q.F32), rng)
        tensor(w, p + "ffn_up.weight", s * rng.standard_normal((ff, dim)), types.get("up", Q.F32), rng)
        tensor(w, p + "ffn_down.weight", (0.5 / np.sqrt(ff)) * rng.standard_normal((dim, ff)), types.get("down", Q.F32), rng)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main():
    models = {
        "tiny_llama_f32.gguf": dict(arch="llama", dim=64, ff=128, types={}, biases=False, seed=1),
        "tiny_qwen2_f32.gguf": dict(arch="qwen2", dim=64, ff=128, types={}, biases=True, seed=2),
        "tiny_llama_mixed.gguf": dict(arch="llama", dim=256, ff=512, biases=False, seed=3, types={
            "embd": Q.Q8_0, "attn": Q.F16, "attn_v": Q.Q4_0, "attn_o": Q.Q4_1,
            "gate": Q.Q4_K, "up": Q.Q5_K, "down": Q.Q6_K}),
    }
    ids = [72, 101, 108, 108, 111, 256, 44, 257, 119, 111, 114, 108, 100, 33, 3, 200]
    out = {}
    for name, spec in models.items():
        path = os.path.join(FIXTURES, name)
        build(path, **spec)
        llm = Llama(model_path=path, n_ctx=64, n_threads=2, logits_all=True, verbose=False)
        llm.eval(ids)
        out[name] = {"ids": ids, "logits": [float(x) for x in llm.scores[len(ids) - 1]]}
        del llm
    with open(os.path.join(FIXTURES, "tiny_models.json"), "w") as f:
        json.dump(out, f)
    print("wrote", ", ".join(models))


if __name__ == "__main__":
    main()

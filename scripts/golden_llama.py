#!/usr/bin/env python3
"""Golden outputs of llama.cpp (through llama-cpp-python) for the Generator tests.

Creates a virtualenv `.venv-llama` in the repository (llama-cpp-python is
built from source from PyPI: this takes a while on two cores), then writes
into Tests/GeneratorTests/Fixtures/:

  llama_tokens_sentences.txt  token ids (space-separated, one line per line of
                              data/synthesis/sentences.txt), no BOS
  llama_tokens_hostile.json   awkward strings and their ids: smollm
                              pre-tokenizer (the bundled model) and llama-bpe
                              (the same vocabulary with tokenizer.ggml.pre
                              switched, loaded vocab-only), with and without
                              special-token parsing
  llama_greedy.json           per chat prompt: the rendered template, prompt
                              ids, 40 greedy tokens, and first-step logits
                              (top 50 ids/values, a strided sample of 512
                              ids/values, full-vocab mean/std/max/logsumexp),
                              and under "dequantized" the first-step logits
                              (top 50, the same 512 sample ids) of the same
                              model with every weight decoded to F32: llama.cpp
                              then keeps the activations in Float, which pins
                              the forward pass without 8-bit rounding noise
  gguf_types.gguf + gguf_types.json
                              a small GGUF with one tensor of every supported
                              type, written with the `gguf` package, and the
                              values gguf's numpy code decodes them to

Usage: scripts/golden_llama.py [--model FILE] [--data-dir DIR]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.path.join(ROOT, ".venv-llama")
FIXTURES = os.path.join(ROOT, "Tests", "GeneratorTests", "Fixtures")

PROMPTS = [
    "What is the capital of France?",
    "Write a short poem about the sea.",
    "Explain photosynthesis in two sentences.",
    "Give me three tips for learning to code.",
    "Rewrite this sentence with different words: A man is playing a guitar on the street.",
    "What is 12 times 7?",
    "Describe a cat to someone who has never seen one.",
    "List the planets of the solar system.",
    "Why is the sky blue?",
    "Translate 'good morning' into Spanish and German.",
    "Write a sentence that is entailment with: ```Two dogs run across a snowy field.```. Result:",
    "Tell me a fun fact about octopuses.",
]

HOSTILE = [
    "",
    " ",
    "Hello world",
    " Hello world",
    "hello  world   with    runs",
    "tabs\tand\t\ttabs\n\nnewlines\r\nwindows\r\n",
    "   leading and trailing   ",
    "\n\n\n",
    "don't I'll we've they're she'd it's I'm you'LL DON'T WE'VE It'S",
    "’curly’ apostrophes and ‘quotes’ “double”",
    "1234567890 3.14159 1,000,000 007 2024-01-31 12:30",
    "١٢٣ ٤٥٦ Arabic-Indic digits, ½ ¾ superscript² ⅷ",
    "👍🏽 family: 👨‍👩‍👧‍👦 flags 🇫🇷🇯🇵 ❤️",
    "日本語のテキスト、中文字符和标点。한국어 문장입니다.",
    "مرحبا بالعالم، هذه جملة عربية.",
    "עברית ימין לשמאל",
    "हिन्दी पाठ और ไทย ภาษา",
    "e\u0301 n\u0303 Z\u0324\u0354\u0367\u0311a\u0308\u0356\u032d combining marks",
    "Ünïcödé façade naïve coöperate Straße ΑΒΓ αβγ Кириллица",
    "control \x01\x02\x07 escape \x1b[31mred\x1b[0m del \x7f",
    "zero\u200bwidth\u200djoiner\ufeffbom",
    "nbsp\u00a0here and\u3000ideographic space\u2003em space",
    "supercalifragilisticexpialidocious" * 4,
    "pneumonoultramicroscopicsilicovolcanoconiosis antidisestablishmentarianism",
    "def f(x):\n    return x ** 2  # square\n\n\tif x:\n\t\tpass",
    "https://example.com/path?query=1&b=2#frag user@example.org",
    "∑∫√∞ ≠ ≤ ≥ ± × ÷ → ⇒ ∀∃",
    "!!!??? ... --- *** ((())) [[]] {{}} <<>> @@ ## $$ %% ^^ && __",
    "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n",
    "text <|endoftext|> more <|im_end|>",
    "A" * 300,
    "a1b2c3 x86_64 ISO-8859-1 mp3 4K 1080p",
    "'s 't 're 've 'm 'll 'd ' s",
    "ok.\n \n  \n",
]


def ensure_venv():
    """Re-exec inside .venv-llama, creating it first if needed."""
    if os.path.realpath(sys.prefix) == os.path.realpath(VENV):
        return
    py = os.path.join(VENV, "bin", "python")
    if not os.path.exists(py):
        subprocess.check_call([sys.executable, "-m", "venv", VENV])
        subprocess.check_call([py, "-m", "pip", "install", "--upgrade", "pip"])
        env = dict(os.environ)
        env.setdefault("CMAKE_ARGS", "-DGGML_NATIVE=ON")
        subprocess.check_call([py, "-m", "pip", "install", "llama-cpp-python", "gguf", "numpy", "jinja2"], env=env)
    os.execv(py, [py] + sys.argv)


def find_data_dir(arg):
    """The evaluation sets committed under data/ (--data-dir or RANKSMITH_DATA_DIR overrides)."""
    return arg or os.environ.get("RANKSMITH_DATA_DIR") or os.path.join(ROOT, "data")


def tokenize_all(llm, texts, special):
    return [llm.tokenize(t.encode("utf-8"), add_bos=False, special=special) for t in texts]


def copy_metadata(reader, writer, overrides=None):
    """Every metadata key of `reader` into `writer` (values in `overrides` replace theirs)."""
    import gguf

    for field in reader.fields.values():
        name = field.name
        if name.startswith("GGUF.") or name == "general.architecture":
            continue
        value = (overrides or {}).get(name, field.contents())
        vtype = field.types[0]
        if vtype == gguf.GGUFValueType.ARRAY:
            writer.add_key_value(name, value, vtype, sub_type=field.types[-1])
        else:
            writer.add_key_value(name, value, vtype)


def llama_bpe_vocab(model_path, out_path):
    """The model's metadata with tokenizer.ggml.pre = llama-bpe and no tensors."""
    import gguf

    reader = gguf.GGUFReader(model_path)
    writer = gguf.GGUFWriter(out_path, arch="llama")
    copy_metadata(reader, writer, {"tokenizer.ggml.pre": "llama-bpe"})
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def write_dequantized_gguf(np, model_path, out_path):
    """The model with every tensor decoded to F32 (same metadata)."""
    import gguf
    from gguf import quants

    reader = gguf.GGUFReader(model_path)
    writer = gguf.GGUFWriter(out_path, arch=reader.fields["general.architecture"].contents())
    copy_metadata(reader, writer)
    for t in reader.tensors:
        writer.add_tensor(t.name, quants.dequantize(t.data, t.tensor_type).astype(np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def add_dequantized_logits(np, Llama, model_path, llm_args, cases):
    """First-step logits of the F32-decoded model for every case (see the docstring)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "dequantized.gguf")
        write_dequantized_gguf(np, model_path, path)
        llm = Llama(model_path=path, **llm_args)
        for case in cases:
            llm.reset()
            llm.eval(case["prompt_ids"])
            first = np.array(llm.scores[llm.n_tokens - 1], dtype=np.float64)
            top = np.argsort(-first, kind="stable")[:50]
            case["dequantized"] = {
                "top_ids": [int(i) for i in top],
                "top_logits": [round(float(first[i]), 5) for i in top],
                "sample_logits": [round(float(first[i]), 5) for i in case["sample_ids"]],
            }
        del llm


def write_types_gguf(np):
    """One small tensor per supported type, and gguf's own decoding of each."""
    import gguf
    from gguf import quants

    rng = np.random.default_rng(1234)
    path = os.path.join(FIXTURES, "gguf_types.gguf")
    writer = gguf.GGUFWriter(path, arch="test")
    writer.add_uint32("test.answer", 42)
    writer.add_string("test.greeting", "héllo ✓")
    writer.add_array("test.list", [1, 2, 3])
    writer.add_float32("test.pi", 3.14159)
    writer.add_bool("test.flag", True)
    expected = {}
    shape = (2, 512)  # rows, cols (cols a multiple of 256)
    Q = gguf.GGMLQuantizationType
    for qtype in [Q.F32, Q.F16, Q.BF16, Q.Q8_0, Q.Q4_0, Q.Q4_1, Q.Q4_K, Q.Q5_K, Q.Q6_K]:
        values = rng.standard_normal(shape).astype(np.float32)
        name = "t." + qtype.name
        try:
            data = quants.quantize(values, qtype)
        except Exception:
            # No numpy quantiser for this type: random block bytes with sane
            # f16 scales, decoded by gguf's dequantiser as the reference.
            block, nbytes = gguf.GGML_QUANT_SIZES[qtype]
            nblocks = values.size // block
            raw = rng.integers(0, 256, size=(nblocks, nbytes), dtype=np.uint8)
            halfs = np.float16(rng.uniform(0.001, 0.05, size=(nblocks, 2)))
            if qtype == Q.Q6_K:
                raw[:, nbytes - 2:nbytes] = halfs[:, :1].view(np.uint8)
            else:
                raw[:, 0:4] = halfs.view(np.uint8).reshape(nblocks, 4)
            data = raw.reshape(shape[0], -1)
        writer.add_tensor(name, data, raw_dtype=qtype)
        decoded = quants.dequantize(data, qtype).reshape(-1)
        expected[name] = {"type": qtype.name, "shape": [shape[1], shape[0]], "values": [float(v) for v in decoded]}
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    with open(os.path.join(FIXTURES, "gguf_types.json"), "w") as f:
        json.dump(expected, f)


def main():
    ensure_venv()
    import numpy as np
    from llama_cpp import Llama
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=os.path.join(ROOT, "models", "SmolLM2-135M-Instruct.Q4_1.gguf"))
    ap.add_argument("--data-dir")
    ap.add_argument("--tokens", type=int, default=40)
    args = ap.parse_args()
    os.makedirs(FIXTURES, exist_ok=True)
    data_dir = find_data_dir(args.data_dir)

    llm_args = dict(n_ctx=1024, n_batch=512, n_threads=2, logits_all=True, verbose=False, seed=0)
    llm = Llama(model_path=args.model, **llm_args)

    # Tokenizer ids for every synthesis sentence.
    with open(os.path.join(data_dir, "synthesis", "sentences.txt"), encoding="utf-8") as f:
        sentences = f.read().split("\n")
    if sentences and sentences[-1] == "":
        sentences.pop()
    with open(os.path.join(FIXTURES, "llama_tokens_sentences.txt"), "w") as f:
        for ids in tokenize_all(llm, sentences, special=False):
            f.write(" ".join(map(str, ids)) + "\n")

    # Hostile strings, both pre-tokenizers.
    hostile = {"smollm": {}, "llama-bpe": {}}
    hostile["smollm"]["plain"] = tokenize_all(llm, HOSTILE, special=False)
    hostile["smollm"]["special"] = tokenize_all(llm, HOSTILE, special=True)
    with tempfile.TemporaryDirectory() as tmp:
        vocab = os.path.join(tmp, "llama-bpe-vocab.gguf")
        llama_bpe_vocab(args.model, vocab)
        voc = Llama(model_path=vocab, vocab_only=True, verbose=False)
        hostile["llama-bpe"]["plain"] = tokenize_all(voc, HOSTILE, special=False)
        hostile["llama-bpe"]["special"] = tokenize_all(voc, HOSTILE, special=True)
        del voc
    with open(os.path.join(FIXTURES, "llama_tokens_hostile.json"), "w") as f:
        json.dump({"strings": HOSTILE, "ids": hostile}, f, ensure_ascii=False, indent=0)

    # Greedy generations and first-step logits.
    template = llm.metadata["tokenizer.chat_template"]
    fmt = Jinja2ChatFormatter(template=template, eos_token="<|im_end|>", bos_token="<|im_start|>")
    eog = {llm.token_eos()}
    for name in ("<|im_end|>", "<|endoftext|>"):
        ids = llm.tokenize(name.encode(), add_bos=False, special=True)
        if len(ids) == 1:
            eog.add(ids[0])
    cases = []
    vocab_n = llm.n_vocab()
    stride = max(1, vocab_n // 512)
    for prompt in PROMPTS:
        text = fmt(messages=[{"role": "user", "content": prompt}]).prompt
        ids = llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
        llm.reset()
        llm.eval(ids)
        first = np.array(llm.scores[llm.n_tokens - 1], dtype=np.float64)
        out = []
        logits = first
        for _ in range(args.tokens):
            tok = int(np.argmax(logits))
            if tok in eog:
                break
            out.append(tok)
            llm.eval([tok])
            logits = np.array(llm.scores[llm.n_tokens - 1], dtype=np.float64)
        top = np.argsort(-first, kind="stable")[:50]
        m = first.max()
        sample_ids = list(range(0, vocab_n, stride))[:512]
        cases.append({
            "prompt": prompt,
            "prompt_text": text,
            "prompt_ids": ids,
            "greedy": out,
            "greedy_text": llm.detokenize(out).decode("utf-8", "replace"),
            "top_ids": [int(i) for i in top],
            "top_logits": [round(float(first[i]), 5) for i in top],
            "sample_ids": sample_ids,
            "sample_logits": [round(float(first[i]), 5) for i in sample_ids],
            "mean": float(first.mean()),
            "std": float(first.std()),
            "max": float(m),
            "logsumexp": float(m + np.log(np.exp(first - m).sum())),
        })
    add_dequantized_logits(np, Llama, args.model, llm_args, cases)
    with open(os.path.join(FIXTURES, "llama_greedy.json"), "w") as f:
        json.dump({"model": os.path.basename(args.model), "threads": 2, "cases": cases}, f, ensure_ascii=False, indent=1)

    write_types_gguf(np)
    print("wrote fixtures to", FIXTURES)


if __name__ == "__main__":
    main()

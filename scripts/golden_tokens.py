#!/usr/bin/env python3
"""Reference data for the WordPiece tokenizer, made with Hugging Face `tokenizers`.

Two jobs, both driven by the `tokenizers` package (pinned below) so that the
Swift tokenizer can be held to its output exactly:

  scripts/golden_tokens.py [fixtures]   expected token ids for every text in
                                        data/, a list of hostile strings,
                                        seeded random Unicode strings and pairs,
                                        written to Tests/TokenizationTests/Fixtures/
  scripts/golden_tokens.py tables       Sources/Tokenization/UnicodeTables.swift:
                                        the character classes BertNormalizer and
                                        BertPreTokenizer use, probed code point by
                                        code point from `tokenizers` itself

Why probe instead of using a Unicode database: `tokenizers` mixes three Unicode
versions. `unicode_categories` (control, punctuation, non-spacing marks) is
years old, `unicode-normalization-alignments` (NFD, combining classes) is a
little newer, and lowercasing and `char::is_whitespace` come from Rust's
standard library. Asking the package answers all three at once.

The script installs `tokenizers` into the virtual environment `.venv-tok`
(from PyPI) when it is missing, and re-runs itself there.

Fixture formats (all UTF-8; every file stays well under 5 MiB):
  <dataset>.<field>.ids   first line: `# ` + JSON header naming the source file,
                          the field and max_length. Then one line per text:
                          `<index> <truncated 0|1> <id> <id> ...` where <index>
                          counts the source's records (JSONL: non-blank lines;
                          text files: lines split on \\n) from 0. The text itself
                          is read from data/ by the Swift test.
  hostile.json, random.json, pairs.json
                          JSON lists of objects holding the text(s) too:
                          {"name"?, "text" | "a","b", "max_length", "ids": "101 ... 102",
                           "type_ids_zero": <count of type id 0> (pairs), "truncated"}
  manifest.json           the tokenizers version, the sha256 of tokenizer.json,
                          and what each file holds.
"""
import hashlib
import json
import os
import random
import subprocess
import sys
import unicodedata

TOKENIZERS_VERSION = "0.22.1"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.path.join(ROOT, ".venv-tok")
MODEL = os.path.join(ROOT, "models", "all-MiniLM-L6-v2", "tokenizer.json")
DATA = os.environ.get("RANKSMITH_DATA_DIR", os.path.join(ROOT, "data"))
FIXTURES = os.path.join(ROOT, "Tests", "TokenizationTests", "Fixtures")
TABLES = os.path.join(ROOT, "Sources", "Tokenization", "UnicodeTables.swift")
MAX_LENGTH = 256  # sentence-transformers' max_seq_length for all-MiniLM-L6-v2
FIXTURE_LIMIT = 5 * 1024 * 1024


# MARK: - Environment

def ensure_tokenizers():
    """Re-executes this script inside .venv-tok, creating it if needed."""
    try:
        import tokenizers  # noqa: F401
        if tokenizers.__version__ == TOKENIZERS_VERSION:
            return
    except ImportError:
        pass
    if os.path.realpath(sys.prefix) == os.path.realpath(VENV):
        subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet",
                               "--disable-pip-version-check", f"tokenizers=={TOKENIZERS_VERSION}"])
    else:
        python = os.path.join(VENV, "bin", "python")
        if not os.path.exists(python):
            subprocess.check_call([sys.executable, "-m", "venv", VENV])
        subprocess.check_call([python, "-m", "pip", "install", "--quiet",
                               "--disable-pip-version-check", f"tokenizers=={TOKENIZERS_VERSION}"])
        os.execv(python, [python, os.path.abspath(__file__)] + sys.argv[1:])


# MARK: - Unicode tables

SEPARATOR = "\u2603"  # SNOWMAN: kept by every normalizer, no decomposition, no case, combining class 0


def probe_map(normalizer, cps):
    """normalizer applied to each code point; batched, split on SEPARATOR."""
    s = SEPARATOR + SEPARATOR.join(chr(c) for c in cps) + SEPARATOR
    parts = normalizer.normalize_str(s).split(SEPARATOR)
    assert len(parts) == len(cps) + 2, "a probed character produced the separator"
    return parts[1:-1]


def ranges(cps):
    """Sorted code points -> 'a-b,c,...' in hex (inclusive ranges)."""
    out, cps = [], sorted(cps)
    i = 0
    while i < len(cps):
        j = i
        while j + 1 < len(cps) and cps[j + 1] == cps[j] + 1:
            j += 1
        out.append(f"{cps[i]:x}" if i == j else f"{cps[i]:x}-{cps[j]:x}")
        i = j + 1
    return ",".join(out)


def wrap(text, width=100):
    """Splits a comma list into lines for a Swift multi-line string literal."""
    lines, line = [], ""
    for item in text.split(","):
        if line and len(line) + len(item) + 1 > width:
            lines.append(line + ",")
            line = ""
        line = item if not line else line + "," + item
    if line:
        lines.append(line)
    return "\n".join(lines)


def crate_combining_class(nfd, c):
    """The combining class `tokenizers`' NFD uses for c (0 if it does not know c).

    Canonical combining classes never change once assigned, so the crate's
    value is either Python's or 0 (a character newer than the crate's tables).
    """
    ccc = unicodedata.combining(chr(c))
    if ccc == 0:
        return 0
    if ccc > 1:  # after a class-1 mark, a mark of class > 1 stays; before it, it moves behind
        moved = nfd.normalize_str("a" + chr(c) + "\u0334") == "a\u0334" + chr(c)
    else:        # class 1 moves in front of a class-230 mark
        moved = nfd.normalize_str("a\u0301" + chr(c)) == "a" + chr(c) + "\u0301"
    return ccc if moved else 0


def make_tables():
    from tokenizers import normalizers, pre_tokenizers
    import tokenizers

    cps = [c for c in range(0x110000) if not (0xD800 <= c <= 0xDFFF) and c != ord(SEPARATOR)]
    bert = normalizers.BertNormalizer
    clean = probe_map(bert(clean_text=True, handle_chinese_chars=False, strip_accents=False, lowercase=False), cps)
    chinese = probe_map(bert(clean_text=False, handle_chinese_chars=True, strip_accents=False, lowercase=False), cps)
    nfd_map = probe_map(normalizers.NFD(), cps)
    strip = probe_map(bert(clean_text=False, handle_chinese_chars=False, strip_accents=True, lowercase=False), cps)
    lower = probe_map(normalizers.Lowercase(), cps)

    # The pre-tokenizer: in "☃c☃c'☃…" a whitespace character is dropped, a
    # punctuation character becomes a one-character piece, anything else
    # joins its snowman neighbours.
    s = SEPARATOR + SEPARATOR.join(chr(c) for c in cps) + SEPARATOR
    covered = [None] * len(s)
    for _, (a, b) in pre_tokenizers.BertPreTokenizer().pre_tokenize_str(s):
        for i in range(a, b):
            covered[i] = "punct" if b - a == 1 else "other"
    pre = [covered[1 + 2 * k] or "space" for k in range(len(cps))]

    removed = [c for c, o in zip(cps, clean) if o == ""]
    assert all(o in ("", " ", chr(c)) for c, o in zip(cps, clean))
    chinese_cps = [c for c, o in zip(cps, chinese) if o == f" {chr(c)} "]
    assert all(o in (chr(c), f" {chr(c)} ") for c, o in zip(cps, chinese))
    whitespace = [c for c, p in zip(cps, pre) if p == "space"]
    punctuation = [c for c, p in zip(cps, pre) if p == "punct"]
    # Non-spacing marks: stripped characters that have no decomposition
    # (strip_accents = NFD, then drop Mn; decomposed pieces are themselves
    # NFD-stable, so these are all the marks that matter).
    marks = [c for c, d, o in zip(cps, nfd_map, strip) if d == chr(c) and o == ""]
    hangul = range(0xAC00, 0xD7A4)
    decompositions = [(c, d) for c, d in zip(cps, nfd_map) if d != chr(c) and c not in hangul]
    for c, d in zip(cps, nfd_map):  # algorithmic in the Swift code; check the crate agrees
        if c in hangul:
            assert d == unicodedata.normalize("NFD", chr(c)), hex(c)
    lowercase = [(c, o) for c, o in zip(cps, lower) if o != chr(c)]
    nfd = normalizers.NFD()
    classes = [(c, crate_combining_class(nfd, c)) for c in cps if unicodedata.combining(chr(c)) > 0]
    classes = [(c, k) for c, k in classes if k > 0]
    # The separator itself: check it is as plain as assumed.
    assert unicodedata.combining(SEPARATOR) == 0 and unicodedata.category(SEPARATOR) == "So"

    by_class = {}
    for c, k in classes:
        by_class.setdefault(k, []).append(c)
    class_text = ",".join(f"{k}:{ranges(v).replace(',', ';')}" for k, v in sorted(by_class.items()))

    def pairs(entries):
        return ",".join(f"{c:x}:" + ".".join(f"{ord(ch):x}" for ch in v) for c, v in entries)

    def literal(name, doc, body):
        return (f"    /// {doc}\n    static let {name} = \"\"\"\n{wrap(body)}\n\"\"\"\n")

    header = f"""// Generated by `scripts/golden_tokens.py tables` from Hugging Face
// tokenizers {tokenizers.__version__}; do not edit. Each table was probed code point by
// code point from the package itself, so it carries that package's Unicode
// versions (see UnicodeProperties.swift for how the tables are read).
//
// Format: hex code points, `a-b` an inclusive range, items separated by commas
// (newlines are ignored). Maps are `from:to.to.to`; combining classes are
// `class:range;range;...`.

enum UnicodeTables {{
"""
    body = [
        literal("removedByCleanText", "Dropped by BertNormalizer's clean_text: NUL, U+FFFD and `is_control` (Cc, Cf, Co as unicode_categories knows them, but not TAB, LF, CR).", ranges(removed)),
        literal("chinese", "Given spaces on both sides by handle_chinese_chars (CJK ideograph blocks).", ranges(chinese_cps)),
        literal("whitespace", "Split on and dropped by BertPreTokenizer (Rust `char::is_whitespace`).", ranges(whitespace)),
        literal("punctuation", "Isolated by BertPreTokenizer: ASCII punctuation and unicode_categories' P*.", ranges(punctuation)),
        literal("nonspacingMarks", "Dropped after NFD by strip_accents (unicode_categories' Mn).", ranges(marks)),
        literal("combiningClasses", "Non-zero canonical combining classes known to the NFD implementation.", class_text),
        literal("decompositions", "Full canonical decompositions (NFD), Hangul syllables excepted (algorithmic).", pairs(decompositions)),
        literal("lowercase", "Lowercase mappings (Rust `char::to_lowercase`, no context).", pairs(lowercase)),
    ]
    with open(TABLES, "w", encoding="utf-8") as f:
        f.write(header + "\n".join(body) + "}\n")
    print(f"wrote {os.path.relpath(TABLES, ROOT)}: {len(removed)} removed, {len(chinese_cps)} chinese, "
          f"{len(whitespace)} whitespace, {len(punctuation)} punctuation, {len(marks)} marks, "
          f"{len(classes)} combining, {len(decompositions)} decompositions, {len(lowercase)} lowercase")


# MARK: - Texts

def read_jsonl(rel):
    with open(os.path.join(DATA, rel), "rb") as f:
        return [json.loads(line) for line in f.read().split(b"\n") if line.strip()]


def read_lines(rel):
    with open(os.path.join(DATA, rel), "rb") as f:
        lines = f.read().split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return [line.decode("utf-8") for line in lines]


# (fixture name, source file relative to data/, field or None for a text file)
DATASETS = [
    ("stsb_train.sentence1", "stsb/stsb_train.jsonl", "sentence1"),
    ("stsb_train.sentence2", "stsb/stsb_train.jsonl", "sentence2"),
    ("stsb_dev.sentence1", "stsb/stsb_dev.jsonl", "sentence1"),
    ("stsb_dev.sentence2", "stsb/stsb_dev.jsonl", "sentence2"),
    ("sick_train.sentence1", "sick/sick_train.jsonl", "sentence1"),
    ("sick_train.sentence2", "sick/sick_train.jsonl", "sentence2"),
    ("sick_trial.sentence1", "sick/sick_trial.jsonl", "sentence1"),
    ("sick_trial.sentence2", "sick/sick_trial.jsonl", "sentence2"),
    ("synthesis.sentences", "synthesis/sentences.txt", None),
    ("synthesis.wiki1m", "synthesis/wiki1m_for_simcse.first11914.txt", None),
    ("cranfield_corpus.title", "retrieval_dev/cranfield/corpus.jsonl", "title"),
    ("cranfield_corpus.text", "retrieval_dev/cranfield/corpus.jsonl", "text"),
    ("cranfield_queries.text", "retrieval_dev/cranfield/queries.jsonl", "text"),
]


def texts_of(source, field):
    if field is None:
        return read_lines(source)
    return [record[field] for record in read_jsonl(source)]


def hostile_strings():
    """(name, text, max_length) triples meant to break a tokenizer."""
    z = [
        ("empty", ""), ("space", " "), ("spaces", "     "), ("tabs and newlines", "\t\n\r\n\t"),
        ("only nbsp", "\u00a0\u00a0"), ("only zero-width", "\u200b\u200c\u200d\ufeff"),
        ("emoji", "I love 🍕 and 🎉!"), ("emoji zwj family", "family 👨\u200d👩\u200d👧\u200d👦 here"),
        ("emoji skin tones", "👍🏻 👍🏼 👍🏽 👍🏾 👍🏿 wave👋🏽"), ("emoji flags", "🇺🇸🇫🇷🇯🇵 flags"),
        ("emoji keycap", "press 1\ufe0f\u20e3 or #\ufe0f\u20e3"), ("emoji newer", "🥰 🫠 🪿 🫨 new"),
        ("emoji rainbow flag", "🏳\ufe0f\u200d🌈 pride"), ("emoji text presentation", "☺\ufe0e ☺\ufe0f ❤\ufe0f"),
        ("combining accents", "e\u0301 a\u0300 o\u0308 n\u0303 c\u0327"),
        ("precomposed", "café naïve résumé Ångström"), ("decomposed", "cafe\u0301 nai\u0308ve re\u0301sume\u0301 A\u030angstro\u0308m"),
        ("stacked marks", "a\u0301\u0323\u0302 q\u0307\u0323 z\u0335\u0336\u0337"),
        ("zalgo", "Z\u0351\u036b\u0343\u036a\u0302\u036b\u033d\u034f\u0334\u0319\u0324\u031e\u0349\u035a\u032f\u031e\u0320\u034dA\u036b\u0357\u0334\u0362\u0335\u031c\u0330\u0354L\u0368\u0367\u0369\u0358\u0320G\u0311\u0357\u030e\u0305\u035b\u0341\u0334\u033b\u0348\u034d\u0354\u0339O\u0342\u030c\u030c\u0358\u0328\u0335\u0339\u033b\u031d\u0333"),
        ("musical combining", "\U0001D15F\U0001D165\U0001D16E\U0001D16D x\U0001D172\U0001D165\U0001D16D"),
        ("reorder classes", "a\u0301\u0334\u0316 b\u302e\u0301\u1d165"),
        ("chinese", "我爱自然语言处理。今天天气很好！"), ("chinese mixed", "BERT模型在2018年发布,效果很好"),
        ("cjk extension b", "\U00020000\U0002A6D6\U0002A700 \U0002B740\U0002F800"),
        ("cjk compatibility", "\uf900\uf901\ufa0e\ufa10 \U0002F800\U0002F801"),
        ("japanese", "東京は日本の首都です。ひらがな カタカナ ｶﾀｶﾅ"), ("korean", "안녕하세요 세계! 한국어 텍스트"),
        ("korean jamo", "\u1100\u1161\u11a8 \u3131\u314f"),
        ("arabic", "مرحبا بالعالم، كيف حالك؟"), ("arabic diacritics", "مَرْحَبًا بِكُمْ"),
        ("hebrew", "שלום עולם! עִבְרִית"), ("thai", "สวัสดีชาวโลก ภาษาไทย"),
        ("devanagari", "नमस्ते दुनिया, हिन्दी भाषा।"), ("tamil", "வணக்கம் உலகம்"),
        ("greek", "Καλημέρα κόσμε ΆΈΉΊΌΎΏ ΐΰ ς Σ"), ("cyrillic", "Привет, мир! Ёлка ЁЖИК й"),
        ("turkish dotted", "İstanbul ıI iİ DİYARBAKIR"), ("german sharp s", "Straße STRASSE ẞ ß"),
        ("ligatures", "ﬁnance ﬂow ﬀ ǅ ǈ ǋ Ǆ"), ("fullwidth", "ＡＢＣ１２３！？ｈｅｌｌｏ"),
        ("control chars", "a\x00b\x01c\x07d\x08e\x1bf\x7fg\x85h\x9fi"), ("vertical tab form feed", "a\x0bb\x0cc"),
        ("bidi controls", "abc\u202edcba\u202c \u200eltr\u200f \u2066iso\u2069"),
        ("zero-width", "zero\u200bwidth\u200cnon\u200djoiner\ufeffbom"), ("soft hyphen", "hy\u00adphen\u00adated"),
        ("word joiner", "word\u2060joiner\u180emongolian"),
        ("unicode spaces", "a\u00a0b\u1680c\u2000d\u2001e\u2002f\u2003g\u2004h\u2005i\u2006j\u2007k\u2008l\u2009m\u200an\u2028o\u2029p\u202fq\u205fr\u3000s"),
        ("replacement char", "bad \ufffd byte \ufffd\ufffd"),
        ("private use", "\ue000\uf8ff \U000F0000 \U0010FFFD pua"), ("noncharacters", "\ufdd0\ufffe\uffff \U0001FFFE x"),
        ("unassigned", "\u0378\u0379 \U000E0000 \U0003FFFD x"), ("tags", "flag\U000E0067\U000E0062\U000E007F"),
        ("variation selectors", "\u845b\U000E0100 a\ufe00 \u2764\ufe0f"),
        ("mixed punctuation", "Hello,world!!! What?!?... (yes) [no] {maybe} \"quoted\" 'single' — – - … «» ‹› „“ ¿¡"),
        ("ascii punctuation", "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"),
        ("symbols", "$100 €50 £30 ¥20 ₹10 © ® ™ ° § ¶ † ‡ • ‰ ′ ″"),
        ("math", "∑∏∫∂√∞≈≠≤≥± ×÷ α+β=γ ∀x∃y: x∈ℝ ⊂⊃∪∩ 𝔸𝕓𝒞 𝟘𝟙"),
        ("urls", "https://example.com/path?q=1&r=two#frag http://a.b/c_d-e.f mailto:x@y.z"),
        ("email and handles", "john.doe+tag@example.co.uk @user #hashtag"),
        ("numbers", "3.14159 1,000,000 -42 +7 1e-10 0x1F ½ ¾ ² ³ ① Ⅻ ٣ ४"),
        ("dates and times", "2024-01-31T12:34:56Z 31/01/2024 12:00pm"),
        ("code", "for (int i=0;i<n;++i){x[i]=y[i]*2;} // comment"),
        ("html", "<p class=\"x\">Hello&nbsp;<b>world</b></p>&amp;&lt;"),
        ("repeated punctuation", "!!!!!!!!!!?????????.........,,,,,,,"),
        ("unpaired-looking escapes", "\\ud83d \\udca9 \\uD800\\uDC00 \\x80 %ED%A0%80"),
        ("lone replacement and marks", "\u0301start \u0301\u0301 \u200d\u200d"),
        ("special tokens", "[CLS] hello [SEP] world [MASK] [PAD] [UNK]"),
        ("special tokens glued", "x[SEP]y[CLS][CLS]z[UNK]"),
        ("special tokens lowercase", "[cls] [sep] [Mask] [ SEP ]"),
        ("special tokens partial", "[SE [SEP [SEP] SEP] [[SEP]]"),
        ("hash prefix", "## ##ing #hash ###"),
        ("mixed scripts", "Hello мир 世界 عالم שלום 🌍!"),
        ("long unknown", "qwxzvbnmqwxzvbnm ZZZZZZZZZZZZZZZZZZ"),
        ("word of 100 chars", "a" * 100), ("word of 101 chars", "a" * 101),
        ("word of 100 after accents", "é" * 100), ("word of 101 after accents", "e\u0301" * 101),
        ("100 chars mixed", "supercalifragilistic" * 5), ("101 chars mixed", "supercalifragilistic" * 5 + "x"),
        ("10k-char word", "x" * 10000), ("10k-char word mixed", ("abcdefghij" * 1000)),
        ("10k-char word with spaces around", "  " + "ab" * 5000 + "  end"),
        ("emoji run", "😀" * 300), ("chinese run", "中" * 400),
        ("punctuation run", "!" * 400),
        ("long text", " ".join(["the quick brown fox jumps over the lazy dog"] * 100)),
        ("long accented text", " ".join(["Ça été très différent à Zürich"] * 80)),
    ]
    out = [(name, text, MAX_LENGTH) for name, text in z]
    out += [
        ("truncate exactly at limit", " ".join(["word"] * 254), MAX_LENGTH),
        ("truncate one over limit", " ".join(["word"] * 255), MAX_LENGTH),
        ("short max length", "the quick brown fox jumps", 5),
        ("max length 3", "hello world", 3),
        ("max length 2", "hello world", 2),
        ("max length 2 empty", "", 2),
        ("max length 128", " ".join(["token"] * 200), 128),
        ("max length 512", " ".join(["token"] * 600), 512),
    ]
    return out


def random_strings(count, seed):
    """Seeded random strings drawn from pools that exercise every code path."""
    rng = random.Random(seed)
    pools = [
        [chr(c) for c in range(0x20, 0x7F)] * 3 + [" "] * 40,
        [chr(c) for c in range(0xA0, 0x250)],                              # Latin-1, Latin Extended
        [chr(c) for c in range(0x300, 0x370)] + [chr(c) for c in range(0x1AB0, 0x1B00)] + [chr(c) for c in range(0x1DC0, 0x1E00)],
        [chr(c) for c in range(0x370, 0x530)],                             # Greek, Cyrillic, Armenian
        [chr(c) for c in range(0x590, 0x900)],                             # Hebrew, Arabic, Syriac, ...
        [chr(c) for c in range(0x900, 0xE80)],                             # Indic, Thai, Lao
        [chr(c) for c in range(0x1E00, 0x2070)],                           # Latin Ext. Additional, Greek Ext., punctuation
        [chr(c) for c in range(0x2070, 0x2C00)],                           # symbols, math, arrows
        [chr(c) for c in range(0x3000, 0x3100)] + [chr(c) for c in range(0x4E00, 0x4F00)] + [chr(c) for c in range(0xF900, 0xFB50)],
        [chr(c) for c in range(0xAC00, 0xAD00)] + [chr(c) for c in range(0x1100, 0x1200)],
        [chr(c) for c in range(0xFE00, 0x10000)],                          # presentation forms, specials, fullwidth
        [chr(c) for c in range(0x1F300, 0x1FB00)] + ["\u200d", "\ufe0f", "\U0001F3FB"],
        [chr(c) for c in range(0x0, 0x20)] + ["\x7f", "\x85", "\u00ad", "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\ufffd"],
        [chr(c) for c in range(0x10000, 0x11000)] + [chr(c) for c in range(0x1D100, 0x1D250)],
        [chr(c) for c in range(0x11000, 0x1E900)],                         # later-added scripts and marks
        [chr(c) for c in range(0x20000, 0x20100)] + [chr(c) for c in range(0x2F800, 0x2FA20)],
    ]
    out = []
    for _ in range(count):
        n = rng.choice([1, 2, 3, 5, 8, 13, 21, 40, 80, 150])
        chars = []
        for _ in range(n):
            if rng.random() < 0.02:
                c = rng.randrange(0x110000)
                chars.append(chr(c) if not 0xD800 <= c <= 0xDFFF else "?")
            else:
                chars.append(rng.choice(rng.choice(pools)))
        out.append("".join(chars))
    return out


# MARK: - Fixtures

def make_fixtures():
    import tokenizers
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(MODEL)
    tok.no_padding()
    full = Tokenizer.from_file(MODEL)  # untruncated, to tell whether truncation happened
    full.no_padding()
    full.no_truncation()

    def encode(text, max_length):
        tok.enable_truncation(max_length=max_length, strategy="longest_first")
        ids = tok.encode(text).ids
        truncated = len(full.encode(text).ids) > max_length
        return ids, truncated

    def encode_pair(a, b, max_length):
        tok.enable_truncation(max_length=max_length, strategy="longest_first")
        e = tok.encode(a, b)
        zero = e.type_ids.index(1) if 1 in e.type_ids else len(e.type_ids)
        assert e.type_ids == [0] * zero + [1] * (len(e.type_ids) - zero)
        return e.ids, zero, len(full.encode(a, b).ids) > max_length

    os.makedirs(FIXTURES, exist_ok=True)
    manifest = {
        "tokenizers": tokenizers.__version__,
        "tokenizer_json": os.path.relpath(MODEL, ROOT),
        "tokenizer_json_sha256": hashlib.sha256(open(MODEL, "rb").read()).hexdigest(),
        "max_length": MAX_LENGTH,
        "datasets": [],
    }
    total = 0
    for name, source, field in DATASETS:
        texts = texts_of(source, field)
        lines = ["# " + json.dumps({"source": source, "field": field, "max_length": MAX_LENGTH, "count": len(texts)})]
        truncated_count = 0
        for i, text in enumerate(texts):
            ids, truncated = encode(text, MAX_LENGTH)
            truncated_count += truncated
            lines.append(f"{i} {int(truncated)} " + " ".join(map(str, ids)))
        path = os.path.join(FIXTURES, name + ".ids")
        write(path, "\n".join(lines) + "\n")
        manifest["datasets"].append({"file": name + ".ids", "source": source, "field": field,
                                     "count": len(texts), "truncated": truncated_count})
        total += len(texts)
        print(f"{name}: {len(texts)} texts, {truncated_count} truncated")

    hostile = []
    for name, text, max_length in hostile_strings():
        ids, truncated = encode(text, max_length)
        hostile.append({"name": name, "text": text, "max_length": max_length,
                        "ids": " ".join(map(str, ids)), "truncated": truncated})
    write_json(os.path.join(FIXTURES, "hostile.json"), hostile)

    rand = []
    for i, text in enumerate(random_strings(3000, seed=20240531)):
        max_length = MAX_LENGTH if i % 10 else 16
        ids, truncated = encode(text, max_length)
        rand.append({"text": text, "max_length": max_length, "ids": " ".join(map(str, ids)), "truncated": truncated})
    write_json(os.path.join(FIXTURES, "random.json"), rand)

    pairs = []
    dev = read_jsonl("stsb/stsb_dev.jsonl")
    for row in dev[:300]:
        pairs.append((row["sentence1"], row["sentence2"], MAX_LENGTH))
    for k, row in enumerate(dev[300:420]):  # small limits: both sides truncated, odd and even budgets
        pairs.append((row["sentence1"], row["sentence2"], [8, 9, 13, 20, 3, 4][k % 6]))
    corpus = {d["_id"]: d for d in read_jsonl("retrieval_dev/cranfield/corpus.jsonl")}
    queries = read_jsonl("retrieval_dev/cranfield/queries.jsonl")
    qrels = [line.split("\t") for line in read_lines("retrieval_dev/cranfield/qrels.tsv")[1:]]
    for k, (q, d, *_rest) in enumerate(qrels[:160]):  # query + long document: longest_first cuts the document
        query, doc = queries[int(q) - 1]["text"], corpus[d]["text"]
        pairs.append((query, doc, MAX_LENGTH) if k % 2 == 0 else (doc, query, MAX_LENGTH))
    docs = list(corpus.values())
    for k in range(40):  # two long documents: both halves
        pairs.append((docs[k]["text"], docs[k + 40]["text"], MAX_LENGTH if k % 2 else 255))
    pair_fixture = []
    for a, b, max_length in pairs:
        ids, zero, truncated = encode_pair(a, b, max_length)
        pair_fixture.append({"a": a, "b": b, "max_length": max_length, "ids": " ".join(map(str, ids)),
                             "type_ids_zero": zero, "truncated": truncated})
    write_json(os.path.join(FIXTURES, "pairs.json"), pair_fixture)
    variants = make_variants(hostile, rand)
    write_json(os.path.join(FIXTURES, "variants.json"), variants)
    manifest["variants"] = {"configurations": len(variants["variants"]), "cases": len(variants["cases"])}
    manifest["hostile"] = len(hostile)
    manifest["random"] = {"count": len(rand), "seed": 20240531}
    manifest["pairs"] = len(pair_fixture)
    manifest["texts"] = total
    write_json(os.path.join(FIXTURES, "manifest.json"), manifest, indent=1)
    print(f"{total} dataset texts, {len(hostile)} hostile, {len(rand)} random, {len(pair_fixture)} pairs "
          f"(truncated pairs: {sum(p['truncated'] for p in pair_fixture)})")


# Other settings a BERT tokenizer.json may carry, applied to the MiniLM file:
# the Swift test makes the same edits and must get the same ids.
VARIANTS = [
    {"name": "cased (lowercase false, accents kept)", "normalizer": {"lowercase": False, "strip_accents": None}},
    {"name": "cased, strip accents", "normalizer": {"lowercase": False, "strip_accents": True}},
    {"name": "uncased, keep accents", "normalizer": {"lowercase": True, "strip_accents": False}},
    {"name": "no clean_text, no chinese handling", "normalizer": {"clean_text": False, "handle_chinese_chars": False}},
    {"name": "added tokens: normalized, lstrip, rstrip, single_word",
     "added_tokens": [
         {"id": 30522, "content": "New-Token", "single_word": False, "lstrip": False, "rstrip": False, "normalized": True, "special": False},
         {"id": 30523, "content": "<ls>", "single_word": False, "lstrip": True, "rstrip": False, "normalized": False, "special": True},
         {"id": 30524, "content": "<rs>", "single_word": False, "lstrip": False, "rstrip": True, "normalized": False, "special": True},
         {"id": 30525, "content": "<sw>", "single_word": True, "lstrip": False, "rstrip": False, "normalized": False, "special": True},
         {"id": 30526, "content": "Ünïcode", "single_word": False, "lstrip": False, "rstrip": False, "normalized": True, "special": False},
         {"id": 30527, "content": "<both>", "single_word": False, "lstrip": True, "rstrip": True, "normalized": False, "special": True},
     ]},
]
VARIANT_TEXTS = [
    "a New-Token b new-token NEW-TOKEN newtoken New-Tokens", "x <ls> y   <ls>z\t<ls>", "<rs>   q <rs>\u3000r <rs>",
    "<sw> a<sw>b <sw>. (<sw>) _<sw>_ é<sw>", "Ünïcode unicode UNÏCODE ünïcode", "a  <both>  b<both>c <both><both> d",
    "<ls><rs><sw><both>", "Hello [SEP] World", "Straße İstanbul ǅ ΆΈ ﬁ",
]


def make_variants(hostile, rand):
    from tokenizers import Tokenizer
    import tempfile
    base = json.load(open(MODEL, encoding="utf-8"))
    texts = VARIANT_TEXTS + [h["text"] for h in hostile] + [r["text"] for r in rand[:300]]
    cases = []
    for k, variant in enumerate(VARIANTS):
        config = json.loads(json.dumps(base))
        config["normalizer"].update(variant.get("normalizer", {}))
        config["added_tokens"] += variant.get("added_tokens", [])
        config["truncation"] = None
        config["padding"] = None
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, encoding="utf-8") as f:
            json.dump(config, f)
        tok = Tokenizer.from_file(f.name)
        os.unlink(f.name)
        for text in texts:
            cases.append({"variant": k, "text": text, "ids": " ".join(map(str, tok.encode(text).ids))})
    return {"variants": VARIANTS, "cases": cases}


def write(path, text):
    data = text.encode("utf-8")
    assert len(data) < FIXTURE_LIMIT, f"{path} is {len(data)} bytes, over the 5 MiB limit"
    with open(path, "wb") as f:
        f.write(data)


def write_json(path, value, indent=None):
    # ensure_ascii: every non-ASCII character as a \\u escape, so control and
    # invisible characters survive editors and diffs.
    if indent is None:
        text = "[\n" + ",\n".join(json.dumps(v, ensure_ascii=True) for v in value) + "\n]\n" \
            if isinstance(value, list) else json.dumps(value, ensure_ascii=True) + "\n"
    else:
        text = json.dumps(value, ensure_ascii=True, indent=indent) + "\n"
    write(path, text)


if __name__ == "__main__":
    ensure_tokenizers()
    command = sys.argv[1] if len(sys.argv) > 1 else "fixtures"
    if command == "tables":
        make_tables()
    elif command == "fixtures":
        make_fixtures()
    else:
        sys.exit(f"usage: {sys.argv[0]} [fixtures|tables]")

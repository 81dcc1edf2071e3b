#!/usr/bin/env python3
"""A small GPT-1 (openai-gpt) format tokenizer and transformers' ids on it, for kiso's GPT-1 tokenizer test
(tests/gpt/test_tokenizer_gpt1.cpp).

Writes, from text on every Debian machine (/usr/share/common-licenses) plus a few generated lines in other
scripts:

  tests/gpt/data/gpt1_tokenizer/vocab.json, merges.txt
      a ~1,000-token BPE trained with PyPI's `tokenizers` the way GPT-1's was set up in transformers
      (BertNormalizer(lowercase=True), BertPreTokenizer, end_of_word_suffix "</w>", "<unk>" in the
      vocabulary), in the format of the openai-gpt hub files (merges.txt begins "#version: 0.2");
  tests/gpt/data/gpt1_tokenizer_hf/tokenizer.json, tokenizer_config.json
      the same tokenizer as transformers' save_pretrained writes it (transformers 5 writes no vocab.json);
  tests/gpt/data/gpt1_tokenizer_reference.json
      varied texts with what transformers' OpenAIGPTTokenizer.from_pretrained(that dir) gives:
      {"generator", "transformers", "tokenizers", "cases": [{"name", "text", "ids", "tokens", "decoded"}]}
      ids = tok(text)["input_ids"], tokens = tok.convert_ids_to_tokens(ids), decoded = tok.decode(ids);
  tests/gpt/data/gpt1_codepoints.txt  (unless --no-table)
      what BertNormalizer(lowercase=True) + BertPreTokenizer make of every code point but the
      surrogates, one line per run of code points that behave alike (format in table_lines()).

transformers 5.24's OpenAIGPTTokenizer is a `tokenizers` pipeline (models/openai/tokenization_openai.py),
the "fallback path" without ftfy/spaCy: nothing here installs or uses them.

Usage (needs `pip install transformers tokenizers`; `make test` does not, the output is committed):

    /work/main/build/torch-venv/bin/python tests/reference/make_gpt1_tokenizer_reference.py [--out-dir tests/gpt/data]

No text holds U+0000 (kiso's strict JSON refuses it); NUL is in the code-point table ("drop").
"""
import argparse
import glob
import json
import os
import random
import sys
import tempfile
import unicodedata

import tokenizers
import transformers
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
from transformers import OpenAIGPTTokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

# A few lines in other scripts so that some non-ASCII letters are in the vocabulary (and others are not:
# those become <unk>). Lowercased and accent-stripped by the normaliser before training, like all text.
EXTRA_TRAINING = [
    "Ελληνικά γράμματα: ο λόγος της σοφίας, οι άνθρωποι και οι θεοί. Σοφός ο λόγος.",
    "Привет, мир! Это русский текст для обучения.",
    "Größe, Straße, Fußball; schön, müde, Mädchen. Ça va très bien, garçon.",
    "我爱自然语言处理。 日本語のテキストです。",
]

CASES = [
    ("empty", ""),
    ("hello", "Hello, world! This is a test of the GPT-1 tokenizer."),
    ("license", "This program is free software: you can redistribute it and/or modify it under the terms "
                "of the GNU General Public License as published by the Free Software Foundation."),
    ("upper_mixed", "THE LICENSE Is Free; LiCeNsE tHe SoFtWaRe. ALL CAPS WORDS AND MiXeD CaSe"),
    ("contractions", "I'm sure you're right: we've seen they'll say he'd go, it's fine, don't worry."),
    ("digits", "0 1 12 123 1234 12345 3.14159 1,000,000 2024-01-01 0x1F 1e-9 -42 +7 ½ ² ٣٤٥ ①②"),
    ("punctuation", "!!! ??? ... --- === *** <<>> (((x))) [[y]] {{z}} \"quoted\" 'single' `code` @#$%^&* ~~~ ;; :: ,,"),
    ("unicode_punctuation", "«quotes» “curly” ‘single’ — dash – en ‐ hyphen … ellipsis ¿qué? ¡sí! 「括弧」、。・ § ¶ † ‡ •"),
    ("symbols", "$5 + 3 = 8 < 9 > 7 | ^ ` ~ © ® ™ ° ± × ÷ € £ ¥ ∑ ∞ √ → ← ♥ ★"),
    ("accents", "Café naïve résumé façade Ångström Ærøskøbing Łódź Dvořák Ñandú œuvre ĳssel"),
    ("combining", "e\u0301 a\u0308 n\u0303 o\u0302\u0323 Z\u0351\u036b\u0343\u036a \u0915\u094d\u0937 \u0e01\u0e34 x\u20dd"),
    ("greek_sigma", "ΟΔΟΣ Σοφός ΣΟΦΟΣ σοφός ς Σ ΌΛΟΙ ΆΝΘΡΩΠΟΙ ΐ ΰ"),
    ("turkish", "İstanbul İİ ıi IİıI DİYARBAKIR"),
    ("german", "Straße STRASSE ß ẞ Größe GRÖSSE Fußball"),
    ("special_cases", "ǅ ǈ ǋ ǲ Ω K Å ﬁ ﬀ ŉ ǰ ΐ ẖ Ⅻ ⅷ Ⓐ ＡＢＣ ａｂｃ"),
    ("chinese", "我爱自然语言处理。今天天气很好！机器学习，深度学习和神经网络。"),
    ("japanese", "日本語のテキストです。カタカナとひらがな、そして漢字。ｶﾀｶﾅ"),
    ("korean", "안녕하세요 세계! 한국어 텍스트입니다."),
    ("cjk_ranges", "\u3400\u4dbf \u4e00\u9fff \uf900\ufaff \U00020000\U0002a6df \U0002a700 \U0002b740 \U0002b920 \U0002f800 \U00030000"),
    ("arabic", "مرحبا بالعالم، كيف حالك؟ اللغة العربية جميلة."),
    ("hebrew_devanagari_thai", "שָׁלוֹם עולם! नमस्ते दुनिया। สวัสดีชาวโลก"),
    ("cyrillic", "Привет, мир! Это РУССКИЙ текст. Ёлка ёж."),
    ("emoji", "👍 👍🏽 😀😃 🎉🎉 ❤️ ♥ ☺️ ✨ 🥰 🫠 👨‍👩‍👧‍👦 🏳️‍🌈 🇯🇵🇫🇷"),
    ("whitespace", "a\tb\nc\rd\r\ne  f\u00a0g\u3000h\u2028i\u2029j\u0085k\u2003l\u202fm\u1680n\u000bo\u000cp\u001cq\u180er"),
    ("whitespace_runs", "   leading and trailing   \n\n\t\t  \u00a0\u00a0 "),
    ("only_spaces", " \t\n\u00a0 "),
    ("controls", "\x01\x02a\x03 bell\x07 esc\x1b[0m del\x7f \x1f\x1e \x80\x9f end"),
    ("format_chars", "zero\u200bwidth soft\u00adhyphen \ufeffbom join\u200dzwj non\u200cjoin lrm\u200e\u2066iso\u2069 \U000e0041tag"),
    ("replacement_private", "a\ufffdb \ue000private\U000f0000 noncharacter\ufdd0\uffff x"),
    ("unassigned", "x\u0378y z\U0001fb00w \U000e0080"),
    ("unknown_chars", "ž ř ğ ą ș ț þ ð ø ł ŋ ɛ ʃ ə ж щ ы θ λ ψ ω"),
    ("special_lookalikes", "<|endoftext|> <|start|><|delim|><|extract|> </w> a</w>b <UNK> <unk"),
    # transformers matches "<unk>" in the text as its special token (id 0 here); kiso reads it as ordinary text
    # ("<", "unk", ">"): the test checks this one difference, written in gpt/tokenizer.h.
    ("unk_literal", "an <unk> token"),
    ("unk_spaced", "an < unk > token"),
    ("long_word", "Pneumonoultramicroscopicsilicovolcanoconiosis antidisestablishmentarianism " * 2),
    ("repeats", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa " + "=" * 40 + " " + "ab" * 20 + " " + "!?" * 10),
    ("code", "def f(x):\n    return x ** 2  # square\nint main(void) { printf(\"%d\\n\", i); }"),
]


def training_text():
    text = []
    for path in sorted(glob.glob("/usr/share/common-licenses/*")):
        if os.path.isfile(path) and not os.path.islink(path):
            with open(path, encoding="utf-8", errors="replace") as f:
                text.append(f.read())
    return text + EXTRA_TRAINING * 20


def train(out_dir, vocab_size):
    tok = Tokenizer(models.BPE(unk_token="<unk>", continuing_subword_prefix="", end_of_word_suffix="</w>"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.BPEDecoder(suffix="</w>")
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<unk>"], end_of_word_suffix="</w>",
                                  show_progress=False, min_frequency=2)
    tok.train_from_iterator(training_text(), trainer)
    # The model's own files: vocab.json (token -> id) and merges.txt ("#version: 0.2" then "a b" lines, by rank).
    with tempfile.TemporaryDirectory() as tmp:
        tok.model.save(tmp)
        with open(os.path.join(tmp, "vocab.json"), encoding="utf-8") as f:
            vocab = json.load(f)
        with open(os.path.join(tmp, "merges.txt"), encoding="utf-8") as f:
            merges = f.read()
    assert merges.startswith("#version: 0.2\n"), merges[:40]
    os.makedirs(out_dir, exist_ok=True)
    # The trainer numbers its alphabet in hash-map order, so the ids change from run to run. Renumbered as the
    # hub's openai-gpt/vocab.json is laid out, the same on every run: "<unk>", the alphabet's single characters,
    # the same with "</w>", then each merge's result in merge order.
    results = ["".join(line.split(" ")) for line in merges.splitlines()[1:]]
    alphabet = [t for t in vocab if t != "<unk>" and t not in set(results)]
    order = (["<unk>"] + sorted(t for t in alphabet if not t.endswith("</w>")) + sorted(t for t in alphabet if t.endswith("</w>"))
             + list(dict.fromkeys(results)))
    assert sorted(order) == sorted(vocab), "every token once"
    items = [(t, i) for i, t in enumerate(order)]
    # One JSON object, in id order, non-ASCII as written (as the hub's file).
    with open(os.path.join(out_dir, "vocab.json"), "w", encoding="utf-8", newline="") as f:
        f.write(json.dumps(dict(items), ensure_ascii=False))
    with open(os.path.join(out_dir, "merges.txt"), "w", encoding="utf-8", newline="") as f:
        f.write(merges)
    return len(items), merges.count("\n") - 1


def reference(tok_dir, out_path):
    tok = OpenAIGPTTokenizer.from_pretrained(tok_dir)
    assert tok.convert_tokens_to_ids("<unk>") == 0
    hf_dir = tok_dir + "_hf"
    tok.save_pretrained(hf_dir)
    assert sorted(os.listdir(hf_dir)) == ["tokenizer.json", "tokenizer_config.json"], os.listdir(hf_dir)
    lines = []
    for name, text in CASES:
        assert "\0" not in text
        ids = tok(text)["input_ids"]
        assert ids == tok.encode(text, add_special_tokens=False), name
        tokens = tok.convert_ids_to_tokens(ids)
        decoded = tok.decode(ids)
        lines.append(json.dumps({"name": name, "text": text, "ids": ids, "tokens": tokens, "decoded": decoded},
                                ensure_ascii=False, separators=(",", ":")))
    header = {"generator": "tests/reference/make_gpt1_tokenizer_reference.py", "transformers": transformers.__version__,
              "tokenizers": tokenizers.__version__}
    body = json.dumps(header, separators=(", ", ": "))[:-1] + ',\n"cases": [\n' + ",\n".join(lines) + "\n]}\n"
    json.loads(body)  # well-formed
    with open(out_path, "w", encoding="utf-8", newline="") as f:
        f.write(body)
    return len(CASES)


def hangul_nfd(cp):
    """Unicode §3.12's decomposition of a precomposed Hangul syllable into its 2 or 3 jamo."""
    s = cp - 0xAC00
    l, v, t = 0x1100 + s // 588, 0x1161 + (s % 588) // 28, 0x11A7 + s % 28
    return [l, v] + ([t] if t != 0x11A7 else [])


def classify(normalizer, pre_tokenizer, cp):
    """(NORM, PRE) for one code point: what the normaliser makes of it alone, and how the pre-tokeniser
    treats it (raw, between two letters). See table_lines()."""
    ch = chr(cp)
    out = normalizer.normalize_str(ch)
    if out == "":
        norm = "drop"
    elif out == " ":
        norm = "space"
    elif out == " " + ch + " ":
        norm = "cjk"
    elif out == ch:
        norm = "same"
    elif 0xAC00 <= cp <= 0xD7A3:
        assert [ord(c) for c in out] == hangul_nfd(cp), hex(cp)
        norm = "hangul"
    elif len(out) == 1:
        d = ord(out) - cp
        norm = f"+{d:X}" if d >= 0 else f"-{-d:X}"
    else:
        norm = "=" + ".".join(f"{ord(c):04X}" for c in out)
    pieces = [piece for piece, _ in pre_tokenizer.pre_tokenize_str("a" + ch + "b")]
    if pieces == ["a", "b"]:
        pre = "s"
    elif pieces == ["a", ch, "b"]:
        pre = "p"
    else:
        assert pieces == ["a" + ch + "b"], (hex(cp), pieces)
        pre = "w"
    return norm, pre


def table_lines():
    """One line per run of code points that behave alike, surrogates left out:

        START[..END] NORM PRE

    START, END: hex code points (END inclusive). NORM, what BertNormalizer(lowercase=True) makes of the code
    point alone: drop (removed), space (becomes ' '), cjk (becomes ' ' c ' '), same (unchanged), hangul (the
    2 or 3 jamo of Unicode's Hangul syllable decomposition), +D / -D (the one code point cp + D, D hex),
    =XXXX.YYYY... (those code points; never a run). PRE, how BertPreTokenizer treats the raw code point
    between two letters: s (splits and is dropped: white space), p (a piece of its own: punctuation),
    w (part of the word)."""
    normalizer = normalizers.BertNormalizer(lowercase=True)
    pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    lines = []
    start, prev = None, None
    for cp in list(range(0, 0xD800)) + list(range(0xE000, 0x110000)):
        key = classify(normalizer, pre_tokenizer, cp)
        if start is not None and key == prev and cp == end + 1 and not key[0].startswith("="):
            end = cp
            continue
        if start is not None:
            lines.append(f"{start:04X}{'' if end == start else f'..{end:04X}'} {prev[0]} {prev[1]}")
        start, end, prev = cp, cp, key
    lines.append(f"{start:04X}{'' if end == start else f'..{end:04X}'} {prev[0]} {prev[1]}")
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out-dir", default=os.path.join(ROOT, "tests", "gpt", "data"))
    parser.add_argument("--vocab-size", type=int, default=1000)
    parser.add_argument("--no-table", action="store_true")
    args = parser.parse_args()

    tok_dir = os.path.join(args.out_dir, "gpt1_tokenizer")
    n_vocab, n_merges = train(tok_dir, args.vocab_size)
    print(f"{tok_dir}: {n_vocab} tokens, {n_merges} merges")
    ref = os.path.join(args.out_dir, "gpt1_tokenizer_reference.json")
    n = reference(tok_dir, ref)
    print(f"{ref}: {n} texts, {os.path.getsize(ref)} bytes")
    if not args.no_table:
        table = os.path.join(args.out_dir, "gpt1_codepoints.txt")
        lines = table_lines()
        header = (f"# What transformers {transformers.__version__} (tokenizers {tokenizers.__version__}) BertNormalizer(lowercase=True)"
                  f" and BertPreTokenizer make of each code point.\n# Written by tests/reference/"
                  f"make_gpt1_tokenizer_reference.py; the format is in its table_lines().\n")
        with open(table, "w", encoding="ascii", newline="") as f:
            f.write(header + "\n".join(lines) + "\n")
        print(f"{table}: {len(lines)} lines, {os.path.getsize(table)} bytes")


if __name__ == "__main__":
    main()

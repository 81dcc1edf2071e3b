#!/usr/bin/env python3
"""Reference token ids for kiso's GPT-2 tokenizer test (tests/gpt/test_tokenizer.cpp).

Encodes a fixed set of texts with PyPI's `tiktoken` (OpenAI's own BPE implementation, Rust)
built from OpenAI's GPT-2 files, and writes the texts with their ids as JSON:

    {"generator": ..., "tiktoken": "0.14.0", "unicode": "14.0.0",
     "cases": [{"name": "contractions", "text": "...", "ids": [40, 1101, ...]}, ...]}

tiktoken cannot download anything here, so the Encoding is built from the local files with
tiktoken.load.data_gym_to_mergeable_bpe_ranks and GPT-2's pattern, with the one special token
GPT-2 has ({"<|endoftext|>": 50256}); every text is encoded as ordinary text
(disallowed_special=()), which is what kiso's encode() does.

Usage (needs `pip install tiktoken`; `make test` does not, the output is committed):

    python3 tests/reference/make_tokenizer_reference.py \
        [--gpt2-dir ../shared/data/gpt2] [--out tests/gpt/data/gpt2_reference.json]

No text holds U+0000 (kiso's strict JSON refuses it) nor a character unassigned in Python's
Unicode database (their letter/other class depends on the regex engine's Unicode version;
see the note in gpt/tokenizer.cpp).
"""
import argparse
import json
import os
import random
import unicodedata

import tiktoken
import tiktoken.load

GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

CASES = [
    ("empty", ""),
    ("hello", "Hello, world! This is a test of the GPT-2 tokenizer."),
    ("contractions", "I'm sure you're right: we've seen they'll say he'd go, it's fine, don't worry."),
    ("contractions_upper", "I'M SURE YOU'RE RIGHT: WE'VE SEEN THEY'LL SAY HE'D GO, IT'S FINE, DON'T. 'S'T'RE"),
    ("contractions_edge", "'s 's's ''s 's' x's 'll've 'd'm 'D 'Ll rock'n'roll o'clock ’s (curly)"),
    ("spaces", "a b  c   d    e     f      g       h"),
    ("leading_trailing", "   leading spaces and trailing ones   "),
    ("only_spaces", "        "),
    ("tabs_newlines", "\tindented\n\t\tdeeper\n\n\nthree newlines\n \n \n\t \t\nend\n"),
    ("crlf", "line one\r\nline two\r\n\r\nline four\r\n"),
    ("space_before_newline", "word \nword  \n  word   \n\n  "),
    ("digits", "0 1 12 123 1234 12345 123456 3.14159 1,000,000 2024-01-01 0x1F 1e-9 -42 +7"),
    ("numerals", "½ ¾ ² ³ Ⅻ ⅷ ٣٤٥ १२३ ௰ 〇 ①②③ 𝟙𝟚𝟛"),
    ("punctuation", "!!! ??? ... --- === *** <<>> (((x))) [[y]] {{z}} \"quoted\" 'single' `code` @#$%^&* ~~~ ;; :: ,,"),
    ("special_lookalikes", "<|endoftext|> <|start|><|delim|><|extract|> <|endoftext|>x <| endoftext |>"),
    ("accented_latin", "Café naïve résumé façade Ångström Ærøskøbing Straße ĳssel œuvre Łódź Dvořák Ñandú"),
    ("chinese", "我爱自然语言处理。今天天气很好！机器学习，深度学习和神经网络。"),
    ("japanese", "日本語のテキストです。カタカナとひらがな、そして漢字。"),
    ("korean", "안녕하세요 세계! 한국어 텍스트입니다."),
    ("arabic", "مرحبا بالعالم، كيف حالك؟ اللغة العربية جميلة."),
    ("hebrew", "שלום עולם! מה שלומך?"),
    ("devanagari", "नमस्ते दुनिया, आप कैसे हैं? हिन्दी भाषा।"),
    ("thai", "สวัสดีชาวโลก ภาษาไทยไม่มีช่องว่างระหว่างคำ"),
    ("cyrillic_greek", "Привет, мир! Ελληνικά γράμματα: αβγδε ΑΒΓΔΕ."),
    ("emoji", "👍 👍🏽 👍🏿👋🏻 😀😃😄😁 🎉🎉🎉 ❤️ ♥ ☺️ ✨"),
    ("emoji_zwj", "👨‍👩‍👧‍👦 👩🏽‍💻 🏳️‍🌈 🏴‍☠️ 👁️‍🗨️ 🧑‍🤝‍🧑 🇯🇵🇫🇷🇺🇸"),
    ("unicode_spaces", "a\u00a0b c\u3000d e\u2028f g\u2029h i\u0085j k\u180el m\u200bn o\u2003p q\u000br\u000cs\u001ct\u1680u\u202fv"),
    ("space_runs_unicode", "x\u00a0\u00a0 y \u3000\u3000z  \u2003\n\u00a0"),
    ("controls", "\x01\x02\x03 bell\x07 esc\x1b[0m del\x7f \x1f\x1e"),
    ("combining", "e\u0301 a\u0308 n\u0303 \u0915\u094d\u0937 \u0e01\u0e34 Z\u0351\u036b\u0343\u036a"),
    ("python_code", "def f(x):\n    if x > 0:\n        return x ** 2  # square\n    return -x\n\nprint(f(3))\n"),
    ("c_code", "int main(void) {\n\tfor (int i = 0; i < 10; ++i) printf(\"%d\\n\", i);\n\treturn 0;\n}\n"),
    ("json_url", "{\"url\": \"https://example.com/path?q=1&r=two#frag\", \"mail\": \"a.b@c.org\"}"),
    ("repeats", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa " + "=" * 70 + " " + "ab" * 30 + " " + "!?" * 25),
    ("long_word", "Pneumonoultramicroscopicsilicovolcanoconiosis antidisestablishmentarianism " * 3),
]


def is_usable(ch):
    """A character whose class every Unicode >= 14 regex engine agrees on (and not NUL)."""
    cp = ord(ch)
    return cp != 0 and not 0xD800 <= cp <= 0xDFFF and unicodedata.category(ch) != "Cn"


def sweep_text():
    """Every usable code point below U+0250, then every 151st usable one above, space separated."""
    chars = [chr(c) for c in range(1, 0x250)] + [chr(c) for c in range(0x250, 0x110000, 151)]
    return " ".join(ch for ch in chars if is_usable(ch))


def long_text(size=20000, seed=2019):
    """About `size` characters mixing words, numbers, scripts, emoji and white space."""
    rng = random.Random(seed)
    words = ("the of and to in is was that for it with as his on be at by I this had not are but from or have "
             "an they which one you were her all she there would their we him been has when who will more no if "
             "out so said what up its about into than them can only other new some could time these two may "
             "then do first any my now such like our over man me even most made after also did many before must "
             "through back years where much your way well down should because each just those people Mr how too "
             "little state good very make world still own see men work long get here between both life being under "
             "never day same another know while last might us great old year off come since against go came right "
             "used take three").split()
    extras = [text for name, text in CASES if name not in ("empty", "only_spaces")]
    seps = [" ", " ", " ", " ", " ", ", ", ". ", "\n", "\n\n", "  ", "\t", "'s ", "'t ", "'re ", " - ", "\r\n"]
    out = []
    length = 0
    while length < size:
        r = rng.random()
        if r < 0.75:
            piece = rng.choice(words)
            if rng.random() < 0.1:
                piece = piece.capitalize()
        elif r < 0.85:
            piece = str(rng.randrange(0, 10 ** rng.randrange(1, 8)))
        else:
            text = rng.choice(extras)
            start = rng.randrange(0, len(text))
            piece = text[start:start + rng.randrange(1, 40)]
        piece += rng.choice(seps)
        out.append(piece)
        length += len(piece)
    return "".join(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gpt2-dir", default=os.path.join(ROOT, "..", "shared", "data", "gpt2"))
    parser.add_argument("--out", default=os.path.join(ROOT, "tests", "gpt", "data", "gpt2_reference.json"))
    args = parser.parse_args()

    ranks = tiktoken.load.data_gym_to_mergeable_bpe_ranks(
        os.path.join(args.gpt2_dir, "vocab.bpe"), os.path.join(args.gpt2_dir, "encoder.json"))
    enc = tiktoken.Encoding("gpt2_local", pat_str=GPT2_PATTERN, mergeable_ranks=ranks,
                            special_tokens={"<|endoftext|>": 50256})

    cases = CASES + [("sweep", sweep_text()), ("long_mixed", long_text())]
    lines = []
    for name, text in cases:
        assert "\0" not in text
        ids = enc.encode(text, disallowed_special=())
        assert enc.decode(ids) == text, name
        lines.append(json.dumps({"name": name, "text": text, "ids": ids}, ensure_ascii=False, separators=(",", ":")))
    header = {"generator": "tests/reference/make_tokenizer_reference.py", "tiktoken": tiktoken.__version__,
              "unicode": unicodedata.unidata_version}
    body = json.dumps(header, separators=(", ", ": "))[:-1] + ',\n"cases": [\n' + ",\n".join(lines) + "\n]}\n"
    json.loads(body)  # well-formed
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w", encoding="utf-8", newline="") as f:
        f.write(body)
    print(f"{args.out}: {len(cases)} texts, {os.path.getsize(args.out)} bytes")


if __name__ == "__main__":
    main()

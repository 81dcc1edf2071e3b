#!/usr/bin/env bash
# tests/gpu/prepare_device.sh — what a session with a lent GPU builds and prepares on its own
# machine before the one device call (tests/gpu/device_check.sh). The lent machine has nvcc and
# PyTorch but not kiso's Debian dependencies, and no network: everything it needs travels in one
# folder, build/device (carry it; the carry limit is 64 MiB), made here:
#   kiso, kiso_tests   built portable (x86-64-v3) with the kernels for sm_90, without MPI, plus libfmt
#   data/              Debian's fortunes, a 2048-token BPE: the short tiny-vs-cpu loss curve
#   corpus/            the real pre-training run's corpus (below), an 8192-token BPE, shards
#   tasks/             the offline fine-tuning tasks (train/tasks/make_tasks.sh), held out from
#                      the corpus (no example shares an 8-word span with it)
#
# The corpus: English text from Debian packages, one file a document, about 40 MB:
#   gcide        the GNU Collaborative International Dictionary of English (dict-gcide; Webster's
#                1913 and additions): definitions and quotations, the entries' markup stripped
#   kjv          the King James Bible (bible-kjv, read out with its `bible` program), verse
#                numbers dropped, one line a chapter
#   austen       five of Jane Austen's six novels (r-cran-janeaustenr), one line a paragraph;
#                Persuasion is left out, so that the next-line task keeps its examples from it
#   fortunes     Debian's fortunes (fortunes), the cookies separated by blank lines
# WordNet is not in it: the hypernym and synonym tasks are made of WordNet's glosses, and the
# corpus would swallow them.
# Usage: tests/gpu/prepare_device.sh   (then run tests/gpu/device_check.sh there, carrying build/device)
set -euo pipefail
cd "$(dirname "$0")/../.."
dev=build/device
.ci/install-deps dict-gcide bible-kjv fortunes r-base-core r-cran-janeaustenr r-cran-modeldata wordnet-base python3

# MPI=0: the lent machine has no Open MPI libraries; its one GPU runs NCCL with a world of one.
echo "== build (x86-64-v3, kernels for sm_90, without MPI)"
make --no-print-directory -j"$(nproc)" BUILD=build/dev OPT="-O2 -march=x86-64-v3" MPI=0 build/dev/kiso build/dev/kiso_tests
rm -rf "$dev"
mkdir -p "$dev/lib" "$dev/text" "$dev/r-export"
cp build/dev/kiso build/dev/kiso_tests "$dev/"
cp /lib/x86_64-linux-gnu/libfmt.so.9 "$dev/lib/"

echo "== data: fortunes, for the tiny loss curve"
"$dev/kiso" prepare --input /usr/share/games/fortunes/*.u8 --out "$dev/data" --vocab-size 2048 > /dev/null

echo "== corpus"
Rscript train/tasks/export_r.R "$dev/r-export" > /dev/null
bible -f "Gen1:1-Rev22:21" > "$dev/r-export/kjv.txt"
/usr/bin/python3 - "$dev/r-export" "$dev/text" <<'PY'
import glob, gzip, re, sys
src, out = sys.argv[1], sys.argv[2]

def write(name, paragraphs):
    with open(f"{out}/{name}.txt", "w", encoding="utf-8") as f:
        f.write("\n\n".join(p for p in paragraphs if p) + "\n")

# GCIDE: entries are blank-line separated; the first line is "Word \Syl*la*bles\, pos. [etym.]".
# The syllable markup (\...\) and the source tags ([1913 Webster], [PJC]) go; lines join.
entries = gzip.open("/usr/share/dictd/gcide.dict.dz", "rt", encoding="utf-8", errors="replace").read().split("\n\n")
clean = []
for e in entries:
    lines = [l.strip() for l in e.splitlines() if l.strip() and not re.fullmatch(r"\[[^\]]*\]", l.strip())]
    text = re.sub(r"\\[^\\]*\\", "", " ".join(lines))
    text = re.sub(r"\s+", " ", text).strip()
    if len(text) > 20 and not text.startswith("00-database"):
        clean.append(text)
write("gcide", clean)

# KJV: "Ge1:1 In the beginning ..." -> one line a chapter, verse numbers dropped.
chapters, current, key = [], [], None
for line in open(f"{src}/kjv.txt", encoding="utf-8"):
    m = re.match(r"(\w+?\d+):\d+ (.*)", line.strip())
    if not m:
        continue
    if m.group(1) != key and current:
        chapters.append(" ".join(current))
        current = []
    key = m.group(1)
    current.append(m.group(2))
chapters.append(" ".join(current))
write("kjv", chapters)

# Austen, as train/demo.sh unwraps it, without Persuasion.
books = {}
with open(f"{src}/austen.tsv", encoding="utf-8") as f:
    f.readline()
    for row in f:
        book, line = row.rstrip("\n").split("\t", 1)
        books.setdefault(book, []).append(line.strip())
paragraphs = []
for book, lines in books.items():
    if book == "Persuasion":
        continue
    current = []
    for line in lines + [""]:
        if line:
            current.append(line)
        elif current:
            paragraphs.append(re.sub(r"\s+", " ", re.sub(r"_([^_]*)_", r"\1", " ".join(current))))
            current = []
write("austen", paragraphs)

# fortunes: cookies separated by "%" lines.
cookies = []
for path in sorted(glob.glob("/usr/share/games/fortunes/*.u8")):
    cookies += [c.strip() for c in open(path, encoding="utf-8", errors="replace").read().split("\n%\n")]
write("fortunes", cookies)
PY
wc -c "$dev"/text/*.txt
"$dev/kiso" prepare --input "$dev"/text/*.txt --out "$dev/corpus" --vocab-size 8192 --val-fraction 0.01

echo "== tasks, held out from the corpus"
train/tasks/make_tasks.sh "$dev/tasks" --exclude-corpus "$dev"/text/*.txt
for t in "$dev"/tasks/*/; do echo "$(basename "$t"): $(cat "$t"/train.jsonl | wc -l) train examples"; done
rm -rf "$dev/r-export" "$dev/text"
du -sh "$dev"

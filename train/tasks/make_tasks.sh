#!/usr/bin/env bash
# train/tasks/make_tasks.sh — builds kiso's four fine-tuning tasks from Debian-packaged text,
# offline, into OUT/<task>/{train,val,test}.jsonl plus OUT/manifest.json.
#
#   sentiment   classification    Amazon fine-food reviews (r-cran-modeldata)    great / other
#   hypernym    entailment        WordNet 3.0 nouns (wordnet-base)                entailment / not_entailment
#   synonym     similarity        WordNet 3.0 synsets (wordnet-base)              1 / 0
#   next-line   multiple-choice   Jane Austen's novels (r-cran-janeaustenr)       index of the next line, of 4
#
# Steps: install the missing Debian packages (.ci/install-deps), export the R data sets to TSV
# (export_r.R), build the tasks (build_tasks.py, Python standard library only). Every random
# choice is seeded: two runs give byte-identical files (manifest.json lists their sha256).
# --exclude-corpus names the pre-training text; any example sharing an 8-word span with it is
# dropped, so held-out text never appears in the pre-training corpus. For the demo's corpus:
#   train/tasks/make_tasks.sh build/tasks --exclude-corpus build/demo/corpus/*.txt
# What it is not: a downloader (nothing is fetched but Debian packages) or a fine-tuning run.
# Usage: train/tasks/make_tasks.sh OUT [--exclude-corpus FILE ...]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)

usage() { echo "usage: $0 OUT [--exclude-corpus FILE ...]" >&2; exit 2; }
[ $# -ge 1 ] || usage
case "$1" in -*) usage ;; esac
out=$1
shift
corpus=()
if [ $# -gt 0 ]; then
  [ "$1" = "--exclude-corpus" ] || usage
  shift
  [ $# -gt 0 ] || { echo "make_tasks.sh: --exclude-corpus needs at least one file" >&2; exit 2; }
  for f in "$@"; do
    if [ ! -f "$f" ] || [ ! -r "$f" ]; then
      echo "make_tasks.sh: --exclude-corpus: '$f' is not a readable file" >&2
      exit 1
    fi
    corpus+=("$f")
  done
fi

start=$(date +%s%N)
"$repo/.ci/install-deps" r-base-core r-cran-modeldata r-cran-janeaustenr wordnet-base python3
for f in /usr/bin/Rscript /usr/bin/python3 /usr/share/wordnet/data.noun; do
  [ -e "$f" ] || { echo "make_tasks.sh: $f is missing after installing the packages" >&2; exit 1; }
done

mkdir -p "$out"
work=$(mktemp -d "${TMPDIR:-/tmp}/kiso-tasks.XXXXXX")
trap 'rm -rf "$work"' EXIT

echo "== exporting small_fine_foods and austen_books() from R"
Rscript "$here/export_r.R" "$work"

echo "== building the tasks into $out"
/usr/bin/python3 "$here/build_tasks.py" --r-export "$work" --wordnet /usr/share/wordnet --out "$out" \
  ${corpus[@]+--exclude-corpus "${corpus[@]}"}

awk -v ns=$(($(date +%s%N) - start)) 'BEGIN { printf "make_tasks.sh: done in %.1f s\n", ns / 1e9 }'

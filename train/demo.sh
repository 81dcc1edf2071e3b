#!/usr/bin/env bash
# train/demo.sh — `make demo`: raw text to a GPT that writes, then classifies, end to end, on the CPU.
#
#   1. corpus     Jane Austen's six novels (Debian's r-cran-janeaustenr, 4.0 MB), the Project
#                 Gutenberg lines unwrapped into one line a paragraph, so that the model learns
#                 sentences rather than where a printed line broke
#   2. tasks      the fine-tuning tasks (train/tasks/make_tasks.sh), any example sharing an
#                 8-word span with the corpus dropped: the next-line task is Austen's text too,
#                 so it comes out empty here (the demo fine-tunes only sentiment)
#   3. prepare    train a 2048-token byte-level BPE on the sentiment task's training reviews
#                 as unlabelled text plus the corpus; encode; split off the last 5% (the end
#                 of the last novel) for validation; write token shards
#   4. pretrain   the `tiny` preset (2 layers, 128 wide), DEMO_STEPS steps of 16 x 128 tokens
#   5. sample     continue three Austen prompts with the trained model
#   6. finetune   sentiment classification from the pre-trained model and from scratch, same
#                 settings and budget, scored on the test split next to the majority class
# It prints the validation loss before and after, the three accuracies and how long each stage
# took. About 10 minutes on 2 cores. Everything lands in build/demo/ (DEMO_DIR to change it).
# DEMO_STEPS sets the pre-training steps. The default, 1200, is the ~10 minutes' share of
# pre-training at the CPU speed of the commit that set it (about 205-240 ms a tiny step on an idle
# 2-core Xeon, so 4-5 minutes): when a step gets faster, raise it to keep steps x ms near 250 s.
# BUILD names the build folder of the kiso binary (default build; BUILD=build/cpu CUDA=0 for a
# CPU-only one).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${DEMO_DIR:-build/demo}
steps=${DEMO_STEPS:-1200}
kiso=${BUILD:-build}/kiso

stage_start=$(date +%s%N)
declare -a stages
stage() {  # records how long the stage that just ended took
  local now; now=$(date +%s%N)
  stages+=("$(awk -v n="$1" -v ns=$((now - stage_start)) 'BEGIN { printf "%-10s %7.1f s", n, ns / 1e9 }')")
  stage_start=$now
}

echo "== 0. build and dependencies"
.ci/install-deps r-base-core r-cran-janeaustenr python3
make --no-print-directory -j"$(nproc)" "$kiso"
stage build

echo "== 1. corpus: Jane Austen's six novels (r-cran-janeaustenr), one line a paragraph"
rm -rf "$out"
mkdir -p "$out/corpus" "$out/r-export"
Rscript train/tasks/export_r.R "$out/r-export"
# austen.tsv holds one printed line a row (book <TAB> line), paragraphs separated by empty lines.
# Each novel becomes one file: a paragraph's lines joined by single spaces, the _underscores_
# Gutenberg marks italics with dropped, paragraphs separated by a blank line.
/usr/bin/python3 - "$out/r-export/austen.tsv" "$out/corpus" <<'PY'
import re, sys
tsv, out_dir = sys.argv[1], sys.argv[2]
books = {}  # book -> its lines, in order
with open(tsv, encoding="utf-8") as f:
    if f.readline() != "book\ttext\n":
        sys.exit(f"demo.sh: {tsv} does not start with the header 'book<TAB>text'")
    for row in f:
        book, line = row.rstrip("\n").split("\t", 1)
        books.setdefault(book, []).append(line.strip())
for book, lines in books.items():
    paragraphs, current = [], []
    for line in lines + [""]:
        if line:
            current.append(line)
        elif current:
            paragraphs.append(re.sub(r"\s+", " ", re.sub(r"_([^_]*)_", r"\1", " ".join(current))))
            current = []
    name = re.sub(r"[^a-z]+", "-", book.lower()).strip("-")  # "Pride & Prejudice" -> pride-prejudice
    with open(f"{out_dir}/{name}.txt", "w", encoding="utf-8") as f:
        f.write("\n\n".join(paragraphs) + "\n")
PY
corpus=("$out"/corpus/*.txt)
echo "${#corpus[@]} files, $(cat "${corpus[@]}" | wc -c) bytes"
stage corpus

echo "== 2. fine-tuning tasks from Debian packages, held out from the corpus"
train/tasks/make_tasks.sh "$out/tasks" --exclude-corpus "${corpus[@]}"
stage tasks

echo "== 3. tokenizer and token shards (Austen + the unlabelled training reviews)"
/usr/bin/python3 -c '
import json, sys
with open(sys.argv[2], "w", encoding="utf-8") as out:
    for line in open(sys.argv[1], encoding="utf-8"):
        out.write(json.loads(line)["text"] + "\n\n")
' "$out/tasks/sentiment/train.jsonl" "$out/reviews-train.txt"
# The reviews go first: the validation part is the end of the stream, so the loss printed below
# is on Austen's prose that the model never trained on (the last 42% of Sense and Sensibility,
# 79,460 tokens), the text its samples imitate, and every training review is pre-trained on.
"$kiso" prepare --input "$out/reviews-train.txt" "${corpus[@]}" --out "$out/data" --vocab-size 2048 \
  --val-fraction 0.05
stage prepare

echo "== 4. pre-training the tiny preset for $steps steps"
"$kiso" pretrain --data "$out/data" --out "$out/run" --preset tiny --batch-size 16 --seq-len 128 \
  --steps "$steps" --lr 2e-3 --warmup 40 --eval-every 200 --eval-batches 8 --checkpoint-every 400 \
  --json > "$out/pretrain.json"
stage pretrain
# {"final_val_loss":x,"initial_val_loss":y,...} -> one line with perplexities
tr -d '{}"' < "$out/pretrain.json" | tr ',' '\n' | awk -F: '
  { v[$1] = $2 }
  END { printf "validation loss %.3f (perplexity %.0f) before, %.3f (perplexity %.0f) after %d steps\n",
        v["initial_val_loss"], exp(v["initial_val_loss"]), v["final_val_loss"], exp(v["final_val_loss"]), v["steps"] }'
tail -n 3 "$out/run/log.jsonl" | cut -c1-160

echo "== 5. samples"
for prompt in "It is a truth universally" "Mr. Darcy" "She could not"; do
  echo "--- prompt: $prompt"
  "$kiso" sample --model "$out/run/model" --prompt "$prompt" --max-new-tokens 60 --temperature 0.8 --top-k 40 --seed 7
done
stage sample

echo "== 6. fine-tuning on sentiment: pre-trained vs from scratch, the same budget"
# One setting for both (GPT-1's lr 6.25e-5 suits 117M parameters, not 2 layers of 128): lr 1e-3,
# batch 32, 3 epochs, warmup 0.2% then linear decay, λ = 0.5. The two runs go side by side, one
# thread each.
ft=(--task classification --train "$out/tasks/sentiment/train.jsonl" --val "$out/tasks/sentiment/val.jsonl"
    --lr 1e-3 --batch-size 32 --epochs 3 --max-len 128 --seed 1 --json)
pids=()
for init in pretrained scratch; do
  OMP_NUM_THREADS=1 "$kiso" finetune --model "$out/run/model" --init "$init" --out "$out/ft-$init" "${ft[@]}" \
    > "$out/ft-$init.json" 2> "$out/ft-$init.log" &
  pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid" || { echo "demo: a fine-tuning run failed; see $out/ft-*.log" >&2; exit 1; }; done
for init in pretrained scratch; do
  "$kiso" evaluate --model "$out/ft-$init/model" --data "$out/tasks/sentiment/test.jsonl" --json \
    > "$out/ft-$init.test.json"
done
stage finetune
/usr/bin/python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
pre, scr = (json.load(open(f"{out}/ft-{init}.test.json")) for init in ("pretrained", "scratch"))
majority = pre["majority"]
print(f"sentiment test set: {pre['examples']} reviews")
print(f"  majority class (always '{majority['label']}')     accuracy {majority['accuracy']:.3f}")
print(f"  from scratch, fine-tuned           accuracy {scr['accuracy']:.3f}   macro F1 {scr['macro_f1']:.3f}")
print(f"  pre-trained, fine-tuned            accuracy {pre['accuracy']:.3f}   macro F1 {pre['macro_f1']:.3f}")
print("  (one seed; docs/results.md has three seeds, the other tasks and the other ablations)")
PY
"$kiso" evaluate --model "$out/ft-pretrained/model" --data "$out/tasks/sentiment/test.jsonl" | sed 's/^/  /'

echo
echo "== time per stage"
printf '  %s\n' "${stages[@]}"
echo "run directory: $out/run (log.jsonl, model/)"

#!/usr/bin/env bash
# train/tasks/results.sh — the ablation table of docs/results.md: every task of make_tasks.sh,
# fine-tuned from one pre-trained model in four ways, each scored on the task's test split.
#
#   scratch     --init scratch: the same architecture and tokenizer, random weights
#   frozen      --freeze-backbone: only W_y and the special-token rows train
#   full        all weights train, L3 = L2 + 0.5·L1 (GPT-1's fine-tuning)
#   full, λ=0   all weights train, no auxiliary LM loss
# plus the majority-class baseline. Every run uses the same budget and settings (below); runs go
# two at a time, one thread each. Prints a Markdown table; each run's directory, log and
# `kiso evaluate --json` report stay under OUT.
# What it is not: a hyperparameter search (one setting for all, chosen for a tiny model on a
# CPU; GPT-1's lr 6.25e-5 is tuned for 117M parameters and barely moves a 2-layer model in
# 3 epochs).
# Usage: train/tasks/results.sh MODEL_DIR TASKS_DIR OUT
set -euo pipefail
cd "$(dirname "$0")/../.."
[ $# -eq 3 ] || { echo "usage: $0 MODEL_DIR TASKS_DIR OUT" >&2; exit 2; }
model=$1 tasks=$2 out=$3
kiso=build/kiso
mkdir -p "$out"
common=(--lr 1e-3 --batch-size 32 --epochs 3 --max-len 128 --seed 1)

# task, kind, extra arguments (next-line: 4 sequences per example, so a 1000-example subset and
# shorter sequences keep it to minutes)
specs=("sentiment classification" "hypernym entailment" "synonym similarity"
       "next-line multiple-choice --train-limit 1000 --max-len 96")
variants=("scratch --init scratch" "frozen --freeze-backbone" "full" "full-lm0 --lm-coef 0")

run() {  # task kind variant args...
  local task=$1 kind=$2 variant=$3; shift 3
  local dir="$out/$task-$variant"
  OMP_NUM_THREADS=1 "$kiso" finetune --model "$model" --task "$kind" --train "$tasks/$task/train.jsonl" \
    --val "$tasks/$task/val.jsonl" --out "$dir" "${common[@]}" "$@" --json > "$dir.json" 2> "$dir.log"
  OMP_NUM_THREADS=1 "$kiso" evaluate --model "$dir/model" --data "$tasks/$task/test.jsonl" --json > "$dir.test.json"
}

jobs_running=0
for spec in "${specs[@]}"; do
  read -r task kind extra <<< "$spec"
  for v in "${variants[@]}"; do
    read -r variant vargs <<< "$v"
    # shellcheck disable=SC2086  # extra and vargs are lists of arguments
    run "$task" "$kind" "$variant" $extra $vargs &
    jobs_running=$((jobs_running + 1))
    if [ $jobs_running -ge 2 ]; then wait -n; jobs_running=$((jobs_running - 1)); fi
  done
done
wait

/usr/bin/python3 - "$out" "$model" <<'PY'
import json, sys
out, model = sys.argv[1], sys.argv[2]
tasks = ["sentiment", "hypernym", "synonym", "next-line"]
variants = ["scratch", "frozen", "full", "full-lm0"]
print(f"pre-trained model: {model}\n")
print("| task | train / test examples | majority | scratch | frozen | full (λ=0.5) | full (λ=0) | seconds per run |")
print("|---|---|---|---|---|---|---|---|")
for t in tasks:
    runs = {v: json.load(open(f"{out}/{t}-{v}.json")) for v in variants}
    tests = {v: json.load(open(f"{out}/{t}-{v}.test.json")) for v in variants}
    maj = tests["full"]["majority"]["accuracy"]
    secs = "/".join(f"{runs[v]['seconds']:.0f}" for v in variants)
    cells = " | ".join(f"{tests[v]['accuracy']:.3f}" for v in variants)
    print(f"| {t} | {runs['full']['train_examples']} / {tests['full']['examples']} | {maj:.3f} | {cells} | {secs} |")
PY

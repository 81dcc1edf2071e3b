#!/usr/bin/env bash
# train/tasks/results.sh — the ablation table of docs/results.md: every task of make_tasks.sh,
# fine-tuned from one pre-trained model in four ways, each scored on the task's test split.
#
#   scratch     --init scratch: the same architecture and tokenizer, random weights
#   frozen      --freeze-backbone: only W_y and the special-token rows train
#   full        all weights train, L3 = L2 + 0.5·L1 (GPT-1's fine-tuning)
#   full-lm0    all weights train, no auxiliary LM loss (λ = 0)
# plus the majority-class baseline. Every run uses the same budget and settings (below); runs go
# two at a time, one thread each. Prints a Markdown table of test accuracies (the mean over the
# seeds, each seed's figure in brackets when there are several); each run's directory, log and
# `kiso evaluate --json` report stay under OUT as OUT/<task>-<variant>-s<seed>*. A run whose
# report is already there is not run again, so a cut-off call can be repeated.
#
# Environment, each a space-separated list: TASKS (default: all four), VARIANTS (default: all
# four), SEEDS (default: 1); and KISO, the binary (default build/kiso), KISO_DEVICE, where the
# runs and their scoring run (default cpu; cuda on a GPU: tests/gpu/device_check.sh). E.g. the
# seed spread of docs/results.md:
#   TASKS="sentiment hypernym" VARIANTS="scratch full" SEEDS="1 2 3" train/tasks/results.sh ...
# What it is not: a hyperparameter search (one setting for all, chosen for a tiny model on a
# CPU; GPT-1's lr 6.25e-5 is tuned for 117M parameters and barely moves a 2-layer model in
# 3 epochs).
# Usage: train/tasks/results.sh MODEL_DIR TASKS_DIR OUT
set -euo pipefail
cd "$(dirname "$0")/../.."
[ $# -eq 3 ] || { echo "usage: $0 MODEL_DIR TASKS_DIR OUT" >&2; exit 2; }
model=$1 tasks=$2 out=$3
kiso=${KISO:-build/kiso}
device=${KISO_DEVICE:-cpu}
mkdir -p "$out"
common=(--lr 1e-3 --batch-size 32 --epochs 3)
task_list=${TASKS:-sentiment hypernym synonym next-line}
variant_list=${VARIANTS:-scratch frozen full full-lm0}
seed_list=${SEEDS:-1}
# A task whose text is the pre-training corpus has empty files (build_tasks.py drops every
# example): next-line against the demo's Austen corpus. It has nothing to fine-tune on: skip it.
for task in $task_list; do
  if [ -f "$tasks/$task/train.jsonl" ] && [ ! -s "$tasks/$task/train.jsonl" ]; then
    echo "results.sh: $tasks/$task/train.jsonl is empty (its text overlaps the corpus); $task skipped" >&2
    task_list=$(printf '%s\n' $task_list | { grep -vx "$task" || true; } | tr '\n' ' ')
  fi
done

task_args() {  # task -> kind and extra arguments: 128 tokens a sequence (the tiny preset's
  # context), but next-line, 4 sequences an example, gets a 1000-example subset and 96 tokens
  # to keep it to minutes
  case $1 in
    sentiment) echo "classification --max-len 128" ;;
    hypernym) echo "entailment --max-len 128" ;;
    synonym) echo "similarity --max-len 128" ;;
    next-line) echo "multiple-choice --train-limit 1000 --max-len 96" ;;
    *) echo "results.sh: unknown task '$1' in TASKS (sentiment, hypernym, synonym, next-line)" >&2; return 1 ;;
  esac
}
variant_args() {
  case $1 in
    scratch) echo "--init scratch" ;;
    frozen) echo "--freeze-backbone" ;;
    full) echo "" ;;
    full-lm0) echo "--lm-coef 0" ;;
    *) echo "results.sh: unknown variant '$1' in VARIANTS (scratch, frozen, full, full-lm0)" >&2; return 1 ;;
  esac
}

run() {  # task variant seed args...
  local task=$1 variant=$2 seed=$3; shift 3
  local dir="$out/$task-$variant-s$seed"
  [ -s "$dir.test.json" ] && return 0
  rm -rf "$dir"
  if ! OMP_NUM_THREADS=1 "$kiso" finetune --model "$model" --train "$tasks/$task/train.jsonl" \
         --val "$tasks/$task/val.jsonl" --out "$dir" --seed "$seed" --device "$device" "${common[@]}" "$@" --json \
         > "$dir.json" 2> "$dir.log" ||
     ! OMP_NUM_THREADS=1 "$kiso" evaluate --model "$dir/model" --data "$tasks/$task/test.jsonl" --device "$device" \
         --json > "$dir.test.json" 2>> "$dir.log"; then
    rm -f "$dir.test.json"
    echo "results.sh: $task $variant seed $seed failed; the last lines of $dir.log:" >&2
    tail -n 5 "$dir.log" >&2
    return 1
  fi
}

failed=0 running=0
for task in $task_list; do
  targs=$(task_args "$task")
  for variant in $variant_list; do
    vargs=$(variant_args "$variant")
    for seed in $seed_list; do
      read -r kind extra <<< "$targs"
      # shellcheck disable=SC2086  # extra and vargs are lists of arguments
      run "$task" "$variant" "$seed" --task $kind $extra $vargs &
      running=$((running + 1))
      if [ $running -ge 2 ]; then wait -n || failed=1; running=$((running - 1)); fi
    done
  done
done
while [ $running -gt 0 ]; do wait -n || failed=1; running=$((running - 1)); done
[ $failed -eq 0 ] || { echo "results.sh: some runs failed (above); no table" >&2; exit 1; }

/usr/bin/python3 - "$out" "$model" "$task_list" "$variant_list" "$seed_list" <<'PY'
import json, sys
out, model = sys.argv[1], sys.argv[2]
tasks, variants, seeds = (a.split() for a in sys.argv[3:6])
names = {"scratch": "scratch", "frozen": "frozen", "full": "full (λ=0.5)", "full-lm0": "full (λ=0)"}
load = lambda t, v, s, suffix: json.load(open(f"{out}/{t}-{v}-s{s}{suffix}.json"))
print(f"pre-trained model: {model}; seeds {' '.join(seeds)}; test accuracy\n")
print("| task | train / test examples | majority | " + " | ".join(names[v] for v in variants) + " | seconds a run, each variant |")
print("|---" * (len(variants) + 4) + "|")
for t in tasks:
    cells, secs = [], []
    for v in variants:
        accs = [load(t, v, s, ".test")["accuracy"] for s in seeds]
        secs.append(sum(load(t, v, s, "")["seconds"] for s in seeds) / len(seeds))
        cell = f"{sum(accs) / len(accs):.3f}"
        if len(accs) > 1:
            cell += " (" + ", ".join(f"{a:.3f}" for a in accs) + ")"
        cells.append(cell)
    first = load(t, variants[0], seeds[0], "")
    test = load(t, variants[0], seeds[0], ".test")
    print(f"| {t} | {first['train_examples']} / {test['examples']} | {test['majority']['accuracy']:.3f} | "
          + " | ".join(cells) + " | " + " / ".join(f"{x:.0f}" for x in secs) + " |")
PY

#!/usr/bin/env bash
# train/demo.sh — `make demo`: raw text to a GPT that writes, end to end, on the CPU.
#
#   1. corpus     the English fortunes of Debian's `fortunes` package (UTF-8 text, ~2.5 MB)
#   2. prepare    train a 2048-token byte-level BPE on it; encode; split off the last 5% for
#                 validation; write token shards
#   3. pretrain   the `tiny` preset (2 layers, 128 wide), 1200 steps of 16 x 128 tokens
#   4. sample     continue a prompt with the trained model
# It prints the validation loss before and after and how long each stage took. Finishes in a
# few minutes on 2 cores. Everything lands in build/demo/ (DEMO_DIR to change it);
# DEMO_STEPS changes the number of steps.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${DEMO_DIR:-build/demo}
steps=${DEMO_STEPS:-1200}
kiso=build/kiso

stage_start=$(date +%s%N)
declare -a stages
stage() {  # records how long the stage that just ended took
  local now; now=$(date +%s%N)
  stages+=("$(awk -v n="$1" -v ns=$((now - stage_start)) 'BEGIN { printf "%-10s %7.1f s", n, ns / 1e9 }')")
  stage_start=$now
}

echo "== 0. build and dependencies"
.ci/install-deps fortunes
make --no-print-directory -j"$(nproc)" "$kiso"
stage build

echo "== 1. corpus: Debian's fortunes (text files, the art ones left out)"
corpus=()
for f in /usr/share/games/fortunes/*; do
  case "$f" in *.dat|*.u8|*/art|*/ascii-art) continue ;; esac
  [ -L "$f" ] && continue
  corpus+=("$f")
done
rm -rf "$out"
mkdir -p "$out/corpus"
# A fortune file separates its entries with lines holding a single '%': make them blank lines.
for f in "${corpus[@]}"; do sed 's/^%$//' "$f" > "$out/corpus/$(basename "$f").txt"; done
corpus=("$out"/corpus/*.txt)
echo "${#corpus[@]} files, $(cat "${corpus[@]}" | wc -c) bytes"

echo "== 2. tokenizer and token shards"
"$kiso" prepare --input "${corpus[@]}" --out "$out/data" --vocab-size 2048 --val-fraction 0.05
stage prepare

echo "== 3. pre-training the tiny preset for $steps steps"
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

echo "== 4. samples"
for prompt in "The meaning of life is" "A computer" "Q: What"; do
  echo "--- prompt: $prompt"
  "$kiso" sample --model "$out/run/model" --prompt "$prompt" --max-new-tokens 60 --temperature 0.8 --top-k 40 --seed 7
done
stage sample

echo
echo "== time per stage"
printf '  %s\n' "${stages[@]}"
echo "run directory: $out/run (log.jsonl, model/)"

#!/usr/bin/env bash
# tests/gpu/device_check.sh — the one script a session with a lent GPU runs, in one call, in
# about 8 minutes on an H100/H200 (the stages print their seconds; the figures to beat are the
# targets of issue 16). In order:
#   1. the GPU and driver; kiso's CUDA self-test (kiso info)
#   2. the cuda test suite with the GPU present: every parity test (tests/cuda/) then runs on
#      the GPU as well as under the simulator (the rest of the suite is CPU work, run by CI)
#   3. kiso pretrain --preset tiny, the same run on the cpu and on cuda: the two loss curves
#      side by side and their largest difference (within 5e-7 in f32 when last measured)
#   4. data parallelism's NCCL path with one rank: the same tiny run on cuda with --reduce nccl
#      (a one-rank communicator sums every gradient) and with --reduce none; a sum over one rank
#      leaves each gradient as it was, so the two runs' losses must be identical (< 1 min)
#   5. attention alone at T 512, 12 heads x 64, B 8, dropout 0.1: kiso's flash kernels against
#      its materialised ones (kiso bench --op attention) and PyTorch's
#      scaled_dot_product_attention and materialised attention (torch_attention.py), f32 and bf16
#   6. whole-model throughput, kiso against PyTorch eager (torch_bench.py, Hugging Face's GPT-1)
#      on the same card, alternating kiso and PyTorch twice so the spread shows: gpt1 at T 512
#      and small at T 256, f32 (TF32 off both sides) and bf16 (kiso --precision bf16 against
#      torch.autocast bf16). Training and inference tokens/s, peak memory, BF16 MFU against the
#      card's dense BF16 peak (989 TFLOP/s on H100/H200 SXM)
#   7. where a gpt1 step's time goes: kiso bench --profile on cuda, op by op (each op waits for
#      its kernels, so a row is its kernels' time)
#   8. the matmul ladder against cuBLAS (kiso bench --op matmul)
#   9. a real pre-training run: `small` on ~40 MB of English from Debian packages
#      (tests/gpu/prepare_device.sh says which) for PRETRAIN_SECONDS (default 100; the steps are
#      worked out from the throughput measured in 6), validation loss and samples, then the four
#      offline tasks fine-tuned from it and from scratch (train/tasks/results.sh), on the GPU
#   10. Hugging Face transformers reads a kiso model directory as the same GPT-1 (hf_check.py)
# and prints one summary table last. $OUT gets at most 8 files back, so the logs are written to
# a scratch directory and the ones worth keeping copied there at the end.
#
# Binaries and data: prepared here first by tests/gpu/prepare_device.sh into build/device (the
# lent machine has nvcc and PyTorch but not kiso's Debian dependencies). Then, in one call:
#   bash tests/gpu/device_check.sh   (carry: build/device). Results go to $OUT if set.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
bin=${KISO_BIN:-build/device}
keep=${OUT:-/tmp/kiso-device}
out=$(mktemp -d /tmp/kiso-device-work.XXXXXX)
mkdir -p "$keep"
# The toolkit's lib64 too: kiso bench --op matmul loads cuBLAS from there (dlopen) as its yardstick.
export LD_LIBRARY_PATH="$PWD/$bin/lib:${CUDA_HOME:-/usr/local/cuda}/lib64:${LD_LIBRARY_PATH:-}"
# NCCL, which kiso opens at run time (cuda/nccl.cpp): the toolkit's above or the loader's, else the
# copy PyTorch's wheels install (the nvidia-nccl package), where the machine has one.
if ! ldconfig -p 2>/dev/null | grep -q 'libnccl\.so\.2 ' &&
  [ ! -e "${CUDA_HOME:-/usr/local/cuda}/lib64/libnccl.so.2" ]; then
  nccl_lib=$(python3 -c 'import nvidia.nccl, os; print(os.path.join(list(nvidia.nccl.__path__)[0], "lib"))' 2>/dev/null)
  [ -n "$nccl_lib" ] && export LD_LIBRARY_PATH="$nccl_lib:$LD_LIBRARY_PATH"
fi
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-16}
# Tests find their committed fixtures through the source path compiled into them (the
# Makefile's KISO_SOURCE_DIR, the checkout where they were built): point it here.
built_at=${KISO_BUILT_AT:-/work/main}
[ -e "$built_at" ] || { mkdir -p "$(dirname "$built_at")" && ln -s "$PWD" "$built_at"; }

declare -A result
t_stage=$(date +%s)
stage() {  # stage NAME: how long the stage that just ended took, into the summary
  local now; now=$(date +%s)
  result[seconds]="${result[seconds]:-}$1 $((now - t_stage))s  "
  t_stage=$now
}
# py FILE EXPR: prints a Python expression over the JSON object in FILE (as d), or nothing.
py() { python3 -c "import json, sys; d = json.load(open(sys.argv[1])); print($2)" "$1" 2>/dev/null; }

# 1. the card
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/gpu.txt"
result[gpu]=$(head -n1 "$out/gpu.txt")
"$bin/kiso" info | tee "$out/info.txt"
result[kiso_info]=$(grep CUDA "$out/info.txt")
result[nccl_info]=$(grep NCCL "$out/info.txt")
stage info

# 2. parity on the GPU
"$bin/kiso_tests" -ts=cuda 2>&1 | tee "$out/tests.txt" | tail -n 4
result[cuda_suite]=$(grep -E '^\[doctest\] test cases' "$out/tests.txt")
stage suite

# 3. loss curves: tiny, dropout on, the same seed and batches on both devices
curve() {  # curve DEVICE: 40 steps into $out/run-DEVICE
  "$bin/kiso" pretrain --data "$bin/data" --out "$out/run-$1" --preset tiny \
    --batch-size 8 --seq-len 64 --steps 40 --warmup 4 --lr 1e-3 --eval-every 20 --checkpoint-every 40 \
    --device "$1" --json > "$out/pretrain-$1.json" 2> "$out/pretrain-$1.txt"
}
curve cpu && curve cuda
result[loss_curve]=$(python3 - "$out" <<'PY' 2>&1 | tee "$out/loss_curve.txt" | tail -n 1
import json, sys
out = sys.argv[1]
def losses(device):
    return [json.loads(l)["loss"] for l in open(f"{out}/run-{device}/log.jsonl") if '"loss"' in l]
cpu, gpu = losses("cpu"), losses("cuda")
diff = max(abs(a - b) for a, b in zip(cpu, gpu))
print(f"{len(gpu)} steps, loss {gpu[0]:.4f} -> {gpu[-1]:.4f}; max |cpu - cuda| = {diff:.2e}")
PY
)
stage curve

# 4. one-rank NCCL against no reduction: the tiny run above, 20 steps, on cuda both times.
# NCCL_DEBUG=INFO makes NCCL say that a communicator was made ("Init COMPLETE"), so a run that
# never reached NCCL cannot pass for one that did.
echo "NCCL line of kiso info: $(grep NCCL "$out/info.txt")"
nccl_run() {  # nccl_run REDUCE: the text log (with the "step N/M | loss X" lines) into $out/nccl-REDUCE.txt
  NCCL_DEBUG=INFO NCCL_DEBUG_SUBSYS=INIT "$bin/kiso" pretrain --data "$bin/data" --out "$out/nccl-run-$1" \
    --preset tiny --batch-size 8 --seq-len 64 --steps 20 --warmup 4 --lr 1e-3 --eval-every 20 \
    --checkpoint-every 20 --device cuda --reduce "$1" > "$out/nccl-$1.txt" 2>&1
  echo "kiso pretrain --reduce $1: exit $?"
}
nccl_run none
nccl_run nccl
result[nccl_1rank]=$(python3 - "$out" <<'PY' 2>&1 | tee "$out/nccl_compare.txt" | tail -n 1
import json, re, sys
out = sys.argv[1]
def steps(reduce):  # [(step, loss as printed)] from the text log
    return re.findall(r"^step +(\d+)/\d+ \| loss (\S+)", open(f"{out}/nccl-{reduce}.txt").read(), re.M)
def full(reduce):  # the losses at full precision, from the run's log.jsonl (if it writes one)
    try:
        return [json.loads(l)["loss"] for l in open(f"{out}/nccl-run-{reduce}/log.jsonl") if '"loss"' in l]
    except OSError:
        return []
none, nccl = steps("none"), steps("nccl")
log = open(f"{out}/nccl-nccl.txt").read()
inits, info = log.count("Init COMPLETE"), log.count("NCCL INFO")
if not none or not nccl:
    print(f"FAIL: step lines: --reduce none {len(none)}, nccl {len(nccl)} (see nccl-none.txt, nccl-nccl.txt)")
    sys.exit()
printed = "identical" if none == nccl else f"DIFFER at step {next(a for a, b in zip(none, nccl) if a != b)[0]}"
jn, jc = full("none"), full("nccl")
exact = (f"; log.jsonl: {len(jc)} losses, max |none - nccl| = {max(abs(a - b) for a, b in zip(jn, jc)):.1e}"
         if jn and len(jn) == len(jc) else "; log.jsonl: not comparable")
verdict = "ok" if none == nccl and (not jn or jn == jc) and inits >= 1 else "FAIL"
print(f"{verdict}: {len(nccl)} step lines {printed} (loss {nccl[0][1]} -> {nccl[-1][1]}){exact}; "
      f"NCCL communicators made: {inits} ({info} NCCL INFO lines)")
PY
)
echo "one-rank NCCL vs --reduce none: ${result[nccl_1rank]}"
stage nccl

# 5. attention alone
for precision in f32 bf16; do
  "$bin/kiso" bench --op attention --device cuda --precision $precision --reps 10 --json \
    > "$out/attention-$precision.json" 2> "$out/attention-$precision.txt"
  python3 tests/gpu/torch_attention.py $precision > "$out/torch-attention-$precision.json" \
    2> "$out/torch-attention-$precision.txt"
  result[attention_$precision]=$(python3 - "$out" $precision <<'PY' 2>&1 | tail -n 1
import json, sys
out, precision = sys.argv[1], sys.argv[2]
k = {r["kernel"]: r for r in json.load(open(f"{out}/attention-{precision}.json"))["rows"]}
t = json.load(open(f"{out}/torch-attention-{precision}.json"))["rows"]
flash, mat = k["flash"], k["materialised"]
print(f"fwd+bwd ms: kiso flash {flash['train_ms']:.2f} ({flash['train_tflops']:.1f} TFLOP/s, "
      f"{flash['peak_bytes'] / 2**20:.0f} MiB), kiso materialised {mat['train_ms']:.2f} "
      f"({mat['train_ms'] / flash['train_ms']:.1f}x), torch sdpa {t['sdpa']['train_ms']:.2f} "
      f"(kiso/sdpa {t['sdpa']['train_ms'] / flash['train_ms']:.2f}x), torch materialised "
      f"{t['materialised']['train_ms']:.2f}; flash vs materialised max error {flash['max_error']:.1e}")
PY
)
done
stage attention

# 6. throughput, alternating kiso and PyTorch; gpt1 at T 512 (B 8), small at T 256 (B 16)
kiso_run() {  # kiso_run PRESET B T PRECISION ROUND
  "$bin/kiso" bench --preset "$1" --device cuda --batch-size "$2" --seq-len "$3" --precision "$4" --warmup 3 \
    --loops training,inference \
    --steps 10 --json > "$out/kiso-$1-$4-$5.json" 2> "$out/kiso-$1-$4-$5.txt"
}
torch_run() {
  python3 tests/gpu/torch_bench.py "$1" "$2" "$3" 10 5 "$4" > "$out/torch-$1-$4-$5.json" 2> "$out/torch-$1-$4-$5.txt"
}
for config in "gpt1 8 512" "small 16 256"; do
  for precision in f32 bf16; do
    for round in 1 2; do
      # shellcheck disable=SC2086  # config is three words
      kiso_run $config $precision $round
      torch_run $config $precision $round
    done
  done
done
python3 - "$out" <<'PY' 2>&1 | tee "$out/throughput.txt"
import json, sys
out = sys.argv[1]
def load(side, preset, precision, r):
    try:
        return json.load(open(f"{out}/{side}-{preset}-{precision}-{r}.json"))
    except Exception:
        return None
for preset in ("gpt1", "small"):
    for precision in ("f32", "bf16"):
        k = [load("kiso", preset, precision, r) for r in (1, 2)]
        t = [load("torch", preset, precision, r) for r in (1, 2)]
        if None in k or None in t:
            print(f"{preset} {precision}: missing a run (see the logs)")
            continue
        kt = [x["training"]["tokens_per_second"] for x in k]
        tt = [x["train_tokens_per_second"] for x in t]
        ki = [x["inference"]["tokens_per_second"] for x in k]
        ti = [x["infer_tokens_per_second"] for x in t]
        flops = k[0]["training"].get("gflops", 0) * 1e9  # kiso's achieved model FLOP/s
        mfu = f", MFU {100 * flops / 989e12:.1f}% of 989 TFLOP/s" if precision == "bf16" else ""
        peak = k[0].get("training", {}).get("peak_device_bytes") or k[0].get("peak_device_bytes")
        peak = f", peak {peak / 2**30:.2f} GiB (torch {t[0]['train_peak_bytes'] / 2**30:.2f})" if peak else ""
        print(f"{preset} {precision}: train kiso {min(kt):.0f}-{max(kt):.0f} tok/s, torch {min(tt):.0f}-{max(tt):.0f} "
              f"(kiso/torch {sum(kt) / sum(tt):.2f}x); infer kiso {min(ki):.0f}-{max(ki):.0f}, "
              f"torch {min(ti):.0f}-{max(ti):.0f} (kiso/torch {sum(ki) / sum(ti):.2f}x){mfu}{peak}")
PY
i=0
while IFS= read -r line; do result[throughput_$i]=$line; i=$((i + 1)); done < "$out/throughput.txt"
stage throughput

# 7. where a gpt1 step's time goes
"$bin/kiso" bench --preset gpt1 --device cuda --batch-size 8 --seq-len 512 --warmup 2 --steps 2 --profile \
  --loops training > "$out/profile-gpt1.txt" 2>&1
result[profile_gpt1]=$(grep -m1 -i "outside ops\|in ops" "$out/profile-gpt1.txt")
stage profile

# 8. the matmul ladder against cuBLAS
"$bin/kiso" bench --op matmul --device cuda --sim-size 0 --reps 5 --json > "$out/ladder.json" 2> "$out/ladder-log.txt"
result[ladder]=$(python3 - "$out/ladder.json" <<'PY' 2>&1 | tail -n 1
import json, sys
rows = json.load(open(sys.argv[1]))["gpu"]
def best(rungs):  # the share of cuBLAS over the products, per precision
    shares = [r["gflops"] / r["cublas_gflops"] for r in rows if r["rung"] in rungs and r["cublas_gflops"] > 0 and r["gflops"] > 0]
    return f"{100 * min(shares):.0f}-{100 * max(shares):.0f}%" if shares else "n/a"
print(f"% of cuBLAS (min-max over products): warptile {best({'warptile'})}, vectorized {best({'vectorized'})}, "
      f"mma_tf32 {best({'mma_tf32'})}, mma_bf16 {best({'mma_bf16'})}")
PY
)
stage ladder

# 9. a real pre-training run of `small`, then the tasks fine-tuned from it
pretrain_seconds=${PRETRAIN_SECONDS:-100}
rate=$(py "$out/kiso-small-bf16-1.json" 'int(d["training"]["tokens_per_second"])')
rate_f32=$(py "$out/kiso-small-f32-1.json" 'int(d["training"]["tokens_per_second"])')
precision=bf16
if ! [[ "$rate" =~ ^[0-9]+$ ]] || { [[ "$rate_f32" =~ ^[0-9]+$ ]] && [ "$rate_f32" -gt "$rate" ]; }; then
  precision=f32 rate=$rate_f32
fi
[[ "$rate" =~ ^[0-9]+$ ]] || rate=20000
steps=$((pretrain_seconds * rate / (32 * 256)))
[ "$steps" -ge 50 ] || steps=50
t0=$(date +%s)
"$bin/kiso" pretrain --data "$bin/corpus" --out "$out/small" --preset small --batch-size 32 --seq-len 256 \
  --steps "$steps" --warmup $((steps / 50 + 1)) --lr 1e-3 --eval-every $((steps / 4 + 1)) --eval-batches 20 \
  --checkpoint-every "$steps" --precision "$precision" --device cuda --json \
  > "$out/pretrain-small.json" 2> "$out/pretrain-small.txt"
result[pretrain_small]=$(python3 - "$out/pretrain-small.json" "$precision" $(($(date +%s) - t0)) <<'PY' 2>&1 | tail -n 1
import json, sys
d = json.load(open(sys.argv[1]))
print(f"{d['steps']} steps x 8192 tokens ({sys.argv[2]}, {sys.argv[3]} s), "
      f"validation loss {d['initial_val_loss']:.3f} -> {d['final_val_loss']:.3f}")
PY
)
for prompt in "The meaning of the word" "And it came to pass" "It is a truth universally"; do
  echo "--- $prompt"
  "$bin/kiso" sample --model "$out/small/model" --prompt "$prompt" --max-new-tokens 48 --temperature 0.8 \
    --top-k 40 --seed 7 --device cuda 2>&1
done > "$out/samples.txt"
KISO="$bin/kiso" KISO_DEVICE=cuda VARIANTS="scratch full" bash train/tasks/results.sh "$out/small/model" \
  "$bin/tasks" "$out/finetune" > "$out/finetune.txt" 2> "$out/finetune-log.txt"
result[finetune]="$(grep -c '^| [a-z-]* |' "$out/finetune.txt") tasks (the table is in summary.txt)"
stage pretrain

# 10. interop
python3 tests/gpu/hf_check.py tests/golden/tiny 2>&1 | tee "$out/hf.txt" | tail -n 3
result[hf_transformers]=$(grep -m1 '^hf_check' "$out/hf.txt" || tail -n1 "$out/hf.txt")
stage hf

echo
echo "summary"
for k in gpu kiso_info nccl_info cuda_suite loss_curve nccl_1rank attention_f32 attention_bf16 throughput_0 throughput_1 throughput_2 \
  throughput_3 profile_gpt1 ladder pretrain_small finetune hf_transformers seconds; do
  printf '  %-16s %s\n' "$k" "${result[$k]:-}"
done | tee "$out/summary.txt"
cat "$out/samples.txt" "$out/finetune.txt" >> "$out/summary.txt" 2>/dev/null
# At most 8 files come back: the summary (with samples and the fine-tuning table), the suite's
# log, the profile, the JSON of the headline measurements gathered into one file, and the
# one-rank NCCL run's log (NCCL's own lines in it).
python3 - "$out" <<'PY'
import glob, json, os, sys
out = sys.argv[1]
gathered = {}
for path in sorted(glob.glob(f"{out}/*.json")) + [f"{out}/ladder.json"]:
    try:
        gathered[os.path.basename(path)] = json.load(open(path))
    except Exception:
        pass
json.dump(gathered, open(f"{out}/all-results.json", "w"))
PY
for f in summary.txt tests.txt profile-gpt1.txt all-results.json pretrain-small.txt finetune-log.txt nccl-nccl.txt; do
  [ -e "$out/$f" ] && cp "$out/$f" "$keep/"
done

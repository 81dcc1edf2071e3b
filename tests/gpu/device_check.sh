#!/usr/bin/env bash
# tests/gpu/device_check.sh — the one script a session with a lent GPU runs, in one call
# (under 8 minutes on an H100/H200; about 4 measured before the ladder was added). In order:
#   1. the GPU and driver; kiso's CUDA self-test (kiso info)
#   2. the cuda test suite with the GPU present: every parity test (tests/cuda/) then runs on
#      the GPU as well as under the simulator (the rest of the suite is CPU work, run by CI)
#   3. kiso pretrain --preset tiny, the same run on the cpu and on cuda: the two loss curves
#      side by side and their largest difference
#   4. the matmul ladder: kiso bench --op matmul, every rung's GFLOP/s on GPT-1's and small's
#      training products next to cuBLAS at the same precision (FP32 with TF32 off, TF32, BF16);
#      the simulated traffic of the same rungs is the CPU's to print (--sim-size 0 here)
#   5. kiso bench --device cuda on small and gpt1, and the same work in PyTorch eager FP32
#      (tests/gpu/torch_bench.py) for a reference figure; gpt1 again with the old matmul
#      (KISO_MATMUL=tiled: what the ladder bought the whole model) and with --precision bf16
#   6. Hugging Face transformers reads a kiso model directory as the same GPT-1 (hf_check.py)
# and prints one summary table last. $OUT gets at most 8 files back, so the logs are written to
# a scratch directory and the ones worth keeping copied there at the end.
#
# Binaries and data: the lent machine has nvcc but not kiso's Debian dependencies, so the
# session builds here first, portable and for sm_90, and carries them with the libraries they
# link and a prepared data directory (the demo's corpus, Debian's fortunes):
#   make BUILD=build/dev OPT="-O2 -march=x86-64-v3" build/dev/kiso build/dev/kiso_tests
#   mkdir -p build/dev/lib && cp /lib/x86_64-linux-gnu/libfmt.so.9 build/dev/lib/
#   build/dev/kiso prepare --input /usr/share/games/fortunes/*.u8 --out build/dev/data --vocab-size 2048
# and runs:  bash tests/gpu/device_check.sh   (carry: build/dev). Results go to $OUT if set.
set -uo pipefail
cd "$(dirname "$0")/../.."
bin=${KISO_BIN:-build/dev}
keep=${OUT:-/tmp/kiso-device}
out=$(mktemp -d /tmp/kiso-device-work.XXXXXX)
mkdir -p "$keep"
# The toolkit's lib64 too: kiso bench --op matmul loads cuBLAS from there (dlopen) as its yardstick.
export LD_LIBRARY_PATH="$PWD/$bin/lib:${CUDA_HOME:-/usr/local/cuda}/lib64:${LD_LIBRARY_PATH:-}"
# Tests find their committed fixtures through the source path compiled into them (the
# Makefile's KISO_SOURCE_DIR, the checkout where they were built): point it here.
built_at=${KISO_BUILT_AT:-/work/main}
[ -e "$built_at" ] || { mkdir -p "$(dirname "$built_at")" && ln -s "$PWD" "$built_at"; }

declare -A result
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/gpu.txt"
result[gpu]=$(head -n1 "$out/gpu.txt")

"$bin/kiso" info | tee "$out/info.txt"
result[kiso_info]=$(grep CUDA "$out/info.txt")

"$bin/kiso_tests" -ts=cuda 2>&1 | tee "$out/tests.txt" | tail -n 4
result[cuda_suite]=$(grep -E '^\[doctest\] test cases' "$out/tests.txt")

# 3. loss curves: tiny, dropout on, the same seed and batches on both devices
curve() {  # curve DEVICE: 40 steps into $out/run-DEVICE
  OMP_NUM_THREADS=${OMP_NUM_THREADS:-16} "$bin/kiso" pretrain --data "$bin/data" --out "$out/run-$1" --preset tiny \
    --batch-size 8 --seq-len 64 --steps 40 --warmup 4 --lr 1e-3 --eval-every 20 --checkpoint-every 40 \
    --device "$1" --json > "$out/pretrain-$1.json" 2> "$out/pretrain-$1.txt"
}
curve cpu && curve cuda
tail -n 3 "$out/pretrain-cuda.txt"
result[loss_curve]=$(python3 - "$out" <<'PY' 2>&1 | tee "$out/loss_curve.txt" | tail -n 1
import json, sys
out = sys.argv[1]
def losses(device):
    return [json.loads(l)["loss"] for l in open(f"{out}/run-{device}/log.jsonl") if '"loss"' in l]
cpu, gpu = losses("cpu"), losses("cuda")
for step in (0, 9, 19, 29, 39):
    if step < len(cpu) and step < len(gpu):
        print(f"step {step + 1:>3}: cpu {cpu[step]:.5f}  cuda {gpu[step]:.5f}")
diff = max(abs(a - b) for a, b in zip(cpu, gpu))
print(f"{len(gpu)} steps, loss {gpu[0]:.4f} -> {gpu[-1]:.4f}; max |cpu - cuda| = {diff:.2e}")
PY
)

# 4. the matmul ladder against cuBLAS
"$bin/kiso" bench --op matmul --device cuda --sim-size 0 --reps 5 > "$out/ladder.txt" 2> "$out/ladder-log.txt"
"$bin/kiso" bench --op matmul --device cuda --sim-size 0 --reps 5 --json > "$out/ladder.json" 2>> "$out/ladder-log.txt"
cat "$out/ladder.txt"
result[ladder]=$(python3 - "$out/ladder.json" <<'PY' 2>&1 | tail -n 1
import json, sys
rows = json.load(open(sys.argv[1]))["gpu"]
def best(rungs):  # the best share of cuBLAS over the products, per precision
    shares = [r["gflops"] / r["cublas_gflops"] for r in rows if r["rung"] in rungs and r["cublas_gflops"] > 0 and r["gflops"] > 0]
    return f"{100 * min(shares):.0f}-{100 * max(shares):.0f}%" if shares else "n/a"
print(f"% of cuBLAS (min-max over products): warptile {best({'warptile'})}, blocktile_2d {best({'blocktile_2d'})}, "
      f"vectorized {best({'vectorized'})}, mma_tf32 {best({'mma_tf32'})}, mma_bf16 {best({'mma_bf16'})}")
PY
)

# 5. throughput: kiso's kernels, then PyTorch on the same work. The MFU is against the FP32 peak
# of an H100/H200 SXM without tensor cores, which kiso's kernels do not use: 16,896 FP32 lanes
# x 2 FLOP per fused multiply-add x 1.98 GHz boost = 66.9 TFLOP/s (NVIDIA quotes 67).
for preset in small gpt1; do
  "$bin/kiso" bench --preset "$preset" --device cuda --batch-size 8 --seq-len 128 --warmup 3 --steps 10 \
    --peak-gflops 67000 --json > "$out/bench-$preset.json" 2> "$out/bench-$preset.txt"
  result[bench_$preset]=$(python3 -c "
import json; d = json.load(open('$out/bench-$preset.json')); t, i = d['training'], d['inference']
print(f\"train {t['tokens_per_second']:.0f} tok/s ({t['median_ms']:.1f} ms, MFU {100 * t['mfu']:.2f}%), \"
      f\"infer {i['tokens_per_second']:.0f} tok/s, loss {d['final_loss']:.3f}\")" 2>/dev/null || tail -n 2 "$out/bench-$preset.txt")
  python3 tests/gpu/torch_bench.py "$preset" 8 128 10 3 > "$out/torch-$preset.json" 2> "$out/torch-$preset.txt"
  result[torch_$preset]=$(python3 -c "
import json; d = json.load(open('$out/torch-$preset.json'))
print(f\"train {d['train_tokens_per_second']:.0f} tok/s ({d['train_ms']:.1f} ms), \"
      f\"infer {d['infer_tokens_per_second']:.0f} tok/s (torch {d['torch']}, FP32)\")" 2>/dev/null || tail -n 2 "$out/torch-$preset.txt")
done
# gpt1 with the ladder's first tiled rung (the matmul kiso had before the ladder), and in BF16
for variant in tiled bf16; do
  if [ $variant = tiled ]; then run=(env KISO_MATMUL=tiled "$bin/kiso" bench); else run=("$bin/kiso" bench --precision bf16); fi
  "${run[@]}" --preset gpt1 --device cuda --batch-size 8 --seq-len 128 --warmup 3 --steps 10 --peak-gflops 67000 \
    --json > "$out/bench-gpt1-$variant.json" 2> "$out/bench-gpt1-$variant.txt"
  result[bench_gpt1_$variant]=$(python3 -c "
import json; d = json.load(open('$out/bench-gpt1-$variant.json')); t, i = d['training'], d['inference']
print(f\"train {t['tokens_per_second']:.0f} tok/s ({t['median_ms']:.1f} ms), infer {i['tokens_per_second']:.0f} tok/s, \"
      f\"loss {d['final_loss']:.3f}\")" 2>/dev/null || tail -n 2 "$out/bench-gpt1-$variant.txt")
done

# 6. interop
python3 tests/gpu/hf_check.py tests/golden/tiny 2>&1 | tee "$out/hf.txt" | tail -n 3
result[hf_transformers]=$(grep -m1 '^hf_check' "$out/hf.txt" || tail -n1 "$out/hf.txt")

echo
echo "summary"
for k in gpu kiso_info cuda_suite loss_curve ladder bench_small torch_small bench_gpt1 bench_gpt1_tiled \
  bench_gpt1_bf16 torch_gpt1 hf_transformers; do
  printf '  %-16s %s\n' "$k" "${result[$k]:-}"
done | tee "$out/summary.txt"
for f in summary.txt tests.txt ladder.txt ladder.json bench-gpt1.json bench-gpt1-tiled.json bench-gpt1-bf16.json \
  torch-gpt1.json; do
  [ -e "$out/$f" ] && cp "$out/$f" "$keep/"
done

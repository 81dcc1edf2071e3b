#!/usr/bin/env bash
# tests/gpu/device_check.sh — the one script a session with a lent GPU runs, in one call.
#
# Now (foundation and model): the GPU and driver; kiso's CUDA self-test (kiso info); the test
# suite with the GPU present (the cuda suite then takes its GPU branch); and whether Hugging
# Face transformers reads a kiso model directory as the same GPT-1 (tests/gpu/hf_check.py).
# The CUDA backend issue extends it with kernel parity, training and benchmarks.
#
# Binaries: the lent machine has nvcc but not kiso's Debian dependencies, so the session builds
# them here first, portable and for sm_90, and carries them with the libraries they link:
#   make BUILD=build/dev OPT="-O2 -march=x86-64-v3" build/dev/kiso build/dev/kiso_tests
#   mkdir -p build/dev/lib && cp /lib/x86_64-linux-gnu/libfmt.so.9 build/dev/lib/
# and runs:  bash tests/gpu/device_check.sh   (carry: build/dev). Results go to $OUT if set.
set -uo pipefail
cd "$(dirname "$0")/../.."
bin=${KISO_BIN:-build/dev}
out=${OUT:-/tmp/kiso-device}
mkdir -p "$out"
export LD_LIBRARY_PATH="$PWD/$bin/lib:${LD_LIBRARY_PATH:-}"
# Tests find their committed fixtures through the source path compiled into them (the
# Makefile's KISO_SOURCE_DIR, the checkout where they were built): point it here.
built_at=${KISO_BUILT_AT:-/work/main}
[ -e "$built_at" ] || { mkdir -p "$(dirname "$built_at")" && ln -s "$PWD" "$built_at"; }

declare -A result
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/gpu.txt"
result[gpu]=$(head -n1 "$out/gpu.txt")

"$bin/kiso" info | tee "$out/info.txt"
result[kiso_info]=$(grep CUDA "$out/info.txt")

"$bin/kiso_tests" 2>&1 | tee "$out/tests.txt" | tail -n 4
result[tests]=$(grep -E '^\[doctest\] test cases' "$out/tests.txt")
result[cuda_suite]=$("$bin/kiso_tests" -ts=cuda 2>&1 | grep -E '^\[doctest\] test cases')

python3 tests/gpu/hf_check.py tests/golden/tiny 2>&1 | tee "$out/hf.txt" | tail -n 3
result[hf_transformers]=$(grep -m1 '^hf_check' "$out/hf.txt" || tail -n1 "$out/hf.txt")

echo
echo "summary"
for k in gpu kiso_info tests cuda_suite hf_transformers; do printf '  %-16s %s\n' "$k" "${result[$k]}"; done | tee "$out/summary.txt"

"""tests/gpu/torch_attention.py — PyTorch's figure for `kiso bench --op attention`.

Times causal self-attention with dropout on the probabilities, at the shape kiso's benchmark uses
(B 8, 12 heads 64 wide, T 512 unless told), two ways:
  sdpa          torch.nn.functional.scaled_dot_product_attention(is_causal=True, dropout_p=P):
                PyTorch picks its fused kernel (flash or memory-efficient) for the precision;
  materialised  softmax(Q Kᵀ / √HS + causal mask) with dropout, then · V: the (B, NH, T, T)
                probabilities in memory, what Hugging Face's GPT-1 runs.
Forward alone and forward + backward, median milliseconds over STEPS calls after WARMUP, the
spread (min, max), and the peak memory of one forward + backward above its inputs. PRECISION f32
is strict FP32 (TF32 off); bf16 casts Q, K, V to bfloat16 first (what autocast hands the op).
The input is (B, NH, T, HS) tensors, as SDPA takes them; kiso's op reads them out of the c_attn
output in place, so a layout copy PyTorch's model makes (view + transpose) is not timed here.

Not a test of make test: it needs torch with CUDA, which only the lent GPU machines have;
tests/gpu/device_check.sh runs it and prints one JSON line.
Usage: python3 tests/gpu/torch_attention.py [PRECISION [BATCH [SEQ_LEN [STEPS [WARMUP]]]]]
"""
import json
import math
import statistics
import sys
import time

import torch
import torch.nn.functional as F

precision = sys.argv[1] if len(sys.argv) > 1 else "f32"
batch = int(sys.argv[2]) if len(sys.argv) > 2 else 8
seq_len = int(sys.argv[3]) if len(sys.argv) > 3 else 512
steps = int(sys.argv[4]) if len(sys.argv) > 4 else 20
warmup = int(sys.argv[5]) if len(sys.argv) > 5 else 5
n_head, head_size, p = 12, 64, 0.1
assert precision in ("f32", "bf16"), f"PRECISION must be f32 or bf16, got {precision}"
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
torch.manual_seed(1234)
dtype = torch.bfloat16 if precision == "bf16" else torch.float32
shape = (batch, n_head, seq_len, head_size)
q, k, v = (torch.randn(shape, device="cuda", dtype=dtype, requires_grad=True) for _ in range(3))
dy = torch.randn(shape, device="cuda", dtype=dtype)
mask = torch.ones(seq_len, seq_len, device="cuda", dtype=torch.bool).tril()


def sdpa():
    return F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=True)


def materialised():
    s = (q @ k.transpose(-2, -1)) / math.sqrt(head_size)
    att = F.dropout(torch.softmax(s.masked_fill(~mask, float("-inf")), dim=-1), p)
    return att @ v


def timed(fn):
    times = []
    for i in range(warmup + steps):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        if i >= warmup:
            times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times), min(times), max(times)


def train(fn):
    def step():
        y = fn()
        y.backward(dy)
        q.grad = k.grad = v.grad = None
    return step


# FlashAttention's FLOP convention, as kiso's benchmark counts: the causal half of QKᵀ and PV
# forward, the backward 2.5x that.
flops = 2 * 2 * batch * n_head * seq_len * seq_len * head_size / 2
rows = {}
for name, fn in (("materialised", materialised), ("sdpa", sdpa)):
    fwd = timed(lambda: fn().detach())
    fb = timed(train(fn))
    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    train(fn)()
    torch.cuda.synchronize()
    rows[name] = {"forward_ms": fwd[0], "forward_ms_min": fwd[1], "forward_ms_max": fwd[2],
                  "train_ms": fb[0], "train_ms_min": fb[1], "train_ms_max": fb[2],
                  "forward_tflops": flops / (fwd[0] * 1e9), "train_tflops": 3.5 * flops / (fb[0] * 1e9),
                  "peak_bytes": torch.cuda.max_memory_allocated() - base}
print(json.dumps({"precision": precision, "batch": batch, "seq_len": seq_len, "n_head": n_head,
                  "head_size": head_size, "dropout": p, "torch": torch.__version__,
                  "gpu": torch.cuda.get_device_name(0), "rows": rows}))

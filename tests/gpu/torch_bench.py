"""tests/gpu/torch_bench.py — the PyTorch reference figure for `kiso bench --device cuda`.

Times the same work as train/bench.cpp on the same GPU with PyTorch's eager mode and Hugging
Face's OpenAIGPTLMHeadModel (GPT-1's architecture) at one of kiso's presets: random token ids, a
fresh batch per iteration; training = forward + cross-entropy + backward + AdamW step with
dropout on; inference = forward to the logits in eval mode without autograd. PRECISION f32 is
strict FP32 (TF32 off), as kiso's f32 kernels compute, so the ratio compares kernels, not number
formats; bf16 is torch.autocast(dtype=torch.bfloat16) around the forward and the loss (weights,
gradients and AdamW state in FP32), the counterpart of kiso's --precision bf16.

Not a test of make test: it needs torch and transformers, which only the lent GPU machines
have; tests/gpu/device_check.sh runs it and prints one JSON line.
Usage: python3 tests/gpu/torch_bench.py PRESET BATCH SEQ_LEN [STEPS [WARMUP [PRECISION]]]
(the median of STEPS timed iterations after WARMUP untimed ones; defaults 10 and 3: with one
warm-up step, two runs on the same H200 differed by up to 1.9x, cuBLAS and the caching
allocator still settling)
"""
import json
import statistics
import sys
import time

import torch
from transformers import OpenAIGPTConfig, OpenAIGPTLMHeadModel

# (n_layer, n_embd, n_head, n_inner, vocab_size, n_ctx): gpt/config.cpp's presets.
PRESETS = {
    "tiny": (2, 128, 4, 512, 4096, 128),
    "small": (6, 384, 6, 1536, 16384, 256),
    "gpt1": (12, 768, 12, 3072, 40478, 512),
}

preset, batch, seq_len = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
steps = int(sys.argv[4]) if len(sys.argv) > 4 else 10
warmup = int(sys.argv[5]) if len(sys.argv) > 5 else 3
precision = sys.argv[6] if len(sys.argv) > 6 else "f32"
assert precision in ("f32", "bf16"), f"PRECISION must be f32 or bf16, got {precision}"
n_layer, n_embd, n_head, n_inner, vocab, n_ctx = PRESETS[preset]
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
torch.manual_seed(1234)
config = OpenAIGPTConfig(vocab_size=vocab, n_positions=n_ctx, n_embd=n_embd, n_layer=n_layer, n_head=n_head,
                         afn="gelu", resid_pdrop=0.1, embd_pdrop=0.1, attn_pdrop=0.1)
model = OpenAIGPTLMHeadModel(config).cuda()
# n_inner is 4·n_embd in every preset, which is what HF's OpenAIGPT MLP uses.
assert n_inner == 4 * n_embd
opt = torch.optim.AdamW(model.parameters(), lr=2.5e-4)
batches = [torch.randint(0, vocab, (batch, seq_len), device="cuda") for _ in range(warmup + steps)]
targets = [torch.randint(0, vocab, (batch, seq_len), device="cuda") for _ in range(warmup + steps)]


def timed(fn):
    times = []
    for i in range(warmup + steps):  # the first `warmup` iterations are not timed
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn(i)
        torch.cuda.synchronize()
        if i >= warmup:
            times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times), min(times), max(times)


def autocast():
    return torch.autocast("cuda", dtype=torch.bfloat16, enabled=precision == "bf16")


def train_step(i):
    model.train()
    with autocast():
        logits = model(batches[i]).logits
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, vocab).float(), targets[i].reshape(-1))
    loss.backward()
    opt.step()
    opt.zero_grad(set_to_none=True)


def infer_step(i):
    model.eval()
    with torch.no_grad(), autocast():
        model(batches[i])


torch.cuda.reset_peak_memory_stats()
(train_ms, train_min, train_max), train_peak = timed(train_step), torch.cuda.max_memory_allocated()
infer_ms, infer_min, infer_max = timed(infer_step)
tokens = batch * seq_len
print(json.dumps({"preset": preset, "batch": batch, "seq_len": seq_len, "steps": steps, "warmup": warmup,
                  "precision": precision, "torch": torch.__version__,
                  "gpu": torch.cuda.get_device_name(0), "train_ms": train_ms, "infer_ms": infer_ms,
                  "train_ms_min": train_min, "train_ms_max": train_max, "infer_ms_min": infer_min,
                  "infer_ms_max": infer_max, "train_peak_bytes": train_peak,
                  "train_tokens_per_second": tokens / train_ms * 1e3,
                  "infer_tokens_per_second": tokens / infer_ms * 1e3}))

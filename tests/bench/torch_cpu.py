"""tests/bench/torch_cpu.py — kiso's GPT-1 and `kiso bench`'s three loops in PyTorch, on the CPU.

What this is: the other side of tests/bench/compare-torch. The same model as gpt/model.cpp at
one of gpt/config.cpp's presets (token + learned position embeddings; post-LN blocks
h = LN(x + attn(x)), out = LN(h + MLP(h)); fused c_attn C -> 3C; causal attention; tanh GELU;
dropout 0.1 on the embeddings, the attention probabilities and both residual branches; the LM
head tied to the token embedding; cross-entropy; AdamW at lr 2.5e-4 with PyTorch's defaults,
which are kiso's) timed with the same loops as train/bench.cpp:
  training   forward + loss + backward + AdamW step + zero_grad, dropout on, a fresh (B, T)
             batch of uniform random ids and targets each iteration, drawn before the clock;
  inference  forward to the logits (B, T, V) in eval mode under torch.inference_mode();
  decode     B = 1: the first T/2 ids of a batch fill a KV cache (untimed, before each
             iteration), then T - T/2 new tokens one at a time through the cache, each the
             argmax of the last logits; tokens/s counts the new tokens.
Each loop runs `warmup` untimed iterations, then `steps` timed ones; it prints one JSON object.

It is written the way a PyTorch user who wants speed would write it, not as a line-by-line
copy of kiso: nn.Linear, nn.LayerNorm, F.gelu(approximate="tanh"), F.scaled_dot_product_attention
(torch >= 2.0; a masked softmax on torch 1.13, which has none), a preallocated KV cache, and
AdamW's fused CPU kernel where torch has one (>= 2.4) or its default otherwise.

What this is not: a correctness reference (tests/reference/gpt1_reference.py is that, in f64,
and shares no code with this file) and not part of the engine or of `make test`; it needs only
torch (no transformers, no numpy). Run through compare-torch, or alone:
  python3 tests/bench/torch_cpu.py --preset tiny --batch-size 16 --seq-len 128 --threads 2 \
      --loops training,inference,decode
"""

import argparse
import ctypes
import json
import math
import os
import re
import resource
import statistics
import time
import warnings

# The PyPI wheel warns once when numpy is absent; nothing here uses numpy.
warnings.filterwarnings("ignore", message="Failed to initialize NumPy")

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

# name: (n_layer, n_embd, n_head, n_inner, vocab_size, n_ctx), as in gpt/config.cpp.
PRESETS = {
    "tiny": (2, 128, 4, 512, 4096, 128),
    "small": (6, 384, 6, 1536, 16384, 256),
    "gpt1": (12, 768, 12, 3072, 40478, 512),
}
PDROP = 0.1   # GPT-1's embd_pdrop, attn_pdrop and resid_pdrop
LR = 2.5e-4   # GPT-1's peak learning rate; kiso bench's too (its value does not change the time)
HAS_SDPA = hasattr(F, "scaled_dot_product_attention")  # torch >= 2.0


class CausalSelfAttention(nn.Module):
    def __init__(self, C, NH):
        super().__init__()
        self.NH = NH
        self.c_attn = nn.Linear(C, 3 * C)  # q, k, v in one matmul
        self.c_proj = nn.Linear(C, C)
        self.attn_drop = nn.Dropout(PDROP)  # used by the masked-softmax path only

    def forward(self, x, cache=None):  # x (B, T, C); cache: this layer's KVCache or None
        B, T, C = x.shape
        NH, HS = self.NH, C // self.NH
        q, k, v = self.c_attn(x).split(C, dim=-1)          # each (B, T, C)
        q = q.view(B, T, NH, HS).transpose(1, 2)           # (B, NH, T, HS)
        k = k.view(B, T, NH, HS).transpose(1, 2)           # (B, NH, T, HS)
        v = v.view(B, T, NH, HS).transpose(1, 2)           # (B, NH, T, HS)
        past = 0
        if cache is not None:
            past = cache.length
            k, v = cache.append(k, v)                      # (B, NH, past + T, HS) each
        # Causal: query i (at position past + i) sees keys 0 .. past + i. With no past that is
        # the lower triangle; one new token with a past sees every cached key (no mask).
        causal = past == 0 and T > 1
        if T > 1 and past > 0:
            raise ValueError("a multi-token step on a non-empty cache is not used here")
        p = PDROP if self.training else 0.0
        if HAS_SDPA:
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=causal)  # (B, NH, T, HS)
        else:
            scores = q @ k.transpose(-2, -1) * (1.0 / math.sqrt(HS))  # (B, NH, T, past + T)
            if causal:
                future = torch.ones(T, T, dtype=torch.bool).triu(1)   # (T, T), True above
                scores = scores.masked_fill(future, float("-inf"))
            y = self.attn_drop(torch.softmax(scores, dim=-1)) @ v     # (B, NH, T, HS)
        y = y.transpose(1, 2).reshape(B, T, C)             # (B, T, C), heads side by side
        return self.c_proj(y)


class Block(nn.Module):
    def __init__(self, C, NH, n_inner):
        super().__init__()
        self.attn = CausalSelfAttention(C, NH)
        self.ln_1 = nn.LayerNorm(C, eps=1e-5)
        self.c_fc = nn.Linear(C, n_inner)
        self.c_proj = nn.Linear(n_inner, C)
        self.ln_2 = nn.LayerNorm(C, eps=1e-5)
        self.drop = nn.Dropout(PDROP)  # both residual branches

    def mlp(self, h):  # (B, T, C) -> (B, T, n_inner) -> (B, T, C)
        return self.c_proj(F.gelu(self.c_fc(h), approximate="tanh"))

    def forward(self, x, cache=None):  # (B, T, C): GPT-1 is post-LN
        h = self.ln_1(x + self.drop(self.attn(x, cache)))
        return self.ln_2(h + self.drop(self.mlp(h)))


class GPT1(nn.Module):
    def __init__(self, L, C, NH, n_inner, V, n_ctx):
        super().__init__()
        self.wte = nn.Embedding(V, C)      # (V, C), also the LM head
        self.wpe = nn.Embedding(n_ctx, C)  # (n_ctx, C)
        self.drop = nn.Dropout(PDROP)
        self.h = nn.ModuleList(Block(C, NH, n_inner) for _ in range(L))
        for name, p in self.named_parameters():  # N(0, 0.02) weights, zero biases, LN (1, 0)
            if name.endswith("bias"):
                nn.init.zeros_(p)
            elif ".ln_" in name:
                nn.init.ones_(p)
            else:
                nn.init.normal_(p, std=0.02)

    def forward(self, ids, caches=None):  # ids (B, T) -> logits (B, T, V)
        T = ids.shape[1]
        past = caches[0].length if caches else 0
        positions = torch.arange(past, past + T)                  # (T)
        x = self.drop(self.wte(ids) + self.wpe(positions))        # (B, T, C)
        for l, block in enumerate(self.h):
            x = block(x, caches[l] if caches else None)           # (B, T, C)
        return F.linear(x, self.wte.weight)                       # (B, T, V), tied head


class KVCache:
    """One layer's keys and values, preallocated to the longest sequence so that a new token is
    a copy into place rather than a torch.cat of the whole history."""

    def __init__(self, B, NH, T_max, HS):
        self.k = torch.empty(B, NH, T_max, HS)  # (B, NH, T_max, HS)
        self.v = torch.empty(B, NH, T_max, HS)  # (B, NH, T_max, HS)
        self.length = 0

    def append(self, k, v):  # k, v (B, NH, T, HS) -> the whole cache so far, (B, NH, length, HS)
        end = self.length + k.shape[2]
        self.k[:, :, self.length:end] = k
        self.v[:, :, self.length:end] = v
        self.length = end
        return self.k[:, :, :end], self.v[:, :, :end]


# ---- timing ----

def summarise(ms, tokens):
    median, best = statistics.median(ms), min(ms)
    return {"ms": ms, "median_ms": median, "best_ms": best,
            "tokens_per_second": tokens / median * 1e3, "best_tokens_per_second": tokens / best * 1e3}


def time_loop(warmup, steps, step, before=None):
    """Runs `before` (untimed) and `step` warmup + steps times; returns the timed steps' ms."""
    ms = []
    for i in range(warmup + steps):
        if before is not None:
            before(i)
        t0 = time.perf_counter()
        step(i)
        if i >= warmup:
            ms.append((time.perf_counter() - t0) * 1e3)
    return ms


def make_optimizer(model):
    """AdamW with PyTorch's defaults (betas 0.9, 0.999; eps 1e-8; weight decay 0.01 on every
    parameter: kiso's AdamWConfig), fused into one kernel where this torch has it on the CPU."""
    try:
        return torch.optim.AdamW(model.parameters(), lr=LR, fused=True), "AdamW fused"
    except (TypeError, RuntimeError, ValueError):  # torch < 2.4: no fused CPU AdamW
        return torch.optim.AdamW(model.parameters(), lr=LR), "AdamW default"


# ---- what ran ----

def blas_description():
    """A few words on the BLAS and backends this torch runs: MKL and oneDNN for the PyPI wheel;
    for Debian's build (BLAS_INFO=generic) whichever libblas.so.3 the loader picked, and for
    OpenBLAS the core whose kernels it chose (which OPENBLAS_CORETYPE overrides)."""
    config = torch.__config__.show()
    parts = []
    m = re.search(r"Math Kernel Library Version ([0-9.]+)", config)
    if m:
        parts.append(f"MKL {m.group(1)}")
    elif "BLAS_INFO=generic" in config:
        parts.append(loaded_blas())
    m = re.search(r"MKL-DNN v([0-9.]+)", config)
    if m and torch.backends.mkldnn.is_available():
        parts.append(f"oneDNN {m.group(1)}")
    m = re.search(r"CPU capability usage: (\w+)", config)
    if m:
        parts.append(m.group(1))
    return ", ".join(parts)


def loaded_blas():
    torch.ones(2, 2) @ torch.ones(2, 2)  # a matmul, so that the BLAS is surely loaded
    with open("/proc/self/maps") as f:
        paths = sorted({line.split()[-1] for line in f if "blas" in line.split()[-1].lower()})
    for path in paths:
        if "openblas" in path:
            try:
                lib = ctypes.CDLL(path)
                lib.openblas_get_corename.restype = ctypes.c_char_p
                core = lib.openblas_get_corename().decode()
                return f"OpenBLAS {openblas_version(lib)} ({core} kernels)"
            except (OSError, AttributeError):
                return f"OpenBLAS ({os.path.basename(path)})"
    return "BLAS " + (", ".join(paths) if paths else "unknown") + " (the reference BLAS is slow: install libopenblas0)"


def openblas_version(lib):
    try:
        lib.openblas_get_config.restype = ctypes.c_char_p
        m = re.search(r"OpenBLAS ([0-9.]+)", lib.openblas_get_config().decode())
        return m.group(1) if m else ""
    except AttributeError:
        return ""


def blas_check():
    """A product against a plain sum of products: an OpenBLAS core type that does not fit the
    CPU can compute wrong results, and a benchmark of wrong arithmetic would mean nothing.
    Returns the largest difference (float32 sums of 256 terms of size ~1: ~1e-5 expected)."""
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(64, 256, generator=g), torch.randn(256, 48, generator=g)
    plain = (a[:, :, None].double() * b[None, :, :].double()).sum(1)
    return float((a @ b - plain).abs().max())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--preset", default="tiny", choices=sorted(PRESETS))
    ap.add_argument("--batch-size", type=int, default=0, help="0: 16 tiny, 8 small, 1 gpt1 (kiso bench's)")
    ap.add_argument("--seq-len", type=int, default=0, help="0: min(128, n_ctx)")
    ap.add_argument("--threads", type=int, default=0, help="0: torch's default")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--loops", default="training,inference", help="comma-separated: training, inference, decode")
    ap.add_argument("--seed", type=int, default=1234)
    a = ap.parse_args()
    loops = a.loops.split(",")
    for name in loops:
        if name not in ("training", "inference", "decode"):
            ap.error(f"--loops: unknown loop {name!r}; expected training, inference or decode")

    rss_import_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    L, C, NH, n_inner, V, n_ctx = PRESETS[a.preset]
    B = a.batch_size or {"tiny": 16, "small": 8, "gpt1": 1}[a.preset]
    T = a.seq_len or min(128, n_ctx)
    if not (0 < T <= n_ctx) or B <= 0 or a.steps <= 0 or a.warmup < 0:
        ap.error(f"need 0 < seq-len <= {n_ctx}, batch-size > 0, steps > 0, warmup >= 0")
    if "decode" in loops and T < 2:
        ap.error("the decode loop needs --seq-len >= 2 (a prompt and a new token)")
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)

    model = GPT1(L, C, NH, n_inner, V, n_ctx)
    # A fresh batch for every iteration, drawn before the clock: random ids cannot be learned,
    # so the loss stays near ln V.
    n = a.warmup + a.steps
    inputs = [torch.randint(0, V, (B, T)) for _ in range(n)]   # (B, T) each
    targets = [torch.randint(0, V, (B, T)) for _ in range(n)]  # (B, T) each
    out = {"impl": f"pytorch {torch.__version__} ({blas_description()})",
           "preset": a.preset, "batch_size": B, "seq_len": T, "threads": torch.get_num_threads(),
           "warmup": a.warmup, "steps": a.steps, "sdpa": HAS_SDPA, "blas_check_max_abs_error": blas_check(),
           "rss_after_import_bytes": rss_import_kib * 1024}

    if "training" in loops:
        opt, out["optimizer"] = make_optimizer(model)
        model.train()
        losses = []

        def train_step(i):
            logits = model(inputs[i])                                            # (B, T, V)
            loss = F.cross_entropy(logits.view(-1, V), targets[i].view(-1))      # ()
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            losses.append(loss.item())

        out["training"] = summarise(time_loop(a.warmup, a.steps, train_step), B * T)
        out["final_loss"] = losses[-1]
        del opt  # its moments are not part of the other loops' memory

    model.eval()
    if "inference" in loops:
        def infer_step(i):
            with torch.inference_mode():
                model(inputs[i])  # (B, T, V)

        out["inference"] = summarise(time_loop(a.warmup, a.steps, infer_step), B * T)

    if "decode" in loops:
        prompt_len, new_tokens = T // 2, T - T // 2
        state = {}

        def prefill(i):  # untimed: the prompt fills a fresh cache
            with torch.inference_mode():
                state["caches"] = [KVCache(1, NH, T, C // NH) for _ in range(L)]
                logits = model(inputs[i][:1, :prompt_len], state["caches"])      # (1, T/2, V)
                state["next"] = logits[:, -1:].argmax(-1)                        # (1, 1)

        def decode(i):
            with torch.inference_mode():
                for _ in range(new_tokens):
                    logits = model(state["next"], state["caches"])               # (1, 1, V)
                    state["next"] = logits[:, -1:].argmax(-1)                    # (1, 1), greedy

        out["decode"] = summarise(time_loop(a.warmup, a.steps, decode, before=prefill), new_tokens)
        out["decode"].update(prompt_tokens=prompt_len, new_tokens=new_tokens)

    out["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps(out))


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""GPT-1 reference implementation in PyTorch, used only to produce kiso's golden files.

What this is: an independent re-implementation of GPT-1 (Radford et al. 2018, "Improving
Language Understanding by Generative Pre-Training") written from the paper with plain
torch tensor ops. Given a model directory and a few token batches it computes, in float64
by default, the numbers that kiso's golden tests compare against: the logits and loss of
the initial model, the gradient of that loss with respect to every parameter, the loss of
each step of a short AdamW run, and every parameter after that run.

What this is not: it is not kiso (no kiso code is imported or called) and it is not Hugging
Face transformers (not imported, not needed). It reads the same files as kiso (HF-style
config.json and model.safetensors) but parses them itself, with struct and json. It is
never part of the engine and `make test` does not run it: its output is committed.

How to run it:
    make golden
    /usr/bin/python3 tests/reference/gpt1_reference.py DIR [--out FILE] [--dtype float32]
(Debian's python3-torch; numpy is not needed.)

Input, in DIR:
    config.json          vocab_size, n_positions, n_embd, n_layer, n_head, afn ("gelu" or
                         "gelu_new": tanh GELU, as in HF's openai-gpt; "gelu_exact": the
                         exact erf GELU, kiso's name), resid_pdrop, embd_pdrop,
                         attn_pdrop (all must be 0), layer_norm_epsilon; kiso's n_inner
                         (default 4 * n_embd) and kiso_norm ("post", the default: GPT-1's
                         block; "pre": GPT-2's block plus a final LayerNorm ln_f).
                         Other keys are ignored.
    model.safetensors    F32 parameters, HF openai-gpt names, Conv1D weights stored [in, out]
                         (y = x @ W + b); a "transformer." prefix is stripped; the LM head
                         is tied to tokens_embed.weight and stored once.
    batches.safetensors  I32 ids.K and targets.K, each (B, T), K = 0, 1, ...; target -100 is
                         ignored by the loss. Optimizer settings lr, beta1, beta2, eps,
                         weight_decay, steps as __metadata__ strings or F64 0-d tensors.

Output, DIR/reference.safetensors unless --out says otherwise, every tensor F64:
    logits (B, T, V) and loss () of the initial model on batch 0,
    grad.<name>          d loss / d parameter, same shape as the stored parameter,
    step_loss (steps,)   the loss of AdamW step k on batch k, before that step's update,
    param_after.<name>   every parameter after the last step.
<name> is the HF name without the "transformer." prefix. __metadata__ records the generator,
the torch version and the dtype computed in.

Read next: the model section below is the whole of GPT-1; kiso's own version is in gpt/ and
nn/, and the golden tests that read this file's output are in tests/gpt/.
"""

import argparse
import json
import math
import os
import struct
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

GENERATOR = "tests/reference/gpt1_reference.py"


class ReferenceError(Exception):
    """Bad input: the message names the file, the tensor or key, and what was expected."""


# ---------------------------------------------------------------------------------------
# safetensors, read and written by hand
#
# Layout: 8-byte little-endian u64 N; N bytes of JSON header
#   {name: {"dtype": "F32"|"F64"|"I32", "shape": [...], "data_offsets": [begin, end]},
#    "__metadata__": {str: str}};
# then the data buffer, little-endian, offsets relative to the start of the buffer.

SAFETENSORS_DTYPES = {  # name: (torch dtype, bytes per element, struct code)
    "F32": (torch.float32, 4, "f"),
    "F64": (torch.float64, 8, "d"),
    "I32": (torch.int32, 4, "i"),
}


def _reject_duplicate_keys(pairs):
    # json.loads keeps the last of two equal keys without a word; a safetensors header
    # with a duplicate name is malformed, so say so.
    seen = {}
    for key, value in pairs:
        if key in seen:
            raise ValueError(f"duplicate key {key!r}")
        seen[key] = value
    return seen


def read_safetensors(path):
    """Returns ({name: tensor}, {metadata key: str}); raises ReferenceError naming path."""
    if sys.byteorder != "little":
        raise ReferenceError(f"{path}: this reader assumes a little-endian machine")
    try:
        with open(path, "rb") as f:
            blob = f.read()
    except OSError as e:
        raise ReferenceError(f"{path}: cannot read: {e.strerror}") from None
    if len(blob) < 8:
        raise ReferenceError(f"{path}: {len(blob)} bytes, too short for a safetensors header")
    (header_len,) = struct.unpack_from("<Q", blob, 0)
    if header_len > len(blob) - 8:
        raise ReferenceError(
            f"{path}: header length {header_len} runs past the end of the file ({len(blob)} bytes)")
    try:
        header = json.loads(blob[8:8 + header_len].decode("utf-8"),
                            object_pairs_hook=_reject_duplicate_keys)
    except (UnicodeDecodeError, ValueError) as e:
        raise ReferenceError(f"{path}: header is not valid JSON: {e}") from None
    if not isinstance(header, dict):
        raise ReferenceError(f"{path}: header is a {type(header).__name__}, expected an object")
    buffer = memoryview(blob)[8 + header_len:]

    metadata = header.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise ReferenceError(f"{path}: __metadata__ must map strings to strings")

    tensors = {}
    for name, entry in header.items():
        where = f"{path}: tensor {name!r}"
        if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
            raise ReferenceError(f"{where}: expected exactly dtype, shape, data_offsets")
        dtype_name, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        if dtype_name not in SAFETENSORS_DTYPES:
            raise ReferenceError(
                f"{where}: dtype {dtype_name!r} not supported (expected one of "
                f"{', '.join(SAFETENSORS_DTYPES)})")
        if not isinstance(shape, list) or not all(
                isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
            raise ReferenceError(f"{where}: shape {shape!r} is not a list of non-negative ints")
        if (not isinstance(offsets, list) or len(offsets) != 2
                or not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
                or not 0 <= offsets[0] <= offsets[1] <= len(buffer)):
            raise ReferenceError(
                f"{where}: data_offsets {offsets!r} outside the {len(buffer)}-byte data buffer")
        torch_dtype, itemsize, _ = SAFETENSORS_DTYPES[dtype_name]
        numel = math.prod(shape)
        begin, end = offsets
        if end - begin != numel * itemsize:
            raise ReferenceError(
                f"{where}: shape {shape} of {dtype_name} needs {numel * itemsize} bytes, "
                f"data_offsets give {end - begin}")
        if numel == 0:
            tensors[name] = torch.zeros(shape, dtype=torch_dtype)
        else:
            # bytearray: a private, writable copy, so the tensor owns its memory.
            raw = bytearray(buffer[begin:end])
            tensors[name] = torch.frombuffer(raw, dtype=torch_dtype).reshape(shape)
    return tensors, metadata


def write_safetensors(path, tensors, metadata):
    """Writes {name: tensor} as F64, in the given order, to path (via a temporary file, so
    that a failure never leaves half a file behind)."""
    header = {"__metadata__": dict(metadata)}
    chunks = []
    offset = 0
    for name, t in tensors.items():
        t = t.detach().to(torch.float64).contiguous().reshape(-1)
        # Pack in slices: one struct.pack of millions of arguments would hold them all.
        data = b"".join(
            struct.pack(f"<{len(part)}d", *part)
            for part in (t[i:i + (1 << 20)].tolist() for i in range(0, t.numel(), 1 << 20)))
        header[name] = {"dtype": "F64", "shape": list(tensors[name].shape),
                        "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    header_bytes = json.dumps(header, separators=(",", ":")).encode("utf-8")
    header_bytes += b" " * (-(8 + len(header_bytes)) % 8)  # data starts 8-byte aligned

    temporary = path + ".tmp"
    try:
        with open(temporary, "wb") as f:
            f.write(struct.pack("<Q", len(header_bytes)))
            f.write(header_bytes)
            for data in chunks:
                f.write(data)
        os.replace(temporary, path)
    except OSError:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise


# ---------------------------------------------------------------------------------------
# config.json

class Config:
    """The hyperparameters the model needs, read from config.json."""

    def __init__(self, path):
        try:
            with open(path, "r", encoding="utf-8") as f:
                raw = json.load(f, object_pairs_hook=_reject_duplicate_keys)
        except OSError as e:
            raise ReferenceError(f"{path}: cannot read: {e.strerror}") from None
        except ValueError as e:
            raise ReferenceError(f"{path}: not valid JSON: {e}") from None
        if not isinstance(raw, dict):
            raise ReferenceError(f"{path}: expected a JSON object")

        def get(key, kind, default=None):
            if key not in raw or raw[key] is None:
                if default is None:
                    raise ReferenceError(f"{path}: missing key {key!r}")
                return default
            value = raw[key]
            if kind is int and not (isinstance(value, int) and not isinstance(value, bool)):
                raise ReferenceError(f"{path}: {key} must be an integer, got {value!r}")
            if kind is float and not (isinstance(value, (int, float))
                                      and not isinstance(value, bool)):
                raise ReferenceError(f"{path}: {key} must be a number, got {value!r}")
            if kind is str and not isinstance(value, str):
                raise ReferenceError(f"{path}: {key} must be a string, got {value!r}")
            return value

        self.vocab_size = get("vocab_size", int)            # V
        self.n_positions = get("n_positions", int)          # context length, the largest T
        self.n_embd = get("n_embd", int)                    # C
        self.n_layer = get("n_layer", int)                  # L
        self.n_head = get("n_head", int)                    # NH
        self.n_inner = get("n_inner", int, 4 * self.n_embd)  # feed-forward width, 4C in GPT-1
        self.afn = get("afn", str)                          # "gelu"/"gelu_new" (tanh), "gelu_exact" (erf)
        self.norm = get("kiso_norm", str, "post")           # "post" (GPT-1) or "pre" (GPT-2)
        self.layer_norm_epsilon = float(get("layer_norm_epsilon", float))

        for key in ("vocab_size", "n_positions", "n_embd", "n_layer", "n_head", "n_inner"):
            if getattr(self, key) <= 0:
                raise ReferenceError(f"{path}: {key} must be positive, got {getattr(self, key)}")
        if self.n_embd % self.n_head != 0:
            raise ReferenceError(
                f"{path}: n_embd {self.n_embd} is not divisible by n_head {self.n_head}")
        if self.afn not in ("gelu", "gelu_new", "gelu_exact"):
            raise ReferenceError(f"{path}: afn {self.afn!r} not supported (gelu, gelu_new or gelu_exact)")
        if self.norm not in ("post", "pre"):
            raise ReferenceError(f"{path}: kiso_norm {self.norm!r} not supported (post or pre)")
        if not self.layer_norm_epsilon > 0:
            raise ReferenceError(
                f"{path}: layer_norm_epsilon must be positive, got {self.layer_norm_epsilon}")
        # Golden files are deterministic: the fixture switches dropout off, and this
        # reference has no dropout at all (eval semantics).
        for key in ("resid_pdrop", "embd_pdrop", "attn_pdrop"):
            p = get(key, float)
            if p != 0:
                raise ReferenceError(
                    f"{path}: {key} is {p}; the reference runs without dropout, set it to 0")


# ---------------------------------------------------------------------------------------
# The model: GPT-1, a 12-layer decoder-only Transformer (paper, section 3.1 and 4.1).
#   h0 = U We + Wp                        token plus position embedding
#   hl = transformer_block(h_{l-1})       l = 1..n
#   P(u) = softmax(hn We^T)               the output layer is the input embedding, tied

def gelu(x, afn):
    """GELU (Hendrycks & Gimpel 2016), x * Phi(x). OpenAI's GPT code used the tanh
    approximation, which HF's openai-gpt calls "gelu" (its ACT_FNS maps "gelu" to gelu_new);
    "gelu_new" names the same function. "gelu_exact" (kiso's name) is the erf form."""
    if afn in ("gelu", "gelu_new"):
        return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


class Conv1D(nn.Module):
    """GPT's linear layer (named Conv1D in OpenAI's code): y = x @ W + b, W stored [in, out]."""

    def __init__(self, n_in, n_out):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(n_in, n_out))  # (in, out)
        self.bias = nn.Parameter(torch.zeros(n_out))          # (out)

    def forward(self, x):  # (..., in) -> (..., out)
        return x @ self.weight + self.bias


class LayerNorm(nn.Module):
    """Layer normalisation (Ba et al. 2016) over the last axis, biased variance."""

    def __init__(self, n, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(n))   # (C) gain
        self.bias = nn.Parameter(torch.zeros(n))    # (C)
        self.eps = eps

    def forward(self, x):  # (B, T, C)
        mean = x.mean(dim=-1, keepdim=True)                       # (B, T, 1)
        var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)        # (B, T, 1), divides by C
        xhat = (x - mean) / torch.sqrt(var + self.eps)            # (B, T, C)
        return xhat * self.weight + self.bias                     # (B, T, C)


class Embedding(nn.Module):
    """A lookup table: row i is the vector of token (or position) i."""

    def __init__(self, n, c):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(n, c))  # (n, C)

    def forward(self, index):  # (...) integer -> (..., C)
        return self.weight[index]


class CausalSelfAttention(nn.Module):
    """Masked multi-head self-attention (Vaswani et al. 2017): each position attends to
    itself and the positions before it, never after."""

    def __init__(self, config):
        super().__init__()
        self.n_head = config.n_head
        self.c_attn = Conv1D(config.n_embd, 3 * config.n_embd)  # q, k, v in one matmul
        self.c_proj = Conv1D(config.n_embd, config.n_embd)

    def forward(self, x):  # (B, T, C)
        B, T, C = x.shape
        NH = self.n_head
        HS = C // NH
        q, k, v = self.c_attn(x).split(C, dim=-1)            # each (B, T, C), in that order
        q = q.reshape(B, T, NH, HS).transpose(1, 2)          # (B, NH, T, HS)
        k = k.reshape(B, T, NH, HS).transpose(1, 2)          # (B, NH, T, HS)
        v = v.reshape(B, T, NH, HS).transpose(1, 2)          # (B, NH, T, HS)
        # Scaled dot product: dividing by sqrt(HS) keeps the scores' variance near 1 so the
        # softmax does not saturate as HS grows.
        scores = q @ k.transpose(-2, -1) / math.sqrt(HS)     # (B, NH, T, T)
        # Causal mask: query i may not see key j > i; exp(-inf) = 0 removes them exactly.
        future = torch.ones(T, T, dtype=torch.bool).triu(diagonal=1)  # (T, T), True above
        scores = scores.masked_fill(future, float("-inf"))   # (B, NH, T, T)
        att = torch.softmax(scores, dim=-1)                  # (B, NH, T, T), rows sum to 1
        y = att @ v                                          # (B, NH, T, HS)
        y = y.transpose(1, 2).reshape(B, T, C)               # (B, T, C), heads side by side
        return self.c_proj(y)                                # (B, T, C)


class MLP(nn.Module):
    """Position-wise feed-forward network: C -> n_inner -> C with a GELU between."""

    def __init__(self, config):
        super().__init__()
        self.afn = config.afn
        self.c_fc = Conv1D(config.n_embd, config.n_inner)
        self.c_proj = Conv1D(config.n_inner, config.n_embd)

    def forward(self, x):  # (B, T, C)
        return self.c_proj(gelu(self.c_fc(x), self.afn))  # (B, T, n_inner) -> (B, T, C)


class Block(nn.Module):
    """One transformer block. GPT-1 normalises after each residual add (post-LN); GPT-2
    moved the LayerNorm in front of each branch (pre-LN)."""

    def __init__(self, config):
        super().__init__()
        self.norm = config.norm
        self.attn = CausalSelfAttention(config)
        self.ln_1 = LayerNorm(config.n_embd, config.layer_norm_epsilon)
        self.mlp = MLP(config)
        self.ln_2 = LayerNorm(config.n_embd, config.layer_norm_epsilon)

    def forward(self, x):  # (B, T, C) -> (B, T, C)
        if self.norm == "post":
            h = self.ln_1(x + self.attn(x))
            return self.ln_2(h + self.mlp(h))
        h = x + self.attn(self.ln_1(x))
        return h + self.mlp(self.ln_2(h))


class GPT1(nn.Module):
    """Embeddings, L blocks, (pre-LN only: a final LayerNorm), and the tied LM head. The
    attribute names are the HF openai-gpt parameter names."""

    def __init__(self, config):
        super().__init__()
        self.tokens_embed = Embedding(config.vocab_size, config.n_embd)     # We (V, C)
        self.positions_embed = Embedding(config.n_positions, config.n_embd)  # Wp (n_positions, C)
        self.h = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_f = LayerNorm(config.n_embd, config.layer_norm_epsilon) \
            if config.norm == "pre" else None

    def forward(self, ids):  # (B, T) integer token ids -> (B, T, V) logits
        B, T = ids.shape
        positions = torch.arange(T)                                # (T)
        x = self.tokens_embed(ids) + self.positions_embed(positions)  # (B, T, C)
        for block in self.h:
            x = block(x)                                           # (B, T, C)
        if self.ln_f is not None:
            x = self.ln_f(x)                                       # (B, T, C)
        return x @ self.tokens_embed.weight.T                      # (B, T, V), tied head


def lm_loss(logits, targets):
    """Mean cross-entropy over the positions whose target is not -100."""
    V = logits.shape[-1]
    return F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1).long(),
                           ignore_index=-100)  # ()


# ---------------------------------------------------------------------------------------
# Loading the parameters and the batches

PREFIX = "transformer."


def load_parameters(model, path, dtype):
    """Copies every parameter of model from path, checking names and shapes."""
    stored, _ = read_safetensors(path)
    by_name = {}  # name without prefix -> name as stored
    for name in stored:
        short = name[len(PREFIX):] if name.startswith(PREFIX) else name
        if short in by_name:
            raise ReferenceError(
                f"{path}: tensor {short!r} is stored twice (as {by_name[short]!r} and {name!r})")
        by_name[short] = name

    expected = dict(model.named_parameters())
    for name, param in expected.items():
        if name not in by_name:
            raise ReferenceError(
                f"{path}: missing tensor {name!r} (shape {list(param.shape)}); "
                f"the file has {len(stored)} tensors")
        t = stored[by_name[name]]
        if t.dtype not in (torch.float32, torch.float64):
            raise ReferenceError(f"{path}: tensor {by_name[name]!r} is {t.dtype}, expected F32")
        if list(t.shape) != list(param.shape):
            raise ReferenceError(
                f"{path}: tensor {by_name[name]!r} has shape {list(t.shape)}, "
                f"expected {list(param.shape)} (Conv1D weights are stored [in, out])")
        with torch.no_grad():
            param.copy_(t.to(dtype))
    unexpected = sorted(set(by_name) - set(expected))
    if unexpected:
        hint = " (the LM head is tied to tokens_embed.weight: store it once)" \
            if "lm_head.weight" in unexpected else ""
        raise ReferenceError(f"{path}: unexpected tensors {unexpected}{hint}")


OPTIMIZER_KEYS = ("lr", "beta1", "beta2", "eps", "weight_decay", "steps")


def load_batches(path, config):
    """Returns ([(ids, targets)], {optimizer key: float}) from batches.safetensors."""
    tensors, metadata = read_safetensors(path)

    settings = {}
    for key in OPTIMIZER_KEYS:
        from_metadata = from_tensor = None
        if key in metadata:
            try:
                from_metadata = float(metadata[key])
            except ValueError:
                raise ReferenceError(
                    f"{path}: __metadata__ {key} = {metadata[key]!r} is not a number") from None
        if key in tensors:
            t = tensors[key]
            if t.dtype != torch.float64 or t.dim() != 0:
                raise ReferenceError(
                    f"{path}: tensor {key!r} must be an F64 scalar (shape []), got "
                    f"{t.dtype} of shape {list(t.shape)}")
            from_tensor = t.item()
        if from_metadata is None and from_tensor is None:
            raise ReferenceError(
                f"{path}: missing optimizer setting {key!r} (in __metadata__ or as an F64 scalar)")
        if from_metadata is not None and from_tensor is not None and from_metadata != from_tensor:
            raise ReferenceError(
                f"{path}: {key} is {from_metadata} in __metadata__ but {from_tensor} as a tensor")
        settings[key] = from_metadata if from_metadata is not None else from_tensor
    steps = settings["steps"]
    if not (steps >= 0 and float(steps).is_integer()):
        raise ReferenceError(f"{path}: steps must be a non-negative integer, got {steps}")
    settings["steps"] = int(steps)

    batches = []
    while f"ids.{len(batches)}" in tensors:
        k = len(batches)
        ids = tensors[f"ids.{k}"]
        if f"targets.{k}" not in tensors:
            raise ReferenceError(f"{path}: ids.{k} has no targets.{k}")
        targets = tensors[f"targets.{k}"]
        for name, t in ((f"ids.{k}", ids), (f"targets.{k}", targets)):
            if t.dtype != torch.int32 or t.dim() != 2 or 0 in t.shape:
                raise ReferenceError(
                    f"{path}: tensor {name!r} must be I32 of shape (B, T), got {t.dtype} "
                    f"of shape {list(t.shape)}")
        if ids.shape != targets.shape:
            raise ReferenceError(
                f"{path}: ids.{k} has shape {list(ids.shape)} but targets.{k} has "
                f"{list(targets.shape)}")
        if ids.shape[1] > config.n_positions:
            raise ReferenceError(
                f"{path}: ids.{k} has T = {ids.shape[1]}, more than n_positions "
                f"{config.n_positions}")
        if ids.min() < 0 or ids.max() >= config.vocab_size:
            raise ReferenceError(
                f"{path}: ids.{k} holds ids in [{ids.min().item()}, {ids.max().item()}], outside "
                f"[0, {config.vocab_size})")
        bad = (targets != -100) & ((targets < 0) | (targets >= config.vocab_size))
        if bad.any():
            raise ReferenceError(
                f"{path}: targets.{k} holds {targets[bad][0].item()}, expected -100 or a "
                f"token id in [0, {config.vocab_size})")
        if (targets == -100).all():
            raise ReferenceError(f"{path}: every target of targets.{k} is -100: the loss is 0/0")
        batches.append((ids.long(), targets.long()))

    if not batches:
        raise ReferenceError(f"{path}: missing tensor 'ids.0'")
    known = {f"{kind}.{k}" for k in range(len(batches)) for kind in ("ids", "targets")}
    unexpected = sorted(set(tensors) - known - set(OPTIMIZER_KEYS))
    if unexpected:
        raise ReferenceError(
            f"{path}: unexpected tensors {unexpected} (expected ids.K, targets.K for "
            f"K = 0..{len(batches) - 1}, and optimizer scalars)")
    if settings["steps"] > len(batches):
        raise ReferenceError(
            f"{path}: steps is {settings['steps']} but there are only {len(batches)} batches "
            f"(step k uses batch k)")
    return batches, settings


# ---------------------------------------------------------------------------------------
# The computation

def make_adamw(model, settings):
    """AdamW (Loshchilov & Hutter 2019) with GPT-1's decay rule: weight decay on the
    matrices (rank >= 2: embeddings and Conv1D weights), none on biases and LayerNorm
    gains (rank 1)."""
    matrices = [p for p in model.parameters() if p.dim() >= 2]
    vectors = [p for p in model.parameters() if p.dim() < 2]
    return torch.optim.AdamW(
        [{"params": matrices, "weight_decay": settings["weight_decay"]},
         {"params": vectors, "weight_decay": 0.0}],
        lr=settings["lr"], betas=(settings["beta1"], settings["beta2"]), eps=settings["eps"])


def compute_reference(directory, dtype):
    """Returns ({name: tensor} in output order, summary dict)."""
    config = Config(os.path.join(directory, "config.json"))
    model = GPT1(config).to(dtype)
    model.eval()  # no dropout exists here; eval() states the intent
    load_parameters(model, os.path.join(directory, "model.safetensors"), dtype)
    batches, settings = load_batches(os.path.join(directory, "batches.safetensors"), config)
    names = [name for name, _ in model.named_parameters()]
    out = {}

    # 1. the initial model on batch 0: logits, loss, and d loss / d every parameter
    ids, targets = batches[0]                         # (B, T), (B, T)
    logits = model(ids)                               # (B, T, V)
    loss = lm_loss(logits, targets)                   # ()
    model.zero_grad(set_to_none=True)
    loss.backward()
    out["logits"] = logits.detach()
    out["loss"] = loss.detach()
    for name, p in model.named_parameters():
        out[f"grad.{name}"] = p.grad.detach().clone()  # same shape as the stored parameter

    # 2. AdamW, batch k on step k; record each step's loss before its update
    optimizer = make_adamw(model, settings)
    step_loss = []
    for k in range(settings["steps"]):
        ids, targets = batches[k]
        optimizer.zero_grad(set_to_none=True)
        loss_k = lm_loss(model(ids), targets)
        loss_k.backward()
        optimizer.step()
        step_loss.append(loss_k.item())
    out["step_loss"] = torch.tensor(step_loss, dtype=torch.float64)  # (steps)

    # 3. every parameter after the last step
    for name, p in model.named_parameters():
        out[f"param_after.{name}"] = p.detach().clone()

    summary = {"loss": out["loss"].item(), "step_loss": step_loss,
               "parameters": len(names), "batch0": list(batches[0][0].shape)}
    return out, summary


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Write kiso's golden reference (logits, loss, gradients, AdamW steps) "
                    "for the model and batches in DIR.")
    parser.add_argument("dir", metavar="DIR",
                        help="holds config.json, model.safetensors, batches.safetensors")
    parser.add_argument("--out", help="output file (default DIR/reference.safetensors)")
    parser.add_argument("--dtype", choices=("float64", "float32"), default="float64",
                        help="precision of the computation (output is F64 either way)")
    args = parser.parse_args(argv)
    out_path = args.out or os.path.join(args.dir, "reference.safetensors")
    dtype = torch.float64 if args.dtype == "float64" else torch.float32

    try:
        tensors, summary = compute_reference(args.dir, dtype)
        write_safetensors(out_path, tensors,
                          {"generator": GENERATOR, "torch": torch.__version__,
                           "dtype": args.dtype})
    except ReferenceError as e:
        print(f"gpt1_reference: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"gpt1_reference: cannot write {out_path}: {e.strerror}", file=sys.stderr)
        return 1

    steps = ", ".join(f"{x:.6f}" for x in summary["step_loss"])
    print(f"{out_path}: {len(tensors)} tensors ({summary['parameters']} parameters), "
          f"{args.dtype}, batch 0 {summary['batch0']}")
    print(f"loss {summary['loss']:.12f}; step_loss [{steps}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())

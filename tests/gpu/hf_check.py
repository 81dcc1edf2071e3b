"""tests/gpu/hf_check.py — does Hugging Face transformers read a kiso model directory as GPT-1?

Loads tests/golden/tiny (written by kiso) with transformers' OpenAIGPTLMHeadModel and compares
its logits on batch 0 with the float64 reference logits (tests/golden/tiny/reference.safetensors,
which kiso's own test already matches). Not a test of make test: it needs transformers, which
only the lent GPU machines have; tests/gpu/device_check.sh runs it and prints one line.
Usage: python3 tests/gpu/hf_check.py [DIR]
"""
import sys

import torch
from safetensors.torch import load_file
from transformers import OpenAIGPTLMHeadModel

directory = sys.argv[1] if len(sys.argv) > 1 else "tests/golden/tiny"
model = OpenAIGPTLMHeadModel.from_pretrained(directory).eval().double()
ids = load_file(f"{directory}/batches.safetensors")["ids.0"].long()    # (B, T)
want = load_file(f"{directory}/reference.safetensors")["logits"]        # (B, T, V) float64
with torch.no_grad():
    got = model(ids).logits
diff = (got - want).abs().max().item()
scale = want.abs().max().item()
print(f"hf_check: transformers OpenAIGPTLMHeadModel on {directory}: max |logits - reference| = {diff:.3e} "
      f"(largest logit {scale:.3f}) -> {'ok' if diff < 1e-9 * max(scale, 1) else 'MISMATCH'}")

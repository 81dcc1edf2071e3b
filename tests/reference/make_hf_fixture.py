#!/usr/bin/env python3
"""A model directory as Hugging Face transformers writes it, for kiso's interop tests.

Writes tests/gpt/data/hf_tiny/, a tiny GPT-1 saved by transformers' own
OpenAIGPTLMHeadModel.save_pretrained, laid out like OpenAI's released GPT-1 on the hub
(openai-community/openai-gpt): config.json and model.safetensors as save_pretrained writes them,
the tokenizer as vocab.json + merges.txt in the openai-gpt format (copied from
tests/gpt/data/gpt1_tokenizer, made by make_gpt1_tokenizer_reference.py) plus the
tokenizer.json and tokenizer_config.json that transformers' tokenizer.save_pretrained writes.

    hf_tiny/                   the model, F32 (transformers' default)
    hf_tiny_f16/, hf_tiny_bf16/  the same model saved after .half() / .to(bfloat16):
                               config.json + model.safetensors only
    hf_tiny_expected.safetensors  what transformers computes, all F32:
        ids              I32 (2, T)   two windows of eval.txt's tokens, as transformers' tokenizer
                                      encodes the text
        positions        I32 (P,)     the positions whose logits are kept: first, two inner, last
        logits           F32 (2, P, V) OpenAIGPTLMHeadModel(ids).logits[:, positions], eval mode,
                                      of hf_tiny
        logits_f16/_bf16 F32 (2, P, V) the same for the 16-bit copies (their weights widened to
                                      f32, computed in f32: what kiso does on load)
      and, in the metadata (strings): greedy_prompt, greedy_ids: the prompt and the 8 tokens
      OpenAIGPTLMHeadModel.generate(do_sample=False) appends to it (a JSON list); eval_loss, eval_tokens: the mean next-token cross-entropy
      over eval.txt in consecutive windows of n_positions tokens (kiso eval's windows: window w
      reads tokens w*T .. w*T+T-1 and predicts w*T+1 .. w*T+T; the partial window is dropped)
    hf_tiny_eval.txt           the text, a few paragraphs of /usr/share/common-licenses/GPL-3

The weights are random but not GPT-1's N(0, 0.02) (under which every logit is nearly 0 and a
wrong layer would hardly show): matrices N(0, 0.3), LayerNorm gains 1 + N(0, 0.2), biases
N(0, 0.1), so that the logits spread over several units and every parameter matters.

Usage (PyPI torch + transformers; `make test` does not run it, the output is committed):

    build/torch-venv/bin/python tests/reference/make_hf_fixture.py [--out tests/gpt/data]
"""
import argparse
import json
import os
import shutil

import torch
import transformers
from safetensors.torch import save_file
from transformers import OpenAIGPTConfig, OpenAIGPTLMHeadModel, OpenAIGPTTokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def eval_text():
    """Paragraphs of the GPL 3 preamble: plain English prose from base-files."""
    with open("/usr/share/common-licenses/GPL-3", encoding="utf-8") as f:
        text = f.read()
    start = text.index("The GNU General Public License is a free")
    return text[start:start + 2500]


def randomise(model, gen):
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("ln_1.weight") or name.endswith("ln_2.weight"):
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=gen))
            elif name.endswith(".bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))
            else:
                p.copy_(0.3 * torch.randn(p.shape, generator=gen))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(ROOT, "tests/gpt/data"))
    args = ap.parse_args()
    tok_dir = os.path.join(ROOT, "tests/gpt/data/gpt1_tokenizer")
    tokenizer = OpenAIGPTTokenizer.from_pretrained(tok_dir)
    vocab = len(json.load(open(os.path.join(tok_dir, "vocab.json"), encoding="utf-8")))

    config = OpenAIGPTConfig(vocab_size=vocab, n_positions=24, n_embd=16, n_layer=2, n_head=2)
    gen = torch.Generator().manual_seed(19)
    model = OpenAIGPTLMHeadModel(config)
    randomise(model, gen)
    model.eval()

    out = os.path.join(args.out, "hf_tiny")
    shutil.rmtree(out, ignore_errors=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)  # tokenizer.json, tokenizer_config.json
    for name in ("vocab.json", "merges.txt"):
        shutil.copy(os.path.join(tok_dir, name), os.path.join(out, name))

    text = eval_text()
    with open(os.path.join(args.out, "hf_tiny_eval.txt"), "w", encoding="utf-8") as f:
        f.write(text)
    ids = tokenizer.encode(text)
    T = config.n_positions
    windows = (len(ids) - 1) // T
    assert windows >= 2, "the eval text is too short"
    x = torch.tensor([ids[w * T:w * T + T] for w in range(windows)])
    y = torch.tensor([ids[w * T + 1:w * T + T + 1] for w in range(windows)])

    positions = torch.tensor([0, 7, 15, T - 1])
    expected = {"ids": x[:2].to(torch.int32).contiguous(), "positions": positions.to(torch.int32)}
    with torch.no_grad():
        logits = model(x).logits
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, vocab).double(), y.reshape(-1))
        expected["logits"] = logits[:2, positions].contiguous()
        for name, dtype in (("f16", torch.float16), ("bf16", torch.bfloat16)):
            low = OpenAIGPTLMHeadModel(config)
            low.load_state_dict(model.state_dict())
            low = low.to(dtype)
            low.save_pretrained(os.path.join(args.out, f"hf_tiny_{name}"))
            low = low.float().eval()  # widened exactly, computed in f32 as kiso does
            expected[f"logits_{name}"] = low(x[:2]).logits[:, positions].contiguous()
    prompt = "the licenses for most software"
    prompt_ids = tokenizer.encode(prompt)
    with torch.no_grad():
        greedy = model.generate(torch.tensor([prompt_ids]), max_new_tokens=8, do_sample=False,
                                pad_token_id=0)[0, len(prompt_ids):].tolist()
    meta = {
        "greedy_prompt": prompt,
        "greedy_ids": json.dumps(greedy),
        "generator": "tests/reference/make_hf_fixture.py",
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "eval_loss": repr(loss.item()),
        "eval_tokens": str(y.numel()),
    }
    save_file(expected, os.path.join(args.out, "hf_tiny_expected.safetensors"), metadata=meta)
    print(f"hf_tiny: vocab {vocab}, {sum(p.numel() for p in model.parameters())} parameters; "
          f"eval: {len(ids)} tokens, {windows} windows of {T}, loss {loss.item():.6f}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""transformers' own answers on `kiso export`'s output, for tests/gpt/test_hf_export.cpp.

For each task directory of the fixture (tests/gpt/data/hf_export/<task>/, made by
tests/reference/make_hf_export_fixture.cpp and `kiso export`: classification, similarity and
multiple-choice with kiso's byte-level BPE, exported as GPT2Tokenizer; gpt1-entailment, a text
pair task with GPT-1's own BPE, exported as OpenAIGPTTokenizer), it loads every exported form with
the transformers class its config names, exactly as a user would:

    sequence-classification/  OpenAIGPTForSequenceClassification.from_pretrained
    double-heads/             OpenAIGPTDoubleHeadsModel.from_pretrained

checks that loading reported no missing, unexpected or mismatched tensor, runs the committed
sequences (inputs.safetensors: ids (E, S, T) as kiso's make_task_batch pads them, extract (E, S)
the EXTRACT positions) in float32, eval mode, and reads the task logits (E, K) the way
task_specific_params.kiso.read in the exported config.json says:

    sequence-classification  logits of each row (pooled by transformers at the rightmost token
                             that is not pad_token_id); similarity: the two orders' rows summed
    double-heads             mc_logits with mc_token_ids = extract; classification: [:, 0, :K];
                             similarity: summed over the two orders, [:, :K]; multiple choice: (E, K)

It also encodes each sequence with AutoTokenizer.from_pretrained on the export, both spelled out
("<|start|>" + text + "<|delim|>" + ... + "<|extract|>", no special tokens added) and as the text
or text pair (tokenizer.json's post-processor adds the framing), and asserts the ids are the
committed rows: transformers' tokenizer reads kiso's files, knows kiso's special tokens and frames
as kiso does (with truncation=True, also where kiso cuts a text; not for a pair kiso cuts); for
GPT-1's kind that includes its pipeline (lowercasing, accents stripped, punctuation split off,
<unk> for characters the vocabulary lacks: asserted to occur). For the classifier and the
entailment model it also runs what a user would, pipeline("text-classification", truncation=True)
on the raw texts (entailment: {"text": premise, "text_pair": hypothesis}), and records its
probabilities. Writes <task>/reference.json:

    {"transformers": "5.24.0", "torch": "...", "logits": {"<form>": [[...], ...]},
     "pipeline": [[p(label) for each label], ...]}   (classification and entailment only)

(float32 values written as the doubles they are). Run it through the Makefile, which rebuilds
the whole fixture first:

    make hf-export-reference HF_PYTHON=/path/to/python   # PyPI torch + transformers + safetensors

`make test` never runs it: its output is committed.
"""
import json
import os
import sys

import torch
import transformers
from safetensors.torch import load_file
from transformers import AutoTokenizer, OpenAIGPTDoubleHeadsModel, OpenAIGPTForSequenceClassification

CLASSES = {"sequence-classification": OpenAIGPTForSequenceClassification, "double-heads": OpenAIGPTDoubleHeadsModel}


def framed(pieces, task):
    """The text (or text pair) of each sequence kiso's transform() makes of one example (gpt/tasks.h)."""
    if task == "classification":
        return [(pieces[0],)]
    if task == "entailment":
        return [tuple(pieces)]
    if task == "similarity":
        a, b = pieces
        return [(a, b), (b, a)]
    return [(pieces[0], answer) for answer in pieces[1:]]


def spelled(row):
    """The same sequence as one string with the special tokens written out."""
    return "<|start|>" + "<|delim|>".join(row) + "<|extract|>"


def logits_of(form, model, ids, extract, task, K):
    E, S, T = ids.shape
    # The padding kiso adds comes after each row's EXTRACT, so causal attention already keeps it out
    # of every position read; the mask says so to transformers (and leaves the logits as they are).
    mask = (torch.arange(T) <= extract.unsqueeze(-1)).long()  # (E, S, T)
    if form == "sequence-classification":
        # (E·S, K), pooled at the rightmost token that is not pad_token_id
        out = model(input_ids=ids.reshape(E * S, T), attention_mask=mask.reshape(E * S, T)).logits
        # transformers' pooling position must be kiso's EXTRACT position, or the comparison is moot.
        non_pad = (ids.reshape(E * S, T) != model.config.pad_token_id).int() * torch.arange(T)
        assert torch.equal(non_pad.argmax(-1), extract.reshape(-1).long()), "pooling position is not the EXTRACT"
        return out.reshape(E, S, K).sum(1)  # similarity: logits(A, B) + logits(B, A); else S = 1
    # OpenAIGPTModel flattens input_ids (E, S, T) to rows but not the mask: it takes the rows' (E·S, T).
    mc = model(input_ids=ids, attention_mask=mask.reshape(E * S, T), mc_token_ids=extract.long()).mc_logits
    # mc: (E, S, C), or (E, S) when num_labels = 1 (multiple choice)
    if task == "multiple-choice":
        return mc  # (E, K) scores
    return mc.sum(1)[:, :K]  # classification: S = 1; similarity: the two orders summed


def main(root):
    torch.manual_seed(0)
    for name in ["classification", "similarity", "multiple-choice", "gpt1-entailment"]:
        task_dir = os.path.join(root, name)
        with open(os.path.join(task_dir, "model", "task.json")) as f:
            task = json.load(f)["task"]  # the task kind: classification, entailment, similarity, multiple-choice
        inputs = load_file(os.path.join(task_dir, "inputs.safetensors"))
        ids, extract = inputs["ids"].long(), inputs["extract"]
        with open(os.path.join(task_dir, "examples.json")) as f:
            examples = json.load(f)
        out = {"transformers": transformers.__version__, "torch": torch.__version__, "logits": {}}
        for form, cls in CLASSES.items():
            export = os.path.join(task_dir, form)
            if not os.path.isdir(export):
                continue
            model, info = cls.from_pretrained(export, output_loading_info=True)
            bad = {k: v for k, v in info.items() if v}
            assert not bad, f"{export}: loading reported {bad}"
            model.eval()
            kiso = model.config.task_specific_params["kiso"]
            K = ids.shape[1] if task == "multiple-choice" else len(kiso["labels"])
            with torch.no_grad():
                logits = logits_of(form, model, ids, extract, task, K)
            assert logits.dtype == torch.float32 and tuple(logits.shape) == (ids.shape[0], K)
            out["logits"][form] = [[float(x) for x in row] for row in logits]

            tokenizer = AutoTokenizer.from_pretrained(export)
            rows = [r for e in examples for r in framed(e, task)]
            checked = 0
            for n, row in enumerate(rows):
                want = ids.reshape(-1, ids.shape[-1])[n, : int(extract.reshape(-1)[n]) + 1].tolist()
                # The framing written out, and the framing added by the post-processor of tokenizer.json.
                # Sequences longer than max_len are cut by kiso in their texts, the longest first,
                # from its end. truncation=True does the same for one text; for a pair, transformers'
                # "longest_first" can split the room one token differently when both texts are long
                # (it does on this fixture's long pair), so a cut pair is left to kiso's ids.
                cut = len(tokenizer(*row)["input_ids"]) > kiso["max_len"]
                forms = [] if cut and len(row) == 2 else [tokenizer(*row, truncation=True)]
                if not cut:
                    forms.append(tokenizer(spelled(row), add_special_tokens=False))
                checked += bool(forms)
                for got in forms:
                    assert list(got.keys()) == ["input_ids", "attention_mask"], got.keys()  # no token_type_ids
                    assert got["input_ids"] == want, f"{export}: transformers gives {got['input_ids']} for {row}, kiso {want}"
            with open(os.path.join(export, "tokenizer_config.json")) as f:
                tokenizer_class = json.load(f)["tokenizer_class"]
            assert type(tokenizer).__name__.startswith(tokenizer_class), f"{export}: {type(tokenizer)} for {tokenizer_class}"
            if tokenizer_class == "OpenAIGPTTokenizer":  # GPT-1's kind: the fixture's texts must reach <unk>
                rows_ids = ids.reshape(-1, ids.shape[-1]).tolist()
                assert tokenizer.unk_token == "<unk>", tokenizer.unk_token
                assert any(tokenizer.unk_token_id in r for r in rows_ids), f"{export}: no text reaches <unk>"
            if form == "sequence-classification" and task in ("classification", "entailment"):
                # What a user runs: the pipeline, on the raw texts (tokenizer.json adds the framing).
                classify = transformers.pipeline("text-classification", model=export, device="cpu")
                texts = [e[0] if task == "classification" else {"text": e[0], "text_pair": e[1]} for e in examples]
                answers = classify(texts, top_k=None, truncation=True)
                labels = kiso["labels"]
                out["pipeline"] = [[next(a["score"] for a in answer if a["label"] == l) for l in labels] for answer in answers]
            print(f"{export}: {cls.__name__} loaded with no missing or unexpected tensor; logits {tuple(logits.shape)}; "
                  f"{checked} of {len(rows)} sequences tokenised as kiso does (the others: a pair cut differently)")
        with open(os.path.join(task_dir, "reference.json"), "w") as f:
            json.dump(out, f, indent=1)
            f.write("\n")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(f"usage: {sys.argv[0]} FIXTURE_DIR (tests/gpt/data/hf_export)")
    main(sys.argv[1])

#!/usr/bin/env python3
"""Greedy agreement with llama.cpp on the default model as shipped (Q4_1).

For each of the engine golden prompts (bench/reference/engine_golden.py),
both engines generate 64 greedy tokens from the same prompt ids: llama.cpp
with its defaults (f16 KV cache; its Q4_1 kernels quantize activations to
Q8_1 blocks with f16 scales) and gqaserve (`gqa generate --raw --ids`; Q4_1
against 8-bit activation blocks with f32 scales, f32 KV cache). Prints, per
prompt, how many leading tokens agree and llama.cpp's top-2 margin where they
first differ.

Usage (repository root, reference venv):
  .venv-ref/bin/python bench/reference/q4_agreement.py [--model PATH]
"""

import argparse
import os
import pathlib
import subprocess
import sys

import numpy as np
from llama_cpp import Llama

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from engine_golden import PROMPTS  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
STEPS = 64


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=os.path.expanduser(
        "~/.cache/gqaserve/models/SmolLM2-135M-Instruct.Q4_1.gguf"))
    parser.add_argument("--gqa", default=str(ROOT / "build" / "tools" / "gqa" / "gqa"))
    args = parser.parse_args()
    llm = Llama(model_path=args.model, n_ctx=512, n_threads=2, logits_all=True, verbose=False)
    total_agree = 0
    print("| prompt | leading tokens identical (of 64) | llama.cpp top-2 margin at first difference (nats) |")
    print("|---|---:|---:|")
    for prompt in PROMPTS:
        ids = llm.tokenize(prompt.encode(), add_bos=False, special=True)
        llm.reset()
        llm.eval(ids)
        ref, margins = [], []
        for _ in range(STEPS):
            logits = np.array(llm.scores[llm.n_tokens - 1], dtype=np.float64)
            order = np.argsort(-logits, kind="stable")[:2]
            shifted = logits - logits.max()
            logprobs = shifted - np.log(np.exp(shifted).sum())
            ref.append(int(order[0]))
            margins.append(float(logprobs[order[0]] - logprobs[order[1]]))
            llm.eval([int(order[0])])
        out = subprocess.run([args.gqa, "generate", "--model", args.model, "--raw", "--ids",
                              "--max-tokens", str(STEPS), prompt],
                             capture_output=True, text=True, check=True).stdout.split()
        ours = [int(t) for t in out]
        agree = 0
        while agree < STEPS and agree < len(ours) and ours[agree] == ref[agree]:
            agree += 1
        total_agree += agree
        margin = f"{margins[agree]:.4f}" if agree < STEPS else "-"
        print(f"| {prompt[:40]!r} | {agree} | {margin} |")
    print(f"\nmean leading agreement: {total_agree / len(PROMPTS):.1f} of {STEPS} tokens")


if __name__ == "__main__":
    main()

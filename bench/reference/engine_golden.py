#!/usr/bin/env python3
"""Writes llama.cpp's greedy continuations and top-5 log-probabilities for
ten varied prompts (golden data for gqaserve's engine test).

Both engines must run the same weights at matching precision, so that any
difference comes only from the order of arithmetic: pass the default model
converted to F32 (`gqa convert --dtype f32 IN OUT`); llama.cpp runs with an
F32 KV cache and without flash attention (which rounds Q to f16 on the CPU). For each prompt the
script tokenizes with llama.cpp (special=False, the model's add_bos), runs 64
greedy steps and records, at every step, the chosen id, the top-5 ids with
their log-softmax values and the top-2 margin (a near-tie is where two
engines may legitimately diverge).

Output: tests/testdata/engine/smollm2_f32_golden.jsonl, a {"meta": ...} line
then one {"prompt", "prompt_ids", "steps": [{"id", "top": [[id, logprob]...],
"margin"}]} line per prompt. Checked by worker/engine/engine_golden_test.cc.

Usage (repository root, reference venv):
  build/tools/gqa/gqa convert --dtype f32 MODEL.gguf /tmp/smollm2-f32.gguf
  .venv-ref/bin/python bench/reference/engine_golden.py /tmp/smollm2-f32.gguf
"""

import json
import pathlib
import sys

import numpy as np
from llama_cpp import Llama

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "testdata" / "engine" / "smollm2_f32_golden.jsonl"
STEPS = 64
PROMPTS = [
    "The capital of France is",
    "Once upon a time, in a small village by the sea, there lived",
    "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n",
    "Q: What is 17 multiplied by 23?\nA:",
    "La tour Eiffel est située à",
    "The three primary colors are",
    "#include <stdio.h>\n\nint main(void) {\n",
    "Photosynthesis is the process by which",
    "<|im_start|>user\nGive me a haiku about autumn.<|im_end|>\n<|im_start|>assistant\n",
    "1, 1, 2, 3, 5, 8, 13,",
]


def log_softmax(logits):
    shifted = logits.astype(np.float64) - logits.max()
    return shifted - np.log(np.exp(shifted).sum())


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    # F32 KV cache and no flash attention: llama.cpp's defaults (an f16 cache,
    # and CPU flash attention that rounds Q to f16) would add f16 rounding that
    # gqaserve's f32 path does not have.
    model = Llama(model_path=sys.argv[1], n_ctx=512, n_threads=2, logits_all=True,
                  type_k=0, type_v=0, flash_attn=False, verbose=False)
    add_bos = model.metadata.get("tokenizer.ggml.add_bos_token", "false") == "true"
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with OUT.open("w") as out:
        out.write(json.dumps({"meta": {
            "reference": "llama.cpp via llama-cpp-python", "model": pathlib.Path(sys.argv[1]).name,
            "steps": STEPS, "top": 5, "special_in_prompt": True, "kv_cache": "f32",
            "flash_attn": False,
            "command": "bench/reference/engine_golden.py"}}) + "\n")
        for prompt in PROMPTS:
            ids = model.tokenize(prompt.encode(), add_bos=add_bos, special=True)
            model.reset()
            model.eval(ids)
            steps = []
            for _ in range(STEPS):
                logprobs = log_softmax(np.array(model.scores[model.n_tokens - 1]))
                order = np.argsort(-logprobs, kind="stable")[:5]
                chosen = int(order[0])
                steps.append({"id": chosen,
                              "top": [[int(i), float(logprobs[i])] for i in order],
                              "margin": float(logprobs[order[0]] - logprobs[order[1]])})
                model.eval([chosen])
            out.write(json.dumps({"prompt": prompt, "prompt_ids": ids, "steps": steps}) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()

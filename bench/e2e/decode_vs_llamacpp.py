#!/usr/bin/env python3
"""Single-sequence prompt and decode throughput: gqaserve vs llama.cpp.

Same machine, same thread count, same weights (the GGUF file as given, by
default the shipped Q4_1 default model), side by side in one run, alternating
engines over several rounds and reporting medians. The prompt is the same
text for both; each engine decodes greedily for --tokens steps (llama.cpp
through llama-cpp-python's low-level eval loop, gqaserve through
`gqa generate --raw --ids`, which reports prompt and decode tokens/s).

Usage (repository root, reference venv):
  .venv-ref/bin/python bench/e2e/decode_vs_llamacpp.py [--threads 2] [--tokens 128]
      [--rounds 3] [--model PATH] [--markdown]
"""

import argparse
import os
import pathlib
import re
import statistics
import subprocess
import time

import numpy as np
from llama_cpp import Llama

ROOT = pathlib.Path(__file__).resolve().parents[2]
DEFAULT_MODEL = os.path.expanduser(os.path.join(
    os.environ.get("GQA_CACHE_DIR", "~/.cache/gqaserve"), "models",
    "SmolLM2-135M-Instruct.Q4_1.gguf"))
PROMPT = ("The history of the printing press begins in the fifteenth century, when "
          "Johannes Gutenberg combined movable metal type, oil-based inks and a "
          "wooden press adapted from those used to make wine. Within a few decades "
          "printing shops had opened in most of the large cities of Europe, and the "
          "cost of books fell so quickly that") * 2


def run_llama_cpp(model, prompt_ids, tokens):
    model.reset()
    t0 = time.perf_counter()
    model.eval(prompt_ids)
    t1 = time.perf_counter()
    for _ in range(tokens):
        next_id = int(np.argmax(model.scores[model.n_tokens - 1]))
        model.eval([next_id])
    t2 = time.perf_counter()
    return len(prompt_ids) / (t1 - t0), tokens / (t2 - t1)


def run_gqaserve(gqa, model_path, threads, tokens):
    result = subprocess.run(
        [gqa, "generate", "--model", model_path, "--threads", str(threads), "--raw", "--ids",
         "--max-tokens", str(tokens + 1), PROMPT],
        capture_output=True, text=True, check=True)
    stats = re.search(r"prompt: (\d+) tokens in \S+ s \((\S+) tokens/s\); decode: (\d+) tokens "
                      r"in \S+ s \((\S+) tokens/s\)", result.stderr)
    if not stats:
        raise RuntimeError("unexpected gqa output: " + result.stderr)
    return float(stats.group(2)), float(stats.group(4)), int(stats.group(1))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--gqa", default=str(ROOT / "build" / "tools" / "gqa" / "gqa"))
    args = parser.parse_args()

    llm = Llama(model_path=args.model, n_ctx=1024, n_threads=args.threads,
                n_threads_batch=args.threads, n_batch=512, verbose=False)
    prompt_ids = llm.tokenize(PROMPT.encode(), add_bos=False, special=False)
    ours_p, ours_d, ref_p, ref_d = [], [], [], []
    for _ in range(args.rounds):
        p, d, n_ours = run_gqaserve(args.gqa, args.model, args.threads, args.tokens)
        ours_p.append(p)
        ours_d.append(d)
        p, d = run_llama_cpp(llm, prompt_ids, args.tokens)
        ref_p.append(p)
        ref_d.append(d)
    med = statistics.median
    print(f"model: {pathlib.Path(args.model).name}; threads: {args.threads}; prompt tokens: "
          f"{len(prompt_ids)} (gqaserve {n_ours}); decode steps: {args.tokens}; "
          f"rounds: {args.rounds} (medians)")
    print("| engine | prompt tokens/s | decode tokens/s |")
    print("|---|---:|---:|")
    print(f"| gqaserve | {med(ours_p):.1f} | {med(ours_d):.1f} |")
    print(f"| llama.cpp | {med(ref_p):.1f} | {med(ref_d):.1f} |")
    print(f"| ratio gqaserve / llama.cpp | {med(ours_p) / med(ref_p):.2f} | "
          f"{med(ours_d) / med(ref_d):.2f} |")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Aggregate batched decode throughput: gqaserve's scheduler vs llama.cpp.

For each concurrency N: N sequences with distinct P-token prompts, greedy,
T new tokens each, EOS ignored, same GGUF file and thread count, side by side
in one run (engines alternate per N). Decode throughput is the tokens
generated after every sequence has its first token over the time until the
last one, i.e. steady-state batched decode.
  gqaserve:  build/bench/batched_decode (the worker's Scheduler in process)
  llama.cpp: llama-cpp-python's low-level API: one llama_batch holding one
             token per sequence per step (n_seq_max = N, unified KV cache).

Usage (repository root, reference venv):
  .venv-ref/bin/python bench/e2e/batched_vs_llamacpp.py [--threads 2] [--rounds 2]
      [--concurrency 1,4,16,64] [--prompt-tokens 64] [--tokens 64] [--model PATH]
Round 2 (--rounds 2) runs the concurrencies in reverse and llama.cpp first;
the last column is the 1-minute load average before and after each row.
"""

import argparse
import ctypes
import json
import os
import pathlib
import subprocess
import time

import numpy as np
import llama_cpp as L

ROOT = pathlib.Path(__file__).resolve().parents[2]
DEFAULT_MODEL = os.path.expanduser(os.path.join(
    os.environ.get("GQA_CACHE_DIR", "~/.cache/gqaserve"), "models",
    "SmolLM2-135M-Instruct.Q4_1.gguf"))


def prompt(s, length, vocab):
    # The same prompts as bench/e2e/batched_decode.cc.
    return [(1000 + s * 7919 + i * 104729) % vocab for i in range(length)]


def llama_cpp_decode(model, vocab_size, n, prompt_tokens, tokens, threads):
    params = L.llama_context_default_params()
    params.n_ctx = n * (prompt_tokens + tokens) + 64
    params.n_batch = 512
    params.n_ubatch = 512
    params.n_seq_max = n
    params.kv_unified = True
    params.n_threads = threads
    params.n_threads_batch = threads
    ctx = L.llama_init_from_model(model, params)
    batch = L.llama_batch_init(512, 0, 1)

    def add(token, pos, seq, logits):
        i = batch.n_tokens
        batch.token[i] = token
        batch.pos[i] = pos
        batch.n_seq_id[i] = 1
        batch.seq_id[i][0] = seq
        batch.logits[i] = logits
        batch.n_tokens += 1

    def flush():
        if batch.n_tokens and L.llama_decode(ctx, batch) != 0:
            raise RuntimeError("llama_decode failed")

    # Prefill (not timed): one sequence per llama_decode, logits of its last token.
    next_tokens = {}
    for s in range(n):
        ids = prompt(s, prompt_tokens, vocab_size)
        batch.n_tokens = 0
        for pos, token in enumerate(ids):
            add(token, pos, s, pos == len(ids) - 1)
        flush()
        logits = np.ctypeslib.as_array(L.llama_get_logits_ith(ctx, len(ids) - 1), shape=(vocab_size,))
        next_tokens[s] = int(np.argmax(logits))
    start = time.perf_counter()
    for step in range(tokens - 1):
        batch.n_tokens = 0
        for s in range(n):
            add(next_tokens[s], prompt_tokens + step, s, True)
        flush()
        for s in range(n):
            next_tokens[s] = int(np.argmax(np.ctypeslib.as_array(L.llama_get_logits_ith(ctx, s),
                                                                 shape=(vocab_size,))))
    elapsed = time.perf_counter() - start
    L.llama_batch_free(batch)
    L.llama_free(ctx)
    return n * (tokens - 1) / elapsed


def gqaserve_decode(args, n):
    out = subprocess.run(
        [args.binary, "--model", args.model, "--threads", str(args.threads), "--concurrency",
         str(n), "--prompt-tokens", str(args.prompt_tokens), "--tokens", str(args.tokens),
         "--kv-dtype", "f16", "--kv-bytes", "1GiB"],
        capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])["decode_tokens_per_s"]


def load_average():
    with open("/proc/loadavg") as f:
        return f.read().split()[0]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--concurrency", default="1,4,16,64")
    parser.add_argument("--prompt-tokens", type=int, default=64)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=1,
                        help="round r > 1 runs the concurrencies and the engines in the "
                             "reverse order of round r - 1")
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--binary", default=str(ROOT / "build/bench/batched_decode"))
    args = parser.parse_args()
    L.llama_backend_init()
    # Keep llama.cpp's loader and context logs out of the table.
    silent = L.llama_log_callback(lambda level, text, user_data: None)
    L.llama_log_set(silent, ctypes.c_void_p())
    model = L.llama_model_load_from_file(args.model.encode(), L.llama_model_default_params())
    vocab_size = L.llama_vocab_n_tokens(L.llama_model_get_vocab(model))
    print(f"# {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}, threads {args.threads}, "
          f"prompt {args.prompt_tokens}, new tokens {args.tokens}")
    print("| round | N | gqaserve decode tok/s | llama.cpp decode tok/s | ratio | load avg |")
    print("|---:|---:|---:|---:|---:|---:|")
    concurrency = [int(x) for x in args.concurrency.split(",")]
    for r in range(args.rounds):
        reverse = r % 2 == 1
        for n in reversed(concurrency) if reverse else concurrency:
            load = load_average()
            if reverse:
                theirs = llama_cpp_decode(model, vocab_size, n, args.prompt_tokens, args.tokens,
                                          args.threads)
                ours = gqaserve_decode(args, n)
            else:
                ours = gqaserve_decode(args, n)
                theirs = llama_cpp_decode(model, vocab_size, n, args.prompt_tokens, args.tokens,
                                          args.threads)
            print(f"| {r + 1} | {n} | {ours:.1f} | {theirs:.1f} | {ours / theirs:.2f} | "
                  f"{load}-{load_average()} |", flush=True)


if __name__ == "__main__":
    main()

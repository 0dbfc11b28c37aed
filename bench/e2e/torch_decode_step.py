#!/usr/bin/env python3
"""Decode tokens/s of a Llama-shaped model in PyTorch (random bf16 weights,
a static KV cache, F.scaled_dot_product_attention with enable_gqa), eager (no
CUDA graphs, no torch.compile), median of 10 timed steps after 3, timed with
CUDA events. Writes a markdown table.
  --shape llama3-8b (default): the reference for
    bench/micro/cuda_decode_step_bench.cc, the same shapes, batches, contexts.
  --shape smollm2-135m: the default model's shape, the reference for
    bench/e2e/batched_decode --backend cuda on it (scripts/gpu/run.sh
    --model-test); each timed step also picks the greedy tokens and copies
    them to the host, as a serving loop must.

  python3 bench/e2e/torch_decode_step.py [--out FILE] [--layers N] [--shape S]
"""
import argparse
import statistics
import sys

import torch
import torch.nn.functional as F

# name: (layers, hidden, q heads, kv heads, head_dim, ffn, vocab, contexts)
SHAPES = {
    "llama3-8b": (32, 4096, 32, 8, 128, 14336, 128256, (1024, 4096)),
    "smollm2-135m": (30, 576, 9, 3, 64, 1536, 49152, (96,)),  # 64-token prompts + 32 in
}
BATCHES = (1, 8, 32, 64)


def rms_norm(x, w, eps=1e-5):
    xf = x.float()
    return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)).to(x.dtype) * w


def rope(x, pos, theta=500000.0):  # x [B, heads, D], half-split pairs
    half = x.shape[-1] // 2
    inv = theta ** (-torch.arange(half, device=x.device, dtype=torch.float32) * 2 / x.shape[-1])
    ang = pos * inv
    cos, sin = ang.cos().to(x.dtype), ang.sin().to(x.dtype)
    x0, x1 = x[..., :half], x[..., half:]
    return torch.cat([x0 * cos - x1 * sin, x0 * sin + x1 * cos], dim=-1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out")
    ap.add_argument("--layers", type=int, default=None)
    ap.add_argument("--shape", choices=sorted(SHAPES), default="llama3-8b")
    args = ap.parse_args()
    global HIDDEN, Q_HEADS, KV_HEADS, HEAD_DIM, FFN, VOCAB
    layers_default, HIDDEN, Q_HEADS, KV_HEADS, HEAD_DIM, FFN, VOCAB, contexts = SHAPES[args.shape]
    args.layers = args.layers or layers_default
    max_context = max(contexts) + 64
    greedy = args.shape != "llama3-8b"
    if not torch.cuda.is_available():
        print("no CUDA device", file=sys.stderr)
        return 2
    dev, dt = "cuda", torch.bfloat16
    torch.manual_seed(0)

    def w(rows, cols):
        return torch.randn(rows, cols, device=dev, dtype=dt) / cols ** 0.5

    layers = []
    for _ in range(args.layers):
        layers.append(dict(
            wq=w(Q_HEADS * HEAD_DIM, HIDDEN), wk=w(KV_HEADS * HEAD_DIM, HIDDEN),
            wv=w(KV_HEADS * HEAD_DIM, HIDDEN), wo=w(HIDDEN, Q_HEADS * HEAD_DIM),
            wg=w(FFN, HIDDEN), wu=w(FFN, HIDDEN), wd=w(HIDDEN, FFN),
            n1=torch.ones(HIDDEN, device=dev, dtype=dt), n2=torch.ones(HIDDEN, device=dev, dtype=dt),
            k=torch.zeros(max(BATCHES), KV_HEADS, max_context, HEAD_DIM, device=dev, dtype=dt),
            v=torch.zeros(max(BATCHES), KV_HEADS, max_context, HEAD_DIM, device=dev, dtype=dt)))
    emb, lm_head = w(VOCAB, HIDDEN), w(VOCAB, HIDDEN)
    final_norm = torch.ones(HIDDEN, device=dev, dtype=dt)

    @torch.inference_mode()
    def step(ids, pos):
        b = ids.shape[0]
        x = emb[ids]
        for l in layers:
            h = rms_norm(x, l["n1"])
            q = rope((h @ l["wq"].T).view(b, Q_HEADS, HEAD_DIM), pos)
            k = rope((h @ l["wk"].T).view(b, KV_HEADS, HEAD_DIM), pos)
            v = (h @ l["wv"].T).view(b, KV_HEADS, HEAD_DIM)
            l["k"][:b, :, pos] = k
            l["v"][:b, :, pos] = v
            o = F.scaled_dot_product_attention(q.unsqueeze(2), l["k"][:b, :, :pos + 1],
                                               l["v"][:b, :, :pos + 1], enable_gqa=True)
            x = x + o.reshape(b, Q_HEADS * HEAD_DIM) @ l["wo"].T
            h = rms_norm(x, l["n2"])
            x = x + (F.silu(h @ l["wg"].T) * (h @ l["wu"].T)) @ l["wd"].T
        return (rms_norm(x, final_norm) @ lm_head.T).float()

    name = torch.cuda.get_device_name(0)
    md = [f"# Decode step, {args.shape} shape, random bf16 weights (PyTorch {torch.__version__})",
          "", f"Device: {name}; {args.layers} layers; static bf16 KV cache, SDPA with enable_gqa, "
          "eager" + (", greedy tokens copied to the host each step" if greedy else "") +
          ". Median of 10 steps after 3 (CUDA events).", "",
          "| batch | context | step ms | tokens/s |", "|---|---|---|---|"]
    for b in BATCHES:
        for ctx in contexts:
            ids = torch.arange(b, device=dev) * 7919 % VOCAB
            times = []
            for rep in range(13):
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record()
                logits = step(ids, ctx)
                if greedy:
                    logits.argmax(-1).cpu()
                end.record()
                end.synchronize()
                if rep >= 3:
                    times.append(start.elapsed_time(end))
            ms = statistics.median(times)
            row = f"| {b} | {ctx} | {ms:.2f} | {b / (ms * 1e-3):.0f} |"
            print(row, file=sys.stderr)
            md.append(row)
    text = "\n".join(md) + "\n"
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""How alike are the K (and V) projection heads of a GGUF model within each
group that `gqa convert --kv-heads G` would mean-pool? Prints, per layer, the
mean pairwise cosine similarity of the heads' weight blocks and the norm of
their mean relative to the heads' mean norm (1.0: identical heads, pooling is
lossless; 1/sqrt(r) for r orthogonal heads of equal norm).

usage: kv_head_similarity.py MODEL_F32.gguf [G]     (G default 1: all heads)
Reads F32 tensors only (convert with --dtype f32 first). Needs numpy.
"""
import struct
import sys

import numpy as np

SCALAR = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}


def read_gguf(path):
    data = memoryview(open(path, "rb").read())
    pos = 0

    def take(fmt):
        nonlocal pos
        values = struct.unpack_from("<" + fmt, data, pos)
        pos += struct.calcsize("<" + fmt)
        return values[0]

    def string():
        nonlocal pos
        n = take("Q")
        s = bytes(data[pos:pos + n]).decode("utf-8", "replace")
        pos += n
        return s

    def value(t):
        if t == 8:
            return string()
        if t == 9:
            et, n = take("I"), take("Q")
            return [value(et) for _ in range(n)]
        return take(SCALAR[t])

    assert bytes(data[:4]) == b"GGUF"
    pos = 8
    n_tensors, n_kv = take("Q"), take("Q")
    meta = {}
    for _ in range(n_kv):
        key = string()
        meta[key] = value(take("I"))
    infos = []
    for _ in range(n_tensors):
        name = string()
        dims = [take("Q") for _ in range(take("I"))]
        infos.append((name, dims, take("I"), take("Q")))
    align = meta.get("general.alignment", 32)
    base = (pos + align - 1) // align * align
    tensors = {}
    for name, dims, ggml_type, offset in infos:
        if ggml_type == 0:  # F32; numpy shape is outermost first
            count = int(np.prod(dims))
            arr = np.frombuffer(data, np.float32, count, base + offset)
            tensors[name] = arr.reshape(list(reversed(dims)))
    return meta, tensors


def main():
    meta, tensors = read_gguf(sys.argv[1])
    groups = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    arch = meta["general.architecture"]
    kv_heads = meta[arch + ".attention.head_count_kv"]
    layers = meta[arch + ".block_count"]
    r = kv_heads // groups
    print(f"{kv_heads} KV heads pooled in groups of {r}; per layer: cos(K) cos(V) |mean|/|head| K V")
    for layer in range(layers):
        row = []
        for which in ("k", "v"):
            w = tensors[f"blk.{layer}.attn_{which}.weight"]  # [kv_heads * head_dim, hidden]
            heads = w.reshape(kv_heads, -1).astype(np.float64)
            cos, ratio = [], []
            for g in range(groups):
                h = heads[g * r:(g + 1) * r]
                unit = h / np.linalg.norm(h, axis=1, keepdims=True)
                sim = unit @ unit.T
                cos.append(sim[np.triu_indices(r, 1)].mean() if r > 1 else 1.0)
                ratio.append(np.linalg.norm(h.mean(0)) / np.linalg.norm(h, axis=1).mean())
            row.append((np.mean(cos), np.mean(ratio)))
        (ck, rk), (cv, rv) = row
        print(f"layer {layer:2d}: {ck:+.3f} {cv:+.3f}   {rk:.3f} {rv:.3f}")


if __name__ == "__main__":
    main()

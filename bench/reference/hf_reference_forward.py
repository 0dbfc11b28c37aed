#!/usr/bin/env python3
"""Tiny Hugging Face-layout Llama checkpoints and their reference logits.

Writes, for each tiny model below, tests/testdata/safetensors/<name>/:

  config.json         a transformers LlamaConfig (model_type "llama")
  model.safetensors   random weights in Hugging Face names and layout
                      ([out_features, in_features] row-major, Q/K rows in
                      rotate-half order), written with plain struct + json
  golden.json         {"tokens": [...], "logits": [[vocab floats] per token]}

The logits come from an independent numpy transcription of transformers'
LlamaForCausalLM in float64 (RMSNorm, rotate_half RoPE with the default or
llama3 inverse frequencies, grouped-query attention with a causal mask,
SwiGLU MLP), reading the weights as stored (F16/BF16 values decoded exactly).
worker/engine/hf_tensor_source_test.cc loads the same files with
OpenHfTensorSource and checks the engine's logits against golden.json, so the
Hugging Face Q/K layout is checked against something the loader did not write.

Needs only numpy. Usage, from the repository root:
  python3 bench/reference/hf_reference_forward.py            # (re)write the files
  python3 bench/reference/hf_reference_forward.py --check    # recompute golden from the committed files
"""

import argparse
import json
import math
import pathlib
import struct
import sys

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT_DIR = ROOT / "tests" / "testdata" / "safetensors"

# name -> shape hyperparameters, storage dtypes and the prompt.
MODELS = {
    # GQA (group 2), hidden_size != heads * head_dim, untied, mixed dtypes.
    "tiny_gqa": dict(
        seed=1234, hidden=40, heads=4, kv_heads=2, head_dim=8, layers=2, ffn=48, vocab=64,
        context=128, theta=10000.0, eps=1e-5, tied=False, rope_scaling=None,
        dtypes={"embed": "F32", "attn": "F32", "gate_up": "F16", "down": "BF16",
                "attn_norm": "BF16", "ffn_norm": "F16", "norm": "F32", "lm_head": "F32"},
        tokens=[1, 17, 5, 63, 42, 42, 7, 0, 33, 23, 9, 50],
        inv_freq_tensor=False),
    # MQA, tied embeddings, llama3 RoPE scaling, BF16 matrices, a stray
    # rotary_emb.inv_freq tensor (which loaders must skip).
    "tiny_tied_llama3": dict(
        seed=99, hidden=32, heads=4, kv_heads=1, head_dim=8, layers=2, ffn=40, vocab=48,
        context=256, theta=10000.0, eps=1e-6, tied=True,
        rope_scaling={"rope_type": "llama3", "factor": 4.0, "low_freq_factor": 1.0,
                      "high_freq_factor": 4.0, "original_max_position_embeddings": 16},
        dtypes={"embed": "BF16", "attn": "BF16", "gate_up": "BF16", "down": "BF16",
                "attn_norm": "F32", "ffn_norm": "F32", "norm": "BF16", "lm_head": None},
        tokens=[3, 47, 11, 11, 0, 29, 8, 40, 15, 2],
        inv_freq_tensor=True),
}

# ----------------------------------------------------------------------------
# Storage dtypes: encode float32 values, decode stored bytes to float64.

def encode(values, dtype):
    values = np.ascontiguousarray(values, dtype=np.float32)
    if dtype == "F32":
        return values.astype("<f4").tobytes()
    if dtype == "F16":
        return values.astype("<f2").tobytes()  # round to nearest even
    if dtype == "BF16":
        u = values.view(np.uint32).astype(np.uint64)
        rounded = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype("<u2")
        return rounded.tobytes()
    raise ValueError(dtype)


def decode(data, dtype, shape):
    if dtype == "F32":
        out = np.frombuffer(data, dtype="<f4")
    elif dtype == "F16":
        out = np.frombuffer(data, dtype="<f2")
    elif dtype == "BF16":
        out = (np.frombuffer(data, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
    else:
        raise ValueError(dtype)
    return out.astype(np.float64).reshape(shape)

# ----------------------------------------------------------------------------
# safetensors, by hand: 8-byte little-endian header length, JSON header padded
# with spaces to a multiple of 8, then the data in header order.

def write_safetensors(path, tensors, metadata):
    header, blobs, offset = {"__metadata__": metadata}, [], 0
    for name, (dtype, shape, data) in tensors.items():
        header[name] = {"dtype": dtype, "shape": list(shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def read_safetensors(path):
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    header.pop("__metadata__", None)
    data = raw[8 + n:]
    return {name: decode(data[e["data_offsets"][0]:e["data_offsets"][1]], e["dtype"], e["shape"])
            for name, e in header.items()}

# ----------------------------------------------------------------------------
# The model files.

def config_json(m):
    return {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "hidden_size": m["hidden"], "intermediate_size": m["ffn"],
        "num_attention_heads": m["heads"], "num_key_value_heads": m["kv_heads"],
        "head_dim": m["head_dim"], "num_hidden_layers": m["layers"],
        "vocab_size": m["vocab"], "max_position_embeddings": m["context"],
        "rms_norm_eps": m["eps"], "rope_theta": m["theta"], "rope_scaling": m["rope_scaling"],
        "tie_word_embeddings": m["tied"], "hidden_act": "silu", "attention_bias": False,
        "mlp_bias": False, "torch_dtype": "float32", "bos_token_id": 1, "eos_token_id": 2,
    }


def make_tensors(m):
    rng = np.random.default_rng(m["seed"])
    h, d, f, v = m["hidden"], m["head_dim"], m["ffn"], m["vocab"]
    q, kv, dt = m["heads"] * d, m["kv_heads"] * d, m["dtypes"]
    tensors = {}

    def matrix(name, rows, cols, dtype):
        tensors[name] = (dtype, (rows, cols), encode(rng.normal(0, 0.2, (rows, cols)), dtype))

    def norm(name, dtype):
        tensors[name] = (dtype, (h,), encode(rng.normal(1.0, 0.1, h), dtype))

    matrix("model.embed_tokens.weight", v, h, dt["embed"])
    for layer in range(m["layers"]):
        p = f"model.layers.{layer}."
        norm(p + "input_layernorm.weight", dt["attn_norm"])
        matrix(p + "self_attn.q_proj.weight", q, h, dt["attn"])
        matrix(p + "self_attn.k_proj.weight", kv, h, dt["attn"])
        matrix(p + "self_attn.v_proj.weight", kv, h, dt["attn"])
        matrix(p + "self_attn.o_proj.weight", h, q, dt["attn"])
        if m["inv_freq_tensor"]:
            inv = default_inv_freq(m).astype(np.float32)
            tensors[p + "self_attn.rotary_emb.inv_freq"] = ("F32", (d // 2,), encode(inv, "F32"))
        norm(p + "post_attention_layernorm.weight", dt["ffn_norm"])
        matrix(p + "mlp.gate_proj.weight", f, h, dt["gate_up"])
        matrix(p + "mlp.up_proj.weight", f, h, dt["gate_up"])
        matrix(p + "mlp.down_proj.weight", h, f, dt["down"])
    norm("model.norm.weight", dt["norm"])
    if not m["tied"]:
        matrix("lm_head.weight", v, h, dt["lm_head"])
    return tensors

# ----------------------------------------------------------------------------
# The reference forward pass (transformers' modeling_llama, in float64).

def default_inv_freq(m):
    d = m["head_dim"]
    return 1.0 / (m["theta"] ** (np.arange(0, d, 2, dtype=np.float64) / d))


def inv_freq(m):
    freq = default_inv_freq(m)
    s = m["rope_scaling"]
    if s is None:
        return freq
    assert s["rope_type"] == "llama3"
    old = s["original_max_position_embeddings"]
    low_wavelen, high_wavelen = old / s["low_freq_factor"], old / s["high_freq_factor"]
    wavelen = 2 * math.pi / freq
    scaled = np.where(wavelen > low_wavelen, freq / s["factor"], freq)
    smooth = (old / wavelen - s["low_freq_factor"]) / (s["high_freq_factor"] - s["low_freq_factor"])
    smoothed = (1 - smooth) * scaled / s["factor"] + smooth * scaled
    medium = ~(wavelen < high_wavelen) & ~(wavelen > low_wavelen)
    return np.where(medium, smoothed, scaled)


def rms_norm(x, weight, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * weight


def rotate_half(x):
    half = x.shape[-1] // 2
    return np.concatenate([-x[..., half:], x[..., :half]], axis=-1)


def forward(m, w, tokens):
    n, d = len(tokens), m["head_dim"]
    heads, kv_heads = m["heads"], m["kv_heads"]
    freqs = np.outer(np.arange(n, dtype=np.float64), inv_freq(m))  # [n, d/2]
    emb = np.concatenate([freqs, freqs], axis=-1)                   # [n, d]
    cos, sin = np.cos(emb)[:, None, :], np.sin(emb)[:, None, :]
    mask = np.triu(np.full((n, n), -np.inf), k=1)
    x = w["model.embed_tokens.weight"][tokens]
    for layer in range(m["layers"]):
        p = f"model.layers.{layer}."
        hs = rms_norm(x, w[p + "input_layernorm.weight"], m["eps"])
        q = (hs @ w[p + "self_attn.q_proj.weight"].T).reshape(n, heads, d)
        k = (hs @ w[p + "self_attn.k_proj.weight"].T).reshape(n, kv_heads, d)
        v = (hs @ w[p + "self_attn.v_proj.weight"].T).reshape(n, kv_heads, d)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        group = heads // kv_heads
        k = np.repeat(k, group, axis=1)  # repeat_kv: query head i uses kv head i // group
        v = np.repeat(v, group, axis=1)
        scores = np.einsum("qhd,khd->hqk", q, k) / math.sqrt(d) + mask
        scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
        probs = scores / scores.sum(axis=-1, keepdims=True)
        attn = np.einsum("hqk,khd->qhd", probs, v).reshape(n, heads * d)
        x = x + attn @ w[p + "self_attn.o_proj.weight"].T
        hs = rms_norm(x, w[p + "post_attention_layernorm.weight"], m["eps"])
        gate = hs @ w[p + "mlp.gate_proj.weight"].T
        up = hs @ w[p + "mlp.up_proj.weight"].T
        x = x + (gate / (1 + np.exp(-gate)) * up) @ w[p + "mlp.down_proj.weight"].T
    hs = rms_norm(x, w["model.norm.weight"], m["eps"])
    lm_head = w["model.embed_tokens.weight"] if m["tied"] else w["lm_head.weight"]
    return hs @ lm_head.T  # [n, vocab]


def golden(name, m, weights):
    logits = forward(m, weights, m["tokens"])
    return {"model": name, "tokens": m["tokens"],
            "note": "float64 numpy reference (bench/reference/hf_reference_forward.py); "
                    "logits[i] are the next-token logits after tokens[0..i]",
            "logits": [[float(x) for x in row] for row in logits]}


def dump_golden(g):
    """JSON with one row of logits per line (repr floats round-trip exactly)."""
    fields = [f" {json.dumps(k)}: {json.dumps(v)}" for k, v in g.items() if k != "logits"]
    rows = ",\n".join("  " + json.dumps(row) for row in g["logits"])
    return "{\n" + ",\n".join(fields) + ',\n "logits": [\n' + rows + "\n ]\n}\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="recompute golden.json from the committed files and compare")
    args = parser.parse_args()
    for name, m in MODELS.items():
        out = OUT_DIR / name
        if args.check:
            weights = read_safetensors(out / "model.safetensors")
            expected = json.loads((out / "golden.json").read_text())["logits"]
            diff = np.abs(np.array(golden(name, m, weights)["logits"]) - np.array(expected)).max()
            print(f"{name}: max |recomputed - committed| = {diff:.3g}")
            if diff > 1e-12:
                sys.exit(1)
            continue
        out.mkdir(parents=True, exist_ok=True)
        tensors = make_tensors(m)
        (out / "config.json").write_text(json.dumps(config_json(m), indent=2) + "\n")
        write_safetensors(out / "model.safetensors", tensors, {"format": "pt"})
        weights = read_safetensors(out / "model.safetensors")  # the stored values, decoded
        (out / "golden.json").write_text(dump_golden(golden(name, m, weights)))
        size = (out / "model.safetensors").stat().st_size
        print(f"wrote {out} (model.safetensors {size} bytes)")


if __name__ == "__main__":
    main()

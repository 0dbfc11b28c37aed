#!/usr/bin/env python3
"""Writes llama.cpp's token ids for the tokenizer corpus (golden data).

Reads tests/testdata/tokenizer/corpus.txt (one JSON string per line, so a
line can hold newlines), tokenizes each text with llama.cpp through
llama-cpp-python, vocab only, and writes to tests/testdata/tokenizer/:

  smollm2_golden.jsonl      the default model's byte-level BPE, add_bos=False
  pre_<name>_golden.jsonl   its vocab and merges under llama.cpp's pre-
                            tokenizers gpt-2, llama-bpe, qwen2 and default
                            (temporary GGUFs), add_bos=False
  spm_derived_golden.jsonl  a SentencePiece vocab derived from it (see
                            derive_spm_vocab), written to a temporary GGUF;
                            add_bos=True

Each file: {"meta": {...}} first, then {"text": "...", "special": [ids],
"plain": [ids]} per text. "special" is llm.tokenize(text, add_bos=...,
special=True) (control-token text such as "<|im_start|>" becomes one id),
"plain" the same with special=False. core/tokenizer/tokenizer_golden_test.cc
checks gqaserve's tokenizer against both.

Usage (from the repository root, with the reference venv, which has
llama-cpp-python and gguf installed):
  .venv-ref/bin/python bench/reference/tokenize_golden.py [--model PATH]
"""

import argparse
import json
import os
import pathlib
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[2]
DEFAULT_MODEL = os.path.expanduser(
    os.path.join(os.environ.get("GQA_CACHE_DIR", "~/.cache/gqaserve"),
                 "models", "SmolLM2-135M-Instruct.Q4_1.gguf"))


def gpt2_byte_decoder():
    """GPT-2's printable stand-in character -> byte."""
    printable = (list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) +
                 list(range(0xAE, 0xFF + 1)))
    chars = printable[:]
    n = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(printable, chars)}


def derive_spm_vocab(model_path):
    """A SentencePiece vocab from a byte-level one: <unk> <s> </s>, 256 byte
    pieces, then every non-control token whose bytes are valid UTF-8 with
    spaces as U+2581 and score -id. Mirrors DerivedSentencePieceSpec() in
    tokenizer_golden_test.cc."""
    import gguf

    reader = gguf.GGUFReader(model_path)
    field = reader.fields["tokenizer.ggml.tokens"]
    tokens = [bytes(field.parts[i]).decode("utf-8") for i in field.data]
    type_field = reader.fields["tokenizer.ggml.token_type"]
    types = [int(type_field.parts[i][0]) for i in type_field.data]
    decoder = gpt2_byte_decoder()
    out = ["<unk>", "<s>", "</s>"] + ["<0x%02X>" % b for b in range(256)]
    out_types = [2, 3, 3] + [6] * 256
    scores = [0.0] * len(out)
    seen = set(out)
    for token_id, (text, token_type) in enumerate(zip(tokens, types)):
        if token_type == 3:
            continue
        try:
            piece = bytes(decoder[c] for c in text).decode("utf-8")
        except (KeyError, UnicodeDecodeError):
            continue
        piece = piece.replace(" ", "\u2581")
        if not piece or piece in seen:
            continue
        seen.add(piece)
        out.append(piece)
        out_types.append(1)
        scores.append(-float(token_id))
    return out, scores, out_types


def start_vocab_gguf(path):
    """A GGUFWriter with just enough llama hyper-parameters for vocab_only."""
    import gguf

    writer = gguf.GGUFWriter(path, "llama")
    writer.add_context_length(2048)
    writer.add_embedding_length(64)
    writer.add_block_count(1)
    writer.add_feed_forward_length(64)
    writer.add_head_count(1)
    writer.add_head_count_kv(1)
    writer.add_layer_norm_rms_eps(1e-5)
    return writer


def finish_gguf(writer):
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def write_pre_variant_gguf(model_path, path, pre):
    """The model's tokenizer with tokenizer.ggml.pre replaced by `pre`."""
    import gguf

    fields = gguf.GGUFReader(model_path).fields

    def strings(key):
        return [bytes(fields[key].parts[i]).decode("utf-8") for i in fields[key].data]

    writer = start_vocab_gguf(path)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(pre)
    writer.add_token_list(strings("tokenizer.ggml.tokens"))
    type_field = fields["tokenizer.ggml.token_type"]
    writer.add_token_types([int(type_field.parts[i][0]) for i in type_field.data])
    writer.add_token_merges(strings("tokenizer.ggml.merges"))
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    finish_gguf(writer)


def write_spm_gguf(model_path, path):
    tokens, scores, types = derive_spm_vocab(model_path)
    writer = start_vocab_gguf(path)
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_unk_token_id(0)
    finish_gguf(writer)


def write_golden(llama_cpp, model_path, texts, out_path, add_bos, meta):
    llm = llama_cpp.Llama(model_path=model_path, vocab_only=True, verbose=False)
    with open(out_path, "w", encoding="utf-8") as out:
        meta = dict(meta, llama_cpp_python=llama_cpp.__version__, add_bos=add_bos,
                    special=f"llm.tokenize(text.encode(), add_bos={add_bos}, special=True)",
                    plain=f"llm.tokenize(text.encode(), add_bos={add_bos}, special=False)")
        out.write(json.dumps({"meta": meta}, ensure_ascii=False) + "\n")
        for text in texts:
            data = text.encode("utf-8")
            record = {
                "text": text,
                "special": llm.tokenize(data, add_bos=add_bos, special=True),
                "plain": llm.tokenize(data, add_bos=add_bos, special=False),
            }
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    print(f"wrote {len(texts)} texts to {out_path}", file=sys.stderr)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--corpus", default=str(ROOT / "tests/testdata/tokenizer/corpus.txt"))
    parser.add_argument("--out_dir", default=str(ROOT / "tests/testdata/tokenizer"))
    args = parser.parse_args()

    import llama_cpp  # imported late so --help works without the venv

    texts = []
    with open(args.corpus, encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            if line.strip():
                value = json.loads(line)
                if not isinstance(value, str):
                    sys.exit(f"{args.corpus}:{line_no}: expected a JSON string")
                texts.append(value)

    model_name = os.path.basename(args.model)
    write_golden(llama_cpp, args.model, texts,
                 os.path.join(args.out_dir, "smollm2_golden.jsonl"), False,
                 {"model": model_name})
    with tempfile.TemporaryDirectory() as tmp:
        for pre in ("gpt-2", "llama-bpe", "qwen2", "default"):
            path = os.path.join(tmp, f"pre_{pre}.gguf")
            write_pre_variant_gguf(args.model, path, pre)
            write_golden(llama_cpp, path, texts,
                         os.path.join(args.out_dir, f"pre_{pre}_golden.jsonl"), False,
                         {"model": f"{model_name} with tokenizer.ggml.pre={pre}"})
        spm_path = os.path.join(tmp, "spm_derived.gguf")
        write_spm_gguf(args.model, spm_path)
        write_golden(llama_cpp, spm_path, texts,
                     os.path.join(args.out_dir, "spm_derived_golden.jsonl"), True,
                     {"model": f"SentencePiece vocab derived from {model_name}"})
    return 0


if __name__ == "__main__":
    sys.exit(main())

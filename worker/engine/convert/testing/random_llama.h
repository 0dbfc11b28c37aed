// Test-only: tiny Llama-family GGUF files with random but well-behaved F32
// weights (normal, std 0.2; norms near 1), optionally with a byte-level
// SentencePiece vocabulary so that the tools can tokenize text, and optionally
// with K/V heads that are identical within groups (so pooling them is
// lossless). Used by the convert tests and the gqa convert/perplexity tests.
// Pure functions; thread-compatible.
#ifndef GQA_WORKER_ENGINE_CONVERT_TESTING_RANDOM_LLAMA_H_
#define GQA_WORKER_ENGINE_CONVERT_TESTING_RANDOM_LLAMA_H_

#include <cstdint>
#include <string>

namespace gqa {

struct RandomLlamaOptions {
  int64_t num_layers = 2;
  int64_t num_query_heads = 4;
  int64_t num_kv_heads = 4;
  int64_t head_dim = 8;
  int64_t hidden_size = 32;
  int64_t intermediate_size = 64;
  int64_t context_tokens = 64;
  uint32_t seed = 1;
  // Each run of this many consecutive KV heads (in every layer, K and V) has
  // identical weights; 1 makes every head different. Must divide num_kv_heads.
  int64_t identical_kv_heads = 1;
  // A SentencePiece vocabulary "<unk>", "<s>", "</s>", "<0x00>".."<0xFF>"
  // (259 tokens, byte fallback only, no BOS added) with its tokenizer.* keys
  // and a chat template key; otherwise `vocab_size` plain tokens "t0", "t1".
  bool byte_tokenizer = true;
  int64_t vocab_size = 64;  // only without byte_tokenizer
  bool with_kv_bias = false;  // adds blk.N.attn_{k,v}.bias
};

// The whole file (CHECK-fails if GgufWriter rejects it).
std::string RandomLlamaGguf(const RandomLlamaOptions& options = {});

}  // namespace gqa

#endif  // GQA_WORKER_ENGINE_CONVERT_TESTING_RANDOM_LLAMA_H_

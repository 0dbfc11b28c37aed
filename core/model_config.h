// ModelConfig: the shape of a Llama-family decoder (layers, heads, dims, RoPE,
// context) as read from a GGUF or config.json, or from a planner preset.
// Plain value type; Validate() is the single check every loader and the
// planner run before using a shape.
#ifndef GQA_CORE_MODEL_CONFIG_H_
#define GQA_CORE_MODEL_CONFIG_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"

namespace gqa {

enum class RopeScalingType { kNone, kLinear, kYarn, kLlama3 };

struct RopeScaling {
  RopeScalingType type = RopeScalingType::kNone;
  double factor = 1.0;                       // context extension factor
  int64_t original_context_tokens = 0;       // trained context before scaling (yarn, llama3)
  double low_freq_factor = 1.0;              // llama3 only
  double high_freq_factor = 4.0;             // llama3 only
};

struct ModelConfig {
  std::string architecture = "llama";  // GGUF general.architecture
  std::string name;                    // human-readable, e.g. "SmolLM2-135M-Instruct"
  int64_t num_layers = 0;
  int64_t hidden_size = 0;             // model width (embedding length)
  int64_t num_query_heads = 0;
  int64_t num_kv_heads = 0;            // == num_query_heads: MHA; 1: MQA; otherwise GQA
  int64_t head_dim = 0;                // usually hidden_size / num_query_heads
  int64_t intermediate_size = 0;       // SwiGLU MLP width
  int64_t vocab_size = 0;
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  double norm_eps = 1e-5;              // RMSNorm epsilon
  int64_t context_tokens = 0;          // trained context length
  bool tied_embeddings = false;        // output projection shares the token embedding

  // Query heads per KV head (the GQA group size).
  int64_t group_size() const { return num_kv_heads > 0 ? num_query_heads / num_kv_heads : 0; }

  // INVALID_ARGUMENT naming the field when a size is zero or negative, when
  // num_kv_heads does not divide num_query_heads, or when a value is out of
  // range (rope_theta, norm_eps).
  absl::Status Validate() const;
};

}  // namespace gqa

#endif  // GQA_CORE_MODEL_CONFIG_H_

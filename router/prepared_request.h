// PrepareRequest: the router's edge validation of a gqa.v1.GenerateRequest
// against the model it serves and the caller's key, and its translation into
// what every attempt at the sequence sends a worker (the Submit request
// without resumed output or deadline) and what the router itself keeps
// (stop strings, echo text, the seed). Errors are the ones inference.proto
// lists for Generate, with messages naming the field. Thread-compatible.
#ifndef GQA_ROUTER_PREPARED_REQUEST_H_
#define GQA_ROUTER_PREPARED_REQUEST_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/dtype.h"
#include "core/kv_options.h"
#include "gqa/v1/inference.pb.h"
#include "gqa/v1/worker.pb.h"
#include "router/api_keys.h"
#include "worker/engine/model_file.h"

namespace gqa {

struct PreparedRequest {
  std::string request_id;
  std::string tenant;
  std::vector<int32_t> prompt_ids;
  // Submit fields shared by every attempt: request_id, tenant, prompt,
  // sampling (with the seed always set), stop ids, max_new_tokens, ...
  v1::SubmitRequest submit;
  std::vector<std::string> stop_strings;
  std::optional<std::string> echo_text;  // with echo: the prompt as text
  std::optional<DType> kv_dtype;         // nullopt: any worker's
  KvPolicy kv_policy;
  bool kv_policy_set = false;            // false: the worker's default
  uint64_t seed = 0;
  bool logprobs = false;
};

// `fresh_seed` is used when the request has none; `fresh_id` when its
// request_id is empty.
absl::StatusOr<PreparedRequest> PrepareRequest(const v1::GenerateRequest& request,
                                               const ModelFile& model, const ApiKeyGrant& grant,
                                               uint64_t fresh_seed, const std::string& fresh_id);

// The prompt's token ids, as Generate and Tokenize both compute them: text
// encoded with the tokenizer's BOS and no control tokens parsed (so text
// cannot inject turn markers), chat rendered through the model's template.
absl::StatusOr<std::vector<int32_t>> PromptTokens(const ModelFile& model,
                                                  const v1::ChatMessages* chat,
                                                  const std::string* text);

}  // namespace gqa

#endif  // GQA_ROUTER_PREPARED_REQUEST_H_

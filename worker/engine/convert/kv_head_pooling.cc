#include "worker/engine/convert/kv_head_pooling.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/log.h"

namespace gqa {

absl::Status CheckKvHeads(int64_t current_kv_heads, int64_t kv_heads) {
  std::vector<int64_t> divisors;
  for (int64_t d = 1; d <= current_kv_heads; ++d) {
    if (current_kv_heads % d == 0) divisors.push_back(d);
  }
  const std::string choices = absl::StrCat("choose one of ", absl::StrJoin(divisors, ", "));
  if (kv_heads < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("--kv-heads ", kv_heads, " must be at least 1; ", choices));
  }
  if (kv_heads > current_kv_heads) {
    return absl::InvalidArgumentError(
        absl::StrCat("--kv-heads ", kv_heads, " exceeds the model's ", current_kv_heads,
                     " KV heads (pooling only reduces them); ", choices));
  }
  if (current_kv_heads % kv_heads != 0) {
    return absl::InvalidArgumentError(absl::StrCat("--kv-heads ", kv_heads,
                                                   " does not divide the model's ",
                                                   current_kv_heads, " KV heads; ", choices));
  }
  return absl::OkStatus();
}

std::vector<float> MeanPoolKvHeads(absl::Span<const float> in, int64_t cols, int64_t head_dim,
                                   int64_t old_heads, int64_t new_heads) {
  CHECK_GT(new_heads, 0);
  CHECK_EQ(old_heads % new_heads, 0);
  CHECK_EQ(static_cast<int64_t>(in.size()), old_heads * head_dim * cols);
  const int64_t ratio = old_heads / new_heads;
  const int64_t head_elems = head_dim * cols;  // one head's rows, contiguous
  std::vector<float> out(new_heads * head_elems);
  for (int64_t j = 0; j < new_heads; ++j) {
    for (int64_t e = 0; e < head_elems; ++e) {
      double sum = 0;
      for (int64_t i = j * ratio; i < (j + 1) * ratio; ++i) sum += in[i * head_elems + e];
      out[j * head_elems + e] = static_cast<float>(sum / static_cast<double>(ratio));
    }
  }
  return out;
}

}  // namespace gqa

#include "worker/backend/cpu/rope.h"

#include <cmath>

#include "absl/strings/str_cat.h"

namespace gqa::cpu {
namespace {

void RotateHeads(float* x, int64_t num_heads, int64_t head_dim, const std::vector<double>& cos_t,
                 const std::vector<double>& sin_t, bool interleaved_pairs) {
  const int64_t half = head_dim / 2;
  for (int64_t h = 0; h < num_heads; ++h) {
    float* head = x + h * head_dim;
    for (int64_t i = 0; i < half; ++i) {
      const int64_t a = interleaved_pairs ? 2 * i : i;
      const int64_t b = interleaved_pairs ? 2 * i + 1 : i + half;
      const double x0 = head[a], x1 = head[b];
      head[a] = static_cast<float>(x0 * cos_t[i] - x1 * sin_t[i]);
      head[b] = static_cast<float>(x0 * sin_t[i] + x1 * cos_t[i]);
    }
  }
}

}  // namespace

absl::StatusOr<std::vector<double>> RopeInverseFrequencies(int64_t head_dim, double theta,
                                                           const RopeScaling& scaling) {
  if (head_dim <= 0 || head_dim % 2 != 0) {
    return absl::InvalidArgumentError(absl::StrCat("rope: head_dim=", head_dim, " must be even"));
  }
  std::vector<double> inv_freq(head_dim / 2);
  for (int64_t i = 0; i < head_dim / 2; ++i) {
    inv_freq[i] = std::pow(theta, -2.0 * static_cast<double>(i) / static_cast<double>(head_dim));
  }
  switch (scaling.type) {
    case RopeScalingType::kNone:
      break;
    case RopeScalingType::kLinear:
      for (double& f : inv_freq) f /= scaling.factor;
      break;
    case RopeScalingType::kLlama3: {
      const double original = static_cast<double>(scaling.original_context_tokens);
      const double low_wavelen = original / scaling.low_freq_factor;
      const double high_wavelen = original / scaling.high_freq_factor;
      for (double& f : inv_freq) {
        const double wavelen = 2.0 * M_PI / f;
        if (wavelen < high_wavelen) continue;
        if (wavelen > low_wavelen) {
          f /= scaling.factor;
          continue;
        }
        const double smooth = (original / wavelen - scaling.low_freq_factor) /
                              (scaling.high_freq_factor - scaling.low_freq_factor);
        f = (1.0 - smooth) * f / scaling.factor + smooth * f;
      }
      break;
    }
    case RopeScalingType::kYarn:
      return absl::UnimplementedError("rope scaling 'yarn' is not supported yet");
  }
  return inv_freq;
}

absl::Status ApplyRope(const RopeParams& p) {
  auto inv_freq = RopeInverseFrequencies(p.head_dim, p.theta, p.scaling);
  if (!inv_freq.ok()) return inv_freq.status();
  std::vector<double> cos_t(inv_freq->size()), sin_t(inv_freq->size());
  for (int64_t t = 0; t < p.num_tokens; ++t) {
    for (size_t i = 0; i < inv_freq->size(); ++i) {
      const double angle = static_cast<double>(p.positions[t]) * (*inv_freq)[i];
      cos_t[i] = std::cos(angle);
      sin_t[i] = std::sin(angle);
    }
    if (p.q != nullptr) {
      RotateHeads(p.q + t * p.num_q_heads * p.head_dim, p.num_q_heads, p.head_dim, cos_t, sin_t,
                  p.interleaved_pairs);
    }
    if (p.k != nullptr) {
      RotateHeads(p.k + t * p.num_kv_heads * p.head_dim, p.num_kv_heads, p.head_dim, cos_t, sin_t,
                  p.interleaved_pairs);
    }
  }
  return absl::OkStatus();
}

}  // namespace gqa::cpu

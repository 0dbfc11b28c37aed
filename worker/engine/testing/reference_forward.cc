#include "worker/engine/testing/reference_forward.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace gqa {
namespace {

std::string LayerPrefix(int64_t layer) { return "blk." + std::to_string(layer) + "."; }

}  // namespace

std::vector<double> ReferenceForward::Norm(const std::vector<double>& x,
                                           const std::vector<float>& w) const {
  double ss = 0;
  for (double value : x) ss += value * value;
  const double inv = 1.0 / std::sqrt(ss / x.size() + c_.norm_eps);
  std::vector<double> y(x.size());
  for (size_t i = 0; i < x.size(); ++i) y[i] = x[i] * inv * w[i];
  return y;
}

std::vector<double> ReferenceForward::MatVec(const std::vector<float>& w,
                                             const std::vector<double>& x, int64_t rows) const {
  std::vector<double> y(rows, 0.0);
  for (int64_t r = 0; r < rows; ++r) {
    for (size_t c = 0; c < x.size(); ++c) y[r] += w[r * x.size() + c] * x[c];
  }
  return y;
}

void ReferenceForward::RotateHead(double* x, int64_t pos) const {
  const int64_t d = c_.head_dim;
  for (int64_t i = 0; i < d / 2; ++i) {
    const double angle = pos * std::pow(c_.rope_theta, -2.0 * i / d);
    const double a0 = x[2 * i], b0 = x[2 * i + 1];
    x[2 * i] = a0 * std::cos(angle) - b0 * std::sin(angle);
    x[2 * i + 1] = a0 * std::sin(angle) + b0 * std::cos(angle);
  }
}

void ReferenceForward::Mlp(const std::string& p, std::vector<double>& x) const {
  const auto normed = Norm(x, s_.values(p + "ffn_norm.weight"));
  auto gate = MatVec(s_.values(p + "ffn_gate.weight"), normed, c_.intermediate_size);
  const auto up = MatVec(s_.values(p + "ffn_up.weight"), normed, c_.intermediate_size);
  for (size_t i = 0; i < gate.size(); ++i) gate[i] = gate[i] / (1 + std::exp(-gate[i])) * up[i];
  const auto down = MatVec(s_.values(p + "ffn_down.weight"), gate, c_.hidden_size);
  for (int64_t i = 0; i < c_.hidden_size; ++i) x[i] += down[i];
}

std::vector<double> ReferenceForward::LastLogits(const std::vector<int32_t>& tokens) {
  return DecodeLogits(tokens, KvPolicy::Full()).back();
}

std::vector<std::vector<double>> ReferenceForward::DecodeLogits(const std::vector<int32_t>& tokens,
                                                                const KvPolicy& policy) {
  const int64_t n = tokens.size(), h = c_.hidden_size, d = c_.head_dim;
  const int64_t qh = c_.num_query_heads, kvh = c_.num_kv_heads, group = qh / kvh;
  const int64_t layers = c_.num_layers;
  const bool h2o = policy.kind == KvPolicy::Kind::kH2o;
  const bool windowed =
      policy.kind == KvPolicy::Kind::kStreaming || policy.kind == KvPolicy::Kind::kWindow;
  const int64_t sinks = policy.kind == KvPolicy::Kind::kStreaming ? policy.sink_tokens : 0;
  // Per layer: pre-RoPE keys and values of every token; per (layer, KV
  // head): whether h2o still keeps a token, and its accumulated attention.
  std::vector<std::vector<std::vector<double>>> k_pre(layers), v(layers);
  std::vector<std::vector<char>> kept(layers * kvh);
  std::vector<std::vector<double>> score(layers * kvh);
  std::vector<std::vector<double>> all_logits;
  const auto& embd = s_.values("token_embd.weight");
  for (int64_t p = 0; p < n; ++p) {
    std::vector<double> x(h);
    for (int64_t i = 0; i < h; ++i) x[i] = embd[tokens[p] * h + i];
    for (int64_t l = 0; l < layers; ++l) {
      const std::string prefix = LayerPrefix(l);
      const auto normed = Norm(x, s_.values(prefix + "attn_norm.weight"));
      const auto q_pre = MatVec(s_.values(prefix + "attn_q.weight"), normed, qh * d);
      k_pre[l].push_back(MatVec(s_.values(prefix + "attn_k.weight"), normed, kvh * d));
      v[l].push_back(MatVec(s_.values(prefix + "attn_v.weight"), normed, kvh * d));
      std::vector<double> attn(qh * d, 0.0);
      for (int64_t kv = 0; kv < kvh; ++kv) {
        kept[l * kvh + kv].push_back(1);
        score[l * kvh + kv].push_back(0.0);
        // What the query sees, and each visible token's rotary position.
        std::vector<int64_t> visible;
        for (int64_t j = 0; j <= p; ++j) {
          const bool sees = windowed ? (j < sinks || p - j < policy.window_tokens)
                                     : kept[l * kvh + kv][j] != 0;
          if (sees) visible.push_back(j);
        }
        // StreamingLLM / window: positions within the cache (index in the
        // kept list); full and h2o: positions in the text.
        auto rotary = [&](size_t idx) { return windowed ? static_cast<int64_t>(idx) : visible[idx]; };
        const int64_t q_pos = rotary(visible.size() - 1);
        for (int64_t g = 0; g < group; ++g) {
          const int64_t head = kv * group + g;
          std::vector<double> q(q_pre.begin() + head * d, q_pre.begin() + (head + 1) * d);
          RotateHead(q.data(), q_pos);
          std::vector<double> w(visible.size());
          double max_w = -1e300, total = 0;
          for (size_t i = 0; i < visible.size(); ++i) {
            std::vector<double> key(k_pre[l][visible[i]].begin() + kv * d,
                                    k_pre[l][visible[i]].begin() + (kv + 1) * d);
            RotateHead(key.data(), rotary(i));
            double dot = 0;
            for (int64_t e = 0; e < d; ++e) dot += q[e] * key[e];
            w[i] = dot / std::sqrt(static_cast<double>(d));
            max_w = std::max(max_w, w[i]);
          }
          for (double& value : w) total += (value = std::exp(value - max_w));
          for (size_t i = 0; i < visible.size(); ++i) {
            score[l * kvh + kv][visible[i]] += w[i] / total;
            for (int64_t e = 0; e < d; ++e) {
              attn[head * d + e] += w[i] / total * v[l][visible[i]][kv * d + e];
            }
          }
        }
      }
      const auto o = MatVec(s_.values(prefix + "attn_output.weight"), attn, h);
      for (int64_t i = 0; i < h; ++i) x[i] += o[i];
      Mlp(prefix, x);
    }
    const auto normed = Norm(x, s_.values("output_norm.weight"));
    all_logits.push_back(MatVec(s_.values("output.weight"), normed, c_.vocab_size));
    if (!h2o) continue;
    // H2O after the step: keep the R - 1 most recent and the heaviest of the
    // rest, H + R - 1 in all; a tie evicts the older token.
    const int64_t keep = policy.heavy_tokens + policy.recent_tokens - 1;
    for (int64_t m = 0; m < layers * kvh; ++m) {
      std::vector<int64_t> candidates;
      int64_t held = 0;
      for (int64_t j = 0; j <= p; ++j) {
        if (!kept[m][j]) continue;
        ++held;
        if (j < p - policy.recent_tokens + 2) candidates.push_back(j);
      }
      std::sort(candidates.begin(), candidates.end(), [&](int64_t a, int64_t b) {
        return score[m][a] != score[m][b] ? score[m][a] < score[m][b] : a < b;
      });
      for (int64_t i = 0; i < held - keep; ++i) kept[m][candidates[i]] = 0;
    }
  }
  return all_logits;
}

}  // namespace gqa

#include "worker/backend/cuda/cuda_test_util.h"

#include <algorithm>
#include <cmath>

namespace gqa::cuda::test {

std::unique_ptr<CudaBackend> BackendOrNull(std::string* why) {
  auto backend = MakeCudaBackend({});
  if (!backend.ok()) {
    *why = backend.status().ToString();
    return nullptr;
  }
  return std::move(*backend);
}

void* DeviceArena::Copy(const void* host, int64_t bytes) {
  auto buffer = backend_.Allocate(bytes);
  EXPECT_TRUE(buffer.ok()) << buffer.status();
  if (!buffer.ok()) return nullptr;
  void* device = (*buffer)->data();
  EXPECT_TRUE(backend_.CopyToDevice(device, host, bytes).ok());
  buffers_.push_back(std::move(*buffer));
  return device;
}

PagedKvView DeviceArena::CopyCache(const PagedKvView& host) {
  PagedKvView d = host;
  const int64_t slots = host.num_blocks * host.num_kv_heads * host.block_size;
  d.k = Copy(host.k, slots * host.head_dim * DTypeSize(host.dtype));
  d.v = Copy(host.v, slots * host.head_dim * DTypeSize(host.dtype));
  if (host.k_scale != nullptr) {
    d.k_scale = static_cast<float*>(Copy(host.k_scale, slots * sizeof(float)));
    d.v_scale = static_cast<float*>(Copy(host.v_scale, slots * sizeof(float)));
  }
  return d;
}

AttentionParams DeviceArena::CopyAttention(const AttentionParams& h) {
  AttentionParams d = h;
  const int64_t q_elems = h.num_tokens * h.num_q_heads * h.cache.head_dim;
  auto copy = [this](const auto* p, int64_t count) {
    using T = std::remove_const_t<std::remove_pointer_t<decltype(p)>>;
    return p == nullptr ? nullptr : static_cast<T*>(Copy(p, count * sizeof(T)));
  };
  d.q = copy(h.q, q_elems);
  d.q_sink = copy(h.q_sink, q_elems);
  d.out = copy(h.out, q_elems);
  d.seq_idx = copy(h.seq_idx, h.num_tokens);
  d.context_lens = copy(h.context_lens, h.num_tokens);
  d.query_positions = copy(h.query_positions, h.num_tokens);
  d.block_tables = copy(h.block_tables, h.num_seqs * h.max_blocks_per_seq);
  d.num_sinks = copy(h.num_sinks, h.num_seqs);
  d.recent_window = copy(h.recent_window, h.num_seqs);
  d.cache = CopyCache(h.cache);
  if (h.slot_positions != nullptr) {
    std::vector<SlotPositions> maps(h.slot_positions, h.slot_positions + h.num_seqs);
    for (int64_t s = 0; s < h.num_seqs; ++s) {
      if (maps[s].positions == nullptr) continue;
      int64_t longest = 0;  // the longest context of the sequence's tokens
      for (int64_t t = 0; t < h.num_tokens; ++t) {
        if (h.seq_idx[t] == s) longest = std::max<int64_t>(longest, h.context_lens[t]);
      }
      const int64_t count =
          (maps[s].head_stride > 0 ? (h.cache.num_kv_heads - 1) * maps[s].head_stride : 0) +
          longest;
      maps[s].positions = copy(maps[s].positions, count);
    }
    d.slot_positions = Copy(maps);
  }
  if (h.column_sums != nullptr) {
    int64_t count = 0;
    for (int64_t t = 0; t < h.num_tokens; ++t) {
      if (h.column_sum_offsets[t] >= 0) {
        count = std::max(count, h.column_sum_offsets[t] + h.cache.num_kv_heads * h.context_lens[t]);
      }
    }
    d.column_sums = copy(h.column_sums, count);
    d.column_sum_offsets = copy(h.column_sum_offsets, h.num_tokens);
  }
  return d;
}

std::string DTypeTestName(DType dtype) {
  std::string name(DTypeName(dtype));
  std::replace(name.begin(), name.end(), '-', '_');
  return name;
}

void ExpectAllNear(const std::vector<float>& actual, const std::vector<float>& expected,
                   double atol, double rtol, const std::string& what) {
  ASSERT_EQ(actual.size(), expected.size()) << what;
  int64_t failures = 0, worst = -1;
  double worst_excess = 0.0;
  for (size_t i = 0; i < actual.size(); ++i) {
    const double bound = atol + rtol * std::abs(static_cast<double>(expected[i]));
    const double error = std::abs(static_cast<double>(actual[i]) - expected[i]);
    if (!(error <= bound)) {  // NaN fails too
      ++failures;
      const double excess = std::isnan(error) ? 1e300 : error - bound;
      if (worst < 0 || excess > worst_excess) {
        worst = static_cast<int64_t>(i);
        worst_excess = excess;
      }
    }
  }
  EXPECT_EQ(failures, 0) << what << ": " << failures << " of " << actual.size()
                         << " elements outside " << atol << " + " << rtol << " * |cpu|; worst at "
                         << worst << ": cuda=" << (worst >= 0 ? actual[worst] : 0.0f)
                         << " cpu=" << (worst >= 0 ? expected[worst] : 0.0f);
}

}  // namespace gqa::cuda::test

#include "worker/backend/cpu/cpu_backend.h"

#include <sys/mman.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>

#include "absl/strings/str_cat.h"
#include "worker/backend/cpu/attention.h"
#include "worker/backend/cpu/dot_kernels.h"
#include "worker/backend/cpu/gemm.h"
#include "worker/backend/cpu/rope.h"
#include "worker/backend/cpu/thread_pool.h"

namespace gqa {
namespace {

class HostBuffer : public BackendBuffer {
 public:
  HostBuffer(void* data, int64_t size_bytes) : data_(data), size_bytes_(size_bytes) {}
  HostBuffer(const HostBuffer&) = delete;
  HostBuffer& operator=(const HostBuffer&) = delete;
  ~HostBuffer() override { std::free(data_); }
  void* data() override { return data_; }
  int64_t size_bytes() const override { return size_bytes_; }

 private:
  void* data_;
  int64_t size_bytes_;
};

class CpuBackend : public Backend {
 public:
  explicit CpuBackend(const CpuBackendOptions& options)
      : pool_(std::max(1, options.num_threads), options.poll_us * 1000) {}

  absl::string_view name() const override { return "cpu"; }
  bool memory_is_host() const override { return true; }

  absl::StatusOr<std::unique_ptr<BackendBuffer>> Allocate(int64_t size_bytes) override {
    if (size_bytes < 0) return absl::InvalidArgumentError("negative allocation size");
    // NOTE: buffers of 2 MiB and more (the KV cache) are aligned to 2 MiB and
    // their whole 2 MiB pages advised into transparent huge pages: attention
    // reads the cache as 2-8 KiB tiles scattered by the block tables, and on
    // the CI machine huge pages raised the read rate of scattered 4 KiB tiles
    // by a third (bench/results/cpu-attention-bandwidth.md). A partial last
    // page stays in 4 KiB pages, so no memory is wasted; where THP is off,
    // madvise fails harmlessly.
    constexpr size_t kHugePage = size_t{2} << 20;
    const size_t bytes = std::max<size_t>((static_cast<size_t>(size_bytes) + 63) / 64 * 64, 64);
    const size_t align = bytes >= kHugePage ? kHugePage : 64;
    void* data = nullptr;
    if (posix_memalign(&data, align, bytes) != 0) {
      return absl::ResourceExhaustedError(
          absl::StrCat("cannot allocate ", size_bytes, " bytes of host memory"));
    }
    if (align == kHugePage) madvise(data, bytes / kHugePage * kHugePage, MADV_HUGEPAGE);
    std::memset(data, 0, bytes);
    return std::make_unique<HostBuffer>(data, size_bytes);
  }

  absl::Status Gemm(const GemmParams& p) override { return cpu::Gemm(p, pool_); }

  absl::Status Embedding(const EmbeddingParams& p) override {
    const int64_t hidden = p.table.cols;
    for (int64_t t = 0; t < p.num_tokens; ++t) {
      const int32_t id = p.token_ids[t];
      if (id < 0 || id >= p.table.rows) {
        return absl::InvalidArgumentError(
            absl::StrCat("token id ", id, " outside the vocabulary [0, ", p.table.rows, ")"));
      }
      cpu::DequantizeRow(p.table.format, p.table.row(id), hidden, p.out + t * hidden);
    }
    return absl::OkStatus();
  }

  absl::Status RmsNorm(const RmsNormParams& p) override {
    for (int64_t t = 0; t < p.num_tokens; ++t) {
      const float* x = p.x + t * p.dim;
      float* y = p.y + t * p.dim;
      double sum_squares = 0.0;
      for (int64_t i = 0; i < p.dim; ++i) sum_squares += static_cast<double>(x[i]) * x[i];
      const float inverse_rms =
          static_cast<float>(1.0 / std::sqrt(sum_squares / static_cast<double>(p.dim) + p.eps));
      for (int64_t i = 0; i < p.dim; ++i) y[i] = x[i] * inverse_rms * p.weight[i];
    }
    return absl::OkStatus();
  }

  absl::Status Rope(const RopeParams& p) override { return cpu::ApplyRope(p); }

  absl::Status SwiGlu(const SwiGluParams& p) override {
    const int64_t n = p.num_tokens * p.dim;
    for (int64_t i = 0; i < n; ++i) {
      const float g = p.gate[i];
      p.out[i] = g / (1.0f + std::exp(-g)) * p.up[i];
    }
    return absl::OkStatus();
  }

  absl::Status Add(float* x, const float* delta, int64_t n) override {
    for (int64_t i = 0; i < n; ++i) x[i] += delta[i];
    return absl::OkStatus();
  }

  absl::Status WriteKv(const KvWriteParams& p) override { return cpu::WriteKv(p); }

  absl::Status CopyKvBlocks(const KvCopyParams& p) override { return cpu::CopyKvBlocks(p); }

  absl::Status PagedAttention(const AttentionParams& p) override {
    return cpu::PagedAttention(p, pool_);
  }

  absl::Status Synchronize() override { return absl::OkStatus(); }

  absl::Status CopyFromHost(void* dst, const void* host_src, int64_t bytes) override {
    return CopyWithin(dst, host_src, bytes);
  }
  absl::Status CopyToHost(void* host_dst, const void* src, int64_t bytes) override {
    return CopyWithin(host_dst, src, bytes);
  }
  absl::Status CopyWithin(void* dst, const void* src, int64_t bytes) override {
    if (bytes < 0) return absl::InvalidArgumentError(absl::StrCat("copy of ", bytes, " bytes"));
    if (bytes > 0 && dst != src) std::memmove(dst, src, static_cast<size_t>(bytes));
    return absl::OkStatus();
  }
  absl::Status SetZero(void* dst, int64_t bytes) override {
    if (bytes < 0) return absl::InvalidArgumentError(absl::StrCat("zeroing ", bytes, " bytes"));
    if (bytes > 0) std::memset(dst, 0, static_cast<size_t>(bytes));
    return absl::OkStatus();
  }

  absl::Status GatherRows(const GatherRowsParams& p) override {
    for (int64_t i = 0; i < p.num_rows; ++i) {
      const int32_t row = p.rows[i];
      if (row < 0 || row >= p.num_src_rows) {
        return absl::InvalidArgumentError(
            absl::StrCat("gather: row ", row, " outside [0, ", p.num_src_rows, ")"));
      }
      std::copy_n(p.src + row * p.width, p.width, p.dst + i * p.width);
    }
    return absl::OkStatus();
  }

 private:
  ThreadPool pool_;
};

}  // namespace

std::unique_ptr<Backend> MakeCpuBackend(const CpuBackendOptions& options) {
  return std::make_unique<CpuBackend>(options);
}

}  // namespace gqa

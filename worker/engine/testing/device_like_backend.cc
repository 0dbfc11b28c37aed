#include "worker/engine/testing/device_like_backend.h"

#include <cstdint>
#include <initializer_list>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"

namespace gqa {
namespace {

// Forgets its range in the owner's table when freed.
class TrackedBuffer : public BackendBuffer {
 public:
  TrackedBuffer(std::unique_ptr<BackendBuffer> inner, std::map<uintptr_t, int64_t>* ranges)
      : inner_(std::move(inner)), ranges_(ranges) {}
  ~TrackedBuffer() override { ranges_->erase(reinterpret_cast<uintptr_t>(inner_->data())); }
  void* data() override { return inner_->data(); }
  int64_t size_bytes() const override { return inner_->size_bytes(); }

 private:
  std::unique_ptr<BackendBuffer> inner_;
  std::map<uintptr_t, int64_t>* ranges_;
};

class DeviceLikeBackend : public Backend {
 public:
  explicit DeviceLikeBackend(std::unique_ptr<Backend> inner) : inner_(std::move(inner)) {}

  absl::string_view name() const override { return "device-like"; }
  bool memory_is_host() const override { return false; }

  absl::StatusOr<std::unique_ptr<BackendBuffer>> Allocate(int64_t size_bytes) override {
    absl::StatusOr<std::unique_ptr<BackendBuffer>> buffer = inner_->Allocate(size_bytes);
    if (!buffer.ok()) return buffer.status();
    ranges_[reinterpret_cast<uintptr_t>((*buffer)->data())] = size_bytes;
    return std::make_unique<TrackedBuffer>(std::move(*buffer), &ranges_);
  }

  absl::Status Gemm(const GemmParams& p) override {
    if (auto s = Check("gemm", {p.x, p.w.data, p.y}); !s.ok()) return s;
    return inner_->Gemm(p);
  }
  absl::Status Embedding(const EmbeddingParams& p) override {
    if (auto s = Check("embedding", {p.table.data, p.token_ids, p.out}); !s.ok()) return s;
    return inner_->Embedding(p);
  }
  absl::Status RmsNorm(const RmsNormParams& p) override {
    if (auto s = Check("rms norm", {p.x, p.weight, p.y}); !s.ok()) return s;
    return inner_->RmsNorm(p);
  }
  absl::Status Rope(const RopeParams& p) override {
    if (auto s = Check("rope", {p.q, p.positions}); !s.ok()) return s;
    if (auto s = CheckOptional("rope", {p.k}); !s.ok()) return s;
    return inner_->Rope(p);
  }
  absl::Status SwiGlu(const SwiGluParams& p) override {
    if (auto s = Check("swiglu", {p.gate, p.up, p.out}); !s.ok()) return s;
    return inner_->SwiGlu(p);
  }
  absl::Status Add(float* x, const float* delta, int64_t n) override {
    if (auto s = Check("add", {x, delta}); !s.ok()) return s;
    return inner_->Add(x, delta, n);
  }
  absl::Status WriteKv(const KvWriteParams& p) override {
    if (auto s = Check("KV write", {p.k, p.v, p.cache.k, p.cache.v}); !s.ok()) return s;
    if (auto s = CheckOptional("KV write", {p.slot_mapping, p.head_slot_mapping, p.cache.k_scale,
                                            p.cache.v_scale});
        !s.ok()) {
      return s;
    }
    return inner_->WriteKv(p);
  }
  absl::Status CopyKvBlocks(const KvCopyParams& p) override {
    if (auto s = Check("KV block copy", {p.src_blocks, p.dst_blocks, p.cache.k, p.cache.v});
        !s.ok()) {
      return s;
    }
    return inner_->CopyKvBlocks(p);
  }
  absl::Status PagedAttention(const AttentionParams& p) override {
    if (auto s = Check("attention", {p.q, p.out, p.seq_idx, p.context_lens, p.block_tables,
                                     p.cache.k, p.cache.v});
        !s.ok()) {
      return s;
    }
    if (auto s = CheckOptional("attention", {p.query_positions, p.slot_positions, p.num_sinks,
                                             p.recent_window, p.q_sink, p.column_sums,
                                             p.column_sum_offsets, p.cache.k_scale,
                                             p.cache.v_scale});
        !s.ok()) {
      return s;
    }
    for (int64_t i = 0; p.slot_positions != nullptr && i < p.num_seqs; ++i) {
      if (auto s = CheckOptional("attention slot map", {p.slot_positions[i].positions}); !s.ok()) {
        return s;
      }
    }
    return inner_->PagedAttention(p);
  }
  absl::Status Synchronize() override { return inner_->Synchronize(); }

  absl::Status CopyFromHost(void* dst, const void* host_src, int64_t bytes) override {
    if (auto s = Check("copy from host", {dst}); !s.ok()) return s;
    return inner_->CopyFromHost(dst, host_src, bytes);
  }
  absl::Status CopyToHost(void* host_dst, const void* src, int64_t bytes) override {
    if (auto s = Check("copy to host", {src}); !s.ok()) return s;
    return inner_->CopyToHost(host_dst, src, bytes);
  }
  absl::Status CopyWithin(void* dst, const void* src, int64_t bytes) override {
    if (auto s = Check("copy", {dst, src}); !s.ok()) return s;
    return inner_->CopyWithin(dst, src, bytes);
  }
  absl::Status SetZero(void* dst, int64_t bytes) override {
    if (auto s = Check("set zero", {dst}); !s.ok()) return s;
    return inner_->SetZero(dst, bytes);
  }
  absl::Status GatherRows(const GatherRowsParams& p) override {
    if (p.num_rows == 0) return inner_->GatherRows(p);
    if (auto s = Check("gather", {p.src, p.rows, p.dst}); !s.ok()) return s;
    return inner_->GatherRows(p);
  }

 private:
  bool Owned(const void* p) const {
    const uintptr_t at = reinterpret_cast<uintptr_t>(p);
    auto it = ranges_.upper_bound(at);
    if (it == ranges_.begin()) return false;
    --it;
    return at < it->first + static_cast<uintptr_t>(std::max<int64_t>(it->second, 1));
  }
  absl::Status Check(const char* op, std::initializer_list<const void*> pointers) const {
    int i = 0;
    for (const void* p : pointers) {
      if (!Owned(p)) {
        return absl::FailedPreconditionError(
            absl::StrCat(op, ": pointer #", i, " (", p == nullptr ? "null" : "host", ") is not "
                         "backend memory"));
      }
      ++i;
    }
    return absl::OkStatus();
  }
  absl::Status CheckOptional(const char* op, std::initializer_list<const void*> pointers) const {
    for (const void* p : pointers) {
      if (p != nullptr) {
        if (auto s = Check(op, {p}); !s.ok()) return s;
      }
    }
    return absl::OkStatus();
  }

  std::unique_ptr<Backend> inner_;
  std::map<uintptr_t, int64_t> ranges_;  // allocation start -> bytes
};

}  // namespace

std::unique_ptr<Backend> MakeDeviceLikeBackend(std::unique_ptr<Backend> inner) {
  return std::make_unique<DeviceLikeBackend>(std::move(inner));
}

}  // namespace gqa

#include "worker/engine/step_arrays.h"

#include <algorithm>
#include <cstring>

#include "absl/container/flat_hash_map.h"
#include "core/status.h"

namespace gqa {
namespace {

constexpr int64_t kAlign = 16;

int64_t AlignUp(int64_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

// One array's place in the packed buffer.
struct Section {
  const void* src = nullptr;
  int64_t bytes = 0;
  int64_t offset = 0;
};

template <typename T>
const T* HostOrNull(const std::vector<T>& v) {
  return v.empty() ? nullptr : v.data();
}

}  // namespace

absl::Status StepArrays::Upload(const ForwardBatch& b, int64_t num_kv_heads, int64_t block_size,
                                Backend& backend) {
  if (backend.memory_is_host()) {
    uploaded_bytes_ = 0;
    views_ = StepArrayViews{HostOrNull(b.token_ids),        HostOrNull(b.positions),
                            HostOrNull(b.seq_idx),          HostOrNull(b.context_lens),
                            HostOrNull(b.slot_mapping),     HostOrNull(b.block_tables),
                            HostOrNull(b.logit_token_idx),  HostOrNull(b.num_sinks),
                            HostOrNull(b.recent_window),    HostOrNull(b.slot_positions),
                            HostOrNull(b.sink_positions),   HostOrNull(b.head_slot_mapping),
                            HostOrNull(b.column_sum_offsets)};
    return absl::OkStatus();
  }
  int64_t size = 0;
  auto add = [&size](const void* src, int64_t bytes) {
    Section s{src, bytes, size};
    size += AlignUp(bytes);
    return s;
  };
  auto add_vector = [&add](const auto& v) {
    return add(v.data(), static_cast<int64_t>(v.size() * sizeof(v[0])));
  };
  const Section token_ids = add_vector(b.token_ids), positions = add_vector(b.positions),
                seq_idx = add_vector(b.seq_idx), context_lens = add_vector(b.context_lens),
                slot_mapping = add_vector(b.slot_mapping), block_tables = add_vector(b.block_tables),
                logit_rows = add_vector(b.logit_token_idx), num_sinks = add_vector(b.num_sinks),
                recent_window = add_vector(b.recent_window),
                sink_positions = add_vector(b.sink_positions),
                head_slots = add_vector(b.head_slot_mapping),
                sum_offsets = add_vector(b.column_sum_offsets);
  // The slot maps: each distinct host map once (layers often share one), as
  // many slots as its sequence's tokens scan (per-head maps: every head's row).
  const Section slot_structs = add_vector(b.slot_positions);
  std::vector<int64_t> scan(b.num_seqs, 0);
  // Bad values are the kernels' to report; here they only must not make
  // this read outside the batch or past a sequence's block table.
  const int64_t max_context = b.max_blocks_per_seq * block_size;
  for (size_t t = 0; t < b.seq_idx.size(); ++t) {
    const int32_t s = b.seq_idx[t];
    if (s < 0 || s >= b.num_seqs) continue;
    scan[s] = std::clamp<int64_t>(b.context_lens[t], scan[s], max_context);
  }
  absl::flat_hash_map<const int32_t*, int64_t> map_index;  // host map -> maps[] index
  std::vector<Section> maps;
  std::vector<int64_t> struct_map(b.slot_positions.size(), -1);
  for (size_t i = 0; i < b.slot_positions.size(); ++i) {
    const SlotPositions& sp = b.slot_positions[i];
    if (sp.positions == nullptr) continue;
    const int64_t seq = static_cast<int64_t>(i) % b.num_seqs;
    const int64_t slots =
        sp.head_stride > 0 ? (num_kv_heads - 1) * sp.head_stride + scan[seq] : scan[seq];
    auto [it, inserted] = map_index.try_emplace(sp.positions, static_cast<int64_t>(maps.size()));
    if (inserted) maps.push_back(Section{sp.positions, 0, 0});
    maps[it->second].bytes = std::max<int64_t>(maps[it->second].bytes, slots * 4);
    struct_map[i] = it->second;
  }
  for (Section& m : maps) m = add(m.src, m.bytes);

  if (buffer_ == nullptr || buffer_->size_bytes() < size) {
    buffer_.reset();
    ASSIGN_OR_RETURN(buffer_, backend.Allocate(std::max<int64_t>(size, 2 * size - size / 2)));
    ++generation_;
  }
  uint8_t* base = static_cast<uint8_t*>(buffer_->data());
  staging_.resize(size);
  for (const Section* s : {&token_ids, &positions, &seq_idx, &context_lens, &slot_mapping,
                           &block_tables, &logit_rows, &num_sinks, &recent_window,
                           &sink_positions, &head_slots, &sum_offsets}) {
    if (s->bytes > 0) std::memcpy(staging_.data() + s->offset, s->src, s->bytes);
  }
  for (const Section& m : maps) {
    if (m.bytes > 0) std::memcpy(staging_.data() + m.offset, m.src, m.bytes);
  }
  // The slot map structs, pointing at the maps' backend copies.
  for (size_t i = 0; i < b.slot_positions.size(); ++i) {
    SlotPositions sp = b.slot_positions[i];
    if (struct_map[i] >= 0) {
      sp.positions = reinterpret_cast<const int32_t*>(base + maps[struct_map[i]].offset);
    }
    std::memcpy(staging_.data() + slot_structs.offset + i * sizeof(SlotPositions), &sp,
                sizeof(SlotPositions));
  }
  RETURN_IF_ERROR(backend.CopyFromHost(base, staging_.data(), size));
  uploaded_bytes_ = size;
  auto at = [base](const Section& s) -> const void* {
    return s.bytes > 0 ? base + s.offset : nullptr;
  };
  views_.token_ids = static_cast<const int32_t*>(at(token_ids));
  views_.positions = static_cast<const int32_t*>(at(positions));
  views_.seq_idx = static_cast<const int32_t*>(at(seq_idx));
  views_.context_lens = static_cast<const int32_t*>(at(context_lens));
  views_.slot_mapping = static_cast<const int64_t*>(at(slot_mapping));
  views_.block_tables = static_cast<const int32_t*>(at(block_tables));
  views_.logit_token_idx = static_cast<const int32_t*>(at(logit_rows));
  views_.num_sinks = static_cast<const int32_t*>(at(num_sinks));
  views_.recent_window = static_cast<const int32_t*>(at(recent_window));
  views_.slot_positions = static_cast<const SlotPositions*>(at(slot_structs));
  views_.sink_positions = static_cast<const int32_t*>(at(sink_positions));
  views_.head_slot_mapping = static_cast<const int64_t*>(at(head_slots));
  views_.column_sum_offsets = static_cast<const int64_t*>(at(sum_offsets));
  return absl::OkStatus();
}

}  // namespace gqa

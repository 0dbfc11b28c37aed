#include "worker/engine/step_plan.h"

#include <cstring>
#include <type_traits>

#include "absl/strings/str_cat.h"
#include "core/status.h"

namespace gqa {
namespace {

constexpr uint32_t kMagic = 0x47515350;  // "GQSP"

class Writer {
 public:
  template <typename T>
  void Pod(const T& value) {
    static_assert(std::is_trivially_copyable_v<T>);
    out_.append(reinterpret_cast<const char*>(&value), sizeof(T));
  }
  template <typename T>
  void Vector(const std::vector<T>& values) {
    Pod<uint64_t>(values.size());
    if (values.empty()) return;
    out_.append(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T));
  }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

class Reader {
 public:
  explicit Reader(absl::string_view in) : in_(in) {}
  template <typename T>
  absl::Status Pod(T& value) {
    if (in_.size() < sizeof(T)) return Truncated();
    std::memcpy(&value, in_.data(), sizeof(T));
    in_.remove_prefix(sizeof(T));
    return absl::OkStatus();
  }
  template <typename T>
  absl::Status Vector(std::vector<T>& values) {
    uint64_t count = 0;
    RETURN_IF_ERROR(Pod(count));
    if (count > in_.size() / sizeof(T)) return Truncated();
    values.resize(count);
    if (count == 0) return absl::OkStatus();  // memcpy must not see a null pointer
    std::memcpy(values.data(), in_.data(), count * sizeof(T));
    in_.remove_prefix(count * sizeof(T));
    return absl::OkStatus();
  }
  bool done() const { return in_.empty(); }

 private:
  static absl::Status Truncated() {
    return absl::InvalidArgumentError("step plan: message truncated");
  }
  absl::string_view in_;
};

// Length of the slot map of sequence `s`: its largest context, times the
// heads when the map is per KV head.
int64_t SlotMapLength(const ForwardBatch& b, int64_t s, int64_t head_stride, int64_t heads) {
  int64_t context = 0;
  for (int64_t t = 0; t < b.num_tokens(); ++t) {
    if (b.seq_idx[t] == s) context = std::max<int64_t>(context, b.context_lens[t]);
  }
  return head_stride > 0 ? (heads - 1) * head_stride + context : context;
}

}  // namespace

std::string SerializeStepPlan(const StepPlan& plan, int64_t num_kv_heads) {
  Writer w;
  w.Pod(kMagic);
  w.Pod(plan.kind);
  if (plan.kind == StepKind::kCopyBlocks) w.Vector(plan.copies);
  if (plan.kind != StepKind::kForward) return w.Take();
  const ForwardBatch& b = plan.batch;
  w.Pod<uint8_t>(plan.want_column_sums ? 1 : 0);
  w.Vector(b.token_ids);
  w.Vector(b.positions);
  w.Vector(b.seq_idx);
  w.Vector(b.context_lens);
  w.Vector(b.slot_mapping);
  w.Vector(b.block_tables);
  w.Pod(b.num_seqs);
  w.Pod(b.max_blocks_per_seq);
  w.Vector(b.logit_token_idx);
  w.Vector(b.num_sinks);
  w.Vector(b.recent_window);
  w.Vector(b.sink_positions);
  w.Vector(b.head_slot_mapping);
  w.Vector(b.column_sum_offsets);
  w.Pod(b.column_sums_per_layer);
  // Slot maps, [num_layers, num_seqs] of (head_stride, values).
  w.Pod<uint64_t>(b.slot_positions.size());
  for (size_t i = 0; i < b.slot_positions.size(); ++i) {
    const SlotPositions& map = b.slot_positions[i];
    const int64_t s = static_cast<int64_t>(i) % std::max<int64_t>(b.num_seqs, 1);
    const int64_t length = SlotMapLength(b, s, map.head_stride, num_kv_heads);
    w.Pod(map.head_stride);
    w.Vector(std::vector<int32_t>(map.positions, map.positions + length));
  }
  return w.Take();
}

absl::StatusOr<StepPlan> ParseStepPlan(absl::string_view bytes) {
  Reader r(bytes);
  uint32_t magic = 0;
  StepPlan plan;
  RETURN_IF_ERROR(r.Pod(magic));
  RETURN_IF_ERROR(r.Pod(plan.kind));
  if (magic != kMagic) return absl::InvalidArgumentError("step plan: bad magic (not a StepPlan)");
  switch (plan.kind) {
    case StepKind::kHeartbeat:
    case StepKind::kShutdown:
      break;
    case StepKind::kCopyBlocks:
      RETURN_IF_ERROR(r.Vector(plan.copies));
      break;
    case StepKind::kForward: {
      ForwardBatch& b = plan.batch;
      uint8_t sums = 0;
      RETURN_IF_ERROR(r.Pod(sums));
      plan.want_column_sums = sums != 0;
      RETURN_IF_ERROR(r.Vector(b.token_ids));
      RETURN_IF_ERROR(r.Vector(b.positions));
      RETURN_IF_ERROR(r.Vector(b.seq_idx));
      RETURN_IF_ERROR(r.Vector(b.context_lens));
      RETURN_IF_ERROR(r.Vector(b.slot_mapping));
      RETURN_IF_ERROR(r.Vector(b.block_tables));
      RETURN_IF_ERROR(r.Pod(b.num_seqs));
      RETURN_IF_ERROR(r.Pod(b.max_blocks_per_seq));
      RETURN_IF_ERROR(r.Vector(b.logit_token_idx));
      RETURN_IF_ERROR(r.Vector(b.num_sinks));
      RETURN_IF_ERROR(r.Vector(b.recent_window));
      RETURN_IF_ERROR(r.Vector(b.sink_positions));
      RETURN_IF_ERROR(r.Vector(b.head_slot_mapping));
      RETURN_IF_ERROR(r.Vector(b.column_sum_offsets));
      RETURN_IF_ERROR(r.Pod(b.column_sums_per_layer));
      uint64_t num_maps = 0;
      RETURN_IF_ERROR(r.Pod(num_maps));
      if (num_maps > bytes.size()) return absl::InvalidArgumentError("step plan: bad slot maps");
      std::vector<int64_t> strides(num_maps), offsets(num_maps + 1, 0);
      for (uint64_t i = 0; i < num_maps; ++i) {
        std::vector<int32_t> values;
        RETURN_IF_ERROR(r.Pod(strides[i]));
        RETURN_IF_ERROR(r.Vector(values));
        plan.slot_position_values.insert(plan.slot_position_values.end(), values.begin(),
                                         values.end());
        offsets[i + 1] = static_cast<int64_t>(plan.slot_position_values.size());
      }
      // Pointers only once the storage no longer moves.
      for (uint64_t i = 0; i < num_maps; ++i) {
        b.slot_positions.push_back({plan.slot_position_values.data() + offsets[i], strides[i]});
      }
      break;
    }
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("step plan: unknown kind ", static_cast<int>(plan.kind)));
  }
  if (!r.done()) return absl::InvalidArgumentError("step plan: trailing bytes");
  return plan;
}

}  // namespace gqa

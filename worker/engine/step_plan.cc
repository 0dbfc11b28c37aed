#include "worker/engine/step_plan.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "core/status.h"
#include "worker/engine/step_plan_wire.h"

namespace gqa {
namespace {

using step_plan_internal::MirroredSequence;
using step_plan_internal::Mirror;

constexpr uint32_t kMagic = 0x32515347;  // "GSQ2": the delta format

// Batch-level flags of a forward plan: which optional arrays it has.
enum BatchFlags : uint8_t {
  kHasNumSinks = 1,
  kHasRecentWindow = 2,
  kHasSlotMaps = 4,
  kHasSeqIds = 8,
};

// Per-sequence flags: whether the mirror entry is the base (else the
// sequence is sent whole) and whether its policy values follow.
enum SequenceFlags : uint8_t {
  kKnown = 1,
  kParamsFollow = 2,
};

// The policy values of sequence `s` of a batch, as a mirror entry holds them.
struct SequenceParams {
  int32_t num_sinks = 0;
  int32_t recent_window = 0;
  std::vector<int64_t> map_strides;  // per layer, -1: no map; empty: no maps

  bool SameAs(const MirroredSequence& m) const {
    return num_sinks == m.num_sinks && recent_window == m.recent_window &&
           map_strides == m.map_strides;
  }
  // Both ends apply parameters the same way, so their maps stay the same.
  void ApplyTo(MirroredSequence& m) const {
    m.num_sinks = num_sinks;
    m.recent_window = recent_window;
    m.map_strides = map_strides;
    m.maps.resize(map_strides.size());
    for (size_t l = 0; l < map_strides.size(); ++l) {
      if (map_strides[l] < 0) m.maps[l].clear();
    }
  }
};

int64_t NumLayersOfMaps(const ForwardBatch& b) {
  return b.num_seqs > 0 ? static_cast<int64_t>(b.slot_positions.size()) / b.num_seqs : 0;
}

// Each sequence's largest context in the batch (what its slot map covers).
std::vector<int64_t> SeqContexts(const ForwardBatch& b) {
  std::vector<int64_t> contexts(std::max<int64_t>(b.num_seqs, 0), 0);
  for (int64_t t = 0; t < b.num_tokens(); ++t) {
    const int32_t s = b.seq_idx[t];
    if (s >= 0 && s < b.num_seqs) contexts[s] = std::max<int64_t>(contexts[s], b.context_lens[t]);
  }
  return contexts;
}

// Length of a slot map over `context` slots: times the heads when the map is
// per KV head.
int64_t SlotMapLength(int64_t context, int64_t head_stride, int64_t heads) {
  return head_stride > 0 ? (heads - 1) * head_stride + context : context;
}

SequenceParams ParamsOf(const ForwardBatch& b, int64_t s, int64_t num_layers) {
  SequenceParams p;
  if (!b.num_sinks.empty()) p.num_sinks = b.num_sinks[s];
  if (!b.recent_window.empty()) p.recent_window = b.recent_window[s];
  for (int64_t l = 0; l < num_layers; ++l) {
    const SlotPositions& map = b.slot_positions[l * b.num_seqs + s];
    p.map_strides.push_back(map.positions == nullptr ? -1 : map.head_stride);
  }
  return p;
}

void WriteTokenArrays(const ForwardBatch& b, PlanWriter& w) {
  w.Vector<int32_t>(b.token_ids);
  w.Vector<int32_t>(b.positions);
  w.Vector<int32_t>(b.seq_idx);
  w.Vector<int32_t>(b.context_lens);
  w.Vector<int64_t>(b.slot_mapping);
  w.Vector<int32_t>(b.logit_token_idx);
  w.Vector<int32_t>(b.sink_positions);
  w.Vector<int64_t>(b.head_slot_mapping);
  w.Vector<int64_t>(b.column_sum_offsets);
  w.Pod(b.column_sums_per_layer);
}

absl::Status ReadTokenArrays(PlanReader& r, ForwardBatch& b) {
  RETURN_IF_ERROR(r.Vector(b.token_ids));
  RETURN_IF_ERROR(r.Vector(b.positions));
  RETURN_IF_ERROR(r.Vector(b.seq_idx));
  RETURN_IF_ERROR(r.Vector(b.context_lens));
  RETURN_IF_ERROR(r.Vector(b.slot_mapping));
  RETURN_IF_ERROR(r.Vector(b.logit_token_idx));
  RETURN_IF_ERROR(r.Vector(b.sink_positions));
  RETURN_IF_ERROR(r.Vector(b.head_slot_mapping));
  RETURN_IF_ERROR(r.Vector(b.column_sum_offsets));
  RETURN_IF_ERROR(r.Pod(b.column_sums_per_layer));
  if (b.positions.size() != b.token_ids.size() || b.seq_idx.size() != b.token_ids.size() ||
      b.context_lens.size() != b.token_ids.size()) {
    return absl::InvalidArgumentError("step plan: per-token arrays differ in length");
  }
  return absl::OkStatus();
}

void ForgetStale(uint64_t step, Mirror& mirror) {
  absl::erase_if(mirror, [step](const auto& entry) {
    return step - entry.second.last_step >= static_cast<uint64_t>(kPlanMirrorSteps);
  });
}

}  // namespace

std::string StepPlanEncoder::EncodeControl(const StepPlan& plan) {
  PlanWriter w;
  w.Pod(kMagic);
  w.Pod(plan.kind);
  if (plan.kind == StepKind::kCopyBlocks) w.Vector<KvBlockCopy>(plan.copies);
  return w.Take();
}

std::string StepPlanEncoder::EncodeForward(const ForwardBatch& b, bool want_column_sums) {
  ++num_steps_;
  PlanWriter w;
  w.Pod(kMagic);
  w.Pod(StepKind::kForward);
  w.Pod<uint64_t>(num_steps_);
  w.Pod<uint8_t>(want_column_sums ? 1 : 0);
  WriteTokenArrays(b, w);
  w.Pod(b.num_seqs);
  w.Pod(b.max_blocks_per_seq);
  const bool has_ids = !b.seq_ids.empty(), has_maps = !b.slot_positions.empty();
  w.Pod<uint8_t>((b.num_sinks.empty() ? 0 : kHasNumSinks) |
                 (b.recent_window.empty() ? 0 : kHasRecentWindow) |
                 (has_maps ? kHasSlotMaps : 0) | (has_ids ? kHasSeqIds : 0));
  const int64_t num_layers = has_maps ? NumLayersOfMaps(b) : 0;
  if (has_maps) w.Pod(num_layers);
  const std::vector<int64_t> contexts = has_maps ? SeqContexts(b) : std::vector<int64_t>();
  for (int64_t s = 0; s < b.num_seqs; ++s) {
    MirroredSequence anonymous;
    MirroredSequence* entry = &anonymous;
    bool known = false;
    if (has_ids) {
      w.Pod(b.seq_ids[s]);
      auto [it, inserted] = mirror_.try_emplace(b.seq_ids[s]);
      entry = &it->second;
      known = !inserted;
    }
    const SequenceParams params = ParamsOf(b, s, num_layers);
    const bool params_follow = !known || !params.SameAs(*entry);
    w.Pod<uint8_t>((known ? kKnown : 0) | (params_follow ? kParamsFollow : 0));
    if (params_follow) {
      w.Pod(params.num_sinks);
      w.Pod(params.recent_window);
      for (int64_t stride : params.map_strides) w.Pod(stride);
      params.ApplyTo(*entry);
    }
    const absl::Span<const int32_t> row = absl::MakeConstSpan(b.block_tables)
                                              .subspan(s * b.max_blocks_per_seq, b.max_blocks_per_seq);
    WriteVectorDelta(entry->block_row, row, w);
    entry->block_row.assign(row.begin(), row.end());
    for (int64_t l = 0; l < num_layers; ++l) {
      const int64_t stride = params.map_strides[l];
      if (stride < 0) continue;
      const int32_t* values = b.slot_positions[l * b.num_seqs + s].positions;
      const absl::Span<const int32_t> map(values,
                                          SlotMapLength(contexts[s], stride, num_kv_heads_));
      WriteVectorDelta(entry->maps[l], map, w);
      entry->maps[l].assign(map.begin(), map.end());
    }
    entry->last_step = num_steps_;
  }
  ForgetStale(num_steps_, mirror_);
  return w.Take();
}

absl::StatusOr<StepPlan> StepPlanDecoder::Decode(absl::string_view bytes) {
  if (broken_) {
    return absl::FailedPreconditionError(
        "step plan: an earlier message was malformed; this rank no longer mirrors the leader");
  }
  absl::StatusOr<StepPlan> plan = DecodeUnchecked(bytes);
  broken_ = !plan.ok();
  return plan;
}

absl::StatusOr<StepPlan> StepPlanDecoder::DecodeUnchecked(absl::string_view bytes) {
  PlanReader r(bytes);
  uint32_t magic = 0;
  StepPlan plan;
  RETURN_IF_ERROR(r.Pod(magic));
  if (magic != kMagic) return absl::InvalidArgumentError("step plan: bad magic (not a StepPlan)");
  RETURN_IF_ERROR(r.Pod(plan.kind));
  switch (plan.kind) {
    case StepKind::kHeartbeat:
    case StepKind::kShutdown:
      break;
    case StepKind::kCopyBlocks:
      RETURN_IF_ERROR(r.Vector(plan.copies));
      break;
    case StepKind::kForward: {
      uint64_t step = 0;
      RETURN_IF_ERROR(r.Pod(step));
      if (step != num_steps_ + 1) {
        return absl::InvalidArgumentError(absl::StrCat("step plan: forward step ", step,
                                                       " after step ", num_steps_));
      }
      num_steps_ = step;
      ForwardBatch& b = plan.batch;
      uint8_t sums = 0, flags = 0;
      RETURN_IF_ERROR(r.Pod(sums));
      plan.want_column_sums = sums != 0;
      RETURN_IF_ERROR(ReadTokenArrays(r, b));
      RETURN_IF_ERROR(r.Pod(b.num_seqs));
      RETURN_IF_ERROR(r.Pod(b.max_blocks_per_seq));
      RETURN_IF_ERROR(r.Pod(flags));
      // Every sequence takes at least its flags byte.
      if (b.num_seqs < 0 || static_cast<uint64_t>(b.num_seqs) > r.remaining() ||
          b.max_blocks_per_seq < 0) {
        return absl::InvalidArgumentError("step plan: bad sequence count");
      }
      int64_t num_layers = 0;
      if (flags & kHasSlotMaps) {
        RETURN_IF_ERROR(r.Pod(num_layers));
        if (num_layers <= 0 || static_cast<uint64_t>(num_layers) > r.remaining()) {
          return absl::InvalidArgumentError("step plan: bad slot map layer count");
        }
      }
      const std::vector<int64_t> contexts =
          num_layers > 0 ? SeqContexts(b) : std::vector<int64_t>();
      // First every sequence's mirror entry is brought up to date, then the
      // batch is read out of the entries (inserting moves them).
      std::vector<MirroredSequence> anonymous(flags & kHasSeqIds ? 0 : b.num_seqs);
      for (int64_t s = 0; s < b.num_seqs; ++s) {
        MirroredSequence* entry = nullptr;
        uint8_t seq_flags = 0;
        if (flags & kHasSeqIds) {
          int64_t id = 0;
          RETURN_IF_ERROR(r.Pod(id));
          if (std::find(b.seq_ids.begin(), b.seq_ids.end(), id) != b.seq_ids.end()) {
            return absl::InvalidArgumentError(absl::StrCat("step plan: sequence ", id, " twice"));
          }
          b.seq_ids.push_back(id);
          RETURN_IF_ERROR(r.Pod(seq_flags));
          auto it = mirror_.find(id);
          if (((seq_flags & kKnown) != 0) != (it != mirror_.end())) {
            return absl::InvalidArgumentError(absl::StrCat(
                "step plan: sequence ", id, (seq_flags & kKnown) ? " is not held here"
                                                                 : " is already held here"));
          }
          entry = it != mirror_.end() ? &it->second : &mirror_[id];
        } else {
          RETURN_IF_ERROR(r.Pod(seq_flags));
          if (seq_flags & kKnown) {
            return absl::InvalidArgumentError("step plan: a delta for a sequence without an id");
          }
          entry = &anonymous[s];
        }
        if (!(seq_flags & kKnown) && !(seq_flags & kParamsFollow)) {
          return absl::InvalidArgumentError("step plan: a new sequence without its parameters");
        }
        if (seq_flags & kParamsFollow) {
          SequenceParams params;
          RETURN_IF_ERROR(r.Pod(params.num_sinks));
          RETURN_IF_ERROR(r.Pod(params.recent_window));
          params.map_strides.resize(num_layers);
          for (int64_t& stride : params.map_strides) {
            RETURN_IF_ERROR(r.Pod(stride));
            if (stride < -1) return absl::InvalidArgumentError("step plan: bad slot map stride");
          }
          params.ApplyTo(*entry);
        } else if (static_cast<int64_t>(entry->map_strides.size()) != num_layers) {
          return absl::InvalidArgumentError("step plan: slot maps disagree with the sequence's");
        }
        RETURN_IF_ERROR(ReadVectorDelta(r, entry->block_row));
        if (static_cast<int64_t>(entry->block_row.size()) != b.max_blocks_per_seq) {
          return absl::InvalidArgumentError("step plan: a block table row of the wrong length");
        }
        for (int64_t l = 0; l < num_layers; ++l) {
          const int64_t stride = entry->map_strides[l];
          if (stride < 0) continue;
          RETURN_IF_ERROR(ReadVectorDelta(r, entry->maps[l]));
          if (static_cast<int64_t>(entry->maps[l].size()) !=
              SlotMapLength(contexts[s], stride, num_kv_heads_)) {
            return absl::InvalidArgumentError("step plan: a slot map of the wrong length");
          }
        }
        entry->last_step = step;
      }
      // The batch, from the entries.
      std::vector<const MirroredSequence*> entries;
      for (int64_t s = 0; s < b.num_seqs; ++s) {
        entries.push_back((flags & kHasSeqIds) ? &mirror_.at(b.seq_ids[s]) : &anonymous[s]);
      }
      for (const MirroredSequence* e : entries) {
        b.block_tables.insert(b.block_tables.end(), e->block_row.begin(), e->block_row.end());
        if (flags & kHasNumSinks) b.num_sinks.push_back(e->num_sinks);
        if (flags & kHasRecentWindow) b.recent_window.push_back(e->recent_window);
      }
      std::vector<int64_t> offsets;
      for (int64_t l = 0; l < num_layers; ++l) {
        for (const MirroredSequence* e : entries) {
          offsets.push_back(static_cast<int64_t>(plan.slot_position_values.size()));
          plan.slot_position_values.insert(plan.slot_position_values.end(), e->maps[l].begin(),
                                           e->maps[l].end());
        }
      }
      // Pointers only once the storage no longer moves.
      for (int64_t l = 0; l < num_layers; ++l) {
        for (int64_t s = 0; s < b.num_seqs; ++s) {
          const int64_t stride = entries[s]->map_strides[l];
          b.slot_positions.push_back(
              stride < 0 ? SlotPositions{}
                         : SlotPositions{plan.slot_position_values.data() + offsets[l * b.num_seqs + s],
                                         stride});
        }
      }
      ForgetStale(step, mirror_);
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

#include "worker/engine/step_builder.h"

#include <algorithm>

#include "core/kv_size.h"
#include "core/status.h"

namespace gqa {
namespace {

int64_t PhysicalSlot(const SequenceKv& kv, int64_t logical, int64_t block_size) {
  return static_cast<int64_t>(kv.block_table()[logical / block_size]) * block_size +
         logical % block_size;
}

// Token index in the batch where sequence `index` starts.
int64_t FirstToken(absl::Span<const StepSequence> sequences, int64_t index) {
  int64_t first = 0;
  for (int64_t s = 0; s < index; ++s) first += static_cast<int64_t>(sequences[s].token_ids.size());
  return first;
}

}  // namespace

void BuildForwardBatch(absl::Span<const StepSequence> sequences, int64_t block_size,
                       int64_t num_layers, int64_t num_kv_heads, ForwardBatch& batch) {
  batch = ForwardBatch();
  const int64_t num_seqs = static_cast<int64_t>(sequences.size());
  bool any_bounded = false, any_sinks = false, any_per_head = false;
  int64_t max_blocks = 1;
  for (const StepSequence& seq : sequences) {
    const BoundedSlots* bounded = seq.kv->bounded_slots();
    any_bounded |= bounded != nullptr;
    any_sinks |= bounded != nullptr && bounded->num_sinks() > 0;
    any_per_head |= bounded != nullptr && bounded->per_head();
    max_blocks = std::max<int64_t>(max_blocks, static_cast<int64_t>(seq.kv->block_table().size()));
  }
  batch.num_seqs = num_seqs;
  batch.max_blocks_per_seq = max_blocks;
  batch.block_tables.assign(num_seqs * max_blocks, 0);
  if (any_bounded) {
    batch.num_sinks.assign(num_seqs, 0);
    batch.recent_window.assign(num_seqs, 0);
    batch.slot_positions.assign(num_layers * num_seqs, SlotPositions{});
  }
  int64_t column_sums = 0;
  for (int64_t s = 0; s < num_seqs; ++s) {
    const SequenceKv& kv = *sequences[s].kv;
    const BoundedSlots* bounded = kv.bounded_slots();
    std::copy(kv.block_table().begin(), kv.block_table().end(),
              batch.block_tables.begin() + s * max_blocks);
    batch.seq_ids.push_back(kv.id());
    if (bounded != nullptr) {
      batch.num_sinks[s] = static_cast<int32_t>(bounded->num_sinks());
      batch.recent_window[s] = static_cast<int32_t>(bounded->recent_window());
      for (int64_t l = 0; l < num_layers; ++l) {
        batch.slot_positions[l * num_seqs + s] = SlotPositions{
            bounded->positions(bounded->MapOf(l, 0)), bounded->per_head() ? bounded->max_slots() : 0};
      }
    }
    const int64_t first_token = batch.num_tokens();
    for (int32_t offset : sequences[s].logit_offsets) {
      batch.logit_token_idx.push_back(static_cast<int32_t>(first_token + offset));
    }
    for (size_t i = 0; i < sequences[s].token_ids.size(); ++i) {
      const int64_t position = kv.num_tokens() + static_cast<int64_t>(i);
      batch.token_ids.push_back(sequences[s].token_ids[i]);
      batch.positions.push_back(static_cast<int32_t>(position));
      batch.seq_idx.push_back(static_cast<int32_t>(s));
      batch.context_lens.push_back(static_cast<int32_t>(kv.ScanLength(static_cast<int64_t>(i))));
      batch.slot_mapping.push_back(PhysicalSlot(kv, kv.StepSlot(static_cast<int64_t>(i), 0, 0), block_size));
      if (any_sinks) {
        batch.sink_positions.push_back(
            static_cast<int32_t>(bounded != nullptr ? bounded->CachePosition(position) : position));
      }
      if (any_per_head) {
        const bool wants = bounded != nullptr && bounded->per_head();
        batch.column_sum_offsets.push_back(wants ? column_sums : -1);
        if (wants) column_sums += num_kv_heads * kv.ScanLength(static_cast<int64_t>(i));
      }
    }
  }
  batch.column_sums_per_layer = column_sums;
  if (!any_per_head) return;
  // Destination slots per (layer, token, KV head): h2o heads reuse their own free slots.
  const int64_t num_tokens = batch.num_tokens();
  batch.head_slot_mapping.resize(num_layers * num_tokens * num_kv_heads);
  for (int64_t l = 0; l < num_layers; ++l) {
    int64_t t = 0;
    for (const StepSequence& seq : sequences) {
      for (size_t i = 0; i < seq.token_ids.size(); ++i, ++t) {
        for (int64_t h = 0; h < num_kv_heads; ++h) {
          batch.head_slot_mapping[(l * num_tokens + t) * num_kv_heads + h] = PhysicalSlot(
              *seq.kv, seq.kv->StepSlot(static_cast<int64_t>(i), l, h), block_size);
        }
      }
    }
  }
}

StepColumnSums ColumnSumsOf(const ForwardBatch& batch, absl::Span<const StepSequence> sequences,
                            int64_t index, const std::vector<float>& column_sums) {
  StepColumnSums sums;
  if (batch.column_sum_offsets.empty()) return sums;
  const int64_t first = FirstToken(sequences, index);
  const int64_t count = static_cast<int64_t>(sequences[index].token_ids.size());
  sums.data = column_sums.data();
  sums.layer_stride = batch.column_sums_per_layer;
  sums.scan_length = batch.context_lens[first];
  sums.token_offsets.assign(batch.column_sum_offsets.begin() + first,
                            batch.column_sum_offsets.begin() + first + count);
  return sums;
}

KvCacheManagerOptions KvManagerOptionsFor(const Model& model, const KvCacheStorage& storage,
                                          bool prefix_caching) {
  const ModelConfig& config = model.config();
  KvCacheManagerOptions options;
  options.num_blocks = storage.num_blocks();
  options.block_size = storage.block_size();
  options.num_layers = config.num_layers;
  options.num_kv_heads = model.policy_kv_heads();
  options.bytes_per_block = storage.bytes_per_block();
  // The storage already checked these shapes for overflow (per block).
  options.formula_bytes_per_token = KvFormulaBytes(config.num_layers, model.plan().num_kv_heads, 1,
                                                   config.head_dim, DTypeSize(storage.dtype()))
                                        .value_or(0);
  options.scale_bytes_per_token =
      KvScaleBytes(config.num_layers, model.plan().num_kv_heads, 1, storage.dtype()).value_or(0);
  options.model_fingerprint = model.fingerprint();
  options.prefix_caching = prefix_caching;
  return options;
}

absl::Status CopyBlocks(Backend& backend, const std::vector<PagedKvView>& layers,
                        const std::vector<KvBlockCopy>& copies) {
  if (copies.empty()) return absl::OkStatus();
  std::vector<int32_t> src, dst;
  for (const KvBlockCopy& copy : copies) {
    src.push_back(copy.src);
    dst.push_back(copy.dst);
  }
  const int64_t n = static_cast<int64_t>(copies.size());
  const int32_t* src_blocks = src.data();
  const int32_t* dst_blocks = dst.data();
  std::unique_ptr<BackendBuffer> staged;  // the block ids in backend memory, unless it is the host's
  if (!backend.memory_is_host()) {
    ASSIGN_OR_RETURN(staged, backend.Allocate(2 * n * 4));
    int32_t* ids = static_cast<int32_t*>(staged->data());
    src.insert(src.end(), dst.begin(), dst.end());
    RETURN_IF_ERROR(backend.CopyFromHost(ids, src.data(), 2 * n * 4));
    src_blocks = ids;
    dst_blocks = ids + n;
  }
  for (const PagedKvView& layer : layers) {
    RETURN_IF_ERROR(backend.CopyKvBlocks({layer, src_blocks, dst_blocks, n}));
  }
  // The staged ids are freed on return: wait for the copies that read them.
  return staged != nullptr ? backend.Synchronize() : absl::OkStatus();
}

}  // namespace gqa

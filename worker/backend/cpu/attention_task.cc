#include "worker/backend/cpu/attention_task.h"

#include <algorithm>
#include <cstring>
#include <limits>

namespace gqa::cpu {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();
constexpr uint8_t kSeen = 1, kSink = 2;  // TaskBuffers::flags

// How many tiles ahead of the one being read the kernels prefetch, one line
// per line read. 8 tiles (32 KiB of bf16 at head_dim 128) hides DRAM latency
// for scattered blocks; 4 to 16 measure the same (bench/results/cpu-attention-bandwidth.md).
constexpr int64_t kPrefetchTiles = 8;

}  // namespace

// One task's working memory, carved from TaskScratch. Rows of scores,
// probabilities and factors are padded to PaddedTileLen(block_size).
struct TaskBuffers {
  float* acc;          // [group, head_dim]: unnormalized outputs (kernel lane order)
  float* running_max;  // [group]
  float* running_sum;  // [group]
  float* rescale;      // [group]
  float* q;            // [group, head_dim]: the queries in kernel lane order
  float* q_sink;       // [group, head_dim]: the same for q_sink
  float* tile;         // [block_size, head_dim]: a decoded tile, for kernels that want one
  float* scores;       // [group, padded]
  float* sink_scores;  // [group, padded]: scores with q_sink
  float* probs;        // [group, padded]: softmax numerators, then value weights
  float* k_factor;     // [padded]: softmax_scale (x FP8 K scale) per slot
  float* k_scales;     // [padded]: gathered FP8 scales
  float* v_scales;     // [padded]
  void* k_rows;        // [block_size, head_dim] of the cache dtype: gathered keys
  void* v_rows;        // [block_size, head_dim]: gathered values
  float* all_scores;   // [group, context]: every score, when column sums are wanted
  uint8_t* flags;      // [block_size]: kSeen | kSink per row of the tile
  int32_t* slots;      // [block_size]: the slot of each gathered row
};

TaskBuffers TaskScratch::Carve(int64_t group, int64_t dim, int64_t block_size, int64_t dtype_size,
                               int64_t all_scores) {
  const int64_t padded = PaddedTileLen(block_size);
  const int64_t row_floats = (block_size * dim * dtype_size + 3) / 4;
  const int64_t sizes[] = {
      group * dim,      group,          group,          group,          group * dim, group * dim,
      block_size * dim, group * padded, group * padded, group * padded, padded,      padded,
      padded,           row_floats,     row_floats,     all_scores};
  constexpr int kRegions = sizeof(sizes) / sizeof(sizes[0]);
  int64_t total = 16;  // slack to align the start to 64 bytes
  for (const int64_t size : sizes) total += (size + 15) / 16 * 16;
  if (static_cast<int64_t>(floats_.size()) < total) floats_.resize(total);
  if (static_cast<int64_t>(flags_.size()) < block_size) flags_.resize(block_size);
  if (static_cast<int64_t>(slots_.size()) < block_size) slots_.resize(block_size);
  float* cursor = floats_.data();
  cursor += (16 - reinterpret_cast<uintptr_t>(cursor) / sizeof(float) % 16) % 16;
  float* r[kRegions];
  for (int i = 0; i < kRegions; ++i) {
    r[i] = cursor;
    cursor += (sizes[i] + 15) / 16 * 16;
  }
  return {r[0], r[1],  r[2],  r[3],  r[4],  r[5],  r[6],  r[7],          r[8],
          r[9], r[10], r[11], r[12], r[13], r[14], r[15], flags_.data(), slots_.data()};
}

void TaskScratch::Trim() {
  if (floats_.size() > (size_t{1} << 20)) std::vector<float>().swap(floats_);
  if (order_.size() > (size_t{1} << 18)) std::vector<std::pair<int32_t, int32_t>>().swap(order_);
}

namespace {

// Which slots one task sees and which hold attention sinks: the rule
// documented on AttentionParams.
struct Visibility {
  bool everything = true;              // no query_positions: every scanned slot
  const int32_t* positions = nullptr;  // slot -> position; nullptr: the slot itself
  int64_t query_position = 0;
  int64_t num_sinks = 0;
  int64_t recent_window = 0;

  int64_t PositionOf(int64_t slot) const { return positions != nullptr ? positions[slot] : slot; }
  bool Sees(int64_t pos) const {
    if (everything) return true;
    if (pos < 0 || pos > query_position) return false;
    return pos < num_sinks || recent_window == 0 || query_position - pos < recent_window;
  }
  bool IsSink(int64_t pos) const { return pos >= 0 && pos < num_sinks; }
};

// What every tile of a task shares.
struct Task {
  const AttentionParams& p;
  const AttentionKernels& kern;
  const TaskBuffers& buf;
  int64_t token;
  int64_t kv_head;
  int64_t group;
  int64_t dim;
  int64_t block_size;
  int64_t padded;        // PaddedTileLen(block_size)
  int64_t context;       // slots scanned
  int64_t row_bytes;     // one slot's head_dim elements
  const int32_t* table;  // the sequence's block table
  Visibility vis;
  bool sink_queries;  // q_sink given and the sequence has sinks
  bool wants_sums;
  bool fp8;
  float k_unit;  // fp8_unit * softmax_scale
};

// The rows the kernels read for one tile: n keys and values, FP8 scales,
// kSeen | kSink per row in buf.flags, and the slot each row came from.
struct Tile {
  const void* k;
  const void* v;
  const float* k_scales;  // [n] (FP8 only)
  const float* v_scales;
  int64_t n, num_seen, num_sinks;
  int64_t first_slot;             // row j is slot first_slot + j ...
  const int32_t* slots;           // ... or slots[j], when not nullptr
  const void* k_ahead = nullptr;  // tiles to prefetch (same size), or nullptr
  const void* v_ahead = nullptr;
};

// Scores of one tile: dot products (q_sink's for sink rows), -inf for the
// rows the task does not see and for the padding.
void ScoreTile(const Task& t, const Tile& tile) {
  const TaskBuffers& buf = t.buf;
  t.kern.scores(buf.q, tile.k, buf.k_factor, t.group, tile.n, t.dim, buf.scores, t.padded, buf.tile,
                tile.k_ahead);
  if (tile.num_sinks > 0) {
    t.kern.scores(buf.q_sink, tile.k, buf.k_factor, t.group, tile.n, t.dim, buf.sink_scores,
                  t.padded, buf.tile, nullptr);
  }
  for (int64_t h = 0; h < t.group; ++h) {
    float* row = buf.scores + h * t.padded;
    if (tile.num_seen < tile.n || tile.num_sinks > 0) {
      for (int64_t j = 0; j < tile.n; ++j) {
        if ((buf.flags[j] & kSeen) == 0) {
          row[j] = kNegInf;
        } else if ((buf.flags[j] & kSink) != 0) {
          row[j] = buf.sink_scores[h * t.padded + j];
        }
      }
    }
    std::fill(row + tile.n, row + t.padded, kNegInf);
  }
}

// Scores, online softmax and value accumulation of one tile.
void ProcessTile(const Task& t, const Tile& tile) {
  const TaskBuffers& buf = t.buf;
  if (t.fp8) {
    for (int64_t j = 0; j < tile.n; ++j) buf.k_factor[j] = tile.k_scales[j] * t.k_unit;
  }
  ScoreTile(t, tile);
  for (int64_t h = 0; h < t.group; ++h) {
    const float* scores = buf.scores + h * t.padded;
    if (t.wants_sums) {
      float* all = buf.all_scores + h * t.context;
      for (int64_t j = 0; j < tile.n; ++j) {
        all[tile.slots != nullptr ? tile.slots[j] : tile.first_slot + j] = scores[j];
      }
    }
    t.kern.online_softmax(scores, tile.n, buf.running_max + h, buf.running_sum + h,
                          buf.probs + h * t.padded, buf.rescale + h);
  }
  if (t.fp8) {  // the V scale goes into the weights, after the softmax sums
    for (int64_t j = 0; j < tile.n; ++j) {
      const float v_factor = tile.v_scales[j] * t.kern.fp8_unit;
      for (int64_t h = 0; h < t.group; ++h) buf.probs[h * t.padded + j] *= v_factor;
    }
  }
  t.kern.accumulate_values(buf.probs, t.padded, tile.v, tile.n, t.group, t.dim, buf.rescale,
                           buf.acc, buf.tile, tile.v_ahead);
}

// Slot order, straight from the cache: the full policy, and bounded ones
// whose slots hold their own positions. Tiles nobody sees are not read.
void AttendInSlotOrder(const Task& t) {
  const PagedKvView& cache = t.p.cache;
  const int64_t tile_bytes = t.block_size * t.row_bytes;
  const char* k_base = static_cast<const char*>(cache.k);
  const char* v_base = static_cast<const char*>(cache.v);
  for (int64_t start = 0; start < t.context; start += t.block_size) {
    Tile tile{};
    tile.n = std::min(t.block_size, t.context - start);
    tile.first_slot = start;
    if (!t.vis.everything || t.sink_queries) {
      for (int64_t j = 0; j < tile.n; ++j) {
        const int64_t pos = t.vis.PositionOf(start + j);
        const bool seen = t.vis.Sees(pos), sink = seen && t.sink_queries && t.vis.IsSink(pos);
        t.buf.flags[j] = static_cast<uint8_t>((seen ? kSeen : 0) | (sink ? kSink : 0));
        tile.num_seen += seen;
        tile.num_sinks += sink;
      }
    } else {
      tile.num_seen = tile.n;
    }
    if (tile.num_seen == 0) continue;  // its column sums stay -inf
    // Tile (block, kv_head): bytes from index * tile_bytes, scales from index * block_size.
    const int64_t index = t.table[start / t.block_size] * cache.num_kv_heads + t.kv_head;
    tile.k = k_base + index * tile_bytes;
    tile.v = v_base + index * tile_bytes;
    if (t.fp8) {
      tile.k_scales = cache.k_scale + index * t.block_size;
      tile.v_scales = cache.v_scale + index * t.block_size;
    }
    if (start + kPrefetchTiles * t.block_size < t.context) {
      const int64_t ahead =
          t.table[start / t.block_size + kPrefetchTiles] * cache.num_kv_heads + t.kv_head;
      tile.k_ahead = k_base + ahead * tile_bytes;
      tile.v_ahead = v_base + ahead * tile_bytes;
      if (t.fp8) {
        __builtin_prefetch(cache.k_scale + ahead * t.block_size, 0, 1);
        __builtin_prefetch(cache.v_scale + ahead * t.block_size, 0, 1);
      }
    }
    ProcessTile(t, tile);
  }
}

// Position order through the slot map: the visible slots sorted by position
// (ties, which a valid map never has, by slot), gathered block_size rows at a time.
void AttendInPositionOrder(const Task& t, std::vector<std::pair<int32_t, int32_t>>& order) {
  const PagedKvView& cache = t.p.cache;
  order.clear();
  for (int64_t slot = 0; slot < t.context; ++slot) {
    const int64_t pos = t.vis.PositionOf(slot);
    if (t.vis.Sees(pos)) order.emplace_back(static_cast<int32_t>(pos), static_cast<int32_t>(slot));
  }
  std::sort(order.begin(), order.end());
  const TaskBuffers& buf = t.buf;
  char* k_rows = static_cast<char*>(buf.k_rows);
  char* v_rows = static_cast<char*>(buf.v_rows);
  const int64_t count = static_cast<int64_t>(order.size());
  for (int64_t start = 0; start < count; start += t.block_size) {
    Tile tile{};
    tile.k = k_rows;
    tile.v = v_rows;
    tile.k_scales = buf.k_scales;
    tile.v_scales = buf.v_scales;
    tile.n = tile.num_seen = std::min(t.block_size, count - start);
    tile.slots = buf.slots;
    for (int64_t j = 0; j < tile.n; ++j) {
      const auto [pos, slot] = order[start + j];
      const int64_t row =
          (t.table[slot / t.block_size] * cache.num_kv_heads + t.kv_head) * t.block_size +
          slot % t.block_size;
      std::memcpy(k_rows + j * t.row_bytes, static_cast<const char*>(cache.k) + row * t.row_bytes,
                  t.row_bytes);
      std::memcpy(v_rows + j * t.row_bytes, static_cast<const char*>(cache.v) + row * t.row_bytes,
                  t.row_bytes);
      if (t.fp8) {
        buf.k_scales[j] = cache.k_scale[row];
        buf.v_scales[j] = cache.v_scale[row];
      }
      const bool sink = t.sink_queries && t.vis.IsSink(pos);
      buf.flags[j] = static_cast<uint8_t>(kSeen | (sink ? kSink : 0));
      buf.slots[j] = slot;
      tile.num_sinks += sink;
    }
    ProcessTile(t, tile);
  }
}

// Normalized outputs and, when wanted, the column sums of one task.
void Finish(const Task& t) {
  const TaskBuffers& buf = t.buf;
  float* out = t.p.out + (t.token * t.p.num_q_heads + t.kv_head * t.group) * t.dim;
  for (int64_t h = 0; h < t.group; ++h) {
    // A query that saw nothing has sum 0 and acc 0: a zero output, not NaN.
    const float inverse = buf.running_sum[h] == 0.0f ? 0.0f : 1.0f / buf.running_sum[h];
    t.kern.unpermute_row(buf.acc + h * t.dim, t.dim, inverse, out + h * t.dim);
  }
  if (!t.wants_sums) return;
  float* sums = t.p.column_sums + t.p.column_sum_offsets[t.token] + t.kv_head * t.context;
  std::fill(sums, sums + t.context, 0.0f);
  for (int64_t h = 0; h < t.group; ++h) {
    if (buf.running_sum[h] == 0.0f) continue;
    const float inverse = 1.0f / buf.running_sum[h];
    float* probs = buf.all_scores + h * t.context;
    t.kern.exp_shifted(probs, t.context, buf.running_max[h], probs);
    for (int64_t i = 0; i < t.context; ++i) sums[i] += probs[i] * inverse;
  }
}

Visibility VisibilityOf(const AttentionParams& p, int64_t token, int64_t seq, int64_t kv_head) {
  Visibility vis;
  vis.num_sinks = p.num_sinks != nullptr ? p.num_sinks[seq] : 0;
  if (p.query_positions == nullptr) return vis;
  vis.everything = false;
  vis.query_position = p.query_positions[token];
  vis.recent_window = p.recent_window != nullptr ? p.recent_window[seq] : 0;
  if (p.slot_positions != nullptr && p.slot_positions[seq].positions != nullptr) {
    const SlotPositions& map = p.slot_positions[seq];
    vis.positions = map.positions + kv_head * map.head_stride;
  }
  return vis;
}

}  // namespace

void AttendGroup(const AttentionParams& p, const AttentionKernels& kern, int64_t token,
                 int64_t kv_head, TaskScratch& scratch) {
  const PagedKvView& cache = p.cache;
  const int64_t seq = p.seq_idx[token];
  const int64_t group = p.num_q_heads / cache.num_kv_heads, dim = cache.head_dim;
  const int64_t context = p.context_lens[token];
  const Visibility vis = VisibilityOf(p, token, seq, kv_head);
  const bool wants_sums = p.column_sums != nullptr && p.column_sum_offsets[token] >= 0;
  const TaskBuffers buf = scratch.Carve(group, dim, cache.block_size, DTypeSize(cache.dtype),
                                        wants_sums ? group * context : 0);
  const Task t{.p = p,
               .kern = kern,
               .buf = buf,
               .token = token,
               .kv_head = kv_head,
               .group = group,
               .dim = dim,
               .block_size = cache.block_size,
               .padded = PaddedTileLen(cache.block_size),
               .context = context,
               .row_bytes = dim * DTypeSize(cache.dtype),
               .table = p.block_tables + seq * p.max_blocks_per_seq,
               .vis = vis,
               .sink_queries = p.q_sink != nullptr && vis.num_sinks > 0,
               .wants_sums = wants_sums,
               .fp8 = IsFp8(cache.dtype),
               .k_unit = kern.fp8_unit * p.softmax_scale};
  const int64_t head_offset = (token * p.num_q_heads + kv_head * group) * dim;
  for (int64_t h = 0; h < group; ++h) {
    kern.permute_row(p.q + head_offset + h * dim, dim, buf.q + h * dim);
    if (t.sink_queries) {
      kern.permute_row(p.q_sink + head_offset + h * dim, dim, buf.q_sink + h * dim);
    }
  }
  std::fill(buf.acc, buf.acc + group * dim, 0.0f);
  std::fill(buf.running_max, buf.running_max + group, kNegInf);
  std::fill(buf.running_sum, buf.running_sum + group, 0.0f);
  std::fill(buf.k_factor, buf.k_factor + t.padded, t.fp8 ? 0.0f : p.softmax_scale);
  if (wants_sums) std::fill(buf.all_scores, buf.all_scores + group * context, kNegInf);
  if (vis.positions != nullptr) {
    AttendInPositionOrder(t, scratch.order());
  } else {
    AttendInSlotOrder(t);
  }
  Finish(t);
}

}  // namespace gqa::cpu

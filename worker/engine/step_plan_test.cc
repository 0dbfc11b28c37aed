#include "worker/engine/step_plan.h"

#include <random>

#include "gtest/gtest.h"
#include "worker/engine/step_plan_wire.h"

namespace gqa {
namespace {

constexpr int64_t kHeads = 2;  // KV heads per rank in these tests

int64_t MapLength(const ForwardBatch& b, int64_t s, int64_t stride) {
  int64_t context = 0;
  for (int64_t t = 0; t < b.num_tokens(); ++t) {
    if (b.seq_idx[t] == s) context = std::max<int64_t>(context, b.context_lens[t]);
  }
  return stride > 0 ? (kHeads - 1) * stride + context : context;
}

// Every field the follower's forward pass reads, slot maps by value.
void ExpectSameBatch(const ForwardBatch& want, const ForwardBatch& got) {
  EXPECT_EQ(got.token_ids, want.token_ids);
  EXPECT_EQ(got.positions, want.positions);
  EXPECT_EQ(got.seq_idx, want.seq_idx);
  EXPECT_EQ(got.context_lens, want.context_lens);
  EXPECT_EQ(got.slot_mapping, want.slot_mapping);
  EXPECT_EQ(got.block_tables, want.block_tables);
  EXPECT_EQ(got.num_seqs, want.num_seqs);
  EXPECT_EQ(got.max_blocks_per_seq, want.max_blocks_per_seq);
  EXPECT_EQ(got.seq_ids, want.seq_ids);
  EXPECT_EQ(got.logit_token_idx, want.logit_token_idx);
  EXPECT_EQ(got.num_sinks, want.num_sinks);
  EXPECT_EQ(got.recent_window, want.recent_window);
  EXPECT_EQ(got.sink_positions, want.sink_positions);
  EXPECT_EQ(got.head_slot_mapping, want.head_slot_mapping);
  EXPECT_EQ(got.column_sum_offsets, want.column_sum_offsets);
  EXPECT_EQ(got.column_sums_per_layer, want.column_sums_per_layer);
  ASSERT_EQ(got.slot_positions.size(), want.slot_positions.size());
  for (size_t i = 0; i < want.slot_positions.size(); ++i) {
    const SlotPositions& w = want.slot_positions[i];
    const SlotPositions& g = got.slot_positions[i];
    ASSERT_EQ(g.positions == nullptr, w.positions == nullptr) << "map " << i;
    if (w.positions == nullptr) continue;
    EXPECT_EQ(g.head_stride, w.head_stride) << "map " << i;
    const int64_t length = MapLength(want, static_cast<int64_t>(i) % want.num_seqs, w.head_stride);
    EXPECT_EQ(std::vector<int32_t>(g.positions, g.positions + length),
              std::vector<int32_t>(w.positions, w.positions + length))
        << "map " << i;
  }
}

// A sequence of the simulated scheduler below.
struct SimSequence {
  int64_t id = 0;
  enum Policy { kFull, kStreaming, kH2o } policy = kFull;
  int64_t context = 0;  // tokens cached so far
  std::vector<int32_t> blocks;
  std::vector<std::vector<int32_t>> maps;  // per layer, bounded policies
};

SimSequence Seq(int64_t id, SimSequence::Policy policy = SimSequence::kFull) {
  SimSequence seq;
  seq.id = id;
  seq.policy = policy;
  return seq;
}

constexpr int64_t kLayers = 2;
constexpr int64_t kBlockSize = 4;
constexpr int64_t kMaxSlots = 8;  // bounded policies' per-head slots

// One step of `seqs` (each with `tokens[i]` new tokens), built the way the
// step builder lays a batch out; the maps point into `seqs`.
ForwardBatch StepOf(std::vector<SimSequence*> seqs, const std::vector<int64_t>& tokens,
                    bool with_ids = true) {
  ForwardBatch b;
  b.num_seqs = static_cast<int64_t>(seqs.size());
  bool bounded = false;
  for (const SimSequence* s : seqs) {
    b.max_blocks_per_seq = std::max<int64_t>(b.max_blocks_per_seq, s->blocks.size());
    bounded |= s->policy != SimSequence::kFull;
  }
  b.block_tables.assign(b.num_seqs * b.max_blocks_per_seq, 0);
  if (bounded) {
    b.num_sinks.assign(b.num_seqs, 0);
    b.recent_window.assign(b.num_seqs, 0);
    b.slot_positions.assign(kLayers * b.num_seqs, SlotPositions{});
  }
  for (int64_t s = 0; s < b.num_seqs; ++s) {
    SimSequence& seq = *seqs[s];
    std::copy(seq.blocks.begin(), seq.blocks.end(), b.block_tables.begin() + s * b.max_blocks_per_seq);
    if (with_ids) b.seq_ids.push_back(seq.id);
    if (seq.policy != SimSequence::kFull) {
      b.num_sinks[s] = seq.policy == SimSequence::kStreaming ? 2 : 0;
      b.recent_window[s] = 6;
      for (int64_t l = 0; l < kLayers; ++l) {
        b.slot_positions[l * b.num_seqs + s] = {seq.maps[l].data(),
                                                seq.policy == SimSequence::kH2o ? kMaxSlots : 0};
      }
    }
    for (int64_t i = 0; i < tokens[s]; ++i) {
      b.token_ids.push_back(static_cast<int32_t>(100 + seq.context + i));
      b.positions.push_back(static_cast<int32_t>(seq.context + i));
      b.seq_idx.push_back(static_cast<int32_t>(s));
      const int64_t scan = seq.policy == SimSequence::kFull
                               ? seq.context + i + 1
                               : std::min<int64_t>(kMaxSlots, seq.context + i + 1);
      b.context_lens.push_back(static_cast<int32_t>(scan));
      b.slot_mapping.push_back(seq.blocks.back() * kBlockSize + (seq.context + i) % kBlockSize);
    }
    b.logit_token_idx.push_back(static_cast<int32_t>(b.num_tokens() - 1));
  }
  return b;
}

// Advances `seq` by `tokens`: new blocks as a paged cache takes them, the
// bounded maps' slots overwritten as their policies would.
void Advance(SimSequence& seq, int64_t tokens, std::mt19937& rng, int32_t& next_block) {
  for (int64_t i = 0; i < tokens; ++i) {
    const int64_t pos = seq.context++;
    if (seq.policy == SimSequence::kFull) {
      if (pos % kBlockSize == 0) seq.blocks.push_back(next_block++);
      continue;
    }
    if (seq.blocks.empty()) {
      for (int64_t k = 0; k < kMaxSlots * kHeads / kBlockSize; ++k) seq.blocks.push_back(next_block++);
      seq.maps.assign(kLayers, std::vector<int32_t>(kMaxSlots * kHeads, -1));
    }
    for (auto& map : seq.maps) {
      for (int64_t h = 0; h < (seq.policy == SimSequence::kH2o ? kHeads : 1); ++h) {
        const int64_t slot = pos < kMaxSlots ? pos : 2 + static_cast<int64_t>(rng() % (kMaxSlots - 2));
        map[h * kMaxSlots + slot] = static_cast<int32_t>(pos);
      }
    }
  }
}

TEST(StepPlanTest, ForwardPlansRoundTripWithAndWithoutIds) {
  std::mt19937 rng(1);
  int32_t next_block = 0;
  SimSequence full = Seq(7), streaming = Seq(9, SimSequence::kStreaming),
      h2o = Seq(3, SimSequence::kH2o);
  for (SimSequence* s : {&full, &streaming, &h2o}) Advance(*s, 5, rng, next_block);
  for (bool with_ids : {true, false}) {
    StepPlanEncoder encoder(kHeads);
    StepPlanDecoder decoder(kHeads);
    const ForwardBatch batch = StepOf({&full, &streaming, &h2o}, {1, 3, 2}, with_ids);
    auto plan = decoder.Decode(encoder.EncodeForward(batch, /*want_column_sums=*/true));
    ASSERT_TRUE(plan.ok()) << plan.status();
    EXPECT_EQ(plan->kind, StepKind::kForward);
    EXPECT_TRUE(plan->want_column_sums);
    ExpectSameBatch(batch, plan->batch);
    EXPECT_EQ(decoder.mirrored_sequences(), with_ids ? 3 : 0);
    EXPECT_EQ(encoder.mirrored_sequences(), decoder.mirrored_sequences());
  }
}

TEST(StepPlanTest, OtherKindsRoundTrip) {
  StepPlanDecoder decoder(kHeads);
  StepPlan copies;
  copies.kind = StepKind::kCopyBlocks;
  copies.copies = {{3, 9}, {4, 10}};
  auto parsed = decoder.Decode(StepPlanEncoder::EncodeControl(copies));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->copies.size(), 2u);
  EXPECT_EQ(parsed->copies[1].src, 4);
  EXPECT_EQ(parsed->copies[1].dst, 10);
  for (StepKind kind : {StepKind::kHeartbeat, StepKind::kShutdown}) {
    StepPlan plan;
    plan.kind = kind;
    auto round = decoder.Decode(StepPlanEncoder::EncodeControl(plan));
    ASSERT_TRUE(round.ok()) << round.status();
    EXPECT_EQ(round->kind, kind);
  }
}

// A scheduler's life in miniature: sequences of every policy join, grow,
// take copy-on-write blocks, sit out steps (fewer and more than the mirror
// keeps), finish; each decoded batch must be the encoded one, and both ends
// must hold the same sequences.
TEST(StepPlanTest, DeltaStreamReproducesEveryBatch) {
  std::mt19937 rng(42);
  int32_t next_block = 0;
  std::vector<SimSequence> seqs(12);
  for (size_t i = 0; i < seqs.size(); ++i) {
    seqs[i].id = 1000 + static_cast<int64_t>(i);
    seqs[i].policy = static_cast<SimSequence::Policy>(i % 3);
  }
  StepPlanEncoder encoder(kHeads);
  StepPlanDecoder decoder(kHeads);
  size_t resent_bytes = 0;
  for (int step = 0; step < 300; ++step) {
    std::vector<SimSequence*> batch_seqs;
    std::vector<int64_t> tokens;
    for (size_t i = 0; i < seqs.size(); ++i) {
      // Sequence i runs in steps that are not multiples of (i + 2), and not
      // at all between steps 100 and 130 when it is even (a long absence).
      if (step % (i + 2) == 0 || (i % 2 == 0 && step >= 100 && step < 130)) continue;
      const int64_t n = seqs[i].context == 0 ? 5 : 1;
      Advance(seqs[i], n, rng, next_block);
      if (step % 17 == 0 && !seqs[i].blocks.empty()) {
        seqs[i].blocks[rng() % seqs[i].blocks.size()] = next_block++;  // copy-on-write
      }
      batch_seqs.push_back(&seqs[i]);
      tokens.push_back(n);
    }
    if (step == 200) seqs[3] = Seq(3000);  // a new sequence in place of one
    if (batch_seqs.empty()) continue;
    const ForwardBatch batch = StepOf(batch_seqs, tokens);
    const std::string bytes = encoder.EncodeForward(batch, false);
    if (step >= 130 && step < 132) resent_bytes += bytes.size();
    auto plan = decoder.Decode(bytes);
    ASSERT_TRUE(plan.ok()) << "step " << step << ": " << plan.status();
    ExpectSameBatch(batch, plan->batch);
    ASSERT_EQ(encoder.mirrored_sequences(), decoder.mirrored_sequences()) << step;
    ASSERT_LE(decoder.mirrored_sequences(), static_cast<int64_t>(seqs.size()) + 1);
  }
  EXPECT_GT(resent_bytes, 0u);
}

// The point of the deltas: a decode step's plan does not grow with context.
TEST(StepPlanTest, DecodePlanBytesStayFlatAsContextGrows) {
  std::mt19937 rng(3);
  for (SimSequence::Policy policy : {SimSequence::kFull, SimSequence::kStreaming, SimSequence::kH2o}) {
    for (bool with_ids : {true, false}) {
      int32_t next_block = 0;
      std::vector<SimSequence> seqs(8);
      for (size_t i = 0; i < seqs.size(); ++i) seqs[i] = Seq(static_cast<int64_t>(i), policy);
      StepPlanEncoder encoder(kHeads);
      StepPlanDecoder decoder(kHeads);
      std::vector<size_t> sizes;
      for (int step = 0; step < 400; ++step) {
        std::vector<SimSequence*> batch_seqs;
        for (SimSequence& s : seqs) {
          Advance(s, 1, rng, next_block);
          batch_seqs.push_back(&s);
        }
        const ForwardBatch batch = StepOf(batch_seqs, std::vector<int64_t>(seqs.size(), 1), with_ids);
        const std::string bytes = encoder.EncodeForward(batch, false);
        ASSERT_TRUE(decoder.Decode(bytes).ok());
        sizes.push_back(bytes.size());
      }
      // The worst step of a window late in the run against one early on,
      // 200 tokens of context apart: the same with deltas (h2o's random
      // evictions may merge runs differently: a few bytes).
      const auto worst = [&](size_t from) {
        return *std::max_element(sizes.begin() + from, sizes.begin() + from + 100);
      };
      if (with_ids) {
        EXPECT_LE(worst(300), worst(100) + (policy == SimSequence::kH2o ? 64 : 0)) << policy;
      } else if (policy == SimSequence::kFull) {
        // Whole block tables every step: 50 more blocks per sequence.
        EXPECT_GE(worst(300), worst(100) + 8 * 50 * 4);
      }
    }
  }
}

TEST(StepPlanTest, AFollowerOutOfStepIsToldSo) {
  std::mt19937 rng(5);
  int32_t next_block = 0;
  SimSequence a = Seq(1), b = Seq(2);
  Advance(a, 3, rng, next_block);
  Advance(b, 3, rng, next_block);
  StepPlanEncoder encoder(kHeads);
  const std::string first = encoder.EncodeForward(StepOf({&a}, {1}), false);
  Advance(a, 1, rng, next_block);
  const std::string second = encoder.EncodeForward(StepOf({&a}, {1}), false);

  // A missed message.
  StepPlanDecoder skipped(kHeads);
  auto out_of_order = skipped.Decode(second);
  EXPECT_EQ(out_of_order.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(out_of_order.status().message().find("forward step 2 after step 0"), std::string::npos)
      << out_of_order.status();
  EXPECT_EQ(skipped.Decode(first).status().code(), absl::StatusCode::kFailedPrecondition);

  // Another leader's first step, then this leader's delta for a sequence the
  // follower never saw.
  StepPlanEncoder other(kHeads);
  StepPlanDecoder confused(kHeads);
  ASSERT_TRUE(confused.Decode(other.EncodeForward(StepOf({&b}, {1}), false)).ok());
  auto not_held = confused.Decode(second);
  EXPECT_EQ(not_held.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(not_held.status().message().find("sequence 1 is not held here"), std::string::npos)
      << not_held.status();
}

TEST(StepPlanTest, MalformedMessagesAreInvalidArgument) {
  std::mt19937 rng(9);
  int32_t next_block = 0;
  SimSequence full = Seq(4), h2o = Seq(5, SimSequence::kH2o);
  Advance(full, 6, rng, next_block);
  Advance(h2o, 6, rng, next_block);
  StepPlanEncoder encoder(kHeads);
  const std::string bytes = encoder.EncodeForward(StepOf({&full, &h2o}, {2, 1}), true);
  ASSERT_TRUE(StepPlanDecoder(kHeads).Decode(bytes).ok());
  // Every cut, never a crash (the sanitizer build runs this too).
  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    EXPECT_EQ(StepPlanDecoder(kHeads).Decode(bytes.substr(0, cut)).status().code(),
              absl::StatusCode::kInvalidArgument)
        << cut;
  }
  EXPECT_EQ(StepPlanDecoder(kHeads).Decode(bytes + "x").status().code(),
            absl::StatusCode::kInvalidArgument);
  std::string bad_kind = bytes;
  bad_kind[4] = 42;
  EXPECT_EQ(StepPlanDecoder(kHeads).Decode(bad_kind).status().code(),
            absl::StatusCode::kInvalidArgument);
  std::string bad_magic = bytes;
  bad_magic[0] ^= 1;
  EXPECT_EQ(StepPlanDecoder(kHeads).Decode(bad_magic).status().code(),
            absl::StatusCode::kInvalidArgument);
  // Every single flipped byte: an error or some batch, never a crash.
  for (size_t i = 0; i < bytes.size(); ++i) {
    std::string flipped = bytes;
    flipped[i] = static_cast<char>(flipped[i] ^ 0x5a);
    (void)StepPlanDecoder(kHeads).Decode(flipped);
  }
}

std::vector<int32_t> ApplyDelta(std::vector<int32_t> base, const std::vector<int32_t>& next,
                                size_t* bytes = nullptr) {
  PlanWriter w;
  WriteVectorDelta(base, next, w);
  const std::string wire = w.Take();
  if (bytes != nullptr) *bytes = wire.size();
  PlanReader r(wire);
  EXPECT_TRUE(ReadVectorDelta(r, base).ok());
  EXPECT_TRUE(r.done());
  return base;
}

TEST(VectorDeltaTest, GrowsShrinksAndChanges) {
  const std::vector<int32_t> base = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  size_t same = 0, appended = 0;
  EXPECT_EQ(ApplyDelta(base, base, &same), base);
  EXPECT_EQ(same, 16u);  // length and no runs
  std::vector<int32_t> longer = base;
  longer.push_back(13);
  EXPECT_EQ(ApplyDelta(base, longer, &appended), longer);
  EXPECT_EQ(appended, 16u + 16u + 4u);  // one run of one value
  EXPECT_EQ(ApplyDelta(base, {1, 2}), (std::vector<int32_t>{1, 2}));
  EXPECT_EQ(ApplyDelta(base, {}), std::vector<int32_t>{});
  std::vector<int32_t> changed = base;
  changed[1] = -2;
  changed[3] = -4;  // merges with the change at 1
  changed[11] = -12;
  EXPECT_EQ(ApplyDelta(base, changed), changed);
  EXPECT_EQ(ApplyDelta({}, base), base);
}

std::string RawDelta(uint64_t size, const std::vector<std::pair<uint64_t, std::vector<int32_t>>>& runs) {
  PlanWriter w;
  w.Pod(size);
  w.Pod<uint64_t>(runs.size());
  for (const auto& [start, values] : runs) {
    w.Pod(start);
    w.Vector<int32_t>(values);
  }
  return w.Take();
}

TEST(VectorDeltaTest, BadDeltasAreRefusedAndLeaveTheVector) {
  const std::vector<int32_t> base = {1, 2, 3, 4};
  const std::vector<std::string> bad = {
      RawDelta(6, {{4, {5}}}),               // index 5 never written
      RawDelta(6, {{5, {6}}}),               // index 4 never written
      RawDelta(4, {{2, {7}}, {1, {7}}}),     // out of order
      RawDelta(4, {{1, {7, 7}}, {2, {7}}}),  // overlapping
      RawDelta(4, {{3, {7, 7}}}),            // past the length
      RawDelta(4, {{1, {}}}),                // empty run
      RawDelta(uint64_t{1} << 60, {}),       // a huge length nothing covers
      RawDelta(4, {{0, {1}}}).substr(0, 20),  // truncated
  };
  for (size_t i = 0; i < bad.size(); ++i) {
    std::vector<int32_t> vector = base;
    PlanReader r(bad[i]);
    EXPECT_EQ(ReadVectorDelta(r, vector).code(), absl::StatusCode::kInvalidArgument) << i;
    EXPECT_EQ(vector, base) << i;
  }
}

}  // namespace
}  // namespace gqa

#include "kvstore/store/disk_tier.h"

#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "kvstore/store/record_format.h"
#include "kvstore/store/testing/fault_injection_env.h"
#include "kvstore/store/testing/test_blocks.h"

namespace gqa::kvstore {
namespace {

using testing::MakeBlock;
using testing::PrefixKey;
using testing::SwapKey;

constexpr int64_t kSecond = 1'000'000'000;
constexpr char kDir[] = "/disk";

BlockRef Ref(const BlockKey& key, uint64_t seed = 1) {
  return std::make_shared<const Block>(MakeBlock(key, seed));
}

int64_t RecordOf(const BlockKey& key) {
  const Block block = MakeBlock(key, 0);
  return RecordBytes(block.key, static_cast<int64_t>(block.payload.size()));
}

class DiskTierTest : public ::testing::Test {
 protected:
  std::unique_ptr<DiskTier> Open(int64_t capacity = 1 << 20, int64_t segment_bytes = 1 << 16,
                                 Env* env = nullptr, std::string dir = kDir) {
    DiskTierOptions options;
    options.env = env != nullptr ? env : env_.get();
    options.dir = std::move(dir);
    options.capacity_bytes = capacity;
    options.segment_bytes = segment_bytes;
    absl::StatusOr<std::unique_ptr<DiskTier>> tier = DiskTier::Open(std::move(options));
    EXPECT_TRUE(tier.ok()) << tier.status();
    return tier.ok() ? *std::move(tier) : nullptr;
  }
  void ExpectServes(DiskTier& tier, const BlockKey& key, uint64_t seed) {
    absl::StatusOr<Block> got = tier.Get(key);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(got->key, key);
    EXPECT_EQ(got->layout, testing::SmallLayout());
    EXPECT_EQ(got->payload, MakeBlock(key, seed).payload);
    EXPECT_EQ(got->payload_crc32c, MakeBlock(key, seed).payload_crc32c);
  }
  void ExpectAbsent(DiskTier& tier, const BlockKey& key) {
    EXPECT_EQ(tier.Get(key).status().code(), absl::StatusCode::kNotFound);
    EXPECT_FALSE(*tier.Contains(key));
  }
  // Rewrites a file of the MemEnv with one byte xor-ed or the tail cut.
  void FlipByte(const std::string& path, int64_t offset) {
    std::string data = *env_->ReadFile(path);
    data[static_cast<size_t>(offset)] ^= 0x08;
    ASSERT_TRUE(env_->WriteFileAtomically(path, data).ok());
  }
  void CutTail(const std::string& path, int64_t bytes) {
    std::string data = *env_->ReadFile(path);
    data.resize(data.size() - static_cast<size_t>(bytes));
    ASSERT_TRUE(env_->WriteFileAtomically(path, data).ok());
  }

  std::unique_ptr<MemEnv> env_ = NewMemEnv();
};

TEST_F(DiskTierTest, ServesWhatItStoredAndRebuildsItsIndexOnRestart) {
  auto tier = Open();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(tier->Put(Ref(PrefixKey("t", i), i), 0).ok());
  ASSERT_TRUE(tier->Put(Ref(SwapKey("t", "A", 0), 7), 10 * kSecond).ok());
  ASSERT_TRUE(tier->Put(Ref(SwapKey("t", "A", 1), 8), 20 * kSecond).ok());
  EXPECT_EQ(*tier->Put(Ref(PrefixKey("t", 0), 99), 0), PutOutcome::kAlreadyPresent);
  ExpectServes(*tier, PrefixKey("t", 0), 0);
  const TierStats before = tier->Stats();
  EXPECT_EQ(before.num_prefix_blocks, 3);
  EXPECT_EQ(before.num_swap_blocks, 2);
  EXPECT_EQ(before.used_bytes,
            3 * RecordOf(PrefixKey("t", 0)) + 2 * RecordOf(SwapKey("t", "A", 0)));
  tier.reset();

  env_->AdvanceClock(15 * kSecond);  // the process was down for 15 s
  tier = Open();
  for (int i = 0; i < 3; ++i) ExpectServes(*tier, PrefixKey("t", i), i);
  ExpectAbsent(*tier, SwapKey("t", "A", 0));  // its TTL passed while down
  ExpectServes(*tier, SwapKey("t", "A", 1), 8);
  const TierStats after = tier->Stats();
  EXPECT_EQ(after.num_prefix_blocks, 3);
  EXPECT_EQ(after.num_swap_blocks, 1);
  EXPECT_EQ(after.used_bytes, before.used_bytes);
  EXPECT_EQ(after.num_corrupt_dropped, 0);
  EXPECT_EQ(tier->num_expired_swap_blocks(), 1);
  env_->AdvanceClock(5 * kSecond);
  ExpectAbsent(*tier, SwapKey("t", "A", 1));  // the expiry survived the restart
}

TEST_F(DiskTierTest, RestartsFromRealFiles) {
  char pattern[] = "/tmp/gqa_disk_tier_test_XXXXXX";
  ASSERT_NE(::mkdtemp(pattern), nullptr);
  const std::string dir = std::string(pattern) + "/segments";
  auto tier = Open(1 << 20, 4096, Env::Default(), dir);
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(tier->Put(Ref(PrefixKey("t", i), i), 0).ok());
  ASSERT_TRUE(
      tier->Put(Ref(SwapKey("t", "A", 3), 5), Env::Default()->NowNanos() + 600 * kSecond).ok());
  ASSERT_TRUE(tier->Delete(PrefixKey("t", 4)).ok());
  EXPECT_GT(tier->NumSegmentsForTesting(), 2);
  tier.reset();
  tier = Open(1 << 20, 4096, Env::Default(), dir);
  for (int i = 0; i < 20; ++i) {
    if (i == 4) {
      ExpectAbsent(*tier, PrefixKey("t", i));
    } else {
      ExpectServes(*tier, PrefixKey("t", i), i);
    }
  }
  ExpectServes(*tier, SwapKey("t", "A", 3), 5);
  EXPECT_EQ(tier->Stats().num_corrupt_dropped, 0);
  tier.reset();
  std::filesystem::remove_all(pattern);
}

TEST_F(DiskTierTest, TornTailIsSkippedCountedAndNeverServed) {
  auto tier = Open();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(tier->Put(Ref(PrefixKey("t", i), i), 0).ok());
  const std::string segment = tier->SegmentPathForTesting(PrefixKey("t", 2));
  tier.reset();
  CutTail(segment, 100);  // as if killed while writing the third record

  tier = Open();
  ExpectServes(*tier, PrefixKey("t", 0), 0);
  ExpectServes(*tier, PrefixKey("t", 1), 1);
  ExpectAbsent(*tier, PrefixKey("t", 2));
  EXPECT_EQ(tier->Stats().num_corrupt_dropped, 1);
  // New writes go to a new segment, never after the torn bytes.
  ASSERT_TRUE(tier->Put(Ref(PrefixKey("t", 2), 2), 0).ok());
  EXPECT_NE(tier->SegmentPathForTesting(PrefixKey("t", 2)), segment);
  tier.reset();
  tier = Open();
  ExpectServes(*tier, PrefixKey("t", 2), 2);
  EXPECT_EQ(tier->Stats().num_corrupt_dropped, 1);  // the old torn tail, counted again
}

TEST_F(DiskTierTest, ByteFlippedAfterIndexingIsDroppedOnRead) {
  auto tier = Open();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(tier->Put(Ref(PrefixKey("t", i), i), 0).ok());
  const int64_t record = RecordOf(PrefixKey("t", 0));
  FlipByte(tier->SegmentPathForTesting(PrefixKey("t", 1)), record + record / 2);  // payload
  ExpectAbsent(*tier, PrefixKey("t", 1));
  EXPECT_EQ(tier->Stats().num_corrupt_dropped, 1);
  EXPECT_EQ(tier->Stats().num_prefix_blocks, 2);
  ExpectServes(*tier, PrefixKey("t", 0), 0);
  ExpectServes(*tier, PrefixKey("t", 2), 2);
  EXPECT_EQ(tier->Stats().num_corrupt_dropped, 1);
  tier.reset();
  tier = Open();  // the scan skips it too
  ExpectAbsent(*tier, PrefixKey("t", 1));
  ExpectServes(*tier, PrefixKey("t", 2), 2);
  EXPECT_EQ(tier->Stats().num_corrupt_dropped, 1);
}

TEST_F(DiskTierTest, CorruptHeaderAtRestartIsSkippedAndTheRestRecovered) {
  auto tier = Open();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(tier->Put(Ref(PrefixKey("t", i), i), 0).ok());
  const std::string segment = tier->SegmentPathForTesting(PrefixKey("t", 0));
  tier.reset();
  FlipByte(segment, RecordOf(PrefixKey("t", 0)) + 9);  // the middle record's payload length
  tier = Open();
  ExpectServes(*tier, PrefixKey("t", 0), 0);
  ExpectAbsent(*tier, PrefixKey("t", 1));
  ExpectServes(*tier, PrefixKey("t", 2), 2);
  EXPECT_EQ(tier->Stats().num_corrupt_dropped, 1);
}

TEST_F(DiskTierTest, DeletesAndReplacementsSurviveRestart) {
  auto tier = Open();
  ASSERT_TRUE(tier->Put(Ref(PrefixKey("t", 1), 1), 0).ok());
  ASSERT_TRUE(tier->Put(Ref(PrefixKey("t", 2), 2), 0).ok());
  ASSERT_TRUE(tier->Put(Ref(SwapKey("t", "A", 0), 1), 60 * kSecond).ok());
  ASSERT_TRUE(tier->Put(Ref(SwapKey("t", "A", 0), 2), 60 * kSecond).ok());  // replaced
  ASSERT_TRUE(tier->Put(Ref(SwapKey("t", "A", 1), 3), 60 * kSecond).ok());
  ASSERT_TRUE(tier->Put(Ref(SwapKey("t", "B", 0), 4), 60 * kSecond).ok());
  EXPECT_TRUE(*tier->Delete(PrefixKey("t", 1)));
  EXPECT_FALSE(*tier->Delete(PrefixKey("t", 1)));
  EXPECT_EQ(*tier->DeleteSwapSequence("t", "B"), 1);
  tier.reset();
  tier = Open();
  ExpectAbsent(*tier, PrefixKey("t", 1));
  ExpectServes(*tier, PrefixKey("t", 2), 2);
  ExpectServes(*tier, SwapKey("t", "A", 0), 2);
  ExpectServes(*tier, SwapKey("t", "A", 1), 3);
  ExpectAbsent(*tier, SwapKey("t", "B", 0));
  EXPECT_EQ(*tier->DeleteSwapSequence("t", "A"), 2);
  // A deleted prefix id can be stored again.
  EXPECT_EQ(*tier->Put(Ref(PrefixKey("t", 1), 5), 0), PutOutcome::kStored);
  tier.reset();
  tier = Open();
  ExpectServes(*tier, PrefixKey("t", 1), 5);
  ExpectAbsent(*tier, SwapKey("t", "A", 0));
  EXPECT_EQ(tier->Stats().num_swap_blocks, 0);
}

TEST_F(DiskTierTest, ReclaimsOldestPrefixSegmentsUnderItsBudget) {
  const int64_t record = RecordOf(PrefixKey("t", 0));
  // Segments of two records, room for eight.
  auto tier = Open(8 * record, 2 * record);
  for (int i = 0; i < 12; ++i) ASSERT_TRUE(tier->Put(Ref(PrefixKey("t", i), i), 0).ok());
  const TierStats stats = tier->Stats();
  EXPECT_LE(stats.used_bytes, 8 * record);
  EXPECT_EQ(stats.num_evictions, 4);
  for (int i = 0; i < 4; ++i) ExpectAbsent(*tier, PrefixKey("t", i));
  for (int i = 4; i < 12; ++i) ExpectServes(*tier, PrefixKey("t", i), i);
  EXPECT_EQ(*tier->Put(Ref(PrefixKey("t", 99)), 0), PutOutcome::kStored);
  EXPECT_EQ(tier->Put(Ref(PrefixKey("t", 100)), 0).ok(), true);
  EXPECT_LE(tier->Stats().used_bytes, 8 * record);
}

TEST_F(DiskTierTest, NeverReclaimsLiveSwapBlocksAndRecoversWhenTheyGo) {
  const int64_t record = RecordOf(SwapKey("t", "A", 0));
  auto tier = Open(8 * record, 2 * record);
  ASSERT_TRUE(tier->Put(Ref(PrefixKey("t", 1)), 0).ok());
  int stored = 0;
  absl::StatusOr<PutOutcome> outcome;
  while ((outcome = tier->Put(Ref(SwapKey("t", "A", stored), stored), 60 * kSecond)).ok()) {
    ++stored;
    ASSERT_LT(stored, 100);
  }
  EXPECT_EQ(outcome.status().code(), absl::StatusCode::kResourceExhausted) << outcome.status();
  EXPECT_GE(stored, 6);
  ExpectAbsent(*tier, PrefixKey("t", 1));  // evicted for swap room, never the reverse
  EXPECT_EQ(tier->Put(Ref(PrefixKey("t", 2)), 0).status().code(),
            absl::StatusCode::kResourceExhausted);
  for (int i = 0; i < stored; ++i) ExpectServes(*tier, SwapKey("t", "A", i), i);  // reads go on
  // Freed by a delete: the next Put succeeds without a restart.
  EXPECT_EQ(*tier->DeleteSwapSequence("t", "A"), stored);
  EXPECT_TRUE(tier->Put(Ref(SwapKey("t", "B", 0)), 60 * kSecond).ok());
  EXPECT_TRUE(tier->Put(Ref(PrefixKey("t", 2)), 0).ok());
  // Freed by expiry.
  int more = 0;
  while (tier->Put(Ref(SwapKey("t", "C", more)), 10 * kSecond).ok()) ++more;
  env_->AdvanceClock(10 * kSecond);
  EXPECT_TRUE(tier->Put(Ref(SwapKey("t", "D", 0)), 10 * kSecond).ok());
  EXPECT_EQ(tier->num_expired_swap_blocks(), more);
}

TEST_F(DiskTierTest, TombstoneOutlivesTheRecordItDeletes) {
  const int64_t swap_record = RecordOf(SwapKey("t", "S", 0));
  // Swap segments of two records; room for about seven records.
  auto tier = Open(2 * swap_record * 4, 2 * swap_record);
  ASSERT_TRUE(tier->Put(Ref(SwapKey("t", "S", 0), 1), 600 * kSecond).ok());
  ASSERT_TRUE(tier->Put(Ref(SwapKey("t", "U", 0), 2), 600 * kSecond).ok());
  // The tombstone lands in a new swap segment holding nothing live, while the
  // deleted record's segment stays (U is live there).
  EXPECT_EQ(*tier->Delete(SwapKey("t", "S", 0)), true);
  // Pressure: dropping the tombstone's segment first would be free, but the
  // deleted record would come back after a restart.
  for (int i = 0; i < 12; ++i) ASSERT_TRUE(tier->Put(Ref(PrefixKey("t", i)), 0).ok());
  tier.reset();
  tier = Open(2 * swap_record * 4, 2 * swap_record);
  ExpectAbsent(*tier, SwapKey("t", "S", 0));
  ExpectServes(*tier, SwapKey("t", "U", 0), 2);
}

TEST_F(DiskTierTest, DiskFullFailsPutsKeepsGetsAndRecoversByItself) {
  testing::FaultInjectionEnv faulty(env_.get());
  auto tier = Open(1 << 20, 1 << 16, &faulty);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(tier->Put(Ref(PrefixKey("t", i), i), 0).ok());
  faulty.SetDiskFullAfterBytes(100);  // the next record tears after 100 bytes
  absl::StatusOr<PutOutcome> full = tier->Put(Ref(PrefixKey("t", 3), 3), 0);
  EXPECT_EQ(full.status().code(), absl::StatusCode::kResourceExhausted) << full.status();
  EXPECT_EQ(tier->Put(Ref(SwapKey("t", "A", 0)), kSecond).status().code(),
            absl::StatusCode::kResourceExhausted);
  ExpectAbsent(*tier, PrefixKey("t", 3));
  for (int i = 0; i < 3; ++i) ExpectServes(*tier, PrefixKey("t", i), i);
  EXPECT_TRUE(*tier->Delete(PrefixKey("t", 0)));  // deleting works on a full disk
  faulty.ClearDiskFull();                         // space freed elsewhere
  ASSERT_TRUE(tier->Put(Ref(PrefixKey("t", 3), 3), 0).ok());
  ASSERT_TRUE(tier->Put(Ref(SwapKey("t", "A", 0), 4), kSecond).ok());
  ExpectServes(*tier, PrefixKey("t", 3), 3);
  tier.reset();
  tier = Open(1 << 20, 1 << 16, &faulty);
  ExpectServes(*tier, PrefixKey("t", 1), 1);
  ExpectServes(*tier, PrefixKey("t", 3), 3);
  ExpectServes(*tier, SwapKey("t", "A", 0), 4);
  EXPECT_EQ(tier->Stats().num_corrupt_dropped, 1);  // the torn record
}

TEST_F(DiskTierTest, RefusesBadOptionsAndOversizedBlocks) {
  DiskTierOptions options;
  options.env = env_.get();
  options.dir = kDir;
  EXPECT_EQ(DiskTier::Open(options).status().code(), absl::StatusCode::kInvalidArgument);
  auto tier = Open(RecordOf(PrefixKey("t", 0)) - 1);
  EXPECT_EQ(tier->Put(Ref(PrefixKey("t", 0)), 0).status().code(),
            absl::StatusCode::kResourceExhausted);
}

}  // namespace
}  // namespace gqa::kvstore

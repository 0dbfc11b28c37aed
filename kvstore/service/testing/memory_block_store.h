// MemoryBlockStore: a complete BlockStore held in process memory, with the
// interface's semantics (block_store.h, kvstore.proto): one memory tier of a
// fixed capacity, prefix blocks evicted least recently used first and never a
// swap block for another, swap TTLs on an injected clock, tenant scoping by
// key, and a CRC-32C check on every read (a corrupt record is dropped,
// counted and reads as absent). The service tests run against it, with test
// hooks to corrupt a record and count reads; gqa-kvstore serves from
// TieredBlockStore. Thread-safe; payloads are copied outside the lock.
#ifndef GQA_KVSTORE_SERVICE_TESTING_MEMORY_BLOCK_STORE_H_
#define GQA_KVSTORE_SERVICE_TESTING_MEMORY_BLOCK_STORE_H_

#include <atomic>
#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>

#include "absl/synchronization/mutex.h"
#include "core/env.h"
#include "kvstore/store/block_store.h"

namespace gqa::kvstore {

struct MemoryBlockStoreOptions {
  // Bytes the store may hold, counted as RecordBytes() per block. Default 1 GiB.
  int64_t capacity_bytes = int64_t{1} << 30;
  // The clock of swap TTLs; must outlive the store. nullptr: Env::Default().
  Env* env = nullptr;
};

class MemoryBlockStore final : public BlockStore {
 public:
  // Bookkeeping charged per record on top of its payload and key bytes.
  static constexpr int64_t kRecordOverheadBytes = 64;

  explicit MemoryBlockStore(MemoryBlockStoreOptions options);
  MemoryBlockStore(const MemoryBlockStore&) = delete;
  MemoryBlockStore& operator=(const MemoryBlockStore&) = delete;

  // What a block costs against the capacity: payload + tenant + id bytes +
  // kRecordOverheadBytes.
  static int64_t RecordBytes(const Block& block);

  absl::StatusOr<PutOutcome> Put(Block block, int64_t swap_ttl_ms) override;
  absl::StatusOr<Block> Get(const BlockKey& key) override;
  absl::StatusOr<int64_t> Lookup(const std::string& tenant, const KvShard& shard, DType dtype,
                                 absl::Span<const std::string> logical_ids) override;
  absl::StatusOr<int64_t> Delete(absl::Span<const BlockKey> keys) override;
  absl::StatusOr<int64_t> DeleteSwapSequence(const std::string& tenant,
                                             const std::string& seq_id) override;
  StoreStats Stats() override;

  // Flips the first payload byte of a stored block (its crc kept), as a
  // failing disk would. NOT_FOUND when the block is absent.
  absl::Status CorruptForTesting(const BlockKey& key);
  // How many times Get was called.
  int64_t num_get_calls_for_testing() const { return num_get_calls_.load(); }

 private:
  struct Entry {
    std::shared_ptr<const Block> block;  // immutable once stored
    int64_t bytes = 0;
    int64_t expires_ns = 0;              // swap blocks
    std::list<std::string>::iterator lru;  // prefix blocks: their place in lru_
  };

  void ExpireLocked(int64_t now_ns) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Evicts prefix blocks until `bytes` more fit; false (nothing evicted)
  // when they cannot fit even with every prefix block gone.
  bool MakeRoomLocked(int64_t bytes) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void EraseLocked(std::map<std::string, Entry>::iterator it) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const int64_t capacity_bytes_;
  Env* const env_;
  absl::Mutex mu_;
  std::map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);  // by EncodeKey(); ordered
                                                                // so a sequence is a range
  std::list<std::string> lru_ ABSL_GUARDED_BY(mu_);  // prefix keys, least recent first
  std::set<std::pair<int64_t, std::string>> expiry_ ABSL_GUARDED_BY(mu_);  // swap blocks
  int64_t used_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t prefix_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t num_prefix_blocks_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t num_evictions_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t num_expired_ ABSL_GUARDED_BY(mu_) = 0;
  std::atomic<int64_t> num_hits_{0};
  std::atomic<int64_t> num_misses_{0};
  std::atomic<int64_t> num_corrupt_{0};
  std::atomic<int64_t> num_get_calls_{0};
};

}  // namespace gqa::kvstore

#endif  // GQA_KVSTORE_SERVICE_TESTING_MEMORY_BLOCK_STORE_H_

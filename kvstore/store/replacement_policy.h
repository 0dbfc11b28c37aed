// ReplacementPolicy: the order in which the memory tier gives up blocks when it
// needs room (kvstore/store/memory_tier.h keeps one instance for prefix blocks
// and one for swap blocks, and always evicts prefix blocks first). LRU is the
// default; FIFO exists to show the interface is pluggable. Entries are opaque
// handles chosen by the tier. Thread-compatible: the tier locks around calls.
#ifndef GQA_KVSTORE_STORE_REPLACEMENT_POLICY_H_
#define GQA_KVSTORE_STORE_REPLACEMENT_POLICY_H_

#include <cstdint>
#include <functional>
#include <memory>

#include "absl/functional/function_ref.h"

namespace gqa::kvstore {

class ReplacementPolicy {
 public:
  virtual ~ReplacementPolicy() = default;

  // REQUIRES: `handle` is not tracked yet.
  virtual void OnInsert(uint64_t handle) = 0;
  // A read of the entry. REQUIRES: tracked.
  virtual void OnAccess(uint64_t handle) = 0;
  // REQUIRES: tracked; afterwards it is not.
  virtual void OnErase(uint64_t handle) = 0;
  // Calls visit(handle) for tracked entries, the one to evict first first,
  // until visit returns false. REQUIRES: visit does not change the policy.
  virtual void ForEachInEvictionOrder(absl::FunctionRef<bool(uint64_t)> visit) const = 0;
  virtual int64_t size() const = 0;
};

using ReplacementPolicyFactory = std::function<std::unique_ptr<ReplacementPolicy>()>;

// Least recently inserted or accessed first.
std::unique_ptr<ReplacementPolicy> NewLruPolicy();
// Oldest insertion first; accesses do not count.
std::unique_ptr<ReplacementPolicy> NewFifoPolicy();

}  // namespace gqa::kvstore

#endif  // GQA_KVSTORE_STORE_REPLACEMENT_POLICY_H_

#include "kvstore/store/replacement_policy.h"

#include <list>

#include "absl/container/flat_hash_map.h"
#include "core/log.h"

namespace gqa::kvstore {
namespace {

// A list in eviction order (front first) plus a handle -> position map.
class ListPolicy : public ReplacementPolicy {
 public:
  explicit ListPolicy(bool move_on_access) : move_on_access_(move_on_access) {}

  void OnInsert(uint64_t handle) override {
    auto [it, inserted] = positions_.try_emplace(handle);
    CHECK(inserted) << "handle=" << handle << " already tracked";
    it->second = order_.insert(order_.end(), handle);
  }

  void OnAccess(uint64_t handle) override {
    if (!move_on_access_) return;
    auto it = positions_.find(handle);
    CHECK(it != positions_.end()) << "handle=" << handle;
    order_.splice(order_.end(), order_, it->second);
  }

  void OnErase(uint64_t handle) override {
    auto it = positions_.find(handle);
    CHECK(it != positions_.end()) << "handle=" << handle;
    order_.erase(it->second);
    positions_.erase(it);
  }

  void ForEachInEvictionOrder(absl::FunctionRef<bool(uint64_t)> visit) const override {
    for (uint64_t handle : order_) {
      if (!visit(handle)) return;
    }
  }

  int64_t size() const override { return static_cast<int64_t>(order_.size()); }

 private:
  const bool move_on_access_;
  std::list<uint64_t> order_;
  absl::flat_hash_map<uint64_t, std::list<uint64_t>::iterator> positions_;
};

}  // namespace

std::unique_ptr<ReplacementPolicy> NewLruPolicy() {
  return std::make_unique<ListPolicy>(/*move_on_access=*/true);
}

std::unique_ptr<ReplacementPolicy> NewFifoPolicy() {
  return std::make_unique<ListPolicy>(/*move_on_access=*/false);
}

}  // namespace gqa::kvstore

#include "kvstore/store/replacement_policy.h"

#include <vector>

#include "gtest/gtest.h"

namespace gqa::kvstore {
namespace {

std::vector<uint64_t> Order(const ReplacementPolicy& policy) {
  std::vector<uint64_t> order;
  policy.ForEachInEvictionOrder([&](uint64_t handle) {
    order.push_back(handle);
    return true;
  });
  return order;
}

TEST(ReplacementPolicyTest, LruEvictsLeastRecentlyUsedFirst) {
  auto lru = NewLruPolicy();
  for (uint64_t h : {1, 2, 3, 4}) lru->OnInsert(h);
  lru->OnAccess(2);
  lru->OnAccess(1);
  EXPECT_EQ(Order(*lru), (std::vector<uint64_t>{3, 4, 2, 1}));
  lru->OnErase(4);
  EXPECT_EQ(Order(*lru), (std::vector<uint64_t>{3, 2, 1}));
  EXPECT_EQ(lru->size(), 3);
}

TEST(ReplacementPolicyTest, FifoIgnoresAccesses) {
  auto fifo = NewFifoPolicy();
  for (uint64_t h : {1, 2, 3}) fifo->OnInsert(h);
  fifo->OnAccess(1);
  EXPECT_EQ(Order(*fifo), (std::vector<uint64_t>{1, 2, 3}));
}

TEST(ReplacementPolicyTest, VisitStopsWhenAsked) {
  auto lru = NewLruPolicy();
  for (uint64_t h : {1, 2, 3}) lru->OnInsert(h);
  int visited = 0;
  lru->ForEachInEvictionOrder([&](uint64_t) { return ++visited < 2; });
  EXPECT_EQ(visited, 2);
}

}  // namespace
}  // namespace gqa::kvstore

#include "router/routing_policy.h"

#include <map>

#include "gtest/gtest.h"

namespace gqa {
namespace {

RouteCandidate Worker(const std::string& address, int64_t outstanding, int64_t cached = 0) {
  RouteCandidate candidate;
  candidate.address = address;
  candidate.state.ready = true;
  candidate.state.info.set_block_size(16);
  candidate.state.load.set_num_outstanding_tokens(outstanding);
  candidate.cached_prompt_tokens = cached;
  return candidate;
}

TEST(RoutingPolicyTest, NamesParseAndUnknownNamesAreRefused) {
  EXPECT_EQ(*ParseRoutingPolicy("kv-aware"), RoutingPolicyKind::kKvAware);
  EXPECT_EQ(*ParseRoutingPolicy("round-robin"), RoutingPolicyKind::kRoundRobin);
  EXPECT_EQ(ParseRoutingPolicy("random").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(RoutingPolicyTest, RoundRobinTakesEachInTurn) {
  auto policy = MakeRoutingPolicy(RoutingPolicyKind::kRoundRobin);
  const std::vector<RouteCandidate> workers = {Worker("a:1", 0), Worker("b:1", 1000),
                                               Worker("c:1", 5)};
  std::map<size_t, int> picks;
  for (int i = 0; i < 30; ++i) ++picks[policy->Pick(workers, {})];
  EXPECT_EQ(picks[0], 10);
  EXPECT_EQ(picks[1], 10);
  EXPECT_EQ(picks[2], 10);
}

TEST(RoutingPolicyTest, LeastLoadedCountsReportedRouterAndKvTokens) {
  auto policy = MakeRoutingPolicy(RoutingPolicyKind::kLeastLoaded);
  std::vector<RouteCandidate> workers = {Worker("a:1", 500), Worker("b:1", 100)};
  EXPECT_EQ(policy->Pick(workers, {}), 1u);
  workers[1].state.router_tokens = 900;  // this router's own streams, not yet reported
  EXPECT_EQ(policy->Pick(workers, {}), 0u);
  workers[1].state.router_tokens = 0;
  workers[1].state.load.set_num_kv_blocks_used(100);  // 1600 tokens held in KV
  EXPECT_EQ(policy->Pick(workers, {}), 0u);
}

TEST(RoutingPolicyTest, PrefixAffinitySendsEqualPromptStartsToOneWorkerUnlessOverloaded) {
  auto policy = MakeRoutingPolicy(RoutingPolicyKind::kPrefixAffinity);
  const std::vector<RouteCandidate> workers = {Worker("a:1", 0), Worker("b:1", 0),
                                               Worker("c:1", 0), Worker("d:1", 0)};
  std::vector<int32_t> system_prompt(300, 7);
  std::vector<int32_t> one = system_prompt, two = system_prompt;
  one.push_back(1);
  two.push_back(2);  // differs only after the first 256 tokens
  const size_t first = policy->Pick(workers, {PromptAffinityHash(one)});
  EXPECT_EQ(policy->Pick(workers, {PromptAffinityHash(two)}), first);
  // Different prompts spread over the workers.
  std::map<size_t, int> picks;
  for (int32_t i = 0; i < 200; ++i) {
    std::vector<int32_t> prompt = {i, i + 1, i + 2};
    ++picks[policy->Pick(workers, {PromptAffinityHash(prompt)})];
  }
  EXPECT_EQ(picks.size(), 4u);
  for (const auto& [index, count] : picks) EXPECT_GT(count, 20) << index;
  // An overloaded affinity target is passed over for the least loaded.
  std::vector<RouteCandidate> loaded = workers;
  loaded[first].state.load.set_num_outstanding_tokens(10000);
  EXPECT_NE(policy->Pick(loaded, {PromptAffinityHash(one)}), first);
}

TEST(RoutingPolicyTest, KvAwareTradesCachedPrefixAgainstLoad) {
  auto policy = MakeRoutingPolicy(RoutingPolicyKind::kKvAware);
  std::vector<RouteCandidate> workers = {Worker("a:1", 100, 0), Worker("b:1", 300, 1024)};
  EXPECT_EQ(policy->Pick(workers, {}), 1u);  // the cached prefix wins at comparable load
  workers[0].state.load.set_num_outstanding_tokens(4000);
  workers[1].state.load.set_num_outstanding_tokens(5000);
  EXPECT_EQ(policy->Pick(workers, {}), 1u);  // also when both are busy
  workers[1].state.load.set_num_outstanding_tokens(20000);
  EXPECT_EQ(policy->Pick(workers, {}), 0u);  // but not on an overloaded worker
  // Cached nowhere: where prefix-affinity sends the prompt.
  workers[1].cached_prompt_tokens = 0;
  workers[1].state.load.set_num_outstanding_tokens(4000);
  workers[0].state.load.set_num_outstanding_tokens(4500);
  auto affinity = MakeRoutingPolicy(RoutingPolicyKind::kPrefixAffinity);
  for (uint64_t hash : {1u, 2u, 3u, 4u, 5u}) {
    EXPECT_EQ(policy->Pick(workers, {hash}), affinity->Pick(workers, {hash}));
  }
}

}  // namespace
}  // namespace gqa

#include "router/routing_policy.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace gqa {
namespace {

constexpr size_t kAffinityTokens = 256;

// FNV-1a, 64 bit: the same in every router replica (absl::Hash is seeded
// per process), so replicas agree on affinity.
uint64_t Fnv1a(uint64_t hash, absl::string_view bytes) {
  for (unsigned char c : bytes) {
    hash ^= c;
    hash *= 0x100000001b3ULL;
  }
  return hash;
}
constexpr uint64_t kFnvOffset = 0xcbf29ce484222325ULL;

// SplitMix64's finalizer: spreads FNV's weak high bits for rendezvous weights.
uint64_t Mix(uint64_t x) {
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}
constexpr int64_t kAffinitySlackTokens = 512;

size_t LeastLoaded(absl::Span<const RouteCandidate> candidates) {
  size_t best = 0;
  for (size_t i = 1; i < candidates.size(); ++i) {
    if (LoadTokens(candidates[i].state) < LoadTokens(candidates[best].state)) best = i;
  }
  return best;
}

class RoundRobin final : public RoutingPolicy {
 public:
  size_t Pick(absl::Span<const RouteCandidate> candidates, const RouteRequest&) override {
    return next_.fetch_add(1, std::memory_order_relaxed) % candidates.size();
  }

 private:
  std::atomic<uint64_t> next_{0};
};

class LeastLoadedPolicy final : public RoutingPolicy {
 public:
  size_t Pick(absl::Span<const RouteCandidate> candidates, const RouteRequest&) override {
    return LeastLoaded(candidates);
  }
};

// The rendezvous (highest random weight) choice for `affinity_hash`, passed
// over for the least loaded when it has more than twice its load plus slack.
size_t AffinityPick(absl::Span<const RouteCandidate> candidates, uint64_t affinity_hash) {
  size_t chosen = 0;
  uint64_t best = 0;
  for (size_t i = 0; i < candidates.size(); ++i) {
    const uint64_t weight = Mix(Fnv1a(affinity_hash, candidates[i].address));
    if (i == 0 || weight > best) {
      best = weight;
      chosen = i;
    }
  }
  const size_t least = LeastLoaded(candidates);
  if (LoadTokens(candidates[chosen].state) >
      2 * LoadTokens(candidates[least].state) + kAffinitySlackTokens) {
    return least;
  }
  return chosen;
}

class PrefixAffinity final : public RoutingPolicy {
 public:
  size_t Pick(absl::Span<const RouteCandidate> candidates, const RouteRequest& request) override {
    return AffinityPick(candidates, request.affinity_hash);
  }
};

class KvAware final : public RoutingPolicy {
 public:
  size_t Pick(absl::Span<const RouteCandidate> candidates, const RouteRequest& request) override {
    // Among the workers not overloaded next to the least loaded (the same
    // rule as prefix-affinity's), the longest cached prefix; ties go to the
    // less loaded. A prefix cached nowhere goes where prefix-affinity would
    // send it, so that its later requests keep meeting on one worker.
    const int64_t least = LoadTokens(candidates[LeastLoaded(candidates)].state);
    size_t best = LeastLoaded(candidates);
    for (size_t i = 0; i < candidates.size(); ++i) {
      const int64_t load = LoadTokens(candidates[i].state);
      if (load > 2 * least + kAffinitySlackTokens) continue;
      const RouteCandidate& chosen = candidates[best];
      if (candidates[i].cached_prompt_tokens > chosen.cached_prompt_tokens ||
          (candidates[i].cached_prompt_tokens == chosen.cached_prompt_tokens &&
           load < LoadTokens(chosen.state))) {
        best = i;
      }
    }
    if (candidates[best].cached_prompt_tokens == 0) {
      return AffinityPick(candidates, request.affinity_hash);
    }
    return best;
  }
};

}  // namespace

absl::StatusOr<RoutingPolicyKind> ParseRoutingPolicy(absl::string_view name) {
  if (name == "round-robin") return RoutingPolicyKind::kRoundRobin;
  if (name == "least-loaded") return RoutingPolicyKind::kLeastLoaded;
  if (name == "prefix-affinity") return RoutingPolicyKind::kPrefixAffinity;
  if (name == "kv-aware") return RoutingPolicyKind::kKvAware;
  return absl::InvalidArgumentError(absl::StrCat(
      "--policy ", name, ": expected round-robin, least-loaded, prefix-affinity or kv-aware"));
}

int64_t LoadTokens(const WorkerState& state) {
  const int64_t held = state.load.num_kv_blocks_used() * std::max(state.info.block_size(), 1);
  return std::max(state.load.num_outstanding_tokens(), state.router_tokens) + held;
}

uint64_t PromptAffinityHash(absl::Span<const int32_t> prompt_ids) {
  const absl::Span<const int32_t> head = prompt_ids.subspan(0, kAffinityTokens);
  return Fnv1a(kFnvOffset, absl::string_view(reinterpret_cast<const char*>(head.data()),
                                            head.size() * sizeof(int32_t)));
}

std::unique_ptr<RoutingPolicy> MakeRoutingPolicy(RoutingPolicyKind kind) {
  switch (kind) {
    case RoutingPolicyKind::kRoundRobin: return std::make_unique<RoundRobin>();
    case RoutingPolicyKind::kLeastLoaded: return std::make_unique<LeastLoadedPolicy>();
    case RoutingPolicyKind::kPrefixAffinity: return std::make_unique<PrefixAffinity>();
    case RoutingPolicyKind::kKvAware: return std::make_unique<KvAware>();
  }
  return nullptr;
}

}  // namespace gqa

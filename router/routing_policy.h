// Routing policies: which of the eligible workers gets a new sequence.
//   round-robin      each in turn
//   least-loaded     the fewest tokens of work: outstanding tokens (prompt
//                    left to prefill + output still allowed) plus tokens
//                    held in KV, from the worker's Load report or this
//                    router's own count, whichever is larger (reports lag)
//   prefix-affinity  rendezvous hashing of the prompt's first 256 tokens, so
//                    prompts that share a start meet on one worker's prefix
//                    cache; a worker more than twice as loaded as the least
//                    (plus slack) is passed over for the least loaded
//   kv-aware         the most prompt tokens already in a worker's prefix
//                    cache (from its cache events), among the workers with
//                    at most twice the least load plus slack (the
//                    prefix-affinity rule): the cache decides unless that
//                    would pile work on one worker; a prompt cached nowhere
//                    goes where prefix-affinity would send it
// Thread-safe.
#ifndef GQA_ROUTER_ROUTING_POLICY_H_
#define GQA_ROUTER_ROUTING_POLICY_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "router/worker_endpoint.h"

namespace gqa {

enum class RoutingPolicyKind { kRoundRobin, kLeastLoaded, kPrefixAffinity, kKvAware };

// "round-robin", "least-loaded", "prefix-affinity", "kv-aware".
absl::StatusOr<RoutingPolicyKind> ParseRoutingPolicy(absl::string_view name);

struct RouteCandidate {
  std::string address;
  WorkerState state;
  int64_t cached_prompt_tokens = 0;  // leading prompt tokens in its prefix cache
};

struct RouteRequest {
  uint64_t affinity_hash = 0;  // of the prompt's first 256 tokens
};

// Tokens of work on a worker (see least-loaded above).
int64_t LoadTokens(const WorkerState& state);

// The hash prefix-affinity uses.
uint64_t PromptAffinityHash(absl::Span<const int32_t> prompt_ids);

class RoutingPolicy {
 public:
  virtual ~RoutingPolicy() = default;
  // The index of the chosen candidate. REQUIRES: !candidates.empty(), in a
  // stable order (by address).
  virtual size_t Pick(absl::Span<const RouteCandidate> candidates,
                      const RouteRequest& request) = 0;
};

std::unique_ptr<RoutingPolicy> MakeRoutingPolicy(RoutingPolicyKind kind);

}  // namespace gqa

#endif  // GQA_ROUTER_ROUTING_POLICY_H_

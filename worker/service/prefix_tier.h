// PrefixTier: a shared store of published prefix blocks beyond this worker's
// own cache (the kvstore). The engine loop publishes every full prefix block
// it computes and, before a new full-policy request reaches the scheduler,
// fetches the stored blocks that continue the request's prompt past what its
// own cache holds, so a prompt another worker already prefilled skips that
// part of the prefill. Implementations are thread-safe.
#ifndef GQA_WORKER_SERVICE_PREFIX_TIER_H_
#define GQA_WORKER_SERVICE_PREFIX_TIER_H_

#include <string>
#include <vector>

#include "absl/types/span.h"
#include "core/block_id.h"

namespace gqa {

class PrefixTier {
 public:
  virtual ~PrefixTier() = default;

  // Any thread; may block on the network. The payloads of the stored blocks
  // `chain` names, in order, stopping at the first one absent (or at any
  // error: a miss only costs a recomputation).
  virtual std::vector<std::string> Fetch(const std::string& tenant,
                                         absl::Span<const BlockId> chain) = 0;

  // The engine thread; never blocks: queues the block for upload (dropping
  // it when the queue is full).
  virtual void Publish(const std::string& tenant, const BlockId& id, std::string payload) = 0;
};

}  // namespace gqa

#endif  // GQA_WORKER_SERVICE_PREFIX_TIER_H_

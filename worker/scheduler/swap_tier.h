// SwapTier: where the scheduler puts a preempted sequence's KV blocks so it
// can continue later without recomputing them (the kvstore: gqa-worker
// --kvstore). The scheduler exports the blocks on the engine thread and
// hands the bytes over; storing and loading run elsewhere, so no call here
// blocks the engine thread. Operations on one swap key run in the order
// they were made (a Load after a Store sees what was stored). A lost or
// failed swap only costs a recomputation. Implementations are thread-safe.
#ifndef GQA_WORKER_SCHEDULER_SWAP_TIER_H_
#define GQA_WORKER_SCHEDULER_SWAP_TIER_H_

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace gqa {

class SwapTier {
 public:
  virtual ~SwapTier() = default;

  // Queues the upload of `payloads` (one per block, in block-table order,
  // kv_block_transfer.h's layout) under `swap_key`, which is unique within
  // this worker. `tenant` may be empty.
  virtual void Store(const std::string& tenant, const std::string& swap_key,
                     std::vector<std::string> payloads) = 0;

  // Queues the download of the `num_blocks` blocks stored under `swap_key`;
  // TakeLoaded returns them once they are here.
  virtual void Load(const std::string& tenant, const std::string& swap_key,
                    int64_t num_blocks) = 0;

  // The result of the Load of `swap_key` when it has finished (and forgets
  // it): the payloads, or why they could not be read (NOT_FOUND, UNAVAILABLE,
  // DATA_LOSS, ...). nullopt while the load is still running.
  virtual std::optional<absl::StatusOr<std::vector<std::string>>> TakeLoaded(
      const std::string& swap_key) = 0;

  // Deletes what is stored under `swap_key` and forgets any pending result.
  virtual void Discard(const std::string& tenant, const std::string& swap_key) = 0;

  // Called (on the tier's thread) whenever a Load finishes, so that an
  // engine thread waiting for it can wake. Set before the first Load.
  virtual void SetOnLoaded(std::function<void()> on_loaded) = 0;
};

}  // namespace gqa

#endif  // GQA_WORKER_SCHEDULER_SWAP_TIER_H_

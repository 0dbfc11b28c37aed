// SequenceEngine: what the Worker service needs from whatever generates
// tokens: the real engine loop (engine_loop.h) or the fake one that emits
// tokens at fixed delays with no model (fake_engine.h, for validating the
// load harness). Implementations are thread-safe; sinks are called on the
// implementation's own thread and must not block.
#ifndef GQA_WORKER_SERVICE_SEQUENCE_ENGINE_H_
#define GQA_WORKER_SERVICE_SEQUENCE_ENGINE_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "core/block_id.h"
#include "core/model_config.h"
#include "worker/scheduler/engine_request.h"
#include "worker/scheduler/scheduler.h"

namespace gqa {

// Receives the changes to a worker's prefix cache, on the engine's thread;
// must not block. Every method returns false once the watcher is gone (the
// engine then drops it).
class CacheWatcher {
 public:
  virtual ~CacheWatcher() = default;
  // The whole set of cached prefix blocks as of change `sequence_number`.
  virtual bool OnSnapshot(uint64_t sequence_number, const std::vector<BlockId>& ids) = 0;
  // One change: `ids` left the cache (stored = false) or entered it.
  virtual bool OnChange(uint64_t sequence_number, bool stored, const std::vector<BlockId>& ids) = 0;
  // True when the watcher fell behind, dropped changes and needs a snapshot.
  virtual bool WantsSnapshot() = 0;
};

class SequenceEngine {
 public:
  virtual ~SequenceEngine() = default;
  // Queues a validated request. RESOURCE_EXHAUSTED when the queue is full,
  // ALREADY_EXISTS for a live id, UNAVAILABLE once draining.
  virtual absl::Status Submit(std::unique_ptr<EngineRequest> request,
                              std::shared_ptr<SequenceSink> sink) = 0;
  // Cancels a live request; NOT_FOUND when no live request has the id.
  virtual absl::Status Cancel(const std::string& id) = 0;
  // Refuses new requests from now on and waits until every live one has
  // finished or `timeout` passed; the number still live at the end.
  virtual int64_t Drain(absl::Duration timeout) = 0;
  virtual SchedulerStats stats() const = 0;
  // Starts `watcher` with a snapshot, then every change.
  virtual void Watch(std::shared_ptr<CacheWatcher> watcher) = 0;
  // Drops the cached prefix blocks no live sequence uses (of `tenant`, or
  // all when empty), then calls `done` with their number, on the engine's
  // thread. The removals reach watchers as changes.
  virtual void ClearCache(std::string tenant, std::function<void(int64_t)> done) = 0;
  virtual const ModelConfig& config() const = 0;
};

}  // namespace gqa

#endif  // GQA_WORKER_SERVICE_SEQUENCE_ENGINE_H_

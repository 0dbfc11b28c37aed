// Communicator: the collectives of one tensor-parallel group (all-reduce,
// all-gather, broadcast, barrier), used by Model::Forward (the all-reduces
// after the row-parallel projections) and by the step protocol (rank 0
// broadcasts each StepPlan). Every call is bounded by the implementation's
// timeout and returns DEADLINE_EXCEEDED or UNAVAILABLE when a peer is slow or
// gone, never hangs; after a failure the group is broken and every later call
// returns UNAVAILABLE. Implementations: gloo/ (CPU, TCP). Thread-compatible:
// one thread per rank calls it, every rank the same calls in the same order.
#ifndef GQA_WORKER_PARALLEL_COMMUNICATOR_H_
#define GQA_WORKER_PARALLEL_COMMUNICATOR_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/types/span.h"

namespace gqa {

class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual int rank() const = 0;
  virtual int size() const = 0;

  // data[i] becomes the sum of data[i] over all ranks, in place. Every rank
  // ends with bitwise identical values. REQUIRES: the same size on every rank.
  virtual absl::Status AllReduceSum(absl::Span<float> data) = 0;

  // out[r * in.size(), (r + 1) * in.size()) receives rank r's `in`.
  // REQUIRES: in.size() equal on every rank; out.size() == size() * in.size().
  virtual absl::Status AllGather(absl::Span<const uint8_t> in, absl::Span<uint8_t> out) = 0;

  // Rank `root`'s `data` is copied into every other rank's `data`.
  // REQUIRES: data.size() equal on every rank.
  virtual absl::Status Broadcast(absl::Span<uint8_t> data, int root) = 0;

  // Returns when every rank has called it.
  virtual absl::Status Barrier() = 0;
};

// Broadcasts a message of any length from `root` (its size first, then the
// bytes); on the other ranks `bytes` is replaced. INVALID_ARGUMENT when the
// size received exceeds `max_bytes` (a corrupt or foreign peer).
absl::Status BroadcastBytes(Communicator& comm, std::string& bytes, int root,
                            int64_t max_bytes = int64_t{1} << 30);

}  // namespace gqa

#endif  // GQA_WORKER_PARALLEL_COMMUNICATOR_H_

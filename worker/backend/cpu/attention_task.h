// One task of CPU paged attention (attention.h): a query token's group of
// query heads over one KV head, tile by tile with an online softmax; memory
// O(group x (head_dim + block_size)) whatever the context, plus group x
// context floats when column sums are wanted. A task's arithmetic and its
// order depend only on its own token's inputs. Used by attention.cc only;
// TaskScratch is thread-compatible (one per thread).
#ifndef GQA_WORKER_BACKEND_CPU_ATTENTION_TASK_H_
#define GQA_WORKER_BACKEND_CPU_ATTENTION_TASK_H_

#include <cstdint>
#include <utility>
#include <vector>

#include "worker/backend/cpu/attention_kernels.h"
#include "worker/backend/params.h"

namespace gqa::cpu {

struct TaskBuffers;

// Working memory reused from task to task (and call to call) by one thread.
class TaskScratch {
 public:
  TaskBuffers Carve(int64_t group, int64_t dim, int64_t block_size, int64_t dtype_size,
                    int64_t all_scores);
  // The visible (position, slot) pairs of a task that reads through a slot map.
  std::vector<std::pair<int32_t, int32_t>>& order() { return order_; }
  // Gives back what a long context's column sums needed.
  void Trim();

 private:
  std::vector<float> floats_;
  std::vector<uint8_t> flags_;
  std::vector<int32_t> slots_;
  std::vector<std::pair<int32_t, int32_t>> order_;
};

// Attention of token `token`'s query heads of KV head `kv_head`: writes their
// rows of p.out and, when wanted, their column sums.
// NOTE: with a slot map (SlotPositions) the visible slots are reduced in
// position order, gathered a tile at a time, not in slot order: where a
// bounded policy put a position depends on when evictions happened, which
// depends on the prefill chunking, and the result must not.
// REQUIRES: p passed attention.cc's validation.
void AttendGroup(const AttentionParams& p, const AttentionKernels& kern, int64_t token,
                 int64_t kv_head, TaskScratch& scratch);

}  // namespace gqa::cpu

#endif  // GQA_WORKER_BACKEND_CPU_ATTENTION_TASK_H_

#include "worker/backend/cpu/thread_pool.h"

#include <immintrin.h>

#include <algorithm>
#include <chrono>

#include "core/log.h"

namespace gqa {

namespace {

// Polls `done` for at most `poll_ns`; true when it became true.
template <typename Predicate>
bool PollFor(int64_t poll_ns, Predicate done) {
  if (poll_ns <= 0) return done();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::nanoseconds(poll_ns);
  do {
    for (int i = 0; i < 64; ++i) {
      if (done()) return true;
      _mm_pause();
    }
  } while (std::chrono::steady_clock::now() < deadline);
  return done();
}

}  // namespace

ThreadPool::ThreadPool(int num_threads, int64_t poll_ns) : poll_ns_(poll_ns) {
  CHECK_GE(num_threads, 1);
  for (int i = 1; i < num_threads; ++i) workers_.emplace_back([this] { WorkerLoop(); });
}

ThreadPool::~ThreadPool() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  for (std::thread& worker : workers_) worker.join();
}

void ThreadPool::ParallelFor(int64_t count, int64_t grain,
                             const std::function<void(int64_t, int64_t)>& fn) {
  if (count <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  const int64_t num_chunks = (count + grain - 1) / grain;
  if (workers_.empty() || num_chunks == 1) {
    for (int64_t begin = 0; begin < count; begin += grain) fn(begin, std::min(count, begin + grain));
    return;
  }
  absl::MutexLock loop_lock(&loop_mu_);
  {
    absl::MutexLock lock(&mu_);
    job_ = &fn;
    job_count_ = count;
    job_grain_ = grain;
    next_chunk_ = 0;
    num_chunks_ = num_chunks;
    chunks_done_ = 0;
    published_chunks_done_.store(0, std::memory_order_relaxed);
    ++generation_;
    published_generation_.store(generation_, std::memory_order_release);
  }
  RunChunks();
  PollFor(poll_ns_, [&] {
    return published_chunks_done_.load(std::memory_order_acquire) == num_chunks;
  });
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(
      +[](ThreadPool* pool) ABSL_NO_THREAD_SAFETY_ANALYSIS {
        return pool->chunks_done_ == pool->num_chunks_;
      },
      this));
  job_ = nullptr;
}

void ThreadPool::RunChunks() {
  while (true) {
    const std::function<void(int64_t, int64_t)>* job;
    int64_t begin, end;
    {
      absl::MutexLock lock(&mu_);
      if (job_ == nullptr || next_chunk_ >= num_chunks_) return;
      job = job_;
      begin = next_chunk_ * job_grain_;
      end = std::min(job_count_, begin + job_grain_);
      ++next_chunk_;
    }
    (*job)(begin, end);
    absl::MutexLock lock(&mu_);
    ++chunks_done_;
    published_chunks_done_.store(chunks_done_, std::memory_order_release);
  }
}

void ThreadPool::WorkerLoop() {
  uint64_t seen_generation = 0;
  while (true) {
    PollFor(poll_ns_, [&] {
      return published_generation_.load(std::memory_order_acquire) != seen_generation;
    });
    {
      absl::MutexLock lock(&mu_);
      auto has_work = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ || (generation_ != seen_generation && job_ != nullptr);
      };
      mu_.Await(absl::Condition(&has_work));
      if (stopping_) return;
      seen_generation = generation_;
    }
    RunChunks();
  }
}

int DefaultThreadCount(int num_local_processes) {
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  return std::max(1, cores / std::max(1, num_local_processes));
}

}  // namespace gqa

// FakeEngine: a SequenceEngine with no model, for validating the load
// harness against known latencies (`gqa-worker --fake-model`). Every request
// gets its first token `ttft` after it arrives and each next one `itl` later,
// until max_new_tokens (or a stop token, cancellation or its deadline). Token
// ids are a deterministic function of the prompt and the output index. One
// timer thread emits for every sequence. Thread-safe.
#ifndef GQA_WORKER_SERVICE_FAKE_ENGINE_H_
#define GQA_WORKER_SERVICE_FAKE_ENGINE_H_

#include <map>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "core/env.h"
#include "worker/service/sequence_engine.h"

namespace gqa {

struct FakeEngineOptions {
  absl::Duration ttft = absl::Milliseconds(50);
  absl::Duration itl = absl::Milliseconds(20);
  ModelConfig config;   // what Info reports and requests are validated against
  int64_t max_waiting = 1024;  // live requests before RESOURCE_EXHAUSTED
};

class FakeEngine final : public SequenceEngine {
 public:
  FakeEngine(Env* env, FakeEngineOptions options);
  ~FakeEngine() override;
  FakeEngine(const FakeEngine&) = delete;
  FakeEngine& operator=(const FakeEngine&) = delete;

  absl::Status Submit(std::unique_ptr<EngineRequest> request,
                      std::shared_ptr<SequenceSink> sink) override;
  absl::Status Cancel(const std::string& id) override;
  int64_t Drain(absl::Duration timeout) override;
  SchedulerStats stats() const override;
  // A fake worker caches nothing: one empty snapshot.
  void Watch(std::shared_ptr<CacheWatcher> watcher) override { watcher->OnSnapshot(0, {}); }
  void ClearCache(std::string tenant, std::function<void(int64_t)> done) override { done(0); }
  const ModelConfig& config() const override { return options_.config; }

  // The token a fake sequence emits at `output_idx`.
  static int32_t FakeToken(const EngineRequest& request, int64_t output_idx, int64_t vocab);

 private:
  struct Live {
    std::unique_ptr<EngineRequest> request;
    std::shared_ptr<SequenceSink> sink;
    int64_t arrival_ns = 0;
    int64_t next_ns = 0;   // when its next token is due
    int64_t emitted = 0;   // tokens of this Submit
    bool cancelled = false;
  };
  void Run();

  Env* const env_;
  const FakeEngineOptions options_;
  mutable absl::Mutex mu_;
  std::map<std::string, Live> live_ ABSL_GUARDED_BY(mu_);
  int64_t finished_ ABSL_GUARDED_BY(mu_) = 0;
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace gqa

#endif  // GQA_WORKER_SERVICE_FAKE_ENGINE_H_

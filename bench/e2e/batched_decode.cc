// batched_decode: aggregate decode throughput of the worker's scheduler on a
// local model at several concurrencies, in process (no gRPC), greedy, EOS
// ignored. For each N: N sequences with the same-length prompts (different
// tokens, so no prefix sharing) are submitted at once; decode throughput is
// the tokens generated after every sequence has its first token, divided by
// the time from then until the last finishes. One JSON line per N.
//   batched_decode --model M [--threads T] [--concurrency 1,4,16,64]
//                  [--prompt-tokens 64] [--tokens 64] [--kv-dtype D] [--kv-bytes B]
//                  [--backend cpu|cuda]
#include <algorithm>
#include <iostream>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/env.h"
#include "tools/gqa/backend_flag.h"
#include "tools/gqa/command_line.h"
#include "tools/gqa/local_engine.h"
#include "worker/scheduler/scheduler.h"

namespace gqa {
namespace {

constexpr FlagSpec kFlags[] = {
    {"concurrency"}, {"prompt-tokens"}, {"tokens"}, {"max-step-tokens"}, {"backend"}};

// Records when each sequence got its first token and when it finished.
class TimingSink : public SequenceSink {
 public:
  explicit TimingSink(Env* env) : env_(env) {}
  void OnToken(const SequenceUpdate&) override { token_ns_.push_back(env_->NowNanos()); }
  void OnFinish(const SequenceSummary&) override {}
  Env* env_;
  std::vector<int64_t> token_ns_;  // when each token arrived
};

int Run(int argc, char** argv) {
  std::vector<FlagSpec> specs(std::begin(kLocalEngineFlags), std::end(kLocalEngineFlags));
  specs.insert(specs.end(), std::begin(kFlags), std::end(kFlags));
  absl::StatusOr<CommandLine> flags =
      CommandLine::Parse(absl::MakeConstSpan(argv + 1, argv + argc), specs);
  if (!flags.ok()) {
    std::cerr << flags.status().message() << "\n";
    return 2;
  }
  std::vector<int64_t> concurrency = {1, 4, 16, 64};
  if (auto v = flags->Value("concurrency")) {
    concurrency.clear();
    absl::StatusOr<std::vector<std::string>> parts = SplitList("--concurrency", *v);
    if (!parts.ok()) {
      std::cerr << parts.status().message() << "\n";
      return 2;
    }
    for (const std::string& part : *parts) {
      absl::StatusOr<int64_t> n = ParsePositiveInt("--concurrency", part);
      if (!n.ok()) {
        std::cerr << n.status().message() << "\n";
        return 2;
      }
      concurrency.push_back(*n);
    }
  }
  const int64_t prompt_tokens = *ParsePositiveInt("--prompt-tokens", flags->Value("prompt-tokens").value_or("64"));
  const int64_t tokens = *ParsePositiveInt("--tokens", flags->Value("tokens").value_or("64"));
  const int64_t max_step =
      *ParsePositiveInt("--max-step-tokens", flags->Value("max-step-tokens").value_or("512"));
  std::unique_ptr<Backend> backend;  // null: the CPU backend with --threads
  const std::string backend_name = flags->Value("backend").value_or("cpu");
  if (absl::StatusOr<std::unique_ptr<Backend>> made = BackendForFlag(backend_name); made.ok()) {
    backend = *std::move(made);
  } else {
    std::cerr << made.status().message() << "\n";
    return made.status().code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
  }
  absl::StatusOr<std::unique_ptr<LocalEngine>> engine =
      LocalEngine::Load(*flags, nullptr, std::move(backend));
  if (!engine.ok()) {
    std::cerr << engine.status().message() << "\n";
    return 1;
  }
  Env* env = Env::Default();
  const int64_t vocab = (*engine)->model().config().vocab_size;
  for (int64_t n : concurrency) {
    Scheduler scheduler(&(*engine)->model(), &(*engine)->storage(), env,
                        {.max_step_tokens = max_step, .max_running = std::max<int64_t>(n, 1),
                         .prefix_caching = false});
    std::vector<std::shared_ptr<TimingSink>> sinks;
    for (int64_t s = 0; s < n; ++s) {
      auto request = std::make_unique<EngineRequest>();
      request->id = absl::StrCat("b", s);
      for (int64_t i = 0; i < prompt_tokens; ++i) {
        request->prompt_ids.push_back(static_cast<int32_t>((1000 + s * 7919 + i * 104729) % vocab));
      }
      request->max_new_tokens = tokens;
      request->sampling.temperature = 0.0f;
      sinks.push_back(std::make_shared<TimingSink>(env));
      if (absl::Status added = scheduler.Add(std::move(request), sinks.back()); !added.ok()) {
        std::cerr << added.message() << "\n";
        return 1;
      }
    }
    const int64_t start = env->NowNanos();
    int64_t steps = 0;
    while (!scheduler.idle()) {
      scheduler.Step();
      ++steps;
    }
    int64_t decode_start = 0, end = 0, generated = 0;
    const int64_t preemptions = scheduler.stats().preemptions_total;
    for (const auto& sink : sinks) {
      decode_start = std::max(decode_start, sink->token_ns_.front());
      end = std::max(end, sink->token_ns_.back());
    }
    // Tokens that arrived after every sequence had its first one.
    for (const auto& sink : sinks) {
      generated += std::count_if(sink->token_ns_.begin(), sink->token_ns_.end(),
                                 [&](int64_t t) { return t > decode_start; });
    }
    const double decode_s = (end - decode_start) * 1e-9;
    std::cout << "{\"engine\": \"gqaserve\", \"backend\": \"" << backend_name
              << "\", \"concurrency\": " << n
              << ", \"prompt_tokens\": " << prompt_tokens << ", \"tokens\": " << tokens
              << ", \"threads\": " << (*engine)->num_threads() << ", \"decode_tokens_per_s\": "
              << (decode_s > 0 ? static_cast<double>(generated) / decode_s : 0.0)
              << ", \"total_s\": " << (end - start) * 1e-9 << ", \"steps\": " << steps
              << ", \"preemptions\": " << preemptions << "}" << std::endl;
  }
  return 0;
}

}  // namespace
}  // namespace gqa

int main(int argc, char** argv) { return gqa::Run(argc, argv); }

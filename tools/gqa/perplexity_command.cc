#include "tools/gqa/perplexity_command.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/dtype.h"
#include "core/kv_options.h"
#include "core/status.h"
#include "nlohmann/json.hpp"
#include "tools/gqa/command_line.h"
#include "tools/gqa/local_engine.h"

namespace gqa {
namespace {

constexpr int64_t kDefaultCtxTokens = 2048;
constexpr int64_t kPrefillChunkTokens = 256;

constexpr int64_t kDefaultSegmentTokens = 2048;

constexpr FlagSpec kPerplexityFlags[] = {
    {"file"},      {"ctx"},          {"max-windows"}, {"stream", false}, {"recompute"},
    {"sample-every"}, {"max-tokens"}, {"segment"},   {"json", false}};

constexpr char kUsage[] = R"(usage: gqa perplexity --file F [flags]

Perplexity of the model on the text in F, the standard chunked way: the whole
text is tokenized (as plain text: no special tokens are parsed), cut into
consecutive windows of --ctx tokens, and each window is scored from an empty KV
cache. Every token of a window after its first is scored (llama.cpp scores only
the second half of each window, so its figure is lower for the same --ctx).
Only whole windows are evaluated, the rest of the text is dropped, except that
a text shorter than one window gives one shorter window. For tokenizers that
add a BOS, every window starts with it. Prints exp(mean NLL); per-window
progress goes to stderr.
  --file F          the text (UTF-8)
  --ctx N           window length in tokens; default 2048 or the model's trained
                    context if smaller; must not exceed it
  --max-windows K   evaluate only the first K windows
  --stream          instead, run the whole text through ONE sequence, token by
                    token, under --kv-policy (StreamingLLM's evaluation; it may
                    run far past the trained context with a bounded policy);
                    segments are --segment tokens of the stream
  --recompute W     with --stream: the reference of StreamingLLM, a sliding
                    window with re-computation: every scored token is predicted
                    from the W tokens before it, computed from an empty cache
  --sample-every K  with --recompute: score every K-th token only (the reference
                    costs W token computations per scored token)
  --max-tokens N    evaluate only the first N tokens of the text
  --segment N       tokens per reported segment with --stream; default 2048
  --json            one JSON object: perplexity, nll, tokens (scored), windows,
                    ctx, and segments (per window or stream segment: tokens,
                    scored, nll, perplexity)
Under a bounded --kv-policy each window is scored token by token, so that every
token sees exactly the cache the policy keeps.
)";

int Fail(const absl::Status& status, int code) {
  std::cerr << "gqa perplexity: " << status.message() << "\n";
  return code;
}

nlohmann::json ToJson(const PerplexityResult& result) {
  nlohmann::json segments = nlohmann::json::array();
  for (size_t i = 0; i < result.windows.size(); ++i) {
    const PerplexityWindow& w = result.windows[i];
    segments.push_back({{"index", i},
                        {"first_token_idx", w.first_token_idx},
                        {"tokens", w.num_tokens},
                        {"scored", w.num_scored},
                        {"nll", w.mean_nll()},
                        {"perplexity", std::exp(w.mean_nll())},
                        {"seconds", w.elapsed_ns * 1e-9}});
  }
  return {{"perplexity", result.perplexity()},
          {"nll", result.mean_nll()},
          {"tokens", result.num_scored},
          {"text_tokens", result.num_text_tokens},
          {"tokens_dropped", result.num_dropped},
          {"windows", result.windows.size()},
          {"segments", std::move(segments)}};
}

// The flags this command reads itself, validated before the model loads.
struct Settings {
  std::string file;
  std::optional<int64_t> ctx_tokens;  // default: min(2048, trained context)
  int64_t max_windows = 0;
  bool stream = false;
  std::optional<int64_t> recompute_tokens;
  int64_t sample_every = 1;
  std::optional<int64_t> max_tokens;
  int64_t segment_tokens = kDefaultSegmentTokens;
  bool json = false;
};

absl::StatusOr<Settings> ParseSettings(const CommandLine& flags) {
  Settings s;
  if (!flags.positional().empty()) {
    return absl::InvalidArgumentError(absl::StrCat("unexpected argument '", flags.positional()[0],
                                                   "'; the text is given with --file"));
  }
  std::optional<std::string> file = flags.Value("file");
  if (!file) return absl::InvalidArgumentError("--file is required (the text to evaluate)");
  s.file = *file;
  if (auto v = flags.Value("ctx")) {
    ASSIGN_OR_RETURN(s.ctx_tokens, ParsePositiveInt("--ctx", *v));
    if (*s.ctx_tokens < 2) return absl::InvalidArgumentError("--ctx must be at least 2");
  }
  if (auto v = flags.Value("max-windows")) {
    ASSIGN_OR_RETURN(s.max_windows, ParsePositiveInt("--max-windows", *v));
  }
  if (auto v = flags.Value("kv-policy")) {
    RETURN_IF_ERROR(ParseKvPolicy(*v).status());  // read by LocalEngine; checked early
  }
  s.stream = flags.Has("stream");
  if (auto v = flags.Value("recompute")) {
    ASSIGN_OR_RETURN(s.recompute_tokens, ParsePositiveInt("--recompute", *v));
    if (!s.stream) return absl::InvalidArgumentError("--recompute is a --stream reference; add --stream");
  }
  if (auto v = flags.Value("sample-every")) {
    ASSIGN_OR_RETURN(s.sample_every, ParsePositiveInt("--sample-every", *v));
    if (!s.recompute_tokens) return absl::InvalidArgumentError("--sample-every needs --recompute");
  }
  if (auto v = flags.Value("max-tokens")) {
    ASSIGN_OR_RETURN(s.max_tokens, ParsePositiveInt("--max-tokens", *v));
  }
  if (auto v = flags.Value("segment")) {
    ASSIGN_OR_RETURN(s.segment_tokens, ParsePositiveInt("--segment", *v));
  }
  if (s.stream && (s.ctx_tokens || s.max_windows > 0)) {
    return absl::InvalidArgumentError("--stream scores the whole text as one sequence; drop --ctx and --max-windows");
  }
  s.json = flags.Has("json");
  return s;
}

// Steps of a window: the full policy prefills in chunks; a bounded policy
// goes token by token, so every token sees exactly what the policy keeps.
int64_t ChunkTokens(const KvPolicy& policy) {
  return policy.TokenBound().has_value() ? 1 : kPrefillChunkTokens;
}

// The window scorer of the engine's KV policy: each window runs from an
// empty cache through OfflineGenerator::ScoreTokens.
WindowScorer MakeScorer(LocalEngine* engine) {
  return WindowScorer([engine](const std::vector<int32_t>& window) {
    return engine->generator().ScoreTokens(window, ChunkTokens(engine->kv_policy()),
                                           engine->kv_policy());
  });
}

// --stream: the text (with a BOS first when the tokenizer adds one) as one
// sequence under the engine's policy, or the --recompute reference.
absl::StatusOr<PerplexityResult> EvaluateStream(LocalEngine& engine, const Settings& settings,
                                                int32_t bos_id,
                                                const std::vector<int32_t>& text_tokens) {
  const int64_t offset = bos_id >= 0 ? 1 : 0;  // stream index of text token 0
  std::vector<int32_t> stream(text_tokens.size() + offset, bos_id);
  std::copy(text_tokens.begin(), text_tokens.end(), stream.begin() + offset);
  std::vector<std::pair<int64_t, double>> scored;
  if (!settings.recompute_tokens) {
    ASSIGN_OR_RETURN(std::vector<double> logprobs,
                     engine.generator().ScoreTokens(stream, ChunkTokens(engine.kv_policy()),
                                                    engine.kv_policy()));
    for (size_t i = 0; i < logprobs.size(); ++i) {
      scored.emplace_back(static_cast<int64_t>(i) + 1 - offset, logprobs[i]);
    }
  } else {
    const int64_t window = *settings.recompute_tokens;
    const int64_t n = static_cast<int64_t>(stream.size());
    for (int64_t target = 1; target < n; ++target) {
      if ((target - offset) % settings.sample_every != 0) continue;
      const int64_t begin = std::max<int64_t>(0, target - window);
      const std::vector<int32_t> context(stream.begin() + begin, stream.begin() + target + 1);
      // Only the last prediction is used; the window is recomputed from scratch.
      ASSIGN_OR_RETURN(double logprob,
                       engine.generator().ScoreLastToken(context, kPrefillChunkTokens));
      scored.emplace_back(target - offset, logprob);
      if (scored.size() % 256 == 0) {
        std::cerr << absl::StrFormat("recompute: %d of %d tokens\n", target, n);
      }
    }
  }
  return SegmentStreamScores(scored, static_cast<int64_t>(text_tokens.size()),
                             settings.segment_tokens);
}

void PrintProgress(const PerplexityWindow& w, int64_t idx, int64_t count) {
  const double seconds = w.elapsed_ns * 1e-9;
  std::cerr << absl::StrFormat(
      "window %d/%d: %d tokens from text token %d, ppl %.4f, %.1f s (%.0f tokens/s)\n",
      idx + 1, count, w.num_tokens, w.first_token_idx, std::exp(w.mean_nll()), seconds,
      w.num_tokens / std::max(seconds, 1e-9));
}

}  // namespace

double PerplexityResult::perplexity() const { return std::exp(mean_nll()); }

PerplexityResult SegmentStreamScores(const std::vector<std::pair<int64_t, double>>& scored,
                                     int64_t num_text_tokens, int64_t segment_tokens) {
  PerplexityResult result;
  result.num_text_tokens = num_text_tokens;
  for (const auto& [index, logprob] : scored) {
    const int64_t segment = std::max<int64_t>(0, index) / segment_tokens;
    if (result.windows.empty() || result.windows.back().first_token_idx != segment * segment_tokens) {
      PerplexityWindow w;
      w.first_token_idx = segment * segment_tokens;
      w.num_tokens = std::min(segment_tokens, num_text_tokens - w.first_token_idx);
      result.windows.push_back(w);
    }
    result.windows.back().num_scored += 1;
    result.windows.back().nll_sum -= logprob;
    result.num_scored += 1;
    result.nll_sum -= logprob;
  }
  return result;
}

absl::StatusOr<PerplexityResult> EvaluatePerplexity(absl::Span<const int32_t> text_tokens,
                                                    const PerplexityOptions& options,
                                                    const WindowScorer& score,
                                                    const WindowCallback& on_window, Env* env) {
  if (options.ctx_tokens < 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("a window of ", options.ctx_tokens, " tokens scores nothing; use at least 2"));
  }
  const int64_t n = static_cast<int64_t>(text_tokens.size());
  const int64_t bos = options.bos_id >= 0 ? 1 : 0;
  if (n + bos < 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the text has ", n, n == 1 ? " token" : " tokens", "; perplexity needs at least ",
        2 - bos));
  }
  PerplexityResult result;
  result.num_text_tokens = n;
  const int64_t per_window = options.ctx_tokens - bos;  // text tokens per window
  int64_t count = std::max<int64_t>(1, n / per_window);
  if (options.max_windows > 0) count = std::min(count, options.max_windows);
  for (int64_t idx = 0; idx < count; ++idx) {
    PerplexityWindow w;
    w.first_token_idx = idx * per_window;
    const int64_t take = std::min(per_window, n - w.first_token_idx);
    std::vector<int32_t> window;
    window.reserve(take + bos);
    if (bos) window.push_back(options.bos_id);
    window.insert(window.end(), text_tokens.begin() + w.first_token_idx,
                  text_tokens.begin() + w.first_token_idx + take);
    w.num_tokens = static_cast<int64_t>(window.size());
    const int64_t start_ns = env->NowNanos();
    ASSIGN_OR_RETURN(std::vector<double> logprobs, score(window));
    w.elapsed_ns = env->NowNanos() - start_ns;
    if (static_cast<int64_t>(logprobs.size()) != w.num_tokens - 1) {
      return absl::InternalError(absl::StrCat("scorer returned ", logprobs.size(),
                                              " log-probabilities for a window of ", w.num_tokens));
    }
    w.num_scored = w.num_tokens - 1;
    for (double logprob : logprobs) w.nll_sum -= logprob;
    result.num_scored += w.num_scored;
    result.nll_sum += w.nll_sum;
    result.windows.push_back(w);
    if (on_window) on_window(w, idx, count);
  }
  const int64_t last = result.windows.back().first_token_idx + result.windows.back().num_tokens - bos;
  result.num_dropped = n - last;
  return result;
}

int RunPerplexityCommand(int argc, char** argv) {
  std::vector<FlagSpec> specs(std::begin(kLocalEngineFlags), std::end(kLocalEngineFlags));
  specs.insert(specs.end(), std::begin(kPerplexityFlags), std::end(kPerplexityFlags));
  absl::StatusOr<CommandLine> flags =
      CommandLine::Parse(absl::MakeConstSpan(argv + 1, argv + argc), specs);
  if (!flags.ok()) return Fail(flags.status(), 2);
  if (flags->Has("help")) {
    std::cout << kUsage << kLocalEngineUsage;
    return 0;
  }
  absl::StatusOr<Settings> settings = ParseSettings(*flags);
  if (!settings.ok()) return Fail(settings.status(), 2);
  Env* env = Env::Default();
  absl::StatusOr<std::string> text = env->ReadFile(settings->file);
  if (!text.ok()) return Fail(text.status(), 1);

  auto engine = LocalEngine::Load(*flags);
  if (!engine.ok()) return Fail(engine.status(), LoadErrorExitCode(engine.status()));
  const int64_t trained = (*engine)->model().config().context_tokens;
  PerplexityOptions options;
  options.ctx_tokens = settings->ctx_tokens.value_or(std::min(kDefaultCtxTokens, trained));
  if (options.ctx_tokens > trained && !settings->stream) {
    return Fail(absl::InvalidArgumentError(
                    absl::StrCat("--ctx ", options.ctx_tokens, " exceeds the model's trained ",
                                 "context of ", trained, " tokens")),
                2);
  }
  options.max_windows = settings->max_windows;

  const Tokenizer& tokenizer = (*engine)->tokenizer();
  if (tokenizer.spec().add_bos) options.bos_id = tokenizer.bos_id();
  std::vector<int32_t> tokens =
      tokenizer.Encode(*text, EncodeOptions{.add_special = false, .parse_special = false});
  if (settings->max_tokens && static_cast<int64_t>(tokens.size()) > *settings->max_tokens) {
    tokens.resize(*settings->max_tokens);
  }
  const int64_t start_ns = env->NowNanos();
  absl::StatusOr<PerplexityResult> result =
      settings->stream
          ? EvaluateStream(**engine, *settings, options.bos_id, tokens)
          : EvaluatePerplexity(tokens, options, MakeScorer(engine->get()), PrintProgress, env);
  if (!result.ok()) return Fail(Annotate(result.status(), settings->file), 1);
  const double seconds = (env->NowNanos() - start_ns) * 1e-9;

  if (settings->json) {
    nlohmann::json j = ToJson(*result);
    j["model"] = flags->Value("model").value_or(DefaultModelPath());
    j["file"] = settings->file;
    j["mode"] = !settings->stream                ? "chunked"
                : settings->recompute_tokens ? "stream-recompute"
                                             : "stream";
    if (settings->stream) {
      j["segment_tokens"] = settings->segment_tokens;
      if (settings->recompute_tokens) {
        j["recompute_tokens"] = *settings->recompute_tokens;
        j["sample_every"] = settings->sample_every;
      }
    } else {
      j["ctx"] = options.ctx_tokens;
    }
    j["bos"] = options.bos_id >= 0;
    j["kv_policy"] = FormatKvPolicy((*engine)->kv_policy());
    j["kv_dtype"] = std::string(DTypeName((*engine)->kv_dtype()));
    j["threads"] = (*engine)->num_threads();
    j["seconds"] = seconds;
    j["scoring"] = settings->stream ? "every token of the stream after the first"
                                    : "every token after the first of each window";
    std::cout << j.dump(2) << "\n";
  } else if (settings->stream) {
    std::cout << absl::StrFormat("perplexity %.4f (mean NLL %.4f nats) over %d tokens of one "
                                 "stream under %s, %d segments; %.1f s\n",
                                 result->perplexity(), result->mean_nll(), result->num_scored,
                                 FormatKvPolicy((*engine)->kv_policy()), result->windows.size(),
                                 seconds);
  } else {
    std::cout << absl::StrFormat(
        "perplexity %.4f (mean NLL %.4f nats) over %d tokens: %d windows of %d tokens, %d "
        "tokens dropped; %.1f s\n",
        result->perplexity(), result->mean_nll(), result->num_scored, result->windows.size(),
        options.ctx_tokens, result->num_dropped, seconds);
  }
  return 0;
}

}  // namespace gqa

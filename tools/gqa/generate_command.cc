#include "tools/gqa/generate_command.h"

#include <algorithm>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/dtype.h"
#include "core/kv_options.h"
#include "core/status.h"
#include "core/tokenizer/incremental_decoder.h"
#include "core/tokenizer/stop_strings.h"
#include "tools/gqa/backend_flag.h"
#include "tools/gqa/command_line.h"
#include "tools/gqa/local_engine.h"
#include "tools/gqa/tp_group.h"
#include "tools/gqa/remote_client.h"

namespace gqa {
namespace {

constexpr FlagSpec kSamplingFlags[] = {
    {"max-tokens"}, {"temperature"}, {"top-k"},      {"top-p"},
    {"min-p"},      {"seed"},        {"raw", false}, {"ids", false},
    {"repetition-penalty"}, {"system"}, {"stop"}, {"server"}, {"api-key"}};

constexpr char kGenerateUsage[] =
    R"(usage: gqa generate [flags] "prompt"

Generates a completion of the prompt with the model in this process and streams
it to stdout; prompt and decode tokens/s go to stderr. The prompt goes through
the model's chat template as one user message unless --raw is given.
  --max-tokens N         tokens to generate at most; default 128
  --temperature T        0 is greedy (the default); otherwise sampled
  --top-k K, --top-p P, --min-p P, --repetition-penalty R
  --seed S               the same seed gives the same tokens; default 0
  --raw                  send the prompt as is, without the chat template
  --ids                  print the generated token ids, space-separated, instead of text
  --system TEXT          a system message before the prompt (chat template only)
  --stop S1[,S2...]      end the output before the first of these strings (never shown)
  --server ADDR          send the prompt to a gqaserve router (gqa serve prints its
                         address) instead of running the model here
  --api-key K            the router's API key, when it requires one
  --backend cpu|cuda     cpu (default), or cuda: the model and its KV cache on GPU 0
                         (quantized weights dequantized to bf16); not with --tp
  --tp N                 tensor parallelism: this process is rank 0 and starts ranks
                         1..N-1 as gqa-worker processes (docs/tensor-parallel.md)
  --tp-comm gloo|nccl    the group's collectives (default gloo; nccl: rank R on CUDA
                         device R, CUDA builds only; with --tp 1, a group of one)
)";

constexpr char kChatUsage[] =
    R"(usage: gqa chat [flags]

A conversation on stdin/stdout with the model in this process, through the
chat template in the model file. An empty line or end of input ends it.
Takes the sampling flags of gqa generate.
)";

std::vector<FlagSpec> AllFlags() {
  std::vector<FlagSpec> flags(std::begin(kLocalEngineFlags), std::end(kLocalEngineFlags));
  flags.insert(flags.end(), std::begin(kSamplingFlags), std::end(kSamplingFlags));
  return flags;
}

absl::StatusOr<float> ParseFloatFlag(absl::string_view flag, absl::string_view text) {
  float value;
  if (!absl::SimpleAtof(text, &value)) {
    return absl::InvalidArgumentError(absl::StrCat("--", flag, " '", text, "': expected a number"));
  }
  return value;
}

absl::StatusOr<OfflineRequest> RequestFromFlags(const CommandLine& flags) {
  OfflineRequest request;
  request.max_new_tokens = 128;
  request.sampling.temperature = 0.0f;
  if (auto v = flags.Value("max-tokens")) {
    ASSIGN_OR_RETURN(request.max_new_tokens, ParsePositiveInt("--max-tokens", *v));
  }
  if (auto v = flags.Value("temperature")) {
    ASSIGN_OR_RETURN(request.sampling.temperature, ParseFloatFlag("temperature", *v));
  }
  if (auto v = flags.Value("top-k")) {
    ASSIGN_OR_RETURN(int64_t k, ParsePositiveInt("--top-k", *v));
    request.sampling.top_k = static_cast<int32_t>(std::min<int64_t>(k, 1 << 30));
  }
  if (auto v = flags.Value("top-p")) {
    ASSIGN_OR_RETURN(request.sampling.top_p, ParseFloatFlag("top-p", *v));
  }
  if (auto v = flags.Value("min-p")) {
    ASSIGN_OR_RETURN(request.sampling.min_p, ParseFloatFlag("min-p", *v));
  }
  if (auto v = flags.Value("repetition-penalty")) {
    ASSIGN_OR_RETURN(request.sampling.repetition_penalty, ParseFloatFlag("repetition-penalty", *v));
  }
  if (auto v = flags.Value("seed")) {
    if (!absl::SimpleAtoi(*v, &request.sampling.seed)) {
      return absl::InvalidArgumentError(absl::StrCat("--seed '", *v, "': expected an integer"));
    }
  }
  RETURN_IF_ERROR(ValidateSamplingParams(request.sampling));
  return request;
}

// The prompt's token ids: through the chat template, or raw.
absl::StatusOr<std::vector<int32_t>> PromptIds(LocalEngine& engine,
                                               const std::vector<ChatMessage>& messages,
                                               bool raw) {
  if (raw) {
    std::string text;
    for (const ChatMessage& m : messages) text += m.content;
    return engine.tokenizer().Encode(text);
  }
  if (!engine.chat_template().ok()) {
    return Annotate(engine.chat_template().status(), "chat template (use --raw for a plain prompt)");
  }
  const ChatTemplate& chat = *engine.chat_template();
  ASSIGN_OR_RETURN(std::string rendered, chat.Render(messages, /*add_generation_prompt=*/true));
  return engine.tokenizer().Encode(rendered, chat.prompt_encode_options());
}

std::vector<int32_t> StopIds(LocalEngine& engine) {
  std::vector<int32_t> stop;
  if (engine.tokenizer().eos_id() >= 0) stop.push_back(engine.tokenizer().eos_id());
  if (engine.chat_template().ok()) {
    auto ids = engine.chat_template()->StopTokenIds(engine.tokenizer());
    if (ids.ok()) stop.insert(stop.end(), ids->begin(), ids->end());
  }
  return stop;
}

// Generates one reply, streaming text (or collecting ids); returns the text.
absl::StatusOr<std::string> RunOne(LocalEngine& engine, OfflineRequest request, bool print_ids,
                                   const std::vector<std::string>& stop_strings) {
  request.kv_policy = engine.kv_policy();
  IncrementalDecoder decoder(&engine.tokenizer(), DecodeOptions{.skip_special = true});
  ASSIGN_OR_RETURN(StopStringMatcher stops, StopStringMatcher::Create(stop_strings));
  std::string text;
  absl::Status decode_status;
  ASSIGN_OR_RETURN(OfflineResult result,
                   engine.generator().Generate(request, [&](const SampledToken& token) {
                     if (print_ids) return true;
                     absl::StatusOr<std::string> delta = decoder.Add(token.token_id);
                     if (!delta.ok()) {
                       decode_status = delta.status();
                       return false;
                     }
                     const StopStringMatcher::Result shown = stops.Add(*delta);
                     text += shown.released;
                     std::cout << shown.released << std::flush;
                     return !shown.stopped;
                   }));
  RETURN_IF_ERROR(decode_status);
  if (print_ids) {
    std::cout << absl::StrJoin(result.output_ids, " ") << "\n";
  } else {
    StopStringMatcher::Result last = stops.Add(decoder.Finish());
    const std::string tail = last.released + (last.stopped ? "" : stops.Flush());
    text += tail;
    std::cout << tail << "\n";
  }
  const double prefill_s = result.prefill_ns * 1e-9, decode_s = result.decode_ns * 1e-9;
  const int64_t decoded = static_cast<int64_t>(result.output_ids.size()) - 1;
  std::cerr << "prompt: " << request.prompt_ids.size() << " tokens in " << prefill_s << " s ("
            << request.prompt_ids.size() / std::max(prefill_s, 1e-9) << " tokens/s); decode: "
            << decoded << " tokens in " << decode_s << " s ("
            << (decoded > 0 ? decoded / std::max(decode_s, 1e-9) : 0.0) << " tokens/s), threads="
            << engine.num_threads() << "\n"
            << "kv: " << FormatKvPolicy(request.kv_policy) << " " << DTypeName(engine.kv_dtype())
            << ", " << result.kv_usage.tokens_held << " tokens held ("
            << result.kv_usage.formula_bytes << " B by the formula + "
            << result.kv_usage.scale_bytes << " B scales; " << result.kv_usage.allocated_bytes
            << " B in " << result.kv_usage.blocks << " blocks), " << result.evicted_tokens
            << " evicted, " << result.reused_prefix_tokens << " prompt tokens from the prefix cache\n";
  return text;
}

int Fail(absl::string_view command, const absl::Status& status, int code) {
  std::cerr << "gqa " << command << ": " << status.message() << "\n";
  return code;
}

}  // namespace

int RunGenerateCommand(int argc, char** argv) {
  std::vector<FlagSpec> specs = AllFlags();
  specs.push_back({"tp"});
  specs.push_back({"tp-comm"});
  specs.push_back({"backend"});
  absl::StatusOr<CommandLine> flags = CommandLine::Parse(absl::MakeConstSpan(argv + 1, argv + argc), specs);
  if (!flags.ok()) return Fail("generate", flags.status(), 2);
  if (flags->Has("help")) {
    std::cout << kGenerateUsage << kLocalEngineUsage;
    return 0;
  }
  if (flags->positional().size() != 1) {
    return Fail("generate", absl::InvalidArgumentError("expected one prompt argument (quote it)"), 2);
  }
  if (auto server = flags->Value("server")) {
    std::vector<RemoteTurn> turns;
    if (auto system = flags->Value("system")) turns.push_back({"system", *system});
    turns.push_back({"user", flags->positional()[0]});
    auto text = RemoteGenerate(*flags, *server, turns, flags->Has("raw"));
    if (!text.ok()) return Fail("generate", text.status(), 1);
    return 0;
  }
  absl::StatusOr<OfflineRequest> request = RequestFromFlags(*flags);
  if (!request.ok()) return Fail("generate", request.status(), 2);
  absl::StatusOr<TpFlags> tp = ParseTpFlags(*flags);
  if (!tp.ok()) return Fail("generate", tp.status(), 2);
  std::unique_ptr<Backend> backend;  // null: the CPU backend
  if (auto name = flags->Value("backend")) {
    if (*name != "cpu" && tp->tp > 1) {
      return Fail("generate",
                  absl::InvalidArgumentError(
                      absl::StrCat("--backend ", *name, " does not work with --tp > 1 yet")),
                  2);
    }
    auto made = BackendForFlag(*name);
    if (!made.ok()) {
      return Fail("generate", made.status(),
                  made.status().code() == absl::StatusCode::kInvalidArgument ? 2 : 1);
    }
    backend = *std::move(made);
  }
  std::unique_ptr<TpGroup> group;  // --tp N: ranks 1..N-1 in gqa-worker processes
  if (tp->forms_group()) {
    auto launched = TpGroup::LaunchForLocalEngine(*flags, *tp);
    if (!launched.ok()) return Fail("generate", launched.status(), LoadErrorExitCode(launched.status()));
    group = *std::move(launched);
  }
  auto engine = LocalEngine::Load(*flags, group != nullptr ? &group->comm() : nullptr,
                                 std::move(backend));
  if (!engine.ok()) return Fail("generate", engine.status(), 1);
  if (group != nullptr) {
    absl::Status ready = CheckSameModel(group->comm(), (*engine)->model().fingerprint());
    if (!ready.ok()) return Fail("generate", ready, 1);
  }
  std::vector<ChatMessage> messages;
  if (auto system = flags->Value("system")) messages.push_back({"system", *system});
  messages.push_back({"user", flags->positional()[0]});
  auto prompt = PromptIds(**engine, messages, flags->Has("raw"));
  if (!prompt.ok()) return Fail("generate", prompt.status(), 1);
  request->prompt_ids = *prompt;
  request->stop_ids = StopIds(**engine);
  std::vector<std::string> stop_strings;
  if (auto stop = flags->Value("stop")) {
    auto list = SplitList("--stop", *stop);
    if (!list.ok()) return Fail("generate", list.status(), 2);
    stop_strings = *list;
  }
  auto text = RunOne(**engine, *request, flags->Has("ids"), stop_strings);
  if (group != nullptr) (void)(*engine)->model().EndGroup();  // the ranks exit 0
  if (!text.ok()) return Fail("generate", text.status(), 1);
  return 0;
}

int RunChatCommand(int argc, char** argv) {
  const std::vector<FlagSpec> specs = AllFlags();
  absl::StatusOr<CommandLine> flags = CommandLine::Parse(absl::MakeConstSpan(argv + 1, argv + argc), specs);
  if (!flags.ok()) return Fail("chat", flags.status(), 2);
  if (flags->Has("help")) {
    std::cout << kChatUsage << kLocalEngineUsage;
    return 0;
  }
  if (auto server = flags->Value("server")) {
    std::vector<RemoteTurn> history;
    if (auto system = flags->Value("system")) history.push_back({"system", *system});
    std::string line;
    while (std::cerr << "> " << std::flush, std::getline(std::cin, line) && !line.empty()) {
      history.push_back({"user", line});
      auto reply = RemoteGenerate(*flags, *server, history, /*raw=*/false);
      if (!reply.ok()) {
        std::cerr << "gqa chat: " << reply.status().message() << "\n";
        history.pop_back();
        continue;
      }
      history.push_back({"assistant", *reply});
    }
    return 0;
  }
  absl::StatusOr<OfflineRequest> request = RequestFromFlags(*flags);
  if (!request.ok()) return Fail("chat", request.status(), 2);
  auto engine = LocalEngine::Load(*flags);
  if (!engine.ok()) return Fail("chat", engine.status(), 1);
  if (!(*engine)->chat_template().ok()) return Fail("chat", (*engine)->chat_template().status(), 1);
  std::vector<ChatMessage> history;
  if (auto system = flags->Value("system")) history.push_back({"system", *system});
  std::string line;
  while (std::cerr << "> " << std::flush, std::getline(std::cin, line) && !line.empty()) {
    history.push_back({"user", line});
    auto prompt = PromptIds(**engine, history, /*raw=*/false);
    if (!prompt.ok()) return Fail("chat", prompt.status(), 1);
    OfflineRequest turn = *request;
    turn.prompt_ids = *prompt;
    turn.stop_ids = StopIds(**engine);
    auto reply = RunOne(**engine, turn, /*print_ids=*/false, /*stop_strings=*/{});
    if (!reply.ok()) {
      std::cerr << "gqa chat: " << reply.status().message() << "\n";
      history.pop_back();
      continue;
    }
    history.push_back({"assistant", *reply});
  }
  return 0;
}

}  // namespace gqa

#include "tools/gqa/remote_client.h"

#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>

#include <iostream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/grpc/status_convert.h"
#include "core/status.h"
#include "gqa/v1/inference.grpc.pb.h"

namespace gqa {
namespace {

absl::StatusOr<float> FloatFlag(const CommandLine& flags, absl::string_view name) {
  float value = 0;
  if (!absl::SimpleAtof(*flags.Value(name), &value)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", name, " '", *flags.Value(name), "': expected a number"));
  }
  return value;
}

absl::StatusOr<v1::GenerateRequest> RequestFromFlags(const CommandLine& flags,
                                                     const std::vector<RemoteTurn>& turns,
                                                     bool raw) {
  v1::GenerateRequest request;
  if (raw) {
    std::string text;
    for (const RemoteTurn& turn : turns) text += turn.content;
    request.set_text(text);
  } else {
    for (const RemoteTurn& turn : turns) {
      v1::ChatMessage* message = request.mutable_chat()->add_messages();
      message->set_role(turn.role == "system"      ? v1::ChatMessage::ROLE_SYSTEM
                        : turn.role == "assistant" ? v1::ChatMessage::ROLE_ASSISTANT
                                                   : v1::ChatMessage::ROLE_USER);
      message->set_content(turn.content);
    }
  }
  int64_t max_tokens = 128;
  if (auto v = flags.Value("max-tokens")) {
    ASSIGN_OR_RETURN(max_tokens, ParsePositiveInt("--max-tokens", *v));
  }
  request.set_max_tokens(max_tokens);
  v1::SamplingParams* sampling = request.mutable_sampling();
  sampling->set_temperature(0.0f);  // greedy unless asked, as in local mode
  if (flags.Value("temperature")) {
    ASSIGN_OR_RETURN(float t, FloatFlag(flags, "temperature"));
    sampling->set_temperature(t);
  }
  if (auto v = flags.Value("top-k")) {
    ASSIGN_OR_RETURN(int64_t k, ParsePositiveInt("--top-k", *v));
    sampling->set_top_k(static_cast<int32_t>(std::min<int64_t>(k, 1 << 30)));
  }
  if (flags.Value("top-p")) {
    ASSIGN_OR_RETURN(float p, FloatFlag(flags, "top-p"));
    sampling->set_top_p(p);
  }
  if (flags.Value("min-p")) {
    ASSIGN_OR_RETURN(float p, FloatFlag(flags, "min-p"));
    sampling->set_min_p(p);
  }
  if (flags.Value("repetition-penalty")) {
    ASSIGN_OR_RETURN(float r, FloatFlag(flags, "repetition-penalty"));
    sampling->set_repetition_penalty(r);
  }
  uint64_t seed = 0;
  if (auto v = flags.Value("seed")) {
    if (!absl::SimpleAtoi(*v, &seed)) {
      return absl::InvalidArgumentError(absl::StrCat("--seed '", *v, "': expected an integer"));
    }
  }
  sampling->set_seed(seed);
  if (auto stop = flags.Value("stop")) {
    for (absl::string_view s : absl::StrSplit(*stop, ',', absl::SkipEmpty())) {
      request.add_stop_strings(std::string(s));
    }
  }
  return request;
}

}  // namespace

absl::StatusOr<std::string> RemoteGenerate(const CommandLine& flags, const std::string& server,
                                           const std::vector<RemoteTurn>& turns, bool raw) {
  ASSIGN_OR_RETURN(v1::GenerateRequest request, RequestFromFlags(flags, turns, raw));
  auto channel = grpc::CreateChannel(server, grpc::InsecureChannelCredentials());
  auto stub = v1::Inference::NewStub(channel);
  grpc::ClientContext context;
  context.set_wait_for_ready(true);
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(10));
  if (auto key = flags.Value("api-key")) context.AddMetadata("authorization", "Bearer " + *key);
  std::unique_ptr<grpc::ClientReader<v1::GenerateResponse>> reader =
      stub->Generate(&context, request);
  v1::GenerateResponse response;
  std::string text;
  v1::GenerateResponse last;
  while (reader->Read(&response)) {
    std::cout << response.text() << std::flush;
    text += response.text();
    if (response.finish_reason() != v1::FINISH_REASON_UNSPECIFIED) last = response;
  }
  std::cout << "\n";
  const grpc::Status status = reader->Finish();
  if (!status.ok()) {
    return Annotate(FromGrpcStatus(status), absl::StrCat("the router at ", server));
  }
  std::cerr << "usage: " << last.usage().num_prompt_tokens() << " prompt tokens ("
            << last.usage().num_cached_tokens() << " from a cached prefix), "
            << last.usage().num_generated_tokens() << " generated, finish "
            << v1::FinishReason_Name(last.finish_reason()) << ", seed " << last.seed() << "\n";
  return text;
}

}  // namespace gqa

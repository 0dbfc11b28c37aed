// prefix_ttft: time to first token on a worker for a prompt whose long prefix
// another worker already computed, and for a failover resume (prompt +
// output so far), measured against a worker that shares prefixes through a
// kvstore and one that does not. Each timing is a fresh prompt suffix, so
// only the shared prefix can be reused; the median of --repeats runs.
//   prefix_ttft --publisher A --with-kvstore B --without-kvstore C
//               [--prefix-tokens 1024] [--repeats 5]
// A and B run with --kvstore (same store); C without. Prints a markdown table.
#include <grpcpp/create_channel.h>

#include <algorithm>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gqa/v1/worker.grpc.pb.h"
#include "tools/gqa/command_line.h"

namespace gqa {
namespace {

constexpr FlagSpec kFlags[] = {{"publisher"}, {"with-kvstore"}, {"without-kvstore"},
                               {"prefix-tokens"}, {"repeats"}};

// A prefix no earlier run used (`variant` picks it), so only the kvstore can
// hold it when it is measured.
std::vector<int32_t> Prefix(int64_t n, int64_t variant) {
  std::vector<int32_t> ids;
  for (int64_t i = 0; i < n; ++i) {
    ids.push_back(static_cast<int32_t>(1000 + (i * 37 + variant * 7919) % 20000));
  }
  return ids;
}

// Milliseconds from Submit to the first token; -1 on error.
double Ttft(v1::Worker::Stub* stub, const std::string& id, const std::vector<int32_t>& prompt,
            const std::vector<int32_t>& output, int64_t* cached) {
  v1::SubmitRequest request;
  request.set_request_id(id);
  request.set_tenant("bench");
  request.mutable_prompt_token_ids()->Add(prompt.begin(), prompt.end());
  request.mutable_output_token_ids()->Add(output.begin(), output.end());
  request.set_max_new_tokens(static_cast<int64_t>(output.size()) + 2);
  request.set_ignore_eos(true);
  request.mutable_sampling()->set_temperature(0.0f);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(5));
  const absl::Time start = absl::Now();
  auto reader = stub->Submit(&context, request);
  v1::SubmitResponse response;
  double ttft = -1;
  while (reader->Read(&response)) {
    if (ttft < 0 && response.token_ids_size() > 0) ttft = absl::ToDoubleMilliseconds(absl::Now() - start);
    if (response.has_usage()) *cached = response.usage().num_cached_tokens();
  }
  const grpc::Status status = reader->Finish();
  if (!status.ok()) {
    std::cerr << "prefix_ttft: " << id << ": " << status.error_message() << "\n";
    return -1;
  }
  return ttft;
}

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values.empty() ? 0 : values[values.size() / 2];
}

int Run(int argc, char** argv) {
  absl::StatusOr<CommandLine> flags =
      CommandLine::Parse(absl::MakeConstSpan(argv + 1, argv + argc), absl::MakeConstSpan(kFlags));
  if (!flags.ok() || !flags->Value("publisher") || !flags->Value("with-kvstore") ||
      !flags->Value("without-kvstore")) {
    std::cerr << "usage: prefix_ttft --publisher A --with-kvstore B --without-kvstore C "
                 "[--prefix-tokens N] [--repeats R]\n";
    return 2;
  }
  int64_t prefix_tokens = 1024, repeats = 5;
  for (auto [name, target] : {std::pair{"prefix-tokens", &prefix_tokens},
                              std::pair{"repeats", &repeats}}) {
    if (auto v = flags->Value(name); v && (!absl::SimpleAtoi(*v, target) || *target < 1)) {
      std::cerr << "prefix_ttft: --" << name << " " << *v << ": expected a positive integer\n";
      return 2;
    }
  }
  const auto stub = [](const std::string& address) {
    return v1::Worker::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  };
  auto publisher = stub(*flags->Value("publisher"));
  auto with = stub(*flags->Value("with-kvstore"));
  auto without = stub(*flags->Value("without-kvstore"));
  int64_t cached = 0;
  struct Row {
    std::string what;
    std::vector<double> with_ms, without_ms;
    int64_t with_cached = 0, without_cached = 0;
  };
  std::vector<Row> rows(2);
  rows[0].what = absl::StrCat("new prompt: ", prefix_tokens, "-token shared prefix + 16 new tokens");
  rows[1].what = absl::StrCat("failover resume: a ", prefix_tokens,
                              "-token prompt + 16 output tokens");
  for (int64_t r = 0; r < repeats; ++r) {
    // The publisher computes two fresh prefixes (and uploads their blocks).
    const std::vector<int32_t> fresh = Prefix(prefix_tokens, 2 * r);
    const std::vector<int32_t> resumed = Prefix(prefix_tokens, 2 * r + 1);
    if (Ttft(publisher.get(), absl::StrCat("publish-a-", r), fresh, {}, &cached) < 0 ||
        Ttft(publisher.get(), absl::StrCat("publish-b-", r), resumed, {}, &cached) < 0) {
      return 1;
    }
    absl::SleepFor(absl::Seconds(1));  // the uploads land
    std::vector<int32_t> suffix;
    for (int i = 0; i < 16; ++i) suffix.push_back(static_cast<int32_t>(30000 + r * 16 + i));
    std::vector<int32_t> prompt = fresh;
    prompt.insert(prompt.end(), suffix.begin(), suffix.end());
    rows[0].with_ms.push_back(
        Ttft(with.get(), absl::StrCat("new-w-", r), prompt, {}, &rows[0].with_cached));
    rows[0].without_ms.push_back(
        Ttft(without.get(), absl::StrCat("new-wo-", r), prompt, {}, &rows[0].without_cached));
    rows[1].with_ms.push_back(
        Ttft(with.get(), absl::StrCat("resume-w-", r), resumed, suffix, &rows[1].with_cached));
    rows[1].without_ms.push_back(
        Ttft(without.get(), absl::StrCat("resume-wo-", r), resumed, suffix, &rows[1].without_cached));
  }
  std::cout << "| request | TTFT with kvstore (ms, median) | cached tokens | TTFT without (ms, "
               "median) | cached tokens | speed-up |\n|---|---|---|---|---|---|\n";
  for (const Row& row : rows) {
    const double w = Median(row.with_ms), wo = Median(row.without_ms);
    std::cout << "| " << row.what << " | " << w << " | " << row.with_cached << " | " << wo << " | "
              << row.without_cached << " | " << (w > 0 ? wo / w : 0) << "x |\n";
  }
  return 0;
}

}  // namespace
}  // namespace gqa

int main(int argc, char** argv) { return gqa::Run(argc, argv); }

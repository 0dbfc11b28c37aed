// The router with real gqa-worker processes on loopback (--fake-model workers
// that report a tiny model's identity, so sequences are cheap and their
// tokens a deterministic function of prompt and position): a stream survives
// its worker being killed (kill -9) or frozen (SIGSTOP) with no token lost,
// repeated or changed; keys are checked; limits refuse what they must.
#include <signal.h>
#include <unistd.h>

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "core/env.h"
#include "gmock/gmock.h"
#include "gqa/v1/inference.grpc.pb.h"
#include "gqa/v1/worker.grpc.pb.h"
#include "gtest/gtest.h"
#include "router/worker_pool.h"
#include "tools/gqa/child_process.h"
#include "worker/engine/convert/testing/random_llama.h"

namespace gqa {
namespace {

using ::testing::HasSubstr;

struct StreamResult {
  grpc::Status status;
  std::vector<int32_t> token_ids;
  std::string text;
  v1::FinishReason finish = v1::FINISH_REASON_UNSPECIFIED;
  int64_t generated = 0;
};

class RouterClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    model_ = absl::StrCat(testing::TempDir(), "/router-cluster-", getpid(), ".gguf");
    ASSERT_TRUE(Env::Default()->WriteFileAtomically(model_, RandomLlamaGguf({.seed = 5})).ok());
  }

  std::string StartWorker() {
    absl::StatusOr<std::unique_ptr<ChildProcess>> worker = ChildProcess::Start(
        {GQA_WORKER_BINARY, "--fake-model", "--model", model_, "--port", "0", "--listen",
         "127.0.0.1", "--fake-ttft-ms", "20", "--fake-itl-ms", "25"});
    EXPECT_TRUE(worker.ok()) << worker.status();
    absl::StatusOr<std::string> address = (*worker)->WaitForListenAddress(absl::Seconds(30));
    EXPECT_TRUE(address.ok()) << address.status();
    workers_.push_back(*std::move(worker));
    return address.value_or("");
  }

  std::string StartRouter(const std::vector<std::string>& workers,
                          std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {GQA_ROUTER_BINARY, "--model", model_, "--port", "0",
                                     "--listen", "127.0.0.1", "--workers",
                                     absl::StrJoin(workers, ","), "--poll-interval-ms", "100",
                                     "--progress-timeout-ms", "3000"};
    args.insert(args.end(), extra.begin(), extra.end());
    absl::StatusOr<std::unique_ptr<ChildProcess>> router = ChildProcess::Start(args);
    EXPECT_TRUE(router.ok()) << router.status();
    absl::StatusOr<std::string> address = (*router)->WaitForListenAddress(absl::Seconds(30));
    EXPECT_TRUE(address.ok()) << address.status();
    router_ = *std::move(router);
    stub_ = v1::Inference::NewStub(
        grpc::CreateChannel(address.value_or(""), grpc::InsecureChannelCredentials()));
    return address.value_or("");
  }

  // Waits until the router can serve (its pool has polled the workers).
  void WaitUntilServing() {
    for (int i = 0; i < 100; ++i) {
      StreamResult probe = Generate(Request("probe", 1), "");
      if (probe.status.ok()) return;
      absl::SleepFor(absl::Milliseconds(100));
    }
    FAIL() << "the router never served a request";
  }

  static v1::GenerateRequest Request(const std::string& text, int64_t max_tokens) {
    v1::GenerateRequest request;
    request.set_text(text);
    request.set_max_tokens(max_tokens);
    request.set_ignore_eos(true);
    request.mutable_sampling()->set_temperature(0.0f);
    return request;
  }

  StreamResult Generate(const v1::GenerateRequest& request, const std::string& key) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    if (!key.empty()) context.AddMetadata("authorization", "Bearer " + key);
    auto reader = stub_->Generate(&context, request);
    StreamResult result;
    v1::GenerateResponse response;
    while (reader->Read(&response)) {
      result.token_ids.insert(result.token_ids.end(), response.token_ids().begin(),
                              response.token_ids().end());
      result.text += response.text();
      if (response.finish_reason() != v1::FINISH_REASON_UNSPECIFIED) {
        result.finish = response.finish_reason();
        result.generated = response.usage().num_generated_tokens();
      }
    }
    result.status = reader->Finish();
    return result;
  }

  // 20 concurrent streams; `disturb` runs while they are mid-way.
  std::vector<StreamResult> TwentyStreams(const std::function<void()>& disturb) {
    std::vector<StreamResult> results(20);
    std::vector<std::thread> clients;
    for (int i = 0; i < 20; ++i) {
      clients.emplace_back([this, i, &results] {
        results[i] = Generate(Request(absl::StrCat("stream number ", i), 40), "");
      });
    }
    absl::SleepFor(absl::Milliseconds(400));  // about 15 tokens into each stream
    disturb();
    for (std::thread& client : clients) client.join();
    return results;
  }

  void ExpectSameAsUndisturbed(const std::vector<StreamResult>& undisturbed,
                               const std::vector<StreamResult>& disturbed) {
    for (size_t i = 0; i < disturbed.size(); ++i) {
      ASSERT_TRUE(disturbed[i].status.ok()) << i << ": " << disturbed[i].status.error_message();
      EXPECT_EQ(disturbed[i].token_ids, undisturbed[i].token_ids) << "stream " << i;
      EXPECT_EQ(disturbed[i].text, undisturbed[i].text) << "stream " << i;
      EXPECT_EQ(disturbed[i].finish, v1::FINISH_REASON_LENGTH);
      EXPECT_EQ(disturbed[i].generated, 40);
    }
  }

  std::string model_;
  std::vector<std::unique_ptr<ChildProcess>> workers_;
  std::unique_ptr<ChildProcess> router_;
  std::unique_ptr<v1::Inference::Stub> stub_;
};

TEST_F(RouterClusterTest, KillNineOfOneWorkerLosesNoStream) {
  const std::string a = StartWorker();
  const std::string b = StartWorker();
  StartRouter({a, b}, {"--policy", "round-robin"});
  WaitUntilServing();
  const std::vector<StreamResult> undisturbed = TwentyStreams([] {});
  for (const StreamResult& result : undisturbed) {
    ASSERT_TRUE(result.status.ok()) << result.status.error_message();
    ASSERT_EQ(result.token_ids.size(), 40u);
  }
  const std::vector<StreamResult> disturbed =
      TwentyStreams([this] { kill(workers_[0]->pid(), SIGKILL); });
  ExpectSameAsUndisturbed(undisturbed, disturbed);
}

TEST_F(RouterClusterTest, AFrozenWorkerIsFailedOverLikeADeadOne) {
  const std::string a = StartWorker();
  const std::string b = StartWorker();
  StartRouter({a, b}, {"--policy", "round-robin"});
  WaitUntilServing();
  const std::vector<StreamResult> undisturbed = TwentyStreams([] {});
  const absl::Time start = absl::Now();
  const std::vector<StreamResult> disturbed =
      TwentyStreams([this] { kill(workers_[0]->pid(), SIGSTOP); });
  ExpectSameAsUndisturbed(undisturbed, disturbed);
  EXPECT_LT(absl::Now() - start, absl::Seconds(15));
  kill(workers_[0]->pid(), SIGCONT);
}

TEST_F(RouterClusterTest, KeysAreCheckedAndTheirCeilingsHold) {
  const std::string keys = absl::StrCat(testing::TempDir(), "/keys-", getpid(), ".txt");
  ASSERT_TRUE(Env::Default()
                  ->WriteFileAtomically(keys, "good-key-123 tenant=t1 max_priority=5\n")
                  .ok());
  StartRouter({StartWorker()}, {"--api-keys", keys});
  StreamResult no_key = Generate(Request("x", 2), "");
  EXPECT_EQ(no_key.status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  StreamResult bad_key = Generate(Request("x", 2), "wrong-key-999");
  EXPECT_EQ(bad_key.status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  v1::GenerateRequest urgent = Request("x", 2);
  urgent.set_priority(50);
  StreamResult denied = Generate(urgent, "good-key-123");
  EXPECT_EQ(denied.status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(denied.status.error_message(), HasSubstr("ceiling"));
  StreamResult ok;
  for (int i = 0; i < 100; ++i) {
    ok = Generate(Request("x", 2), "good-key-123");
    if (ok.status.ok()) break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_TRUE(ok.status.ok()) << ok.status.error_message();
  EXPECT_EQ(ok.token_ids.size(), 2u);
}

TEST_F(RouterClusterTest, BadRequestsGetTheirCodesAndDeadlinesEndTheCall) {
  StartRouter({StartWorker()});
  WaitUntilServing();
  v1::GenerateRequest empty;
  EXPECT_EQ(Generate(empty, "").status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  v1::GenerateRequest other_model = Request("x", 2);
  other_model.set_model("no-such-model");
  EXPECT_EQ(Generate(other_model, "").status.error_code(), grpc::StatusCode::NOT_FOUND);
  v1::GenerateRequest bad_id;
  bad_id.mutable_token_ids()->add_token_ids(100000);
  EXPECT_EQ(Generate(bad_id, "").status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  v1::GenerateRequest too_long = Request("x", 1000000);
  EXPECT_EQ(Generate(too_long, "").status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  // 50 tokens at 25 ms need 1.25 s; a 400 ms deadline cuts the sequence: the
  // worker (told the deadline less a margin) ends it FINISH_REASON_DEADLINE,
  // or, if the call's own deadline wins the race, the call is
  // DEADLINE_EXCEEDED.
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(400));
  auto reader = stub_->Generate(&context, Request("slow", 50));
  v1::GenerateResponse response;
  int tokens = 0;
  v1::FinishReason finish = v1::FINISH_REASON_UNSPECIFIED;
  while (reader->Read(&response)) {
    tokens += response.token_ids_size();
    if (response.finish_reason() != v1::FINISH_REASON_UNSPECIFIED) finish = response.finish_reason();
  }
  const grpc::Status status = reader->Finish();
  if (status.ok()) {
    EXPECT_EQ(finish, v1::FINISH_REASON_DEADLINE);
    EXPECT_LT(tokens, 50);
  } else {
    EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << status.error_message();
  }
}

TEST_F(RouterClusterTest, PastTheQueueCallsAreRefusedResourceExhausted) {
  StartRouter({StartWorker()}, {"--max-in-flight", "2", "--max-queued", "1"});
  WaitUntilServing();
  std::vector<StreamResult> results(6);
  std::vector<std::thread> clients;
  for (int i = 0; i < 6; ++i) {
    clients.emplace_back([this, i, &results] { results[i] = Generate(Request("q", 20), ""); });
  }
  for (std::thread& client : clients) client.join();
  int ok = 0, exhausted = 0;
  for (const StreamResult& result : results) {
    ok += result.status.ok();
    exhausted += result.status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED;
  }
  EXPECT_EQ(ok + exhausted, 6);
  EXPECT_GE(ok, 3);         // two running and one queued
  EXPECT_GE(exhausted, 1);  // the rest
}

TEST_F(RouterClusterTest, DrainingWorkersGetNoNewSequences) {
  const std::string a = StartWorker();
  const std::string b = StartWorker();
  // One attempt only: a sequence sent to the draining worker would fail.
  StartRouter({a, b}, {"--max-attempts", "1", "--policy", "round-robin"});
  WaitUntilServing();
  auto worker = v1::Worker::NewStub(grpc::CreateChannel(a, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  v1::DrainRequest drain;
  drain.set_timeout_ms(60000);
  v1::DrainResponse drained;
  std::thread drainer([&] { worker->Drain(&context, drain, &drained); });
  absl::SleepFor(absl::Milliseconds(400));  // the router's next Load poll sees it
  for (int i = 0; i < 10; ++i) {
    StreamResult result = Generate(Request(absl::StrCat("after drain ", i), 3), "");
    EXPECT_TRUE(result.status.ok()) << i << ": " << result.status.error_message();
  }
  drainer.join();
}

TEST_F(RouterClusterTest, ADnsNameBecomesItsAddresses) {
  const std::string a = StartWorker();
  const std::string port = a.substr(a.rfind(':') + 1);
  absl::StatusOr<std::vector<std::string>> resolved = ResolveAddresses("localhost", std::stoi(port));
  ASSERT_TRUE(resolved.ok()) << resolved.status();
  EXPECT_THAT(*resolved, ::testing::Contains(a));
  StartRouter({absl::StrCat("dns:localhost:", port)});
  WaitUntilServing();
  EXPECT_EQ(Generate(Request("via dns", 3), "").token_ids.size(), 3u);
  EXPECT_EQ(ResolveAddresses("no-such-host.invalid", 1).status().code(),
            absl::StatusCode::kUnavailable);
}

// Certificates from the openssl command: a CA, the router's (for 127.0.0.1)
// and a client's, all signed by the CA.
std::string MakeCertificates() {
  const std::string dir = absl::StrCat(testing::TempDir(), "/certs-", getpid());
  const std::string script = absl::StrCat(
      "set -e; mkdir -p ", dir, "; cd ", dir, "; ",
      "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -subj /CN=test-ca "
      "-days 1 2>/dev/null; ",
      "for who in server client; do ",
      "openssl req -newkey rsa:2048 -nodes -keyout $who.key -out $who.csr -subj /CN=$who "
      "2>/dev/null; ",
      "printf 'subjectAltName=IP:127.0.0.1,DNS:localhost' > san.ext; ",
      "openssl x509 -req -in $who.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out $who.pem "
      "-days 1 -extfile san.ext 2>/dev/null; done");
  EXPECT_EQ(std::system(script.c_str()), 0) << script;
  return dir;
}

std::string ReadOrDie(const std::string& path) {
  absl::StatusOr<std::string> text = Env::Default()->ReadFile(path);
  EXPECT_TRUE(text.ok()) << text.status();
  return text.value_or("");
}

// A Generate over `credentials`; the status only.
grpc::Status TryGenerate(const std::string& address,
                         std::shared_ptr<grpc::ChannelCredentials> credentials) {
  auto stub = v1::Inference::NewStub(grpc::CreateChannel(address, credentials));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  v1::GenerateRequest request;
  request.set_text("tls");
  request.set_max_tokens(2);
  auto reader = stub->Generate(&context, request);
  v1::GenerateResponse response;
  while (reader->Read(&response)) {
  }
  return reader->Finish();
}

TEST_F(RouterClusterTest, TlsAndMutualTls) {
  const std::string certs = MakeCertificates();
  const std::string worker = StartWorker();
  grpc::SslCredentialsOptions server_only;
  server_only.pem_root_certs = ReadOrDie(certs + "/ca.pem");
  grpc::SslCredentialsOptions with_client_cert = server_only;
  with_client_cert.pem_private_key = ReadOrDie(certs + "/client.key");
  with_client_cert.pem_cert_chain = ReadOrDie(certs + "/client.pem");

  const std::string tls = StartRouter(
      {worker}, {"--tls-cert", certs + "/server.pem", "--tls-key", certs + "/server.key"});
  grpc::Status status;
  for (int i = 0; i < 50; ++i) {  // until the router has polled its worker
    status = TryGenerate(tls, grpc::SslCredentials(server_only));
    if (status.ok()) break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_FALSE(TryGenerate(tls, grpc::InsecureChannelCredentials()).ok());

  const std::string mtls =
      StartRouter({worker}, {"--tls-cert", certs + "/server.pem", "--tls-key",
                             certs + "/server.key", "--tls-client-ca", certs + "/ca.pem"});
  for (int i = 0; i < 50; ++i) {
    status = TryGenerate(mtls, grpc::SslCredentials(with_client_cert));
    if (status.ok()) break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_FALSE(TryGenerate(mtls, grpc::SslCredentials(server_only)).ok());
}

}  // namespace
}  // namespace gqa

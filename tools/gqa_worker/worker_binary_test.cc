// The gqa-worker binary as an operator runs it: it loads a model file, serves
// gqa.v1.Worker and the health service on a loopback port, answers a stream,
// drains on SIGTERM and exits 0; a model it cannot load exits 1 with the
// reason, bad flags exit 2.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <grpcpp/create_channel.h>
#include <grpcpp/health_check_service_interface.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "core/env.h"
#include "gmock/gmock.h"
#include "gqa/v1/worker.grpc.pb.h"
#include "gtest/gtest.h"
#include "worker/service/testing/free_port.h"
#include "tools/gqa/run_gqa_for_test.h"
#include "worker/engine/convert/testing/random_llama.h"

namespace gqa {
namespace {

using ::testing::HasSubstr;

TEST(WorkerBinaryTest, ServesAStreamAndDrainsOnSigterm) {
  const std::string model = absl::StrCat(testing::TempDir(), "/worker-", getpid(), ".gguf");
  ASSERT_TRUE(Env::Default()->WriteFileAtomically(model, RandomLlamaGguf({.seed = 8})).ok());
  const int port = FreeLoopbackPortForTesting();
  const std::string port_text = std::to_string(port);
  std::vector<std::string> args = {GQA_WORKER_BINARY, "--model", model, "--port", port_text,
                                   "--listen", "127.0.0.1", "--threads", "1"};
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  ASSERT_EQ(posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), environ), 0);

  // Retry the connection every 100 ms while the worker starts (gRPC's
  // default backoff would wait seconds after the first refusal).
  grpc::ChannelArguments retry_fast;
  retry_fast.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  retry_fast.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 100);
  auto channel = grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", port),
                                           grpc::InsecureChannelCredentials(), retry_fast);
  ASSERT_TRUE(channel->WaitForConnected(absl::ToChronoTime(absl::Now() + absl::Seconds(30))))
      << "gqa-worker did not start listening";
  auto stub = v1::Worker::NewStub(channel);
  v1::InfoResponse info;
  grpc::ClientContext info_context;
  ASSERT_TRUE(stub->Info(&info_context, v1::InfoRequest(), &info).ok());
  EXPECT_EQ(info.shape().vocab_size(), 259);

  v1::SubmitRequest request;
  request.set_request_id("r1");
  request.set_tenant("t");
  for (int32_t id : {3, 70, 80, 90}) request.add_prompt_token_ids(id);
  request.set_max_new_tokens(6);
  request.set_ignore_eos(true);
  request.mutable_sampling()->set_temperature(0.0f);
  grpc::ClientContext context;
  auto reader = stub->Submit(&context, request);
  v1::SubmitResponse response;
  int tokens = 0;
  while (reader->Read(&response)) tokens += response.token_ids_size();
  EXPECT_TRUE(reader->Finish().ok());
  EXPECT_EQ(tokens, 6);

  kill(pid, SIGTERM);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(WorkerBinaryTest, AModelItCannotLoadOrABadFlagIsAClearExit) {
  GqaRun missing = RunGqaForTesting(GQA_WORKER_BINARY, {"--model", "/nonexistent/m.gguf",
                                                        "--port", "0"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.err, HasSubstr("cannot load the model"));
  EXPECT_THAT(missing.err, HasSubstr("/nonexistent/m.gguf"));
  GqaRun no_port = RunGqaForTesting(GQA_WORKER_BINARY, {"--fake-model"});
  EXPECT_EQ(no_port.exit_code, 2);
  EXPECT_THAT(no_port.err, HasSubstr("--port is required"));
  GqaRun backend = RunGqaForTesting(GQA_WORKER_BINARY, {"--port", "0", "--backend", "tpu"});
  EXPECT_EQ(backend.exit_code, 2);
  EXPECT_THAT(backend.err, HasSubstr("--backend tpu"));
  // No GPU here (or no CUDA in the build): a clear refusal, exit 1.
  GqaRun cuda = RunGqaForTesting(GQA_WORKER_BINARY, {"--port", "0", "--backend", "cuda"});
  EXPECT_EQ(cuda.exit_code, 1);
  EXPECT_THAT(cuda.err, HasSubstr("--backend cuda: "));
  // What the GPU path does not do yet is refused before looking for a device.
  GqaRun cuda_tp = RunGqaForTesting(GQA_WORKER_BINARY,
                                    {"--port", "0", "--backend", "cuda", "--kvstore", "x:1"});
  EXPECT_EQ(cuda_tp.exit_code, 2);
  EXPECT_THAT(cuda_tp.err, HasSubstr("--backend cuda works with neither"));
}

}  // namespace
}  // namespace gqa

// Tensor-parallel forward passes of tiny random models vs tp=1 (ranks as
// threads, Gloo on loopback; worker/engine/testing/tp_group_runner.h). No
// model file: runs in the sanitizer build too.
#include "gtest/gtest.h"
#include "worker/backend/cpu/cpu_backend.h"
#include "worker/engine/model.h"
#include "worker/engine/testing/tiny_model.h"
#include "worker/engine/testing/tp_group_runner.h"

namespace gqa {
namespace {

TEST(TpForwardTest, TinyGqaModelAtTp2AndTp4MatchesTp1) {
  const SourceFactory tiny = [] { return MakeTinyModel(TinyGqa82Config(), 7); };
  const std::vector<int32_t> prompt = {3, 17, 42, 8, 91, 5, 60, 23, 11, 2, 77, 30, 64, 9, 1, 50, 33};
  const std::vector<RankRun> tp1 = RunGroup(tiny, 1, prompt, 24);
  ASSERT_EQ(tp1[0].output_ids.size(), 24u);
  for (int tp : {2, 4}) {  // 4: each KV head replicated on 2 ranks
    const std::vector<RankRun> group = RunGroup(tiny, tp, prompt, 24);
    // F32 weights and activations: only the order of the sums differs.
    ExpectMatches(tp1, group, 2, 96, prompt.size(), 1e-4);
  }
}

// The device code path (DeviceLikeBackend: weights and activations in
// "backend memory", the all-reduce staged through the host) gives the CPU
// path's tokens and logits bit for bit at tp 2.
TEST(TpForwardTest, DeviceCodePathAtTp2EqualsTheCpuPathExactly) {
  const SourceFactory tiny = [] { return MakeTinyModel(TinyGqa82Config(), 7); };
  const std::vector<int32_t> prompt = {3, 17, 42, 8, 91, 5, 60, 23, 11, 2, 77};
  const std::vector<RankRun> cpu = RunGroup(tiny, 2, prompt, 12);
  const std::vector<RankRun> device = RunGroup(tiny, 2, prompt, 12, KvPolicy::Full(), /*device_like=*/true);
  ASSERT_EQ(cpu[0].output_ids.size(), 12u);
  EXPECT_EQ(device[0].output_ids, cpu[0].output_ids);
  EXPECT_EQ(device[0].logits, cpu[0].logits);
}

TEST(TpForwardTest, TinyModelRefusesTpWithoutItsCommunicator) {
  auto backend = MakeCpuBackend({.num_threads = 1});
  auto source = MakeTinyModel(TinyGqa82Config(), 7);
  auto plan = ShardPlan::Make(source->config(), 2, 1);
  ASSERT_TRUE(plan.ok());
  auto model = Model::Create(std::move(source), *plan, backend.get(), nullptr);
  EXPECT_EQ(model.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(model.status().message().find("communicator"), std::string::npos);
}

}  // namespace
}  // namespace gqa

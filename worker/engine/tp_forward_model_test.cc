// Tensor-parallel forward passes of the default model at tp=3 vs tp=1
// (ranks as threads, Gloo on loopback; worker/engine/testing/tp_group_runner.h).
#include <unistd.h>

#include <cstdlib>

#include "core/log.h"
#include "gtest/gtest.h"
#include "worker/engine/convert/gguf_convert.h"
#include "worker/engine/gguf_tensor_source.h"
#include "worker/engine/model_file.h"
#include "worker/engine/testing/tp_group_runner.h"

namespace gqa {
namespace {

const char* DefaultModelPath() {
  const char* path = std::getenv("GQA_DEFAULT_MODEL");
  return path != nullptr && Env::Default()->FileExists(path) ? path : nullptr;
}

// Fixed in-vocabulary ids (as in gguf_tensor_source_test).
const std::vector<int32_t> kFixedPrompt = {504, 3458, 282, 4649, 314};

// tp=3 vs tp=1 on the GGUF at `path`: `num_tokens` greedy tokens after `prompt`.
size_t CheckTp3(const std::string& path, const std::vector<int32_t>& prompt, int num_tokens,
                double tolerance) {
  const SourceFactory smol = [path]() -> std::unique_ptr<TensorSource> {
    auto source = OpenGgufTensorSource(Env::Default(), path);
    CHECK(source.ok()) << source.status();
    return std::move(*source);
  };
  const std::vector<RankRun> tp1 = RunGroup(smol, 1, prompt, num_tokens);
  EXPECT_EQ(tp1[0].output_ids.size(), static_cast<size_t>(num_tokens));
  const std::vector<RankRun> tp3 = RunGroup(smol, 3, prompt, num_tokens);
  return ExpectMatches(tp1, tp3, 3, 49152, prompt.size(), tolerance);
}

// The shipped Q4_1 file. The CPU quantizes each activation block to 8 bits
// (scale = amax / 127) before every quantized matrix product, so a rounding
// difference of one ulp in a sum can move a quantized activation by a whole
// step in the next layer; over 30 layers that grows to about 1 logit (of
// logits up to ~30; measured 1.03 here, 1.97 on the chat prompt below, hence
// the bound of 3). The greedy tokens agree here; the F32 test below shows
// the sharding itself is exact up to summation order.
TEST(TpForwardTest, DefaultModelAtTp3MatchesTp1) {
  const char* path = DefaultModelPath();
  if (path == nullptr) GTEST_SKIP() << "default model not found (GQA_DEFAULT_MODEL)";
  EXPECT_EQ(CheckTp3(path, kFixedPrompt, 12, 3.0), 12u) << "measured: no divergence here";
}

// The prompt of `gqa generate "What is the capital of France?"` (chat
// template): tp=3 follows tp=1 for 7 tokens, then takes the other side of a
// near-tie (measured; ExpectMatches checks that the gap was within reach of
// the logit difference). Kept as a record that divergence happens and how.
TEST(TpForwardTest, DefaultModelChatPromptAtTp3DivergesOnlyAtANearTie) {
  const char* path = DefaultModelPath();
  if (path == nullptr) GTEST_SKIP() << "default model not found (GQA_DEFAULT_MODEL)";
  auto file = OpenModelFile(Env::Default(), path);
  ASSERT_TRUE(file.ok()) << file.status();
  ASSERT_TRUE(file->chat_template.ok());
  const std::vector<ChatMessage> messages = {{"user", "What is the capital of France?"}};
  auto rendered = file->chat_template->Render(messages, /*add_generation_prompt=*/true);
  ASSERT_TRUE(rendered.ok());
  const std::vector<int32_t> prompt =
      file->tokenizer->Encode(*rendered, file->chat_template->prompt_encode_options());
  CheckTp3(path, prompt, 9, 3.0);  // measured: diverges at output token 7
}

// The same model converted to F32 (no activation quantization): only the
// order of the row-parallel sums differs. Under h2o (4 heavy + 4 recent, so
// it evicts from the 9th token on) the evictions of every rank's heads are
// decided on rank 0 from the group's summed column sums and agree too. (On
// the Q4_1 file an h2o run at tp=3 was measured to leave tp=1's tokens at
// output 16 of 24: its logits differ by up to ~2, see above, and so do the
// attention scores that pick what to evict.)
TEST(TpForwardTest, DefaultModelInF32AtTp3MatchesTp1Closely) {
  const char* path = DefaultModelPath();
  if (path == nullptr) GTEST_SKIP() << "default model not found (GQA_DEFAULT_MODEL)";
  const std::string f32_path =
      ::testing::TempDir() + "/gqa_tp_f32_" + std::to_string(::getpid()) + ".gguf";
  ConvertOptions options;
  options.dtype = GgmlType::kF32;
  ASSERT_TRUE(ConvertGgufFile(Env::Default(), path, f32_path, options).ok());
  EXPECT_EQ(CheckTp3(f32_path, kFixedPrompt, 8, 2e-4), 8u);
  const SourceFactory f32 = [&f32_path]() -> std::unique_ptr<TensorSource> {
    auto source = OpenGgufTensorSource(Env::Default(), f32_path);
    CHECK(source.ok()) << source.status();
    return std::move(*source);
  };
  const KvPolicy h2o = KvPolicy::H2o(4, 4);
  const std::vector<RankRun> tp1 = RunGroup(f32, 1, kFixedPrompt, 16, h2o);
  const std::vector<RankRun> tp3 = RunGroup(f32, 3, kFixedPrompt, 16, h2o);
  ASSERT_EQ(tp1[0].output_ids.size(), 16u);
  EXPECT_EQ(tp3[0].output_ids, tp1[0].output_ids) << "h2o at tp=3";
  const std::vector<RankRun> full = RunGroup(f32, 1, kFixedPrompt, 16);
  EXPECT_NE(full[0].output_ids, tp1[0].output_ids) << "h2o was meant to evict something that matters";
  (void)Env::Default()->DeleteFile(f32_path);
}

}  // namespace
}  // namespace gqa

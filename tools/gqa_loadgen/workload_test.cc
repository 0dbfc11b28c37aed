#include "tools/gqa_loadgen/workload.h"

#include <map>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gqa::loadgen {
namespace {

using ::testing::HasSubstr;

WorkloadOptions Options() {
  WorkloadOptions o;
  o.input = *LengthSpec::Parse("--input-len", "32");
  o.output = *LengthSpec::Parse("--output-len", "8:16");
  o.vocab_size = 49152;
  o.seed = 9;
  return o;
}

TEST(WorkloadTest, LengthsAreFixedOrUniformInRange) {
  absl::StatusOr<Workload> w = Workload::Create(Options());
  ASSERT_TRUE(w.ok()) << w.status();
  std::map<int64_t, int> outputs;
  for (int i = 0; i < 2000; ++i) {
    const RequestSpec spec = w->Make(i);
    EXPECT_EQ(spec.prompt_token_ids.size(), 32u);
    EXPECT_TRUE(spec.prompt_text.empty());
    ++outputs[spec.max_tokens];
    for (int32_t id : spec.prompt_token_ids) {
      EXPECT_GE(id, 256);  // above the special tokens of a large vocabulary
      EXPECT_LT(id, 49152);
    }
  }
  EXPECT_EQ(outputs.size(), 9u);  // 8..16, each drawn
  EXPECT_EQ(outputs.begin()->first, 8);
  EXPECT_EQ(outputs.rbegin()->first, 16);
  for (const auto& [len, count] : outputs) EXPECT_NEAR(count, 2000 / 9.0, 60) << len;
}

TEST(WorkloadTest, RequestIDependsOnlyOnSeedAndIndex) {
  const Workload a = *Workload::Create(Options());
  const Workload b = *Workload::Create(Options());
  EXPECT_EQ(a.Make(17).prompt_token_ids, b.Make(17).prompt_token_ids);
  EXPECT_NE(a.Make(17).prompt_token_ids, a.Make(18).prompt_token_ids);
  WorkloadOptions other = Options();
  other.seed = 10;
  EXPECT_NE(Workload::Create(other)->Make(17).prompt_token_ids, a.Make(17).prompt_token_ids);
}

TEST(WorkloadTest, SharedPrefixesGoToTheirFraction) {
  WorkloadOptions o = Options();
  o.shared_prefix = *SharedPrefixSpec::Parse("4,64,0.75");
  const Workload w = *Workload::Create(o);
  std::map<int32_t, std::vector<int32_t>> prefix_of_group;
  int shared = 0;
  for (int i = 0; i < 4000; ++i) {
    const RequestSpec spec = w.Make(i);
    if (spec.prefix_group < 0) {
      EXPECT_EQ(spec.prompt_token_ids.size(), 32u);
      continue;
    }
    ++shared;
    ASSERT_EQ(spec.prompt_token_ids.size(), 64u + 32u);
    std::vector<int32_t> prefix(spec.prompt_token_ids.begin(), spec.prompt_token_ids.begin() + 64);
    auto [it, inserted] = prefix_of_group.emplace(spec.prefix_group, prefix);
    EXPECT_EQ(it->second, prefix) << "group " << spec.prefix_group;
  }
  EXPECT_NEAR(shared / 4000.0, 0.75, 0.03);
  EXPECT_EQ(prefix_of_group.size(), 4u);
  EXPECT_NE(prefix_of_group[0], prefix_of_group[1]);
}

TEST(WorkloadTest, TextPromptsHaveTheWordCount) {
  WorkloadOptions o = Options();
  o.format = PromptFormat::kText;
  o.shared_prefix = *SharedPrefixSpec::Parse("1,10,1");
  const RequestSpec spec = Workload::Create(o)->Make(0);
  EXPECT_TRUE(spec.prompt_token_ids.empty());
  EXPECT_EQ(std::count(spec.prompt_text.begin(), spec.prompt_text.end(), ' '), 10 + 32 - 1);
}

TEST(WorkloadTest, DatasetEntriesAreReplayedInASeededOrder) {
  WorkloadOptions o = Options();
  for (int i = 0; i < 5; ++i) {
    DatasetEntry e;
    e.prompt_token_ids = {i + 1};
    if (i == 0) e.output_tokens = 99;
    e.line = i + 1;
    o.dataset.push_back(e);
  }
  const Workload w = *Workload::Create(o);
  std::map<int32_t, int> seen;
  for (int i = 0; i < 5; ++i) {
    const RequestSpec spec = w.Make(i);
    ++seen[spec.prompt_token_ids[0]];
    if (spec.prompt_token_ids[0] == 1) {
      EXPECT_EQ(spec.max_tokens, 99);
    } else {
      EXPECT_GE(spec.max_tokens, 8);
      EXPECT_LE(spec.max_tokens, 16);
    }
  }
  EXPECT_EQ(seen.size(), 5u);  // each entry once per pass
  EXPECT_EQ(w.Make(5).prompt_token_ids, w.Make(0).prompt_token_ids);
}

TEST(WorkloadTest, DatasetTokenOutsideTheVocabularyIsNamed) {
  WorkloadOptions o = Options();
  DatasetEntry e;
  e.prompt_token_ids = {1, 60000};
  e.line = 4;
  o.dataset.push_back(e);
  EXPECT_THAT(Workload::Create(o).status().message(),
              HasSubstr("--dataset line 4: token id 60000 is outside the target's vocabulary"));
}

TEST(WorkloadTest, SpecsParseAndRefuse) {
  EXPECT_EQ(LengthSpec::Parse("--input-len", "64:256")->max_tokens, 256);
  EXPECT_THAT(LengthSpec::Parse("--input-len", "256:64").status().message(),
              HasSubstr("--input-len '256:64'"));
  EXPECT_THAT(LengthSpec::Parse("--output-len", "0").status().message(),
              HasSubstr("--output-len '0'"));
  EXPECT_THAT(SharedPrefixSpec::Parse("4,512").status().message(), HasSubstr("--shared-prefix"));
  EXPECT_THAT(SharedPrefixSpec::Parse("4,512,1.5").status().message(),
              HasSubstr("COUNT,LENGTH,FRACTION"));
}

}  // namespace
}  // namespace gqa::loadgen

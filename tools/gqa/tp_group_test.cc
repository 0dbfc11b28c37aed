#include "tools/gqa/tp_group.h"

#include <thread>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "worker/parallel/gloo/gloo_communicator.h"
#include "worker/parallel/gloo/tcp_store.h"

namespace gqa {
namespace {

using ::testing::HasSubstr;

absl::StatusOr<TpFlags> Parse(std::vector<const char*> args) {
  auto flags = CommandLine::Parse(args, absl::MakeConstSpan(kTpFlags));
  if (!flags.ok()) return flags.status();
  return ParseTpFlags(*flags);
}

TEST(TpGroupTest, ParsesAndRefusesTpFlags) {
  auto none = Parse({});
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->tp, 1);
  EXPECT_FALSE(none->launcher());
  auto launcher = Parse({"--tp", "3"});
  ASSERT_TRUE(launcher.ok());
  EXPECT_TRUE(launcher->launcher());
  auto rank = Parse({"--tp", "3", "--rank", "0", "--tp-addr", "10.0.0.1:29400",
                     "--tp-timeout-ms", "500"});
  ASSERT_TRUE(rank.ok()) << rank.status();
  EXPECT_FALSE(rank->launcher());
  EXPECT_EQ(rank->rank_or_zero(), 0);
  EXPECT_EQ(rank->timeout_ms, 500);
  EXPECT_THAT(Parse({"--tp", "0"}).status().message(), HasSubstr("--tp"));
  EXPECT_THAT(Parse({"--tp", "2", "--rank", "1"}).status().message(), HasSubstr("--tp-addr"));
  EXPECT_THAT(Parse({"--tp", "2", "--rank", "2", "--tp-addr", "h:1"}).status().message(),
              HasSubstr("--rank 2"));
  EXPECT_THAT(Parse({"--tp", "2", "--rank", "1", "--tp-addr", "nohost"}).status().message(),
              HasSubstr("HOST:PORT"));
  EXPECT_EQ(Parse({"--tp", "2", "--tp-timeout-ms", "-1"}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Parse({"--tp", "3"})->comm, TpComm::kGloo);
  EXPECT_THAT(Parse({"--tp-comm", "mpi"}).status().message(), HasSubstr("expected gloo or nccl"));
  auto gloo_one = Parse({"--tp-comm", "gloo"});
  ASSERT_TRUE(gloo_one.ok());
  EXPECT_FALSE(gloo_one->forms_group()) << "tp 1 over Gloo is no group";
  auto nccl_one = Parse({"--tp-comm", "nccl"});
#ifdef GQA_HAVE_NCCL
  ASSERT_TRUE(nccl_one.ok()) << nccl_one.status();
  EXPECT_TRUE(nccl_one->forms_group()) << "tp 1 over NCCL is a group of one";
  EXPECT_TRUE(nccl_one->launcher());
#else
  EXPECT_THAT(nccl_one.status().message(), HasSubstr("no NCCL"));
#endif
}

// Two ranks as threads; rank r reports fingerprints[r].
std::vector<absl::Status> CheckModels(const std::vector<std::string>& fingerprints) {
  auto server = TcpStoreServer::Start("127.0.0.1:0");
  EXPECT_TRUE(server.ok());
  std::vector<absl::Status> results(fingerprints.size());
  std::vector<std::thread> threads;
  for (size_t rank = 0; rank < fingerprints.size(); ++rank) {
    threads.emplace_back([&, rank] {
      GlooOptions options;
      options.rank = static_cast<int>(rank);
      options.size = static_cast<int>(fingerprints.size());
      options.store_address = absl::StrCat("127.0.0.1:", (*server)->port());
      options.host_store = false;
      auto comm = GlooCommunicator::Create(options);
      ASSERT_TRUE(comm.ok()) << comm.status();
      results[rank] = CheckSameModel(**comm, fingerprints[rank]);
    });
  }
  for (std::thread& t : threads) t.join();
  return results;
}

TEST(TpGroupTest, RanksWithAnotherModelAreRefused) {
  const std::string a(64, 'a'), b(64, 'b');
  for (const absl::Status& status : CheckModels({a, a, a})) EXPECT_TRUE(status.ok()) << status;
  for (const absl::Status& status : CheckModels({a, b, a})) {
    EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(status.message(), HasSubstr("tp ranks 1 loaded another model"));
  }
}

}  // namespace
}  // namespace gqa

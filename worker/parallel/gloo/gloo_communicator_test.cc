#include "worker/parallel/gloo/gloo_communicator.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <functional>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "worker/parallel/gloo/tcp_store.h"

namespace gqa {
namespace {

using ::testing::HasSubstr;

// A store on a free loopback port, hosted by the test for every rank.
struct Group {
  std::unique_ptr<TcpStoreServer> server;
  GlooOptions Options(int rank, int size, int timeout_ms) const {
    GlooOptions o;
    o.rank = rank;
    o.size = size;
    o.store_address = absl::StrCat("127.0.0.1:", server->port());
    o.host_store = false;
    o.timeout = std::chrono::milliseconds(timeout_ms);
    return o;
  }
};

Group MakeGroup() {
  auto server = TcpStoreServer::Start("127.0.0.1:0");
  EXPECT_TRUE(server.ok()) << server.status();
  return Group{std::move(*server)};
}

// Runs fn(rank, comm) on `size` threads, one communicator each.
void RunRanks(const Group& group, int size, int timeout_ms,
              const std::function<void(int, Communicator&)>& fn) {
  std::vector<std::thread> threads;
  for (int rank = 0; rank < size; ++rank) {
    threads.emplace_back([&, rank] {
      auto comm = GlooCommunicator::Create(group.Options(rank, size, timeout_ms));
      ASSERT_TRUE(comm.ok()) << comm.status();
      fn(rank, **comm);
    });
  }
  for (std::thread& t : threads) t.join();
}

TEST(GlooCommunicatorTest, CollectivesAcrossThreeRanks) {
  Group group = MakeGroup();
  constexpr int kSize = 3;
  std::vector<std::vector<float>> reduced(kSize);
  RunRanks(group, kSize, 5000, [&](int rank, Communicator& comm) {
    EXPECT_EQ(comm.rank(), rank);
    EXPECT_EQ(comm.size(), kSize);
    // All-reduce: 1000 values, some not exactly representable sums.
    std::vector<float> data(1000);
    for (int i = 0; i < 1000; ++i) data[i] = 0.1f * static_cast<float>(rank + 1) + i;
    ASSERT_TRUE(comm.AllReduceSum(absl::MakeSpan(data)).ok());
    for (int i = 0; i < 1000; ++i) {
      ASSERT_NEAR(data[i], 0.6f + 3.0f * i, 1e-3) << i;
    }
    reduced[rank] = data;
    // Above 256 KiB the sum takes Gloo's ring instead of gather-and-add.
    std::vector<float> big(100000, static_cast<float>(rank + 1));
    ASSERT_TRUE(comm.AllReduceSum(absl::MakeSpan(big)).ok());
    EXPECT_EQ(big.front(), 6.0f);
    EXPECT_EQ(big.back(), 6.0f);
    // All-gather: rank r contributes {r, r, r, r}.
    std::vector<uint8_t> mine(4, static_cast<uint8_t>(rank)), all(4 * kSize);
    ASSERT_TRUE(comm.AllGather(mine, absl::MakeSpan(all)).ok());
    for (int r = 0; r < kSize; ++r) {
      EXPECT_EQ(all[4 * r], r);
      EXPECT_EQ(all[4 * r + 3], r);
    }
    // Broadcast from rank 1, fixed and variable length.
    std::vector<uint8_t> fixed(16, static_cast<uint8_t>(rank == 1 ? 7 : 0));
    ASSERT_TRUE(comm.Broadcast(absl::MakeSpan(fixed), 1).ok());
    EXPECT_EQ(fixed, std::vector<uint8_t>(16, 7));
    std::string message = rank == 1 ? std::string(100000, 'x') + "end" : "stale";
    ASSERT_TRUE(BroadcastBytes(comm, message, 1).ok());
    EXPECT_EQ(message.size(), 100003u);
    EXPECT_EQ(message.substr(message.size() - 3), "end");
    std::string empty = rank == 1 ? "" : "stale";
    ASSERT_TRUE(BroadcastBytes(comm, empty, 1).ok());
    EXPECT_EQ(empty, "");
    EXPECT_TRUE(comm.Barrier().ok());
    EXPECT_EQ(comm.Broadcast(absl::MakeSpan(fixed), 3).code(), absl::StatusCode::kInvalidArgument);
  });
  // Every rank holds bitwise the same sums (greedy sampling on every rank agrees).
  for (int rank = 1; rank < kSize; ++rank) {
    EXPECT_EQ(std::memcmp(reduced[0].data(), reduced[rank].data(), 1000 * sizeof(float)), 0);
  }
}

TEST(GlooCommunicatorTest, RendezvousTimesOutWhenARankNeverArrives) {
  Group group = MakeGroup();
  const absl::Time start = absl::Now();
  auto comm = GlooCommunicator::Create(group.Options(0, 2, 500));
  const absl::Duration waited = absl::Now() - start;
  ASSERT_FALSE(comm.ok());
  EXPECT_EQ(comm.status().code(), absl::StatusCode::kDeadlineExceeded) << comm.status();
  EXPECT_LT(waited, absl::Seconds(5));
}

TEST(GlooCommunicatorTest, NoStoreIsDeadlineExceededNamingTheAddress) {
  GlooOptions options;
  options.rank = 1;
  options.size = 2;
  options.store_address = "127.0.0.1:1";  // nobody listens on port 1
  options.timeout = std::chrono::milliseconds(300);
  auto comm = GlooCommunicator::Create(options);
  EXPECT_EQ(comm.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(comm.status().message(), HasSubstr("127.0.0.1:1"));
  options.store_address = "no-port";
  EXPECT_EQ(GlooCommunicator::Create(options).status().code(), absl::StatusCode::kInvalidArgument);
  options.rank = 2;
  EXPECT_EQ(GlooCommunicator::Create(options).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(GlooCommunicatorTest, StalledPeerTimesOutAndBreaksTheGroup) {
  Group group = MakeGroup();
  absl::Notification done;
  RunRanks(group, 2, 500, [&](int rank, Communicator& comm) {
    if (rank == 1) {  // joins, then never takes part in the all-reduce
      done.WaitForNotification();
      return;
    }
    std::vector<float> data(64, 1.0f);
    const absl::Time start = absl::Now();
    absl::Status status = comm.AllReduceSum(absl::MakeSpan(data));
    const absl::Duration waited = absl::Now() - start;
    done.Notify();
    EXPECT_EQ(status.code(), absl::StatusCode::kDeadlineExceeded) << status;
    EXPECT_GE(waited, absl::Milliseconds(400));
    EXPECT_LT(waited, absl::Seconds(5));
    EXPECT_EQ(comm.Barrier().code(), absl::StatusCode::kUnavailable);
  });
}

// A rank in another process, killed while the group is working: the
// survivor's next collective fails with UNAVAILABLE (the socket closes) or
// DEADLINE_EXCEEDED, well within the timeout, never hangs.
TEST(GlooCommunicatorTest, KilledPeerProcessFailsTheNextCollective) {
  Group group = MakeGroup();
  const GlooOptions child_options = group.Options(1, 2, 3000);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto comm = GlooCommunicator::Create(child_options);
    if (!comm.ok()) _exit(2);
    std::vector<float> data(256, 1.0f);
    while ((*comm)->AllReduceSum(absl::MakeSpan(data)).ok()) {
    }
    _exit(3);
  }
  auto comm = GlooCommunicator::Create(group.Options(0, 2, 3000));
  ASSERT_TRUE(comm.ok()) << comm.status();
  std::vector<float> data(256, 1.0f);
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE((*comm)->AllReduceSum(absl::MakeSpan(data)).ok());
  }
  ASSERT_EQ(kill(child, SIGKILL), 0);
  int wstatus = 0;
  ASSERT_EQ(waitpid(child, &wstatus, 0), child);
  EXPECT_TRUE(WIFSIGNALED(wstatus));
  const absl::Time start = absl::Now();
  absl::Status status = (*comm)->AllReduceSum(absl::MakeSpan(data));
  EXPECT_LT(absl::Now() - start, absl::Seconds(4));
  EXPECT_TRUE(status.code() == absl::StatusCode::kUnavailable ||
              status.code() == absl::StatusCode::kDeadlineExceeded)
      << status;
}

}  // namespace
}  // namespace gqa

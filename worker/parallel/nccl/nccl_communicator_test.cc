// NcclCommunicator on real GPUs: skipped where there is none (as on the
// development machines, where this has never run).
#include "worker/parallel/nccl/nccl_communicator.h"

#include <cuda_runtime.h>

#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "worker/parallel/gloo/tcp_store.h"

namespace gqa {
namespace {

int NumGpus() {
  int count = 0;
  // Without a GPU this returns an error (35 here), not 0: any error is none.
  return cudaGetDeviceCount(&count) == cudaSuccess ? count : 0;
}

NcclOptions Options(const TcpStoreServer& server, int rank, int size, int timeout_ms) {
  NcclOptions o;
  o.rank = rank;
  o.size = size;
  o.device = rank;
  o.store_address = absl::StrCat("127.0.0.1:", server.port());
  o.host_store = false;
  o.timeout = std::chrono::milliseconds(timeout_ms);
  return o;
}

TEST(NcclCommunicatorTest, CollectivesOnDeviceAndHostMemory) {
  const int gpus = NumGpus();
  if (gpus == 0) GTEST_SKIP() << "no GPU";
  const int size = std::min(gpus, 2);
  auto server = TcpStoreServer::Start("127.0.0.1:0");
  ASSERT_TRUE(server.ok());
  std::vector<std::thread> threads;
  for (int rank = 0; rank < size; ++rank) {
    threads.emplace_back([&, rank] {
      auto comm = NcclCommunicator::Create(Options(**server, rank, size, 20000));
      ASSERT_TRUE(comm.ok()) << comm.status();
      // Host memory, staged.
      std::vector<float> host(1000, static_cast<float>(rank + 1));
      ASSERT_TRUE((*comm)->AllReduceSum(absl::MakeSpan(host)).ok());
      EXPECT_EQ(host[999], size * (size + 1) / 2.0f);
      // Device memory, in place.
      float* device = nullptr;
      ASSERT_EQ(cudaMalloc(&device, 1000 * sizeof(float)), cudaSuccess);
      std::vector<float> ones(1000, 1.0f);
      cudaMemcpy(device, ones.data(), 1000 * sizeof(float), cudaMemcpyHostToDevice);
      ASSERT_TRUE((*comm)->AllReduceSum(absl::MakeSpan(device, 1000)).ok());
      cudaMemcpy(ones.data(), device, 1000 * sizeof(float), cudaMemcpyDeviceToHost);
      EXPECT_EQ(ones[0], static_cast<float>(size));
      cudaFree(device);
      std::string message = rank == 0 ? "step plan bytes" : "";
      ASSERT_TRUE(BroadcastBytes(**comm, message, 0).ok());
      EXPECT_EQ(message, "step plan bytes");
      std::vector<uint8_t> mine(3, static_cast<uint8_t>(rank)), all(3 * size);
      ASSERT_TRUE((*comm)->AllGather(mine, absl::MakeSpan(all)).ok());
      EXPECT_EQ(all.back(), size - 1);
      EXPECT_TRUE((*comm)->Barrier().ok());
    });
  }
  for (std::thread& t : threads) t.join();
}

TEST(NcclCommunicatorTest, GroupThatNeverFormsTimesOut) {
  if (NumGpus() == 0) GTEST_SKIP() << "no GPU";
  auto server = TcpStoreServer::Start("127.0.0.1:0");
  ASSERT_TRUE(server.ok());
  const absl::Time start = absl::Now();
  auto comm = NcclCommunicator::Create(Options(**server, 0, 2, 2000));  // rank 1 never comes
  EXPECT_EQ(comm.status().code(), absl::StatusCode::kDeadlineExceeded) << comm.status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
}

}  // namespace
}  // namespace gqa

#include "worker/backend/cuda/cuda_device.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gqa::cuda {
namespace {

TEST(CudaDeviceTest, LibrariesLinkAndReportVersions) {
  // Works without a GPU: proves cudart, cuBLAS and NCCL are linked.
  EXPECT_THAT(CudaLibraryVersions(), ::testing::MatchesRegex("cudart=[0-9]+ cublas=[0-9.]+ nccl=[0-9]+"));
}

TEST(CudaDeviceTest, KernelLaunchesOnADevice) {
  auto devices = ListCudaDevices();
  if (!devices.ok()) GTEST_SKIP() << devices.status();
  ASSERT_FALSE(devices->empty());
  auto values = FillOnDeviceForTesting(0, 1000, 2.5f);
  ASSERT_TRUE(values.ok()) << values.status();
  ASSERT_EQ(values->size(), 1000u);
  for (float v : *values) ASSERT_EQ(v, 2.5f);
}

}  // namespace
}  // namespace gqa::cuda

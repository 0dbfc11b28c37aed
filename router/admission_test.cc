#include "router/admission.h"

#include <vector>

#include "gtest/gtest.h"

namespace gqa {
namespace {

TEST(AdmissionTest, RunsAtOnceThenQueuesInOrderThenRefuses) {
  Admission admission({.max_in_flight = 2, .max_queued = 1});
  std::vector<std::string> started;
  const auto start = [&started](std::string id) { return [&started, id] { started.push_back(id); }; };
  ASSERT_TRUE(admission.Enter("a", "k", 0, start("a")).ok());
  ASSERT_TRUE(admission.Enter("b", "k", 0, start("b")).ok());
  ASSERT_TRUE(admission.Enter("c", "k", 0, start("c")).ok());
  EXPECT_EQ(started, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(admission.queued(), 1);
  absl::Status refused = admission.Enter("d", "k", 0, start("d"));
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(admission.Leave("a"));
  EXPECT_EQ(started, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(admission.in_flight(), 2);
  EXPECT_EQ(admission.queued(), 0);
}

TEST(AdmissionTest, AQueuedCallThatLeavesNeverStarts) {
  Admission admission({.max_in_flight = 1, .max_queued = 4});
  int started = 0;
  ASSERT_TRUE(admission.Enter("a", "k", 0, [&] { ++started; }).ok());
  ASSERT_TRUE(admission.Enter("b", "k", 0, [&] { started += 10; }).ok());
  EXPECT_TRUE(admission.Leave("b"));
  EXPECT_TRUE(admission.Leave("a"));
  EXPECT_EQ(started, 1);
  EXPECT_EQ(admission.in_flight(), 0);
  EXPECT_FALSE(admission.Leave("a"));
}

TEST(AdmissionTest, APerKeyLimitCountsRunningAndQueuedCalls) {
  Admission admission({.max_in_flight = 1, .max_queued = 8});
  ASSERT_TRUE(admission.Enter("a", "k1", 2, [] {}).ok());
  ASSERT_TRUE(admission.Enter("b", "k1", 2, [] {}).ok());  // queued
  EXPECT_EQ(admission.Enter("c", "k1", 2, [] {}).code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(admission.Enter("d", "k2", 2, [] {}).ok());  // another key is not limited by k1
  admission.Leave("a");
  EXPECT_TRUE(admission.Enter("e", "k1", 2, [] {}).ok());
}

}  // namespace
}  // namespace gqa

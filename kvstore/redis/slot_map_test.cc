#include "kvstore/redis/slot_map.h"

#include "gtest/gtest.h"

namespace gqa::kvstore {
namespace {

RespValue Range(int first, int last, RespValue host, int port) {
  return RespValue::Array({RespValue::Integer(first), RespValue::Integer(last),
                           RespValue::Array({std::move(host), RespValue::Integer(port),
                                             RespValue::Bulk("id"), RespValue::Array({})}),
                           // A replica, which the map ignores.
                           RespValue::Array({RespValue::Bulk("10.0.0.9"), RespValue::Integer(7),
                                             RespValue::Bulk("rid")})});
}

TEST(SlotMapTest, ParsesClusterSlots) {
  const RespValue reply =
      RespValue::Array({Range(0, 5460, RespValue::Bulk("10.0.0.1"), 7000),
                        Range(5461, 10922, RespValue::Bulk("10.0.0.2"), 7001),
                        Range(10923, 16383, RespValue::Bulk("10.0.0.1"), 7002)});
  absl::StatusOr<SlotMap> map = SlotMap::FromClusterSlots(reply, "seed");
  ASSERT_TRUE(map.ok()) << map.status();
  EXPECT_EQ(map->num_covered_slots(), kNumHashSlots);
  EXPECT_EQ(map->MasterOf(0)->ToString(), "10.0.0.1:7000");
  EXPECT_EQ(map->MasterOf(5460)->ToString(), "10.0.0.1:7000");
  EXPECT_EQ(map->MasterOf(5461)->ToString(), "10.0.0.2:7001");
  EXPECT_EQ(map->MasterOf(16383)->ToString(), "10.0.0.1:7002");
  EXPECT_EQ(map->Masters().size(), 3u);
}

TEST(SlotMapTest, UnknownHostMeansTheRepliersHost) {
  const RespValue reply = RespValue::Array({Range(0, 1, RespValue::Bulk(""), 7000),
                                            Range(2, 3, RespValue::NullBulk(), 7001),
                                            Range(4, 5, RespValue::Bulk("?"), 7002)});
  absl::StatusOr<SlotMap> map = SlotMap::FromClusterSlots(reply, "seed.local");
  ASSERT_TRUE(map.ok()) << map.status();
  EXPECT_EQ(map->MasterOf(0)->ToString(), "seed.local:7000");
  EXPECT_EQ(map->MasterOf(3)->ToString(), "seed.local:7001");
  EXPECT_EQ(map->MasterOf(5)->ToString(), "seed.local:7002");
  EXPECT_FALSE(map->MasterOf(6).has_value());
  EXPECT_EQ(map->num_covered_slots(), 6);
}

TEST(SlotMapTest, AssignMovesOneSlot) {
  SlotMap map;
  EXPECT_FALSE(map.MasterOf(42).has_value());
  map.Assign(42, RedisAddress{"h", 1});
  map.Assign(43, RedisAddress{"h", 1});
  map.Assign(42, RedisAddress{"g", 2});
  EXPECT_EQ(map.MasterOf(42)->ToString(), "g:2");
  EXPECT_EQ(map.MasterOf(43)->ToString(), "h:1");
  EXPECT_EQ(map.num_covered_slots(), 2);
}

TEST(SlotMapTest, RejectsMalformedReplies) {
  const RespValue bad[] = {
      RespValue::Error("ERR This instance has cluster support disabled"),
      RespValue::Bulk("x"),
      RespValue::Array({RespValue::Array({RespValue::Integer(0)})}),
      RespValue::Array({Range(5, 4, RespValue::Bulk("h"), 1)}),
      RespValue::Array({Range(0, 16384, RespValue::Bulk("h"), 1)}),
      RespValue::Array({Range(0, 1, RespValue::Bulk("h"), 0)}),
      RespValue::Array({Range(0, 1, RespValue::Integer(3), 1)}),
  };
  for (const RespValue& reply : bad) {
    EXPECT_EQ(SlotMap::FromClusterSlots(reply, "seed").status().code(),
              absl::StatusCode::kInvalidArgument)
        << reply.DebugString();
  }
}

}  // namespace
}  // namespace gqa::kvstore

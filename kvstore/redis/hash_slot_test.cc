#include "kvstore/redis/hash_slot.h"

#include "gtest/gtest.h"
#include "kvstore/redis/redis_cluster_client.h"

namespace gqa::kvstore {
namespace {

TEST(HashSlotTest, Crc16XmodemCheckValue) {
  EXPECT_EQ(Crc16Xmodem("123456789"), 0x31C3);
  EXPECT_EQ(Crc16Xmodem(""), 0);
}

TEST(HashSlotTest, KnownSlots) {
  EXPECT_EQ(RedisClusterClient::HashSlot("foo"), 12182);
  EXPECT_EQ(RedisClusterClient::HashSlot("bar"), 5061);
  EXPECT_EQ(RedisClusterClient::HashSlot(""), 0);
}

TEST(HashSlotTest, HashTagsShareASlot) {
  EXPECT_EQ(RedisClusterClient::HashSlot("{user1000}.following"),
            RedisClusterClient::HashSlot("{user1000}.followers"));
  EXPECT_EQ(RedisClusterClient::HashSlot("{user1000}.following"),
            RedisClusterClient::HashSlot("user1000"));
}

TEST(HashSlotTest, HashTagRules) {
  EXPECT_EQ(HashTagOf("{user1000}.following"), "user1000");
  EXPECT_EQ(HashTagOf("foo{}{bar}"), "foo{}{bar}");  // empty first tag: whole key
  EXPECT_EQ(HashTagOf("foo{{bar}}zap"), "{bar");     // first '{' to first '}'
  EXPECT_EQ(HashTagOf("foo{bar}{zap}"), "bar");
  EXPECT_EQ(HashTagOf("foo{bar"), "foo{bar");  // no closing brace
  EXPECT_EQ(HashTagOf("}foo{bar}"), "bar");
}

TEST(HashSlotTest, BinaryKeysAreHashedWhole) {
  const std::string key("a\0b", 3);
  EXPECT_NE(RedisClusterClient::HashSlot(key), RedisClusterClient::HashSlot("a"));
  EXPECT_LT(RedisClusterClient::HashSlot(key), kNumHashSlots);
}

}  // namespace
}  // namespace gqa::kvstore

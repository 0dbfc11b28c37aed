#include "core/block_id.h"

#include <string>

#include "gtest/gtest.h"

namespace gqa {
namespace {

std::string U64Le(uint64_t value) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>(value >> (8 * i));
  return out;
}

std::string LengthPrefixed(const std::string& field) { return U64Le(field.size()) + field; }

TEST(Sha256Test, MatchesFipsVectors) {
  EXPECT_EQ(DigestToHex(Sha256("")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(DigestToHex(Sha256("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(DigestToHex(Sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(Sha256Test, IncrementalEqualsOneShot) {
  Sha256Hasher hasher;
  hasher.Update(absl::string_view("ab"));
  hasher.Update(absl::string_view("c"));
  EXPECT_EQ(hasher.Finish(), Sha256("abc"));
}

TEST(BlockIdTest, RootFollowsDocumentedByteLayout) {
  const std::string expected_input =
      LengthPrefixed("gqaserve.block.v1") + LengthPrefixed("model-fp") + LengthPrefixed("acme");
  EXPECT_EQ(RootBlockId("model-fp", "acme"), Sha256(expected_input));
}

TEST(BlockIdTest, ChildFollowsDocumentedByteLayout) {
  const BlockId parent = RootBlockId("m", "t");
  std::string input(parent.begin(), parent.end());
  input += U64Le(2);
  input += std::string("\x01\x00\x00\x00\xff\xff\xff\xff", 8);  // 1 and -1, little-endian
  EXPECT_EQ(ChildBlockId(parent, {1, -1}), Sha256(input));
}

TEST(BlockIdTest, FieldBoundariesAreUnambiguous) {
  EXPECT_NE(RootBlockId("ab", "c"), RootBlockId("a", "bc"));
  EXPECT_NE(RootBlockId("", "x"), RootBlockId("x", ""));
}

TEST(BlockIdTest, TenantsAndModelsGetUnrelatedChains) {
  const std::vector<int32_t> tokens(64, 7);
  const auto a = ChainBlockIds(RootBlockId("model", "tenant-a"), tokens, 16);
  const auto b = ChainBlockIds(RootBlockId("model", "tenant-b"), tokens, 16);
  const auto c = ChainBlockIds(RootBlockId("other-model", "tenant-a"), tokens, 16);
  ASSERT_EQ(a.size(), 4u);
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_NE(a[i], b[i]) << i;
    EXPECT_NE(a[i], c[i]) << i;
  }
}

TEST(BlockIdTest, SharedPrefixSharesIdsUntilFirstDifference) {
  std::vector<int32_t> x(50), y(50);
  for (int i = 0; i < 50; ++i) x[i] = y[i] = 100 + i;
  y[20] = 9;  // inside the second block
  const BlockId root = RootBlockId("m", "t");
  const auto ids_x = ChainBlockIds(root, x, 16);
  const auto ids_y = ChainBlockIds(root, y, 16);
  ASSERT_EQ(ids_x.size(), 3u);  // 50 tokens: three full blocks, two tokens without identity
  EXPECT_EQ(ids_x[0], ids_y[0]);
  EXPECT_NE(ids_x[1], ids_y[1]);
  EXPECT_NE(ids_x[2], ids_y[2]);  // the chain carries the difference forward
}

TEST(BlockIdTest, ChainIsIncremental) {
  std::vector<int32_t> tokens(32);
  for (int i = 0; i < 32; ++i) tokens[i] = i;
  const BlockId root = RootBlockId("m", "t");
  const auto ids = ChainBlockIds(root, tokens, 16);
  ASSERT_EQ(ids.size(), 2u);
  EXPECT_EQ(ids[0], ChildBlockId(root, absl::MakeConstSpan(tokens).subspan(0, 16)));
  EXPECT_EQ(ids[1], ChildBlockId(ids[0], absl::MakeConstSpan(tokens).subspan(16, 16)));
  EXPECT_TRUE(ChainBlockIds(root, absl::MakeConstSpan(tokens).subspan(0, 15), 16).empty());
}

}  // namespace
}  // namespace gqa

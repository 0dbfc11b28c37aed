#include "core/tokenizer/stop_strings.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace gqa {
namespace {

// Feeds `pieces` and returns everything released plus whether it stopped.
std::pair<std::string, bool> Stream(StopStringMatcher matcher, const std::vector<std::string>& pieces) {
  std::string shown;
  for (const std::string& piece : pieces) {
    StopStringMatcher::Result r = matcher.Add(piece);
    shown += r.released;
    if (r.stopped) return {shown, true};
  }
  return {shown + matcher.Flush(), false};
}

TEST(StopStringsTest, StopSplitAcrossPiecesIsNeverShown) {
  auto matcher = StopStringMatcher::Create({"\nUser:"});
  ASSERT_TRUE(matcher.ok());
  StopStringMatcher m = *matcher;
  EXPECT_EQ(m.Add("Hello").released, "Hello");
  auto r = m.Add(" there\nUs");
  EXPECT_EQ(r.released, " there");  // "\nUs" held back
  EXPECT_FALSE(r.stopped);
  r = m.Add("er: next");
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.released, "");
  EXPECT_EQ(r.matched, "\nUser:");
  EXPECT_EQ(m.Add("more").released, "");
  EXPECT_EQ(m.Flush(), "");
}

TEST(StopStringsTest, FalseStartIsReleased) {
  auto [shown, stopped] = Stream(*StopStringMatcher::Create({"STOP"}), {"ST", "OK", " fine"});
  EXPECT_FALSE(stopped);
  EXPECT_EQ(shown, "STOK fine");
}

TEST(StopStringsTest, HeldTextIsFlushedAtTheEnd) {
  auto [shown, stopped] = Stream(*StopStringMatcher::Create({"</end>"}), {"abc</e"});
  EXPECT_FALSE(stopped);
  EXPECT_EQ(shown, "abc</e");
}

TEST(StopStringsTest, EarliestMatchWinsAcrossStops) {
  auto [shown, stopped] = Stream(*StopStringMatcher::Create({"world", "lo"}), {"hello world"});
  EXPECT_TRUE(stopped);
  EXPECT_EQ(shown, "hel");
}

TEST(StopStringsTest, EveryCutOfTheTextGivesTheSameResult) {
  const std::string text = "The answer is 42.\n\nQuestion: why?";
  for (size_t cut = 0; cut <= text.size(); ++cut) {
    auto [shown, stopped] = Stream(*StopStringMatcher::Create({"\n\nQuestion:"}),
                                   {text.substr(0, cut), text.substr(cut)});
    EXPECT_TRUE(stopped) << cut;
    EXPECT_EQ(shown, "The answer is 42.") << cut;
  }
}

TEST(StopStringsTest, RejectsEmptyAndTooMany) {
  EXPECT_EQ(StopStringMatcher::Create({""}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(StopStringMatcher::Create(std::vector<std::string>(17, "x")).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(StopStringMatcher::Create({}).ok());
}

}  // namespace
}  // namespace gqa

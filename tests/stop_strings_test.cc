#include "engine/stop_strings.h"

#include "gtest/gtest.h"

namespace ssm {
namespace {

// Feeds deltas and returns everything released, and whether it stopped.
std::pair<std::string, bool> Feed(StopStrings& s, const std::vector<std::string>& deltas) {
  std::string out;
  for (const std::string& d : deltas) {
    StopStrings::Release r = s.Add(d);
    out += r.text;
    if (r.stopped) return {out, true};
  }
  return {out + s.Flush(), false};
}

TEST(StopStringsTest, StopsBeforeAStopStringSplitAcrossDeltas) {
  StopStrings s({"\n\nUser:"});
  EXPECT_EQ(Feed(s, {"Hello", " there.", "\n", "\nUs", "er:", " more"}),
            std::make_pair(std::string("Hello there."), true));
}

TEST(StopStringsTest, HoldsBackOnlyWhatCouldStartAStopString) {
  StopStrings s({"END"});
  EXPECT_EQ(s.Add("abcE").text, "abc");  // "E" might begin "END"
  EXPECT_EQ(s.Add("x").text, "Ex");      // it did not
  EXPECT_EQ(s.Add("EN").text, "");
  EXPECT_EQ(s.Flush(), "EN");  // generation ended without completing it
}

TEST(StopStringsTest, EarliestOfSeveralWinsAndNothingFollows) {
  StopStrings s({"cd", "bcde"});
  const StopStrings::Release r = s.Add("abcdef");
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.text, "a");  // "bcde" begins before "cd"
  EXPECT_EQ(s.Add("more").text, "");
  EXPECT_EQ(s.Flush(), "");
}

TEST(StopStringsTest, WithoutStopStringsEverythingPasses) {
  StopStrings s({});
  EXPECT_EQ(s.Add("all of it").text, "all of it");
}

}  // namespace
}  // namespace ssm

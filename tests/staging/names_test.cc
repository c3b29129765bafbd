// Names are bytes: the manifest's encoding round-trips every byte string, and display text is
// always valid UTF-8 on one line.
#include "staging/names.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace staging {
namespace {

bool IsOneLine(const std::string& text) {
  for (unsigned char c : text) {
    if (c < 0x20 || c == 0x7F) return false;
  }
  return true;
}

TEST(Names, EncodingRoundTripsRandomByteStrings) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 2000; ++trial) {
    std::string bytes(rng() % 40, '\0');
    for (char& c : bytes) c = static_cast<char>(rng() % 4 ? 1 + rng() % 255 : 0x80 + rng() % 64);
    const std::optional<std::string> decoded = DecodeName(EncodeName(bytes));
    ASSERT_TRUE(decoded.has_value()) << trial;
    ASSERT_EQ(*decoded, bytes) << trial;
  }
}

TEST(Names, Utf8IsKeptAndPercentIsEscaped) {
  EXPECT_EQ(EncodeName("日本語/ünï.txt"), "日本語/ünï.txt");
  EXPECT_EQ(EncodeName("100%"), "100%25");
  EXPECT_EQ(EncodeName("caf\xE9"), "caf%E9");
}

TEST(Names, MalformedUtf8IsEscapedByteByByte) {
  EXPECT_EQ(EncodeName("\xC0\xAF"), "%C0%AF");                // overlong '/'
  EXPECT_EQ(EncodeName("\xED\xA0\x80"), "%ED%A0%80");         // a surrogate
  EXPECT_EQ(EncodeName("\xF4\x90\x80\x80"), "%F4%90%80%80");  // above U+10FFFF
  EXPECT_EQ(EncodeName("\xE6\x97"), "%E6%97");                // cut short
}

TEST(Names, DecodingRefusesBrokenEscapes) {
  EXPECT_FALSE(DecodeName("a%").has_value());
  EXPECT_FALSE(DecodeName("a%4").has_value());
  EXPECT_FALSE(DecodeName("a%zz").has_value());
  EXPECT_EQ(DecodeName("a%41%e9").value(), "aA\xE9");
}

TEST(Names, DisplayTextIsReadableOneLineUtf8) {
  EXPECT_EQ(DisplayText("caf\xE9/日本"), "caf\\xE9/日本");
  EXPECT_EQ(DisplayText("two\nlines\x1B[31m"), "two\\x0Alines\\x1B[31m");
  std::mt19937 rng(3);
  for (int trial = 0; trial < 500; ++trial) {
    std::string bytes(rng() % 30, '\0');
    for (char& c : bytes) c = static_cast<char>(rng());
    const std::string text = DisplayText(bytes);
    EXPECT_EQ(EncodeName(text), [&] {  // valid UTF-8: only '%' changes in the manifest's form
      std::string expected;
      for (char c : text) expected += c == '%' ? std::string("%25") : std::string(1, c);
      return expected;
    }());
    EXPECT_TRUE(IsOneLine(text));
  }
}

}  // namespace
}  // namespace staging

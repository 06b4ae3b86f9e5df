#include "atomr/core/error.hpp"
#include "atomr/core/path.hpp"

#include <gtest/gtest.h>
#include <set>
#include <string>
#include <string_view>

namespace {

using atomr::core::anonymous_name;
using atomr::core::child_path;
using atomr::core::invalid_actor_name_error;
using atomr::core::is_valid_actor_name;
using atomr::core::is_valid_system_name;
using atomr::core::validate_actor_name;
using atomr::core::validate_system_name;

// The message `validate_actor_name` throws for `name`, or "" if it accepts it.
std::string rejection_of(std::string_view name) {
  try {
    validate_actor_name(name);
  } catch (const invalid_actor_name_error& e) {
    EXPECT_EQ(e.where(), atomr::component::core);
    EXPECT_EQ(e.code(), static_cast<int>(atomr::core::errc::invalid_actor_name));
    return e.what();
  }
  return "";
}

// --- actor names -------------------------------------------------------------

TEST(ActorName, PlainNamesAreValid) {
  for (const char* name : {"a", "Z", "0", "worker", "worker-1", "user_42", "a.b.c", "MiXeD123"}) {
    EXPECT_TRUE(is_valid_actor_name(name)) << name;
    EXPECT_NO_THROW(validate_actor_name(name)) << name;
  }
}

TEST(ActorName, EveryAllowedPunctuationCharacterIsValid) {
  const std::string allowed = "-_.*$+:@&=,!~';";
  for (char c : allowed) {
    std::string name = std::string("a") + c + "b";
    EXPECT_TRUE(is_valid_actor_name(name)) << name;
    EXPECT_NO_THROW(validate_actor_name(name)) << name;
  }
  EXPECT_TRUE(is_valid_actor_name("a" + allowed));
}

TEST(ActorName, PunctuationMayLeadTheNameExceptDollar) {
  for (char c : std::string("-_.*+:@&=,!~';")) {
    std::string name = std::string(1, c) + "x";
    EXPECT_TRUE(is_valid_actor_name(name)) << name;
  }
}

TEST(ActorName, EmptyNameIsInvalid) {
  EXPECT_FALSE(is_valid_actor_name(""));
  const std::string why = rejection_of("");
  EXPECT_NE(why.find("empty"), std::string::npos) << why;
}

TEST(ActorName, LeadingDollarIsReservedForGeneratedNames) {
  EXPECT_FALSE(is_valid_actor_name("$a"));
  EXPECT_FALSE(is_valid_actor_name("$"));
  const std::string why = rejection_of("$worker");
  EXPECT_NE(why.find('$'), std::string::npos) << why;
  EXPECT_NE(why.find("$worker"), std::string::npos) << why;
}

TEST(ActorName, DollarInsideTheNameIsValid) {
  EXPECT_TRUE(is_valid_actor_name("a$"));
  EXPECT_TRUE(is_valid_actor_name("a$b$c"));
}

TEST(ActorName, NameOf255BytesIsValidAnd256IsNot) {
  EXPECT_TRUE(is_valid_actor_name(std::string(255, 'a')));
  EXPECT_NO_THROW(validate_actor_name(std::string(255, 'a')));
  EXPECT_FALSE(is_valid_actor_name(std::string(256, 'a')));
  const std::string why = rejection_of(std::string(256, 'a'));
  EXPECT_NE(why.find("255"), std::string::npos) << why;
  EXPECT_LT(why.size(), 200u) << "the message should quote a prefix, not the whole name";
}

TEST(ActorName, WellFormedPercentEscapesAreValid) {
  for (const char* name : {"%20", "a%2Fb", "%41%42%43", "%ff", "%Ff", "x%00", "%aA%Bb"}) {
    EXPECT_TRUE(is_valid_actor_name(name)) << name;
    EXPECT_NO_THROW(validate_actor_name(name)) << name;
  }
}

TEST(ActorName, MalformedPercentEscapesAreInvalid) {
  for (const char* name :
       {"%", "%2", "a%", "a%2", "%g0", "%0g", "%%", "%%41", "a%zz", "%-1", "% 1"}) {
    EXPECT_FALSE(is_valid_actor_name(name)) << name;
    EXPECT_THROW(validate_actor_name(name), invalid_actor_name_error) << name;
  }
}

TEST(ActorName, ForbiddenCharactersAreInvalid) {
  for (const char* name :
       {"a b", "a/b", "/",   "a#b", "a?b", "a\"b", "a<b", "a>b", "a\\b",  "a|b",
        "a^b", "a`b", "a{b", "a}b", "a[b", "a]b",  "a(b", "a)b", "tab\t", "nl\n"}) {
    EXPECT_FALSE(is_valid_actor_name(name)) << name;
    EXPECT_THROW(validate_actor_name(name), invalid_actor_name_error) << name;
  }
}

TEST(ActorName, NonAsciiBytesAreInvalid) {
  EXPECT_FALSE(is_valid_actor_name("caf\xc3\xa9"));
  EXPECT_FALSE(is_valid_actor_name("\xff"));
  EXPECT_FALSE(is_valid_actor_name("\x80name"));
}

TEST(ActorName, EmbeddedNulIsInvalid) {
  using namespace std::string_view_literals;
  EXPECT_FALSE(is_valid_actor_name("a\0b"sv));
  EXPECT_FALSE(is_valid_actor_name("\0"sv));
  EXPECT_THROW(validate_actor_name("ab\0"sv), invalid_actor_name_error);
}

TEST(ActorName, RejectionNamesThePositionOfTheBadCharacter) {
  const std::string why = rejection_of("abc def");
  EXPECT_NE(why.find("abc def"), std::string::npos) << why;
  EXPECT_NE(why.find(" 3 "), std::string::npos) << why;
  const std::string why_escape = rejection_of("ab%zz");
  EXPECT_NE(why_escape.find(" 2 "), std::string::npos) << why_escape;
}

TEST(ActorName, IsValidAndValidateAgreeOnEveryByte) {
  for (int c = 0; c < 256; ++c) {
    const std::string name = std::string("x") + char(c) + "y";
    bool threw = false;
    try {
      validate_actor_name(name);
    } catch (const invalid_actor_name_error&) {
      threw = true;
    }
    EXPECT_EQ(is_valid_actor_name(name), !threw) << "byte " << c;
  }
}

// --- system names ------------------------------------------------------------

TEST(SystemName, LettersDigitsDashesAndUnderscoresAreValid) {
  for (const char* name :
       {"a", "A", "0", "sys", "my-system", "my_system", "Sys2", "9lives", "a-_-b"}) {
    EXPECT_TRUE(is_valid_system_name(name)) << name;
    EXPECT_NO_THROW(validate_system_name(name)) << name;
  }
}

TEST(SystemName, MustStartWithALetterOrDigit) {
  for (const char* name : {"-sys", "_sys", "$sys", ".sys"}) {
    EXPECT_FALSE(is_valid_system_name(name)) << name;
    EXPECT_THROW(validate_system_name(name), invalid_actor_name_error) << name;
  }
}

TEST(SystemName, PunctuationAllowedInActorNamesIsNotAllowed) {
  for (const char* name :
       {"a.b", "a*b", "a$b", "a+b", "a:b", "a@b", "a%20", "a b", "a/b", "caf\xc3\xa9"}) {
    EXPECT_FALSE(is_valid_system_name(name)) << name;
    EXPECT_THROW(validate_system_name(name), invalid_actor_name_error) << name;
  }
}

TEST(SystemName, EmptyAndOverlongNamesAreInvalid) {
  EXPECT_FALSE(is_valid_system_name(""));
  EXPECT_THROW(validate_system_name(""), invalid_actor_name_error);
  EXPECT_TRUE(is_valid_system_name(std::string(255, 's')));
  EXPECT_FALSE(is_valid_system_name(std::string(256, 's')));
  EXPECT_THROW(validate_system_name(std::string(256, 's')), invalid_actor_name_error);
}

TEST(SystemName, RejectionCarriesTheInvalidActorNameCodeAndTheName) {
  try {
    validate_system_name("bad name");
    FAIL() << "expected a throw";
  } catch (const atomr::error& e) {
    EXPECT_EQ(e.where(), atomr::component::core);
    EXPECT_EQ(e.code(), static_cast<int>(atomr::core::errc::invalid_actor_name));
    EXPECT_NE(std::string(e.what()).find("bad name"), std::string::npos) << e.what();
  }
}

// --- child paths and generated names -----------------------------------------

TEST(ChildPath, JoinsParentAndNameWithASlash) {
  EXPECT_EQ(child_path("akka://sys/user", "worker"), "akka://sys/user/worker");
  EXPECT_EQ(child_path("akka://sys/user/a", "$b"), "akka://sys/user/a/$b");
  EXPECT_EQ(child_path("", "x"), "/x");
}

TEST(ChildPath, KeepsEscapesVerbatim) {
  EXPECT_EQ(child_path("akka://s/user", "a%2Fb"), "akka://s/user/a%2Fb");
}

TEST(AnonymousName, FollowsTheDocumentedSequence) {
  EXPECT_EQ(anonymous_name(0), "$a");
  EXPECT_EQ(anonymous_name(1), "$b");
  EXPECT_EQ(anonymous_name(25), "$z");
  EXPECT_EQ(anonymous_name(26), "$ab");
  EXPECT_EQ(anonymous_name(27), "$bb");
  EXPECT_EQ(anonymous_name(26 * 26 - 1), "$zz");
  EXPECT_EQ(anonymous_name(26 * 26), "$aab");
}

TEST(AnonymousName, FirstTenThousandNamesAreUnique) {
  std::set<std::string> seen;
  for (unsigned long long n = 0; n < 10000; ++n) {
    const std::string name = anonymous_name(n);
    EXPECT_TRUE(seen.insert(name).second) << "duplicate " << name << " for " << n;
  }
  EXPECT_EQ(seen.size(), 10000u);
}

TEST(AnonymousName, GeneratedNamesAreReservedButOtherwiseWellFormed) {
  for (unsigned long long n : {0ull, 1ull, 25ull, 26ull, 9999ull, 123456789ull, ~0ull}) {
    const std::string name = anonymous_name(n);
    ASSERT_GE(name.size(), 2u);
    EXPECT_EQ(name.front(), '$');
    // Reserved: users cannot pick it, so it never clashes with a user name...
    EXPECT_FALSE(is_valid_actor_name(name)) << name;
    // ...but everything after the `$` is made of ordinary name characters.
    EXPECT_TRUE(is_valid_actor_name(name.substr(1))) << name;
    EXPECT_LE(name.size(), 255u);
  }
}

TEST(AnonymousName, LargestNumberStillGetsAShortName) {
  // 2^64 - 1 has 14 base-26 digits.
  EXPECT_EQ(anonymous_name(~0ull).size(), 1u + 14u);
}

} // namespace

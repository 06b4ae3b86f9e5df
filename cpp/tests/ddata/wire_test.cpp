#include "atomr/ddata/counters.hpp"
#include "atomr/ddata/maps.hpp"
#include "atomr/ddata/registers.hpp"
#include "atomr/ddata/sets.hpp"
#include "atomr/ddata/wire.hpp"

#include <gtest/gtest.h>
#include <random>
#include <set>
#include <string>

namespace {

using namespace atomr::ddata;

/// One populated value of every type.
std::vector<std::unique_ptr<replicated_data>> samples() {
  std::vector<std::unique_ptr<replicated_data>> out;
  auto g = std::make_unique<gcounter>();
  g->increment("a", 3);
  g->increment("b", 1ull << 40);
  out.push_back(std::move(g));
  auto pn = std::make_unique<pncounter>();
  pn->increment("a", 3);
  pn->decrement("b", 9);
  out.push_back(std::move(pn));
  auto gs = std::make_unique<gset>();
  gs->add("x");
  gs->add(std::string("\0y", 2));
  out.push_back(std::move(gs));
  auto os = std::make_unique<orset>();
  os->add("A", "x");
  os->add("B", "y");
  os->remove("x");
  orset other;
  other.add("C", "z");
  other.add("C", "w");
  auto delta = other.delta(); // a cloud-bearing context once merged out of order
  os->merge(*delta);
  out.push_back(std::move(os));
  out.push_back(std::make_unique<lww_register>("bytes", -5, "node"));
  auto f = std::make_unique<flag>();
  f->enable();
  out.push_back(std::move(f));
  auto m = std::make_unique<ormap>(type_tag::lww_map);
  lww_map inner;
  inner.put("A", "ik", "iv", 7, "A");
  m->put("A", "k", inner);
  out.push_back(std::move(m));
  auto lm = std::make_unique<lww_map>();
  lm->put("A", "k", "v", 3, "w");
  out.push_back(std::move(lm));
  auto pm = std::make_unique<pncounter_map>();
  pm->increment("A", "k", 2, "A");
  pm->decrement("B", "j", 1, "B");
  out.push_back(std::move(pm));
  auto mm = std::make_unique<ormultimap>();
  mm->add("A", "k", "x");
  mm->add("A", "j", "y");
  out.push_back(std::move(mm));
  out.push_back(std::make_unique<deleted_data>());
  for (auto& v : out)
    v->reset_delta();
  return out;
}

TEST(Wire, EveryTypeRoundTrips) {
  for (const auto& v : samples()) {
    const std::string blob = to_bytes(*v);
    EXPECT_EQ(peek_type(blob.data(), blob.size()), v->tag());
    auto back = from_bytes(blob);
    ASSERT_NE(back, nullptr);
    EXPECT_EQ(back->tag(), v->tag()) << type_name(v->tag());
    EXPECT_TRUE(back->equals(*v)) << type_name(v->tag());
    EXPECT_EQ(to_bytes(*back), blob) << type_name(v->tag());
  }
}

TEST(Wire, EmptyValuesRoundTrip) {
  for (int raw = 1; raw <= max_type_tag; ++raw) {
    const auto tag = static_cast<type_tag>(raw);
    auto v = tag == type_tag::ormap ? std::make_unique<ormap>(type_tag::orset) : make_empty(tag);
    auto back = from_bytes(to_bytes(*v));
    EXPECT_TRUE(back->equals(*v)) << type_name(tag);
  }
}

TEST(Wire, TheHeaderIsChecked) {
  const std::string blob = to_bytes(flag{});
  std::string bad = blob;
  bad[0] = 'X';
  EXPECT_THROW(from_bytes(bad), malformed_data_error);
  bad = blob;
  bad[5] = 9; // version
  EXPECT_THROW(from_bytes(bad), malformed_data_error);
  bad = blob;
  bad[6] = 99; // type tag
  EXPECT_THROW(from_bytes(bad), malformed_data_error);
  EXPECT_THROW(from_bytes(std::string()), malformed_data_error);
  EXPECT_THROW(from_bytes(blob + "x"), malformed_data_error);
}

TEST(Wire, AHugeLengthIsRejectedBeforeAllocating) {
  std::string blob = to_bytes(gset{});
  // Replace the element count (last 8 bytes, little endian) with 2^62.
  blob.replace(blob.size() - 8, 8, std::string("\0\0\0\0\0\0\0\x40", 8));
  EXPECT_THROW(from_bytes(blob), malformed_data_error);
}

TEST(Wire, ADotOutsideTheContextIsRejected) {
  orset s;
  s.add("A", "x");
  std::string blob = to_bytes(s);
  // The first 'A' is the version vector's node id: renamed to 'B', the
  // context no longer covers the entry's dot (A, 1).
  const auto pos = blob.find('A');
  ASSERT_NE(pos, std::string::npos);
  blob[pos] = 'B';
  EXPECT_THROW(from_bytes(blob), malformed_data_error);
}

TEST(Wire, EveryTruncationIsAnErrorNeverACrash) {
  for (const auto& v : samples()) {
    const std::string blob = to_bytes(*v);
    for (std::size_t n = 0; n < blob.size(); ++n) {
      EXPECT_THROW(from_bytes(blob.data(), n), malformed_data_error)
          << type_name(v->tag()) << " cut at " << n;
    }
  }
}

TEST(Wire, RandomCorruptionNeverCrashes) {
  std::mt19937 rng(42);
  std::size_t rejected = 0;
  std::size_t accepted = 0;
  for (const auto& v : samples()) {
    const std::string blob = to_bytes(*v);
    for (int round = 0; round < 400; ++round) {
      std::string bad = blob;
      const int flips = 1 + static_cast<int>(rng() % 4);
      for (int i = 0; i < flips; ++i) {
        const std::size_t at = 8 + rng() % (bad.size() > 8 ? bad.size() - 8 : 1);
        if (at < bad.size())
          bad[at] = static_cast<char>(rng() & 0xFF);
      }
      try {
        auto back = from_bytes(bad);
        ++accepted;
        // Whatever decodes is a well-formed value: it re-encodes and merges.
        auto copy = from_bytes(to_bytes(*back));
        copy->merge(*back);
      } catch (const malformed_data_error&) {
        ++rejected;
      } catch (const type_mismatch_error&) {
        ++rejected;
      }
    }
  }
  EXPECT_GT(rejected, 0u);
  EXPECT_GT(accepted + rejected, 0u);
}

TEST(Wire, RandomBytesAreRejected) {
  std::mt19937 rng(7);
  for (int round = 0; round < 2000; ++round) {
    std::string junk(rng() % 64, '\0');
    for (auto& c : junk)
      c = static_cast<char>(rng() & 0xFF);
    if (round % 2 == 0 && junk.size() >= 8) {
      junk.replace(0, 4, "ACRD");
      junk[4] = 0;
      junk[5] = 1;
      junk[6] = static_cast<char>(1 + rng() % max_type_tag);
      junk[7] = 1;
    }
    try {
      auto v = from_bytes(junk);
      (void)to_bytes(*v);
    } catch (const malformed_data_error&) {
    }
  }
  SUCCEED();
}

TEST(TypeTags, EveryNumberUpToTheMaximumIsATagWithItsOwnName) {
  std::set<std::string> names;
  EXPECT_FALSE(is_type_tag(0));
  for (unsigned raw = 1; raw <= max_type_tag; ++raw) {
    ASSERT_TRUE(is_type_tag(static_cast<std::uint8_t>(raw))) << raw;
    const std::string name = type_name(static_cast<type_tag>(raw));
    EXPECT_NE(name, "unknown") << raw;
    EXPECT_TRUE(names.insert(name).second) << "duplicate name " << name;
  }
  EXPECT_FALSE(is_type_tag(max_type_tag + 1));
}

TEST(Wire, CanonicalElementEncodingsAreTheOnesPythonWrites) {
  using namespace std::string_literals;
  for (const std::string& e :
       {"i0"s, "i1"s, "i-17"s, "s"s, "sx\xc3\xa9"s, "s\xed\xa0\x80"s, "b\xff"s, "T"s, "F"s, "n"s,
        "f\x7f\xf8\0\0\0\0\0\0"s, "f\0\0\0\0\0\0\0\0"s, "t"s, "t\0\0\0\x02i1"s,
        "z\0\0\0\x02i1\0\0\0\x02i2"s, "cm\0payload"s})
    EXPECT_TRUE(is_canonical_element(e)) << e;
  for (const std::string& e : {""s,
                               "?"s,
                               "i"s,
                               "i01"s,
                               "i+1"s,
                               "i1_0"s,
                               "i-0"s,
                               "i 1"s,
                               "s\xff"s,
                               "s\xc0\x80"s,
                               "s\xf4\x90\x80\x80"s,
                               "Tx"s,
                               "f\x80\0\0\0\0\0\0\0"s,
                               "f\x7f\xf8\0\0\0\0\0\x01"s,
                               "f\0"s,
                               "t\0\0\0\x05i1"s,
                               "z\0\0\0\x02i2\0\0\0\x02i1"s,
                               "z\0\0\0\x02i1\0\0\0\x02i1"s,
                               "c\0payload"s,
                               "i"s + std::string(4301, '1')})
    EXPECT_FALSE(is_canonical_element(e)) << e;
  std::string deep = "i1";
  for (int i = 0; i < max_element_depth; ++i)
    deep = "t\0\0"s + static_cast<char>(deep.size() >> 8) + static_cast<char>(deep.size()) + deep;
  EXPECT_TRUE(is_canonical_element(deep));
  deep = "t\0\0"s + static_cast<char>(deep.size() >> 8) + static_cast<char>(deep.size()) + deep;
  EXPECT_FALSE(is_canonical_element(deep));
}

TEST(Wire, TheCanonicalCheckRejectsBlobsWithOtherElementsAndKeys) {
  gset s;
  s.add("i1");
  s.add("i01");
  const std::string blob = to_bytes(s);
  EXPECT_NO_THROW(from_bytes(blob));
  EXPECT_THROW(from_bytes(blob.data(), blob.size(), element_check::canonical),
               malformed_data_error);
  orset o;
  o.add("A", "s\xff");
  const std::string set_blob = to_bytes(o);
  EXPECT_THROW(from_bytes(set_blob.data(), set_blob.size(), element_check::canonical),
               malformed_data_error);
  ormultimap m;
  m.add("A", "sk", "i+1");
  const std::string map_blob = to_bytes(m);
  EXPECT_THROW(from_bytes(map_blob.data(), map_blob.size(), element_check::canonical),
               malformed_data_error);
  gset good;
  good.add("i1");
  good.add("sx");
  const std::string good_blob = to_bytes(good);
  EXPECT_EQ(to_bytes(*from_bytes(good_blob.data(), good_blob.size(), element_check::canonical)),
            good_blob);
}

} // namespace

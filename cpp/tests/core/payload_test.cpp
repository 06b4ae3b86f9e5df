#include "atomr/core/envelope.hpp"
#include "atomr/core/payload.hpp"
#include "test_support.hpp"

#include <atomic>
#include <gtest/gtest.h>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace {

using atomr::core::envelope;
using atomr::core::payload;
using atomr::core::test::counted_of;
using atomr::core::test::make_counted;

// A hook-only counter for payloads that do not own heap memory.
std::atomic<int> plain_releases{0};
void count_plain_release(void*) noexcept {
  plain_releases.fetch_add(1, std::memory_order_relaxed);
}

TEST(Payload, IsMoveOnly) {
  static_assert(!std::is_copy_constructible_v<payload>);
  static_assert(!std::is_copy_assignable_v<payload>);
  static_assert(std::is_nothrow_move_constructible_v<payload>);
  static_assert(std::is_nothrow_move_assignable_v<payload>);
  static_assert(std::is_nothrow_destructible_v<payload>);
  SUCCEED();
}

TEST(Payload, DefaultConstructedIsEmpty) {
  payload p;
  EXPECT_FALSE(p);
  EXPECT_EQ(p.get(), nullptr);
}

TEST(Payload, MakeOwnsAHeapCopyOfAnInt) {
  int original = 42;
  payload p = payload::make<int>(original);
  ASSERT_TRUE(p);
  EXPECT_NE(p.get(), &original);
  EXPECT_EQ(*static_cast<int*>(p.get()), 42);
}

TEST(Payload, MakeOwnsAHeapCopyOfAString) {
  std::string original = "a message long enough to live on the heap, not in the SSO buffer";
  payload p = payload::make<std::string>(original);
  ASSERT_TRUE(p);
  EXPECT_EQ(*static_cast<std::string*>(p.get()), original);
  EXPECT_EQ(original, "a message long enough to live on the heap, not in the SSO buffer");
}

TEST(Payload, DestructorCallsTheReleaseHookExactlyOnce) {
  std::atomic<std::uint64_t> releases{0};
  {
    payload p = make_counted(1, releases);
    EXPECT_EQ(releases.load(), 0u);
  }
  EXPECT_EQ(releases.load(), 1u);
}

TEST(Payload, MoveConstructionTransfersOwnershipWithoutReleasing) {
  std::atomic<std::uint64_t> releases{0};
  {
    payload a = make_counted(7, releases);
    void* raw = a.get();
    payload b(std::move(a));
    EXPECT_FALSE(a); // NOLINT(bugprone-use-after-move): the moved-from state is specified
    EXPECT_EQ(a.get(), nullptr);
    EXPECT_EQ(b.get(), raw);
    EXPECT_EQ(counted_of(b), 7u);
    EXPECT_EQ(releases.load(), 0u);
  }
  EXPECT_EQ(releases.load(), 1u);
}

TEST(Payload, MoveAssignmentReleasesThePreviousValueExactlyOnce) {
  std::atomic<std::uint64_t> old_releases{0};
  std::atomic<std::uint64_t> new_releases{0};
  {
    payload target = make_counted(1, old_releases);
    payload source = make_counted(2, new_releases);
    target = std::move(source);
    EXPECT_EQ(old_releases.load(), 1u);
    EXPECT_EQ(new_releases.load(), 0u);
    EXPECT_FALSE(source); // NOLINT(bugprone-use-after-move)
    EXPECT_EQ(counted_of(target), 2u);
  }
  EXPECT_EQ(old_releases.load(), 1u);
  EXPECT_EQ(new_releases.load(), 1u);
}

TEST(Payload, MoveAssignmentIntoAnEmptyPayloadReleasesNothing) {
  std::atomic<std::uint64_t> releases{0};
  {
    payload target;
    target = make_counted(3, releases);
    EXPECT_EQ(releases.load(), 0u);
    EXPECT_EQ(counted_of(target), 3u);
  }
  EXPECT_EQ(releases.load(), 1u);
}

TEST(Payload, SelfMoveAssignmentKeepsTheValue) {
  std::atomic<std::uint64_t> releases{0};
  {
    payload p = make_counted(9, releases);
    payload& alias = p;
    p = std::move(alias);
    ASSERT_TRUE(p);
    EXPECT_EQ(counted_of(p), 9u);
    EXPECT_EQ(releases.load(), 0u);
  }
  EXPECT_EQ(releases.load(), 1u);
}

TEST(Payload, ResetReleasesOnceAndLeavesItEmpty) {
  std::atomic<std::uint64_t> releases{0};
  payload p = make_counted(1, releases);
  p.reset();
  EXPECT_FALSE(p);
  EXPECT_EQ(releases.load(), 1u);
  p.reset();
  EXPECT_EQ(releases.load(), 1u);
}

TEST(Payload, DetachHandsOwnershipToTheCallerWithoutReleasing) {
  std::atomic<std::uint64_t> releases{0};
  void* raw = nullptr;
  {
    payload p = make_counted(5, releases);
    raw = p.detach();
    EXPECT_FALSE(p);
    EXPECT_EQ(p.get(), nullptr);
  }
  EXPECT_EQ(releases.load(), 0u);
  ASSERT_NE(raw, nullptr);
  EXPECT_EQ(static_cast<atomr::core::test::counted_value*>(raw)->value, 5u);
  // The caller now owns it; hand it back to a fresh payload to free it.
  { payload again(raw, &atomr::core::test::release_counted); }
  EXPECT_EQ(releases.load(), 1u);
}

TEST(Payload, DetachedPayloadCanBeReusedForANewValue) {
  std::atomic<std::uint64_t> releases{0};
  {
    payload p = make_counted(1, releases);
    payload(p.detach(), &atomr::core::test::release_counted).reset();
    p = make_counted(2, releases);
    EXPECT_EQ(counted_of(p), 2u);
    EXPECT_EQ(releases.load(), 1u);
  }
  EXPECT_EQ(releases.load(), 2u);
}

TEST(Payload, NullPointerIsNeverPassedToTheHook) {
  plain_releases.store(0);
  { payload p(nullptr, &count_plain_release); }
  EXPECT_EQ(plain_releases.load(), 0);
}

TEST(Payload, PointerWithoutHookIsNotReleased) {
  int local = 3;
  {
    payload p(&local, nullptr);
    EXPECT_TRUE(p);
    EXPECT_EQ(p.get(), &local);
  }
  EXPECT_EQ(local, 3); // still ours, and nothing crashed trying to free it
}

TEST(Payload, HookReceivesTheStoredPointer) {
  static void* seen = nullptr;
  int local = 0;
  {
    payload p(&local, [](void* ptr) noexcept { seen = ptr; });
  }
  EXPECT_EQ(seen, &local);
}

TEST(Payload, ManyMovesThroughAGrowingVectorReleaseEachValueOnce) {
  std::atomic<std::uint64_t> releases{0};
  constexpr std::uint64_t n = 1000;
  {
    std::vector<payload> v;
    for (std::uint64_t i = 0; i < n; ++i)
      v.push_back(make_counted(i, releases)); // reallocations move every element
    EXPECT_EQ(releases.load(), 0u);
    for (std::uint64_t i = 0; i < n; ++i)
      EXPECT_EQ(counted_of(v[i]), i);
    v.erase(v.begin(), v.begin() + 10);
    EXPECT_EQ(releases.load(), 10u);
  }
  EXPECT_EQ(releases.load(), n);
}

TEST(Envelope, DefaultsToAnEmptyUserMessage) {
  envelope e;
  EXPECT_FALSE(e.message);
  EXPECT_FALSE(e.sender);
  EXPECT_FALSE(e.reply);
  EXPECT_EQ(e.kind, 0u);
  EXPECT_EQ(e.tag, 0u);
}

TEST(Envelope, MovingAnEnvelopeMovesAllThreePayloads) {
  std::atomic<std::uint64_t> releases{0};
  {
    envelope a;
    a.message = make_counted(1, releases);
    a.sender = make_counted(2, releases);
    a.reply = make_counted(3, releases);
    a.kind = 4;
    a.tag = 0xfeedfacecafebeefull;
    envelope b = std::move(a);
    EXPECT_FALSE(a.message); // NOLINT(bugprone-use-after-move)
    EXPECT_FALSE(a.sender);
    EXPECT_FALSE(a.reply);
    EXPECT_EQ(counted_of(b.message), 1u);
    EXPECT_EQ(counted_of(b.sender), 2u);
    EXPECT_EQ(counted_of(b.reply), 3u);
    EXPECT_EQ(b.kind, 4u);
    EXPECT_EQ(b.tag, 0xfeedfacecafebeefull);
    EXPECT_EQ(releases.load(), 0u);
  }
  EXPECT_EQ(releases.load(), 3u);
}

TEST(Envelope, MoveAssignmentReleasesTheOverwrittenPayloads) {
  std::atomic<std::uint64_t> old_releases{0};
  std::atomic<std::uint64_t> new_releases{0};
  {
    envelope target;
    target.message = make_counted(1, old_releases);
    target.sender = make_counted(2, old_releases);
    envelope source;
    source.message = make_counted(3, new_releases);
    target = std::move(source);
    EXPECT_EQ(old_releases.load(), 2u);
    EXPECT_EQ(counted_of(target.message), 3u);
    EXPECT_FALSE(target.sender);
  }
  EXPECT_EQ(old_releases.load(), 2u);
  EXPECT_EQ(new_releases.load(), 1u);
}

} // namespace

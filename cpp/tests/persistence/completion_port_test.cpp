#include "atomr/persistence/completion_port.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>
#include <poll.h>
#include <thread>

namespace {

using namespace atomr::persistence;

bool readable(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, timeout_ms) == 1;
}

TEST(CompletionPort, PostsFromAnotherThreadWakeTheFdAndDrainInOrder) {
  completion_port port;
  EXPECT_FALSE(readable(port.fd(), 0));
  std::thread t([&] {
    for (std::uint64_t i = 1; i <= 3; ++i) {
      write_outcome o;
      o.rejections = {std::string(i, 'r')};
      port.post(i, std::move(o));
    }
  });
  t.join();
  ASSERT_TRUE(readable(port.fd(), 5000));
  auto done = port.drain();
  ASSERT_EQ(done.size(), 3u);
  EXPECT_EQ(done[0].first, 1u);
  EXPECT_EQ(done[2].second.rejections.at(0), "rrr");
  EXPECT_FALSE(readable(port.fd(), 0));
  EXPECT_TRUE(port.drain().empty());
}

TEST(CompletionPort, SubmitWritePostsTheJournalsOutcome) {
  auto port = std::make_shared<completion_port>();
  auto j = make_in_memory_journal();
  submit_write(*j,
               {atomr::persistence::testing::make_batch("a", 1, 1),
                atomr::persistence::testing::make_batch("a", 3, 3)},
               port, 77);
  ASSERT_TRUE(readable(port->fd(), 5000));
  auto done = port->drain();
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].first, 77u);
  EXPECT_FALSE(done[0].second.failed);
  EXPECT_EQ(done[0].second.rejections.at(0), "");
  EXPECT_NE(done[0].second.rejections.at(1), "");
}

} // namespace

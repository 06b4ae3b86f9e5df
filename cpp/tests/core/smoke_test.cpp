#include <gtest/gtest.h>

#include "atomr/core/cell.hpp"
#include "atomr/core/dispatcher.hpp"

TEST(Cell, FirstMessageSchedulesIdleActor) {
  atomr::dead_letter_sink sink;
  atomr::pinned_dispatcher d;
  auto* c = new atomr::cell(d, "akka://t/user/a", sink);
  atomr::envelope e;
  e.message = atomr::payload::make<int>(7);
  EXPECT_EQ(c->tell(e), atomr::enqueue_result::accepted_wake);
  EXPECT_EQ(c->state(), atomr::cell_state::scheduled);
  atomr::cell* r = d.pop_ready();
  ASSERT_EQ(r, c);
  r->release();
  c->release();
}

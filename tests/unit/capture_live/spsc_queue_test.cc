// Bounded SPSC ring (capture/spsc_queue.h): never blocks, drops are counted,
// order is kept, slots are reused.
#include <catch2/catch.hpp>

#include <thread>
#include <vector>

#include "capture/spsc_queue.h"

using provaudit::capture::SpscQueue;

TEST_CASE("spsc queue: capacity rounds up to a power of two") {
  CHECK(SpscQueue<int>(1).capacity() == 2);
  CHECK(SpscQueue<int>(5).capacity() == 8);
  CHECK(SpscQueue<int>(1024).capacity() == 1024);
}

TEST_CASE("spsc queue: bounded; a push into a full ring is refused and counted") {
  SpscQueue<int> q(4);
  for (int i = 0; i < 4; ++i) {
    int* slot = q.beginPush();
    REQUIRE(slot != nullptr);
    *slot = i;
    q.commitPush();
  }
  CHECK(q.size() == 4);
  CHECK(q.beginPush() == nullptr);
  CHECK(q.beginPush() == nullptr);
  CHECK(q.drops() == 2);
  // Consuming one frees one slot.
  REQUIRE(q.front() != nullptr);
  CHECK(*q.front() == 0);
  q.pop();
  int* slot = q.beginPush();
  REQUIRE(slot != nullptr);
  *slot = 4;
  q.commitPush();
  CHECK(q.drops() == 2);
  for (int expect = 1; expect <= 4; ++expect) {
    REQUIRE(q.front() != nullptr);
    CHECK(*q.front() == expect);
    q.pop();
  }
  CHECK(q.front() == nullptr);
  CHECK(q.empty());
}

TEST_CASE("spsc queue: slots are reused, buffers keep their capacity") {
  SpscQueue<std::vector<int>> q(2);
  auto* s = q.beginPush();
  REQUIRE(s != nullptr);
  s->assign(1000, 7);
  q.commitPush();
  q.front()->clear();  // the consumer uses it; its capacity stays
  q.pop();
  q.beginPush();
  q.commitPush();
  q.pop();
  auto* again = q.beginPush();  // wrapped around to the first slot
  REQUIRE(again != nullptr);
  CHECK(again->capacity() >= 1000);
}

TEST_CASE("spsc queue: two threads, order kept, every item received or counted as dropped") {
  constexpr std::uint64_t ITEMS = 500000;
  SpscQueue<std::uint64_t> q(256);
  std::uint64_t received = 0, last = 0;
  bool ordered = true;
  std::thread consumer([&] {
    std::uint64_t seen = 0;
    while (seen < ITEMS) {
      std::uint64_t* v = q.front();
      if (v == nullptr) {
        std::this_thread::yield();
        continue;
      }
      if (*v == ITEMS) break;  // end marker
      if (received > 0 && *v <= last) ordered = false;
      last = *v;
      ++received;
      ++seen;
      q.pop();
    }
  });
  for (std::uint64_t i = 0; i < ITEMS; ++i) {
    if (std::uint64_t* slot = q.beginPush()) {
      *slot = i;
      q.commitPush();
    }
  }
  const std::uint64_t item_drops = q.drops();
  // The end marker must get through: retry until there is room.
  for (;;) {
    if (std::uint64_t* slot = q.beginPush()) {
      *slot = ITEMS;
      q.commitPush();
      break;
    }
    std::this_thread::yield();
  }
  consumer.join();
  CHECK(ordered);
  // Every item was either received or refused (and counted), none lost quietly.
  CHECK(received + item_drops == ITEMS);
}

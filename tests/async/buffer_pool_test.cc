// Tests for async/buffer_pool.h: a pool hands out each of its slots once
// until it comes back; a slot comes back only when its Buffer and every
// Bytes and slice made from it are gone, on the pool's thread or any
// other; tasks that find the pool empty wait and are served first come,
// first served, and leave the line when aborted; the pool's storage lives
// on until its last buffer goes; acquiring, giving back and freezing
// allocate nothing. Checked step by step against a model over seeded
// random operations.
#include "async/buffer_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "async/buffer.h"
#include "async/channel.h"
#include "async/join_handle.h"
#include "async/runtime.h"
#include "async/task.h"
#include "rt/world.h"
#include "tests/async/allocation_counter.h"

namespace {

using keel::Buffer;
using keel::BufferPool;
using keel::Bytes;
using keel::async::JoinHandle;
using keel::async::Runtime;
using keel::async::Task;
using keel::internal::BufferAccess;
using keel::internal::PoolAccess;

keel::World empty_world() { return keel::WorldBuilder().build(); }

std::size_t slot_of(const BufferPool& pool, const Buffer& b) { return PoolAccess::index_of(pool, b).value(); }

// --- Shape and exhaustion -------------------------------------------------------------------

TEST(BufferPool, HoldsCountBuffersOfBufferSizeAllFree) {
  BufferPool pool(1500, 8);
  EXPECT_EQ(pool.size(), 8u);
  EXPECT_EQ(pool.buffer_size(), 1500u);
  EXPECT_EQ(pool.available(), 8u);
  std::optional<Buffer> b = pool.try_acquire();
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->capacity(), 1500u);
  EXPECT_EQ(b->size(), 0u);
  EXPECT_EQ(b->spare_capacity().size(), 1500u);
  EXPECT_EQ(pool.available(), 7u);
}

TEST(BufferPool, RejectsAZeroSizeOrCountAndCountsPastTheSlotIndex) {
  EXPECT_THROW(BufferPool(0, 4), std::length_error);
  EXPECT_THROW(BufferPool(64, 0), std::length_error);
  EXPECT_THROW(BufferPool(64, std::size_t{1} << 32), std::length_error);
  EXPECT_THROW(BufferPool(std::numeric_limits<std::size_t>::max(), 2), std::length_error);
  EXPECT_THROW(BufferPool(std::size_t{1} << 40, std::size_t{1} << 30), std::length_error);
}

TEST(BufferPool, TryAcquireHandsOutEverySlotOnceThenNothing) {
  BufferPool pool(64, 4);
  std::vector<Buffer> out;
  std::set<std::size_t> slots;
  for (int i = 0; i < 4; ++i) {
    std::optional<Buffer> b = pool.try_acquire();
    ASSERT_TRUE(b.has_value());
    slots.insert(slot_of(pool, *b));
    out.push_back(std::move(*b));
    EXPECT_EQ(pool.available(), static_cast<std::size_t>(3 - i));
  }
  EXPECT_EQ(slots, (std::set<std::size_t>{0, 1, 2, 3}));
  EXPECT_FALSE(pool.try_acquire().has_value());
  EXPECT_FALSE(pool.try_acquire().has_value());
  out.pop_back();
  EXPECT_EQ(pool.available(), 1u);
  EXPECT_TRUE(pool.try_acquire().has_value());
}

TEST(BufferPool, TheBufferGivenBackLastIsTheNextOneOutEmpty) {
  BufferPool pool(64, 4);
  Buffer a = *pool.try_acquire();
  Buffer b = *pool.try_acquire();
  a.append("stale contents");
  const std::size_t slot = slot_of(pool, a);
  a = Buffer();
  Buffer again = *pool.try_acquire();
  EXPECT_EQ(slot_of(pool, again), slot);  // warm in cache
  EXPECT_EQ(again.size(), 0u);           // the old bytes are not contents
  EXPECT_EQ(again.spare_capacity().size(), 64u);
}

TEST(BufferPool, TheSlotsLieInOnePageAlignedRegionAtAFixedStride) {
  BufferPool pool(1000, 5);
  const PoolAccess::Region r = PoolAccess::region(pool);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(r.base) % 4096, 0u);
  EXPECT_EQ(r.stride % 64, 0u);
  EXPECT_GE(r.stride, 1000u);
  EXPECT_EQ(r.count, 5u);
  EXPECT_EQ(r.buffer_size, 1000u);
  std::vector<Buffer> out;
  while (std::optional<Buffer> b = pool.try_acquire()) {
    const std::size_t slot = slot_of(pool, *b);
    EXPECT_EQ(BufferAccess::data(*b), r.base + slot * r.stride);
    out.push_back(std::move(*b));
  }
  EXPECT_EQ(out.size(), 5u);

  BufferPool other(1000, 1);
  Buffer theirs = *other.try_acquire();
  Buffer heap(1000);
  EXPECT_FALSE(PoolAccess::index_of(pool, theirs).has_value());
  EXPECT_FALSE(PoolAccess::index_of(pool, heap).has_value());
  EXPECT_FALSE(PoolAccess::index_of(pool, Buffer()).has_value());
  out[2].append("x");
  const std::size_t slot = slot_of(pool, out[2]);
  Bytes frozen = std::move(out[2]).freeze();
  EXPECT_EQ(PoolAccess::index_of(pool, frozen), slot);
  EXPECT_EQ(PoolAccess::index_of(pool, frozen.slice(0, 1)), slot);
  EXPECT_FALSE(PoolAccess::index_of(pool, Bytes::copy_of("x")).has_value());
}

TEST(BufferPool, MovingThePoolKeepsItsBuffersAndWaitersWithIt) {
  BufferPool first(64, 2);
  Buffer out = *first.try_acquire();
  BufferPool second = std::move(first);
  EXPECT_EQ(second.available(), 1u);
  out = Buffer();  // returns to the pool, now `second`
  EXPECT_EQ(second.available(), 2u);
  BufferPool third(32, 1);
  Buffer from_third = *third.try_acquire();
  third = std::move(second);  // the 32-byte pool goes; its buffer outlives it
  EXPECT_EQ(third.size(), 2u);
  EXPECT_EQ(third.buffer_size(), 64u);
  from_third.append("still usable");
  EXPECT_EQ(from_third.view(), "still usable");
}

// --- Slots come back with their last owner ------------------------------------------------------

TEST(BufferPool, ASlotComesBackOnlyWhenTheLastBytesOrSliceGoes) {
  BufferPool pool(64, 2);
  Buffer buf = *pool.try_acquire();
  buf.append("order 7: buy 10");
  Bytes whole = std::move(buf).freeze();
  EXPECT_EQ(pool.available(), 1u);
  Bytes copy = whole;
  Bytes qty = whole.slice(13, 2);
  whole = Bytes();
  copy = Bytes();
  EXPECT_EQ(pool.available(), 1u);  // the slice still reads the slot
  Buffer other = *pool.try_acquire();
  EXPECT_FALSE(pool.try_acquire().has_value());
  other.append("overwrite");
  EXPECT_EQ(qty.view(), "10");
  qty = Bytes();
  EXPECT_EQ(pool.available(), 1u);
  EXPECT_TRUE(pool.try_acquire().has_value());
}

TEST(BufferPool, AFrozenPoolBufferOfNothingGoesStraightBack) {
  BufferPool pool(64, 1);
  Bytes none = std::move(*pool.try_acquire()).freeze();
  EXPECT_TRUE(none.empty());
  EXPECT_EQ(pool.available(), 1u);
}

// --- No allocation --------------------------------------------------------------------------

TEST(BufferPool, AcquireGiveBackFreezeAndSliceAllocateNothing) {
  BufferPool pool(256, 4);
  const std::size_t before = keel_test::allocations();
  const std::size_t freed = keel_test::deallocations();
  for (int round = 0; round < 1000; ++round) {
    Buffer a = *pool.try_acquire();
    Buffer b = *pool.try_acquire();
    a.append("payload");
    Bytes frozen = std::move(a).freeze();
    Bytes head = frozen.slice(0, 3);
    Bytes copy = frozen;
    b = Buffer();
    EXPECT_EQ(pool.available(), 3u);
  }
  EXPECT_EQ(keel_test::allocations(), before);
  EXPECT_EQ(keel_test::deallocations(), freed);
  EXPECT_EQ(pool.available(), 4u);
}

// Two tasks pass one buffer back and forth: every acquire but the first
// waits, and the hand-over wakes the waiter.
Task<void> relay(BufferPool& pool, int rounds, int& served) {
  for (int i = 0; i < rounds; ++i) {
    Buffer b = co_await pool.acquire();
    ++served;
    co_await keel::async::yield_now();
  }
}

Task<void> two_relays(BufferPool& pool, int rounds, int& served) {
  JoinHandle<void> a = keel::async::spawn(relay(pool, rounds, served));
  JoinHandle<void> b = keel::async::spawn(relay(pool, rounds, served));
  co_await a;
  co_await b;
}

TEST(BufferPool, WaitingInAcquireAndBeingWokenAllocateNothing) {
  keel::World world = empty_world();
  Runtime rt(world);
  BufferPool pool(128, 1);
  int served = 0;
  rt.block_on(two_relays(pool, 100, served));  // warms the runtime's queues
  const std::size_t before = keel_test::allocations();
  rt.block_on(two_relays(pool, 1000, served));
  EXPECT_EQ(keel_test::allocations(), before);
  EXPECT_EQ(served, 2200);
  EXPECT_EQ(pool.available(), 1u);
}

// --- Waiting ----------------------------------------------------------------------------------

TEST(BufferPool, AcquireTakesAFreeBufferWithoutWaiting) {
  BufferPool pool(64, 1);
  keel::internal::AcquireBuffer acquire = pool.acquire();
  ASSERT_TRUE(acquire.await_ready());  // no task needed: it does not suspend
  Buffer b = acquire.await_resume();
  EXPECT_EQ(b.capacity(), 64u);
  EXPECT_EQ(pool.available(), 0u);
}

TEST(BufferPool, AcquireOutsideATaskThrowsWhenItWouldWait) {
  BufferPool pool(64, 1);
  Buffer held = *pool.try_acquire();
  {
    keel::internal::AcquireBuffer acquire = pool.acquire();
    ASSERT_FALSE(acquire.await_ready());
    EXPECT_THROW(acquire.await_suspend(std::noop_coroutine()), std::logic_error);
  }
  held = Buffer();
  EXPECT_EQ(pool.available(), 1u);  // the failed wait left nothing in line
}

Task<void> take_in_turn(BufferPool& pool, int id, std::vector<int>& order) {
  Buffer b = co_await pool.acquire();
  order.push_back(id);
  co_await keel::async::yield_now();  // holds it one turn; the next waiter gets it as it goes
}

TEST(BufferPool, WaitingTasksAreServedFirstComeFirstServed) {
  keel::World world = empty_world();
  Runtime rt(world);
  BufferPool pool(64, 1);
  std::vector<int> order;
  rt.block_on([](BufferPool& pool, std::vector<int>& order) -> Task<void> {
    Buffer held = *pool.try_acquire();
    std::vector<JoinHandle<void>> waiters;
    for (int id = 0; id < 4; ++id) waiters.push_back(keel::async::spawn(take_in_turn(pool, id, order)));
    co_await keel::async::yield_now();  // all four wait, in this order
    EXPECT_EQ(pool.available(), 0u);
    held = Buffer();  // goes to waiter 0
    EXPECT_EQ(pool.available(), 0u);
    EXPECT_FALSE(pool.try_acquire().has_value());  // no barging past the line
    for (JoinHandle<void>& w : waiters) co_await w;
  }(pool, order));
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3}));
  EXPECT_EQ(pool.available(), 1u);
}

TEST(BufferPool, AbortedWaitersLeaveTheLine) {
  keel::World world = empty_world();
  Runtime rt(world);
  BufferPool pool(64, 1);
  std::vector<int> order;
  rt.block_on([](BufferPool& pool, std::vector<int>& order) -> Task<void> {
    Buffer held = *pool.try_acquire();
    std::vector<JoinHandle<void>> waiters;
    for (int id = 0; id < 5; ++id) waiters.push_back(keel::async::spawn(take_in_turn(pool, id, order)));
    co_await keel::async::yield_now();
    waiters[0].abort();  // the first in line
    waiters[2].abort();  // one in the middle
    waiters[4].abort();  // the last
    held = Buffer();
    co_await waiters[1];
    co_await waiters[3];
  }(pool, order));
  EXPECT_EQ(order, (std::vector<int>{1, 3}));
  EXPECT_EQ(pool.available(), 1u);
}

TEST(BufferPool, AWaiterAbortedAfterItWasHandedABufferPassesItOn) {
  keel::World world = empty_world();
  Runtime rt(world);
  BufferPool pool(64, 1);
  std::vector<int> order;
  rt.block_on([](BufferPool& pool, std::vector<int>& order) -> Task<void> {
    Buffer held = *pool.try_acquire();
    JoinHandle<void> first = keel::async::spawn(take_in_turn(pool, 0, order));
    JoinHandle<void> second = keel::async::spawn(take_in_turn(pool, 1, order));
    co_await keel::async::yield_now();
    held = Buffer();  // handed to the first waiter, which has not run yet
    first.abort();    // its frame goes with the buffer unclaimed
    EXPECT_FALSE(pool.try_acquire().has_value());
    co_await second;
  }(pool, order));
  EXPECT_EQ(order, (std::vector<int>{1}));
  EXPECT_EQ(pool.available(), 1u);
}

Task<void> wait_expecting_the_pool_to_go(BufferPool& pool, bool& threw) {
  try {
    Buffer b = co_await pool.acquire();
  } catch (const std::logic_error& e) {
    threw = std::string_view(e.what()).find("destroyed while a task waited") != std::string_view::npos;
  }
}

TEST(BufferPool, DestroyingThePoolEndsItsWaitersWithAnError) {
  keel::World world = empty_world();
  Runtime rt(world);
  auto pool = std::make_unique<BufferPool>(64, 1);
  bool first_threw = false;
  bool second_threw = false;
  Buffer held = *pool->try_acquire();
  rt.block_on([](std::unique_ptr<BufferPool>& pool, bool& a, bool& b) -> Task<void> {
    JoinHandle<void> w1 = keel::async::spawn(wait_expecting_the_pool_to_go(*pool, a));
    JoinHandle<void> w2 = keel::async::spawn(wait_expecting_the_pool_to_go(*pool, b));
    co_await keel::async::yield_now();
    pool.reset();
    co_await w1;
    co_await w2;
  }(pool, first_threw, second_threw));
  EXPECT_TRUE(first_threw);
  EXPECT_TRUE(second_threw);
  held.append("still mine");  // the buffer outlives its pool
  EXPECT_EQ(held.view(), "still mine");
}

// --- Threads ------------------------------------------------------------------------------------

TEST(BufferPool, IsUsedOnTheThreadThatBuiltIt) {
  BufferPool pool(64, 2);
  int refused = 0;
  std::thread other([&] {
    try {
      static_cast<void>(pool.try_acquire());
    } catch (const std::logic_error&) {
      ++refused;
    }
    try {
      static_cast<void>(pool.available());
    } catch (const std::logic_error&) {
      ++refused;
    }
    try {
      keel::internal::AcquireBuffer acquire = pool.acquire();
      static_cast<void>(acquire.await_ready());
    } catch (const std::logic_error&) {
      ++refused;
    }
  });
  other.join();
  EXPECT_EQ(refused, 3);
  EXPECT_EQ(pool.available(), 2u);
}

TEST(BufferPool, BuffersAndBytesGivenBackOnAnotherThreadReturnToThePool) {
  BufferPool pool(64, 3);
  Buffer a = *pool.try_acquire();
  Buffer b = *pool.try_acquire();
  b.append("frozen");
  Bytes frozen = std::move(b).freeze();
  Bytes slice = frozen.slice(0, 3);
  EXPECT_EQ(pool.available(), 1u);
  std::thread other([a = std::move(a), frozen = std::move(frozen)]() mutable {
    a = Buffer();
    frozen = Bytes();
  });
  other.join();
  EXPECT_EQ(pool.available(), 2u);  // the slice still holds the frozen slot
  std::thread last([slice = std::move(slice)]() mutable { EXPECT_EQ(slice.view(), "fro"); });
  last.join();
  EXPECT_EQ(pool.available(), 3u);
  std::vector<Buffer> all;
  while (std::optional<Buffer> buf = pool.try_acquire()) all.push_back(std::move(*buf));
  EXPECT_EQ(all.size(), 3u);
}

// A task fills pooled buffers and sends them, frozen, to a worker thread
// that reads and drops them. With 2 buffers for 2,000 messages, the task
// keeps waiting in acquire() until the worker gives one back; each wake
// comes from the worker's thread.
Task<int> produce(BufferPool& pool, keel::async::spsc::Sender<Bytes>& tx, int messages) {
  int waits = 0;
  for (int i = 0; i < messages; ++i) {
    if (pool.available() == 0) ++waits;
    Buffer b = co_await pool.acquire();
    b.append("message ");
    b.append(std::to_string(i));
    Bytes frozen = std::move(b).freeze();
    if (!co_await tx.send(std::move(frozen))) break;
  }
  co_return waits;
}

TEST(BufferPool, BuffersGivenBackOnAnotherThreadWakeAWaitingTask) {
  keel::World world = empty_world();
  Runtime rt(world);
  BufferPool pool(32, 2);
  constexpr int kMessages = 2000;
  auto [tx, rx] = keel::async::spsc::channel<Bytes>(4);
  std::atomic<int> in_order{0};
  std::thread worker([rx = std::move(rx), &in_order]() mutable {
    int next = 0;
    while (true) {
      std::expected<Bytes, keel::async::TryRecvError> m = rx.try_recv();
      if (!m) {
        if (m.error() == keel::async::TryRecvError::closed) break;
        std::this_thread::yield();
        continue;
      }
      if (m->view() == "message " + std::to_string(next)) ++next;
    }  // each Bytes goes back to the pool here, on the worker's thread
    in_order.store(next);
  });
  const int waits = rt.block_on(produce(pool, tx, kMessages));
  { auto done = std::move(tx); }  // closes the channel: the worker ends
  worker.join();
  EXPECT_EQ(in_order.load(), kMessages);
  EXPECT_GT(waits, 0);
  EXPECT_EQ(pool.available(), 2u);
}

// --- Lifetime -----------------------------------------------------------------------------------

TEST(BufferPool, BuffersOutliveTheirPoolAndTheLastOneFreesItsStorage) {
  std::optional<BufferPool> pool;
  pool.emplace(64, 4);
  Buffer a = *pool->try_acquire();
  Buffer b = *pool->try_acquire();
  b.append("outlives the pool");
  Bytes frozen = std::move(b).freeze();
  Bytes word = frozen.slice(0, 8);
  // No test macro between the counts: a failing one would allocate.
  const std::size_t start = keel_test::deallocations();
  pool.reset();
  const std::size_t after_pool = keel_test::deallocations();  // two slots are still out
  a.append("writable");
  const bool written = a.view() == "writable";
  const bool readable = word.view() == "outlives";
  a = Buffer();
  frozen = Bytes();
  const std::size_t after_two = keel_test::deallocations();
  const bool still_readable = word.view() == "outlives";
  word = Bytes();
  const std::size_t after_last = keel_test::deallocations();
  EXPECT_EQ(after_pool, start);
  EXPECT_TRUE(written);
  EXPECT_TRUE(readable);
  EXPECT_EQ(after_two, start);
  EXPECT_TRUE(still_readable);
  EXPECT_EQ(after_last, start + 1);  // the pool's one allocation
}

TEST(BufferPool, APoolWithNothingOutFreesItsStorageAtOnce) {
  const std::size_t allocated = keel_test::allocations();
  const std::size_t freed = keel_test::deallocations();
  { BufferPool pool(64, 4); }
  const std::size_t after_allocations = keel_test::allocations();
  const std::size_t after_frees = keel_test::deallocations();
  EXPECT_EQ(after_allocations, allocated + 1);  // one allocation for the whole pool
  EXPECT_EQ(after_frees, freed + 1);
}

TEST(BufferPool, ABufferOutlivingItsPoolMayBeGivenBackOnAnotherThread) {
  auto pool = std::make_unique<BufferPool>(64, 2);
  Buffer a = *pool->try_acquire();
  a.append("late");
  Bytes late = std::move(a).freeze();
  pool.reset();
  std::thread other([late = std::move(late)]() mutable {
    EXPECT_EQ(late.view(), "late");
    late = Bytes();  // the last owner: frees the storage on this thread
  });
  other.join();
}

// --- Seeded differential test -------------------------------------------------------------------

// Random acquires, freezes, copies, slices and drops, checked after every
// step against a model that counts the owners of each slot: available()
// equals the slots nobody owns, an acquired slot is one nobody owns (no
// reuse while referenced), and every live Bytes still reads what was
// written for it. KEEL_BUFFER_SEEDS raises the number of seeds.
TEST(BufferPool, SeededOperationsMatchASlotOwnerModel) {
  int seeds = 200;
  if (const char* env = std::getenv("KEEL_BUFFER_SEEDS")) seeds = std::atoi(env);
  constexpr std::size_t kSlots = 6;
  constexpr std::size_t kSize = 24;
  for (int seed = 0; seed < seeds; ++seed) {
    std::mt19937 rng(static_cast<std::uint32_t>(seed));
    BufferPool pool(kSize, kSlots);
    std::vector<int> owners(kSlots, 0);  // the model
    struct HeldBuffer {
      Buffer buffer;
      std::size_t slot;
      std::string text;
    };
    struct HeldBytes {
      Bytes bytes;
      std::size_t slot;
      std::string text;
    };
    std::vector<HeldBuffer> buffers;
    std::vector<HeldBytes> bytes;
    int serial = 0;
    auto pick = [&](std::size_t n) { return static_cast<std::size_t>(rng() % n); };
    for (int step = 0; step < 300; ++step) {
      const unsigned op = rng() % 6;
      if (op == 0) {
        std::optional<Buffer> b = pool.try_acquire();
        std::size_t unowned = 0;
        for (int o : owners) unowned += o == 0 ? 1 : 0;
        ASSERT_EQ(b.has_value(), unowned > 0) << "seed " << seed << " step " << step;
        if (b) {
          const std::size_t slot = slot_of(pool, *b);
          ASSERT_EQ(owners[slot], 0) << "a slot was handed out while owned; seed " << seed;
          owners[slot] = 1;
          std::string text = "#" + std::to_string(serial++) + std::string(pick(8), '.');
          b->append(text);
          buffers.push_back({std::move(*b), slot, std::move(text)});
        }
      } else if (op == 1 && !buffers.empty()) {
        const std::size_t i = pick(buffers.size());
        --owners[buffers[i].slot];
        buffers.erase(buffers.begin() + static_cast<std::ptrdiff_t>(i));
      } else if (op == 2 && !buffers.empty()) {
        const std::size_t i = pick(buffers.size());
        HeldBuffer h = std::move(buffers[i]);
        buffers.erase(buffers.begin() + static_cast<std::ptrdiff_t>(i));
        const std::size_t keep = pick(h.text.size() + 1);
        Bytes frozen = std::move(h.buffer).freeze(keep);
        if (keep == 0) {
          --owners[h.slot];  // freezing nothing gives the slot back
          ASSERT_TRUE(frozen.empty());
        } else {
          bytes.push_back({std::move(frozen), h.slot, h.text.substr(0, keep)});
        }
      } else if (op == 3 && !bytes.empty()) {
        const HeldBytes& h = bytes[pick(bytes.size())];
        HeldBytes copy{h.bytes, h.slot, h.text};
        ++owners[copy.slot];
        bytes.push_back(std::move(copy));
      } else if (op == 4 && !bytes.empty()) {
        const HeldBytes& h = bytes[pick(bytes.size())];
        const std::size_t offset = pick(h.text.size());
        const std::size_t length = 1 + pick(h.text.size() - offset);
        HeldBytes part{h.bytes.slice(offset, length), h.slot, h.text.substr(offset, length)};
        ++owners[part.slot];
        bytes.push_back(std::move(part));
      } else if (op == 5 && !bytes.empty()) {
        const std::size_t i = pick(bytes.size());
        --owners[bytes[i].slot];
        bytes.erase(bytes.begin() + static_cast<std::ptrdiff_t>(i));
      }
      std::size_t unowned = 0;
      for (int o : owners) unowned += o == 0 ? 1 : 0;
      ASSERT_EQ(pool.available(), unowned) << "seed " << seed << " step " << step;
      for (const HeldBytes& h : bytes) {
        ASSERT_EQ(h.bytes.view(), h.text) << "seed " << seed << " step " << step;
        ASSERT_EQ(h.bytes.use_count(), static_cast<std::size_t>(owners[h.slot]));
      }
      for (const HeldBuffer& h : buffers) ASSERT_EQ(h.buffer.view(), h.text);
    }
  }
}

}  // namespace

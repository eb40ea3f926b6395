// Buffer storage between threads, for ThreadSanitizer (patterns 36 and 37
// in docs/soundness.md): Bytes counts raised and dropped on several
// threads; pool blocks given back on worker threads through the return
// stack while the pool's thread takes them and its tasks wait; a pool
// destroyed while other threads give its buffers back. A weakened memory
// order shows as a data race on a slot's bytes or on a header; storage
// freed twice or early shows under ASan.
#include <gtest/gtest.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <latch>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "async/buffer.h"
#include "async/buffer_pool.h"
#include "async/channel.h"
#include "async/join_handle.h"
#include "async/runtime.h"
#include "async/task.h"
#include "rt/world.h"

namespace {

using keel::Buffer;
using keel::BufferPool;
using keel::Bytes;
using keel::async::Task;

// Writes i into every byte of the buffer's spare capacity (plain memory a
// reader on another thread checks).
void stamp(Buffer& b, std::uint8_t i) {
  for (std::byte& x : b.spare_capacity()) x = static_cast<std::byte>(i);
  b.commit(b.spare_capacity().size());
}
bool stamped(const Bytes& b, std::uint8_t i) {
  for (std::byte x : b.span()) {
    if (x != static_cast<std::byte>(i)) return false;
  }
  return true;
}

TEST(BufferStorageThreads, BytesCopiesReadAndDroppedOnManyThreadsFreeTheirBlockOnce) {
  constexpr int kThreads = 4;
  for (int round = 0; round < 100; ++round) {
    Buffer b(256);
    stamp(b, static_cast<std::uint8_t>(round));
    Bytes shared = std::move(b).freeze();
    std::latch start(kThreads + 1);
    std::atomic<int> good{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&start, &good, round, t, copy = shared]() mutable {
        start.arrive_and_wait();
        Bytes more = copy;  // counts raised and dropped while others drop theirs
        Bytes part = more.slice(static_cast<std::size_t>(t), 16);
        copy = Bytes();
        if (stamped(part, static_cast<std::uint8_t>(round))) good.fetch_add(1);
      });
    }
    start.arrive_and_wait();
    shared = Bytes();
    for (std::thread& t : threads) t.join();
    EXPECT_EQ(good.load(), kThreads);
  }
}

// The pool's thread runs a task that stamps pooled buffers and sends them,
// frozen, round robin to worker threads; each worker checks and drops
// them, so every block returns through the stack, and the task waits in
// acquire() whenever the workers hold all of them.
Task<std::uint64_t> stamp_and_send(BufferPool& pool, std::vector<keel::async::spsc::Sender<Bytes>>& to, int messages) {
  std::uint64_t waited = 0;
  for (int i = 0; i < messages; ++i) {
    if (pool.available() == 0) ++waited;
    Buffer b = co_await pool.acquire();
    stamp(b, static_cast<std::uint8_t>(i));
    Bytes frozen = std::move(b).freeze();
    if (!co_await to[static_cast<std::size_t>(i) % to.size()].send(std::move(frozen))) break;
  }
  co_return waited;
}

TEST(BufferStorageThreads, BlocksGivenBackOnWorkerThreadsReachATaskWaitingOnThePoolsThread) {
  constexpr int kWorkers = 3;
  constexpr int kMessages = 3000;
  keel::World world = keel::WorldBuilder().build();
  keel::async::Runtime rt(world);
  BufferPool pool(128, 3);
  std::vector<keel::async::spsc::Sender<Bytes>> senders;
  std::vector<std::thread> workers;
  std::atomic<int> checked{0};
  for (int w = 0; w < kWorkers; ++w) {
    auto [tx, rx] = keel::async::spsc::channel<Bytes>(2);
    senders.push_back(std::move(tx));
    workers.emplace_back([rx = std::move(rx), &checked, w]() mutable {
      for (int expected = w;;) {
        std::expected<Bytes, keel::async::TryRecvError> m = rx.try_recv();
        if (!m) {
          if (m.error() == keel::async::TryRecvError::closed) return;
          std::this_thread::yield();
          continue;
        }
        if (stamped(*m, static_cast<std::uint8_t>(expected))) checked.fetch_add(1);
        expected += kWorkers;
      }  // each Bytes is dropped here: its block goes back from this thread
    });
  }
  rt.block_on(stamp_and_send(pool, senders, kMessages));
  senders.clear();  // the workers see the end
  for (std::thread& t : workers) t.join();
  EXPECT_EQ(checked.load(), kMessages);
  EXPECT_EQ(pool.available(), 3u);
}

// Worker threads drop their buffers at the moment the pool's thread
// destroys the pool: each block goes back onto the stack, or finds the
// pool gone and drops its hold. The storage is freed once, by whoever
// lets go last, after every other thread's last touch.
TEST(BufferStorageThreads, APoolDestroyedWhileOtherThreadsGiveItsBuffersBack) {
  constexpr int kThreads = 3;
  for (int round = 0; round < 200; ++round) {
    auto pool = std::make_unique<BufferPool>(64, 4);
    std::latch start(kThreads + 1);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      Buffer b = *pool->try_acquire();
      stamp(b, static_cast<std::uint8_t>(t));
      threads.emplace_back([&start, frozen = std::move(b).freeze(), t]() mutable {
        Bytes copy = frozen;
        start.arrive_and_wait();
        frozen = Bytes();
        EXPECT_TRUE(stamped(copy, static_cast<std::uint8_t>(t)));
      });
    }
    start.arrive_and_wait();
    if (round % 2 == 0) std::this_thread::yield();
    pool.reset();
    for (std::thread& t : threads) t.join();
  }
}

// A task waits on the pool while another thread gives buffers back and the
// pool's thread aborts waiters: the wake slot is re-armed for each new
// first waiter while the giving thread may be waking the old one.
Task<void> take_and_drop(BufferPool& pool, std::atomic<int>& served) {
  Buffer b = co_await pool.acquire();
  served.fetch_add(1);
}

TEST(BufferStorageThreads, WakesFromAnotherThreadRaceWaitersLeavingTheLine) {
  keel::World world = keel::WorldBuilder().build();
  keel::async::Runtime rt(world);
  for (int round = 0; round < 100; ++round) {
    BufferPool pool(64, 2);
    std::atomic<int> served{0};
    std::vector<Buffer> held;
    while (std::optional<Buffer> b = pool.try_acquire()) held.push_back(std::move(*b));
    std::latch start(2);
    rt.block_on([](BufferPool& pool, std::vector<Buffer>& held, std::latch& start,
                   std::atomic<int>& served) -> Task<void> {
      std::vector<keel::async::JoinHandle<void>> waiters;
      for (int i = 0; i < 4; ++i) waiters.push_back(keel::async::spawn(take_and_drop(pool, served)));
      co_await keel::async::yield_now();  // all four wait
      std::thread giver([&start, held = std::move(held)]() mutable {
        start.arrive_and_wait();
        held.clear();  // both blocks back from this thread
      });
      start.arrive_and_wait();
      waiters[0].abort();  // may be the one the giver is waking
      waiters[1].abort();
      for (std::size_t i = 2; i < waiters.size(); ++i) co_await waiters[i];
      giver.join();
    }(pool, held, start, served));
    EXPECT_EQ(served.load(), 2);
    EXPECT_EQ(pool.available(), 2u);
  }
}

}  // namespace

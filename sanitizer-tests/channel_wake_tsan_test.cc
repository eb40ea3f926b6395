// Cross-thread channels under ThreadSanitizer (async/internal/spsc_ring.h,
// mpsc_ring.h, waiter.h, channel_fence.h): slots handed between threads
// through release/acquire indices and stamps; a receiver task parked on
// another thread's runtime woken by plain-thread producers; senders parked
// on a full channel woken by the receiver; wakes racing the waiter's
// destruction. A weakened memory order shows as a data race on a slot; a
// waker used after its runtime is gone as a heap-use-after-free under
// ASan.
#include <gtest/gtest.h>

#include <cstdint>
#include <latch>
#include <optional>
#include <thread>
#include <vector>

#include "async/channel.h"
#include "async/internal/channel_fence.h"
#include "async/internal/waiter.h"
#include "async/join_handle.h"
#include "async/runtime.h"
#include "async/task.h"
#include "rt/world.h"

namespace {

using keel::async::Task;

// A message whose payload is plain memory written by the producer and read
// by the consumer: a race on it is a race on the slot.
struct Payload {
  std::uint64_t words[6];
};

Payload make_payload(std::uint64_t i) {
  Payload p;
  for (std::uint64_t k = 0; k < 6; ++k) p.words[k] = i * 7 + k;
  return p;
}

bool intact(const Payload& p, std::uint64_t i) {
  for (std::uint64_t k = 0; k < 6; ++k) {
    if (p.words[k] != i * 7 + k) return false;
  }
  return true;
}

TEST(ChannelWake, SpscSlotsAndWakesBetweenAPlainThreadAndARuntime) {
  constexpr std::uint64_t kMessages = 20000;
  auto [tx, rx] = keel::async::spsc::channel<Payload>(4);
  std::thread producer([tx = std::move(tx)]() mutable {
    for (std::uint64_t i = 0; i < kMessages; ++i) ASSERT_TRUE(tx.send_blocking(make_payload(i)));
  });
  keel::World world = keel::WorldBuilder().build();
  keel::async::Runtime rt(world);
  auto consume = [](keel::async::spsc::Receiver<Payload>& rx) -> Task<std::uint64_t> {
    std::uint64_t i = 0;
    while (std::optional<Payload> p = co_await rx.recv()) {
      if (!intact(*p, i)) co_return 0;
      ++i;
    }
    co_return i;
  };
  EXPECT_EQ(rt.block_on(consume(rx)), kMessages);
  producer.join();
}

TEST(ChannelWake, MpscSlotsAndWakesFromFourThreadsReleasedTogether) {
  constexpr std::uint64_t kEach = 5000;
  constexpr std::uint64_t kProducers = 4;
  auto [tx, rx] = keel::async::mpsc::channel<Payload>(8);
  std::latch start(kProducers);
  std::vector<std::thread> producers;
  for (std::uint64_t p = 0; p < kProducers; ++p) {
    producers.emplace_back([&start, p, tx]() {
      start.arrive_and_wait();
      for (std::uint64_t i = 0; i < kEach; ++i) ASSERT_TRUE(tx.send_blocking(make_payload(p * kEach + i)));
    });
  }
  { auto gone = std::move(tx); }
  keel::World world = keel::WorldBuilder().build();
  keel::async::Runtime rt(world);
  auto consume = [](keel::async::mpsc::Receiver<Payload>& rx) -> Task<bool> {
    std::vector<std::uint64_t> next(kProducers, 0);
    while (std::optional<Payload> m = co_await rx.recv()) {
      const std::uint64_t id = m->words[0] / 7;
      const std::uint64_t p = id / kEach;
      if (p >= kProducers || id != p * kEach + next[p] || !intact(*m, id)) co_return false;
      ++next[p];
    }
    for (std::uint64_t n : next) {
      if (n != kEach) co_return false;
    }
    co_return true;
  };
  EXPECT_TRUE(rt.block_on(consume(rx)));
  for (std::thread& t : producers) t.join();
}

// A producer thread keeps sending while receiver tasks park and their
// runtimes are destroyed: each destruction takes the waker back, also
// when a send is inside wake() at that moment.
TEST(ChannelWake, RuntimesDestroyedWhileTheirReceiverIsParkedNeverSeeALateWake) {
  auto [tx, rx] = keel::async::mpsc::channel<int>(1024);
  std::atomic<bool> stop{false};
  std::thread producer([&stop, tx]() {
    while (!stop.load(std::memory_order_relaxed)) {
      static_cast<void>(tx.try_send(1));
      std::this_thread::yield();
    }
  });
  for (int round = 0; round < 200; ++round) {
    keel::World world = keel::WorldBuilder().build();
    keel::async::Runtime rt(world);
    while (rx.try_recv()) {
    }
    auto receive = [](keel::async::mpsc::Receiver<int>& rx) -> Task<std::optional<int>> {
      co_return co_await rx.recv();
    };
    keel::async::JoinHandle<std::optional<int>> parked = rt.spawn(receive(rx));
    rt.tick(std::chrono::milliseconds(0));
    parked.detach();
  }
  stop.store(true);
  producer.join();
}

// WaiterSlot alone: one thread arms and disarms in a loop while another
// wakes; the waking thread's read of the waker never races the owner's
// next write of it.
TEST(ChannelWake, WaiterSlotWakesRaceDisarmWithoutTouchingAStaleWaker) {
  keel::async::internal::WaiterSlot slot;
  std::atomic<bool> stop{false};
  std::latch start(2);
  std::thread waker([&]() {
    start.arrive_and_wait();
    while (!stop.load(std::memory_order_relaxed)) slot.wake();
  });
  start.arrive_and_wait();
  for (int i = 0; i < 20000; ++i) {
    slot.arm(keel::async::Waker());  // an inert waker: wake() on it does nothing
    slot.disarm();
  }
  stop.store(true);
  waker.join();
}

}  // namespace

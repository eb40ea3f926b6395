// Channel storage (async/internal/spsc_ring.h, mpsc_ring.h, local_channel.h,
// waiter.h): messages built in raw ring slots, moved out and destroyed in
// place, wrapping around; messages left queued destroyed once with the
// channel; parked senders' messages moved from their awaiters into the
// queue; nodes of aborted senders unlinked before their frames go. Every
// message owns heap memory, so a slot destroyed twice, a message never
// destroyed or a node left linked in freed memory shows under ASan/LSan.
#include <gtest/gtest.h>

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "async/channel.h"
#include "async/internal/mpsc_ring.h"
#include "async/internal/spsc_ring.h"
#include "async/join_handle.h"
#include "async/runtime.h"
#include "async/task.h"
#include "rt/world.h"

namespace {

using keel::async::Task;
using keel::async::internal::MpscRing;
using keel::async::internal::PushResult;
using keel::async::internal::SpscRing;

// A message that owns heap memory and counts its live instances.
struct Owned {
  static inline int live = 0;
  std::unique_ptr<std::string> text;
  explicit Owned(int i) : text(std::make_unique<std::string>(std::string(40, 'a' + i % 26))) { ++live; }
  Owned(Owned&& other) noexcept : text(std::move(other.text)) { ++live; }
  ~Owned() { --live; }
};

template <class Ring>
void wrap_and_leave_some(Ring& ring, std::size_t capacity) {
  int pushed = 0;
  int popped = 0;
  for (int round = 0; round < 7; ++round) {
    for (;;) {
      Owned m(pushed);
      if (ring.try_push(m) != PushResult::ok) break;
      EXPECT_EQ(m.text, nullptr);  // moved in only on ok
      ++pushed;
    }
    EXPECT_EQ(static_cast<std::size_t>(pushed - popped), capacity);
    for (int i = 0; i < 2; ++i) {
      std::optional<Owned> m = ring.try_pop();
      ASSERT_TRUE(m.has_value());
      EXPECT_EQ(*m->text, std::string(40, 'a' + popped % 26));
      ++popped;
    }
  }
}

TEST(ChannelSlots, SpscRingMessagesWrapAndTheLeftoversAreDestroyedOnce) {
  Owned::live = 0;
  {
    // On the heap, as in a channel (the rings' indices are cache-line aligned).
    auto ring = std::make_unique<SpscRing<Owned>>(5);  // five of eight slots: positions wrap unevenly
    wrap_and_leave_some(*ring, 5);
    EXPECT_EQ(Owned::live, 3);
  }
  EXPECT_EQ(Owned::live, 0);
}

TEST(ChannelSlots, MpscRingMessagesWrapAcrossLapsAndTheLeftoversAreDestroyedOnce) {
  Owned::live = 0;
  {
    auto ring = std::make_unique<MpscRing<Owned>>(5);  // exact capacity: laps jump past the unused index bits
    wrap_and_leave_some(*ring, 5);
    EXPECT_EQ(Owned::live, 3);
  }
  EXPECT_EQ(Owned::live, 0);
}

TEST(ChannelSlots, ARefusedPushLeavesTheMessageWithTheCaller) {
  auto spsc = std::make_unique<SpscRing<Owned>>(1);
  auto mpsc = std::make_unique<MpscRing<Owned>>(1);
  Owned a(0), b(1);
  ASSERT_EQ(spsc->try_push(a), PushResult::ok);
  ASSERT_EQ(mpsc->try_push(b), PushResult::ok);
  Owned c(2);
  EXPECT_EQ(spsc->try_push(c), PushResult::full);
  EXPECT_EQ(mpsc->try_push(c), PushResult::full);
  mpsc->close();
  EXPECT_EQ(mpsc->try_push(c), PushResult::closed);
  ASSERT_NE(c.text, nullptr);
  EXPECT_EQ(*c.text, std::string(40, 'c'));
}

// Parked senders' messages are moved out of their awaiters into the queue
// by the receiver; an aborted sender's node leaves the list before its
// frame is freed; the runtime's end destroys what is left.
template <class Make>
void parked_senders_hand_over_and_abort(Make make) {
  Owned::live = 0;
  {
    keel::World world = keel::WorldBuilder().build();
    keel::async::Runtime rt(world);
    auto [tx, rx] = make();
    ASSERT_TRUE(tx.try_send(Owned(0)));
    auto send = [](auto tx, int v) -> Task<void> { static_cast<void>(co_await tx.send(Owned(v))); };
    auto main = [&]() -> Task<std::vector<std::string>> {
      std::vector<keel::async::JoinHandle<void>> senders;
      for (int v = 1; v <= 6; ++v) senders.push_back(keel::async::spawn(send(tx, v)));
      co_await keel::async::yield_now();  // all parked
      senders[1].abort();
      senders[4].abort();
      std::vector<std::string> got;
      for (int i = 0; i < 3; ++i) got.push_back(*rx.try_recv().value().text);
      co_return got;
    };
    std::vector<std::string> got = rt.block_on(main());
    EXPECT_EQ(got, (std::vector<std::string>{std::string(40, 'a'), std::string(40, 'b'), std::string(40, 'd')}));
  }  // the runtime destroys the senders still parked; the channel its queue
  EXPECT_EQ(Owned::live, 0);
}

TEST(ChannelSlots, LocalParkedSendersHandOverTheirMessagesAndAbortedOnesLeaveTheList) {
  parked_senders_hand_over_and_abort([] { return keel::async::local::channel<Owned>(1); });
}

TEST(ChannelSlots, MpscParkedSendersHandOverTheirMessagesAndAbortedOnesLeaveTheList) {
  parked_senders_hand_over_and_abort([] { return keel::async::mpsc::channel<Owned>(1); });
}

TEST(ChannelSlots, AnEndpointOutlivingTheOtherKeepsTheStateUntilItGoes) {
  Owned::live = 0;
  {
    auto [tx, rx] = keel::async::spsc::channel<Owned>(2);
    ASSERT_TRUE(tx.try_send(Owned(0)));
    { auto gone = std::move(rx); }
    EXPECT_TRUE(tx.is_closed());
    EXPECT_FALSE(tx.try_send(Owned(1)));
    EXPECT_EQ(Owned::live, 1);  // queued until the last endpoint goes
  }
  EXPECT_EQ(Owned::live, 0);
}

}  // namespace

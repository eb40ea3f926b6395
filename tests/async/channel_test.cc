// Channels (async/channel.h): FIFO order, backpressure, close semantics,
// tasks aborted while parked in send() or recv(), messages destroyed once,
// move-only messages, and producers on other threads — plain threads with
// try_send()/send_blocking() and tasks on other runtimes — checked for
// exactly-once delivery in per-producer order.
#include "async/channel.h"

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "async/join_handle.h"
#include "async/runtime.h"
#include "async/task.h"
#include "rt/world.h"
#include "tests/rt/tracking.h"

namespace {

using keel::World;
using keel::WorldBuilder;
using keel::async::JoinHandle;
using keel::async::Runtime;
using keel::async::Task;
using keel::async::TryRecvError;
using keel::async::TrySendFailure;
using keel_test::Tracked;

namespace local = keel::async::local;
namespace spsc = keel::async::spsc;
namespace mpsc = keel::async::mpsc;

World empty_world() { return WorldBuilder().build(); }

// Runs `body` on a thread of its own with a World and a Runtime there.
template <class Body>
std::thread on_runtime_thread(Body body) {
  return std::thread([body = std::move(body)]() mutable {
    World world = empty_world();
    Runtime rt(world);
    rt.block_on(body());
  });
}

// --- local ----------------------------------------------------------------------------------------

TEST(LocalChannel, TrySendAndTryRecvKeepFifoOrder) {
  auto [tx, rx] = local::channel<int>(3);
  for (int i = 1; i <= 3; ++i) ASSERT_TRUE(tx.try_send(i));
  for (int i = 1; i <= 3; ++i) EXPECT_EQ(rx.try_recv().value(), i);
  EXPECT_EQ(rx.try_recv().error(), TryRecvError::empty);
}

TEST(LocalChannel, TrySendOnAFullChannelGivesTheMessageBackAndSaysFull) {
  auto [tx, rx] = local::channel<std::string>(1);
  ASSERT_TRUE(tx.try_send("first"));
  auto refused = tx.try_send("second");
  ASSERT_FALSE(refused);
  EXPECT_TRUE(refused.error().full());
  EXPECT_FALSE(refused.error().closed());
  EXPECT_EQ(refused.error().message, "second");
  EXPECT_EQ(rx.try_recv().value(), "first");
}

TEST(LocalChannel, ACapacityOfZeroIsRefused) {
  EXPECT_THROW(local::channel<int>(0), std::length_error);
  EXPECT_THROW(spsc::channel<int>(0), std::length_error);
  EXPECT_THROW(mpsc::channel<int>(0), std::length_error);
}

TEST(LocalChannel, SendWaitsWhileFullAndEveryMessageArrivesInOrder) {
  World world = empty_world();
  Runtime rt(world);
  auto [tx, rx] = local::channel<int>(2);
  std::vector<std::string> trace;
  auto producer = [](local::Sender<int> tx, std::vector<std::string>& trace) -> Task<void> {
    for (int i = 0; i < 5; ++i) {
      auto sent = co_await tx.send(i);
      EXPECT_TRUE(sent);
      trace.push_back("sent " + std::to_string(i));
    }
  };
  auto consumer = [](local::Receiver<int> rx, std::vector<std::string>& trace) -> Task<int> {
    int count = 0;
    while (std::optional<int> v = co_await rx.recv()) {
      EXPECT_EQ(*v, count);
      trace.push_back("got " + std::to_string(*v));
      ++count;
    }
    co_return count;
  };
  auto main = [&]() -> Task<int> {
    keel::async::spawn(producer(std::move(tx), trace)).detach();
    co_return co_await keel::async::spawn(consumer(std::move(rx), trace));
  };
  EXPECT_EQ(rt.block_on(main()), 5);
  // The producer filled the two slots, then parked until the consumer made room.
  ASSERT_GE(trace.size(), 3u);
  EXPECT_EQ(trace[0], "sent 0");
  EXPECT_EQ(trace[1], "sent 1");
  EXPECT_EQ(trace[2], "got 0");
}

TEST(LocalChannel, RecvGivesNulloptOnceTheLastSenderIsGoneAndTheQueueIsEmpty) {
  World world = empty_world();
  Runtime rt(world);
  auto [tx, rx] = local::channel<int>(4);
  auto copy = tx;
  ASSERT_TRUE(tx.try_send(7));
  { auto gone = std::move(tx); }
  EXPECT_EQ(rx.try_recv().value(), 7);
  EXPECT_EQ(rx.try_recv().error(), TryRecvError::empty);  // a copy still sends
  ASSERT_TRUE(copy.try_send(8));
  { auto gone = std::move(copy); }
  auto drain = [](local::Receiver<int>& rx) -> Task<std::vector<std::optional<int>>> {
    std::vector<std::optional<int>> got;
    got.push_back(co_await rx.recv());
    got.push_back(co_await rx.recv());
    co_return got;
  };
  EXPECT_EQ(rt.block_on(drain(rx)), (std::vector<std::optional<int>>{8, std::nullopt}));
  EXPECT_EQ(rx.try_recv().error(), TryRecvError::closed);
}

TEST(LocalChannel, CloseRefusesSendsAndTheQueuedMessagesStillDrain) {
  auto [tx, rx] = local::channel<std::string>(4);
  ASSERT_TRUE(tx.try_send("a"));
  ASSERT_TRUE(tx.try_send("b"));
  rx.close();
  EXPECT_TRUE(tx.is_closed());
  auto refused = tx.try_send("c");
  ASSERT_FALSE(refused);
  EXPECT_TRUE(refused.error().closed());
  EXPECT_EQ(refused.error().message, "c");
  EXPECT_EQ(rx.try_recv().value(), "a");
  EXPECT_EQ(rx.try_recv().value(), "b");
  EXPECT_EQ(rx.try_recv().error(), TryRecvError::closed);
}

TEST(LocalChannel, CloseWakesParkedSendersWithTheirMessages) {
  World world = empty_world();
  Runtime rt(world);
  auto [tx, rx] = local::channel<std::string>(1);
  ASSERT_TRUE(tx.try_send("queued"));
  auto sender = [](local::Sender<std::string> tx, std::string m) -> Task<std::string> {
    auto sent = co_await tx.send(std::move(m));
    co_return sent ? std::string("sent") : sent.error().message;
  };
  auto main = [&]() -> Task<std::vector<std::string>> {
    JoinHandle<std::string> a = keel::async::spawn(sender(tx, std::string("a")));
    JoinHandle<std::string> b = keel::async::spawn(sender(tx, std::string("b")));
    co_await keel::async::yield_now();  // both park on the full channel
    rx.close();
    std::vector<std::string> out;
    out.push_back(co_await a);
    out.push_back(co_await b);
    co_return out;
  };
  EXPECT_EQ(rt.block_on(main()), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(rx.try_recv().value(), "queued");
}

TEST(LocalChannel, SendToAChannelWhoseReceiverIsGoneGivesTheMessageBack) {
  World world = empty_world();
  Runtime rt(world);
  auto [tx, rx] = local::channel<std::unique_ptr<int>>(1);
  { auto gone = std::move(rx); }
  auto send = [](local::Sender<std::unique_ptr<int>>& tx) -> Task<int> {
    auto sent = co_await tx.send(std::make_unique<int>(5));
    co_return sent ? 0 : *sent.error().message;
  };
  EXPECT_EQ(rt.block_on(send(tx)), 5);
}

// Three senders park on a full channel; the middle one is aborted; the
// receiver serves the other two in the order they parked, and every
// message (the aborted one's included) is destroyed once.
template <class Make>
void aborting_a_parked_sender_leaves_the_others_in_line(Make make) {
  World world = empty_world();
  Runtime rt(world);
  keel_test::Counts counts;
  {
    auto [tx, rx] = make();
    ASSERT_TRUE(tx.try_send(Tracked(counts, 0)));
    auto sender = [](auto tx, keel_test::Counts* c, int v) -> Task<void> { co_await tx.send(Tracked(*c, v)); };
    auto receive = [](auto& rx) -> Task<int> { co_return (co_await rx.recv())->value; };
    auto main = [&]() -> Task<std::vector<int>> {
      JoinHandle<void> first = keel::async::spawn(sender(tx, &counts, 1));
      JoinHandle<void> doomed = keel::async::spawn(sender(tx, &counts, 2));
      JoinHandle<void> last = keel::async::spawn(sender(tx, &counts, 3));
      co_await keel::async::yield_now();  // all three parked
      doomed.abort();
      std::vector<int> got;
      for (int i = 0; i < 3; ++i) got.push_back(co_await keel::async::spawn(receive(rx)));
      co_await first;
      co_await last;
      co_return got;
    };
    EXPECT_EQ(rt.block_on(main()), (std::vector<int>{0, 1, 3}));
  }
  EXPECT_EQ(counts.live, 0);
}

TEST(LocalChannel, AbortingATaskParkedInSendLeavesTheOthersInLine) {
  aborting_a_parked_sender_leaves_the_others_in_line([] { return local::channel<Tracked>(1); });
}

TEST(LocalChannel, AbortingATaskParkedInRecvLetsAnotherTaskReceive) {
  World world = empty_world();
  Runtime rt(world);
  auto [tx, rx] = local::channel<int>(2);
  auto receive = [](local::Receiver<int>& rx) -> Task<std::optional<int>> { co_return co_await rx.recv(); };
  auto main = [&]() -> Task<std::optional<int>> {
    JoinHandle<std::optional<int>> doomed = keel::async::spawn(receive(rx));
    co_await keel::async::yield_now();
    doomed.abort();
    EXPECT_TRUE(tx.try_send(3));  // wakes nobody: the parked receiver is gone
    co_return co_await keel::async::spawn(receive(rx));
  };
  EXPECT_EQ(rt.block_on(main()), 3);
}

TEST(LocalChannel, ASecondTaskAwaitingTheSameReceiverThrows) {
  World world = empty_world();
  Runtime rt(world);
  auto [tx, rx] = local::channel<int>(1);
  auto receive = [](local::Receiver<int>& rx) -> Task<std::optional<int>> { co_return co_await rx.recv(); };
  auto main = [&]() -> Task<bool> {
    JoinHandle<std::optional<int>> first = keel::async::spawn(receive(rx));
    co_await keel::async::yield_now();
    bool threw = false;
    try {
      co_await keel::async::spawn(receive(rx));
    } catch (const std::logic_error&) {
      threw = true;
    }
    EXPECT_TRUE(tx.try_send(1));
    EXPECT_EQ(co_await first, 1);
    co_return threw;
  };
  EXPECT_TRUE(rt.block_on(main()));
}

TEST(LocalChannel, TryRecvLeavesTheMessagesToAParkedRecv) {
  World world = empty_world();
  Runtime rt(world);
  auto [tx, rx] = local::channel<int>(2);
  auto receive = [](local::Receiver<int>& rx) -> Task<std::optional<int>> { co_return co_await rx.recv(); };
  auto main = [&]() -> Task<std::optional<int>> {
    JoinHandle<std::optional<int>> parked = keel::async::spawn(receive(rx));
    co_await keel::async::yield_now();
    EXPECT_TRUE(tx.try_send(4));
    EXPECT_EQ(rx.try_recv().error(), TryRecvError::empty);
    co_return co_await parked;
  };
  EXPECT_EQ(rt.block_on(main()), 4);
}

TEST(LocalChannel, AwaitingOutsideATaskThrows) {
  auto [tx, rx] = local::channel<int>(1);
  auto receive = [](local::Receiver<int>& rx) -> Task<std::optional<int>> { co_return co_await rx.recv(); };
  EXPECT_THROW(keel::async::internal::run_to_completion(receive(rx)), std::logic_error);
}

TEST(LocalChannel, QueuedMessagesAreDestroyedOnceWithTheChannelAlsoAcrossTheWrap) {
  keel_test::Counts counts;
  {
    auto [tx, rx] = local::channel<Tracked>(3);
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(tx.try_send(Tracked(counts, i)));
    EXPECT_EQ(rx.try_recv().value().value, 0);
    EXPECT_EQ(rx.try_recv().value().value, 1);
    ASSERT_TRUE(tx.try_send(Tracked(counts, 3)));
    ASSERT_TRUE(tx.try_send(Tracked(counts, 4)));  // wraps
    EXPECT_EQ(counts.live, 3);
  }
  EXPECT_EQ(counts.live, 0);
}

// Seeded differential test: random try_send / try_recv / parked sends /
// aborts / close against a std::deque, checked after every step.
TEST(LocalChannel, RandomOperationsMatchADequeModel) {
  for (std::uint32_t seed = 1; seed <= 200; ++seed) {
    std::mt19937 random(seed);
    World world = empty_world();
    Runtime rt(world);
    const std::size_t capacity = 1 + random() % 4;
    auto [tx, rx] = local::channel<int>(capacity);
    std::deque<int> queue;    // what the channel holds
    std::deque<int> waiting;  // parked senders' messages, in order
    std::vector<JoinHandle<void>> senders;
    bool closed = false;
    int next = 0;
    auto send = [](local::Sender<int> tx, int v) -> Task<void> { co_await tx.send(v); };
    auto step = [&]() -> Task<void> {
      for (int op = 0; op < 60; ++op) {
        switch (random() % 6) {
          case 0:
          case 1: {
            const int v = next++;
            auto r = tx.try_send(v);
            const bool fits = !closed && queue.size() < capacity && waiting.empty();
            if (!closed && queue.size() < capacity && !waiting.empty()) ADD_FAILURE() << "room left beside parked senders";
            EXPECT_EQ(static_cast<bool>(r), fits) << "seed " << seed;
            if (fits) queue.push_back(v);
            break;
          }
          case 2: {
            const int v = next++;
            senders.push_back(keel::async::spawn(send(tx, v)));
            co_await keel::async::yield_now();
            if (closed) break;
            if (queue.size() < capacity) {
              queue.push_back(v);
            } else {
              waiting.push_back(v);
            }
            break;
          }
          case 3:
          case 4: {
            auto r = rx.try_recv();
            if (queue.empty()) {
              EXPECT_FALSE(r) << "seed " << seed;
            } else {
              EXPECT_EQ(r.value(), queue.front()) << "seed " << seed;
              queue.pop_front();
              if (!waiting.empty()) {
                queue.push_back(waiting.front());
                waiting.pop_front();
              }
            }
            co_await keel::async::yield_now();
            break;
          }
          case 5:
            if (random() % 8 == 0) {
              rx.close();
              closed = true;
              waiting.clear();
            }
            break;
        }
      }
      while (!queue.empty()) {
        EXPECT_EQ(rx.try_recv().value(), queue.front());
        queue.pop_front();
        if (!waiting.empty()) {
          queue.push_back(waiting.front());
          waiting.pop_front();
        }
      }
    };
    rt.block_on(step());
  }
}

// --- spsc -----------------------------------------------------------------------------------------

TEST(SpscChannel, TrySendAndTryRecvOnOneThreadKeepFifoOrderAcrossTheWrap) {
  auto [tx, rx] = spsc::channel<int>(3);
  int sent = 0;
  int received = 0;
  for (int round = 0; round < 10; ++round) {
    while (tx.try_send(sent)) ++sent;
    EXPECT_EQ(sent - received, 3);
    for (int i = 0; i < 2; ++i) EXPECT_EQ(rx.try_recv().value(), received++);
  }
  while (tx.try_send(sent)) ++sent;
  auto refused = tx.try_send(-1);
  ASSERT_FALSE(refused);
  EXPECT_TRUE(refused.error().full());
}

TEST(SpscChannel, APlainThreadProducerWakesTheParkedReceiverAndWaitsForRoom) {
  constexpr int kMessages = 200000;
  auto [tx, rx] = spsc::channel<std::uint64_t>(16);
  std::thread producer([tx = std::move(tx)]() mutable {
    for (std::uint64_t i = 0; i < kMessages; ++i) {
      if (i % 2 == 0) {
        ASSERT_TRUE(tx.send_blocking(i));
      } else {
        auto r = tx.try_send(i);
        while (!r) {
          ASSERT_TRUE(r.error().full());
          r = tx.try_send(std::move(r.error().message));
        }
      }
    }
  });
  World world = empty_world();
  Runtime rt(world);
  auto consume = [](spsc::Receiver<std::uint64_t>& rx) -> Task<std::uint64_t> {
    std::uint64_t expected = 0;
    while (std::optional<std::uint64_t> v = co_await rx.recv()) {
      if (*v != expected) co_return expected + 1'000'000'000;
      ++expected;
    }
    co_return expected;
  };
  EXPECT_EQ(rt.block_on(consume(rx)), static_cast<std::uint64_t>(kMessages));
  producer.join();
}

TEST(SpscChannel, ATaskOnAnotherRuntimeSendsWithBackpressure) {
  constexpr int kMessages = 50000;
  auto [tx, rx] = spsc::channel<std::unique_ptr<int>>(8);
  std::thread producer = on_runtime_thread([tx = std::move(tx)]() mutable -> Task<void> {
    for (int i = 0; i < kMessages; ++i) EXPECT_TRUE(co_await tx.send(std::make_unique<int>(i)));
    auto gone = std::move(tx);
  });
  World world = empty_world();
  Runtime rt(world);
  auto consume = [](spsc::Receiver<std::unique_ptr<int>>& rx) -> Task<int> {
    int expected = 0;
    while (auto v = co_await rx.recv()) {
      EXPECT_EQ(**v, expected);
      ++expected;
    }
    co_return expected;
  };
  EXPECT_EQ(rt.block_on(consume(rx)), kMessages);
  producer.join();
}

TEST(SpscChannel, CloseWakesABlockedPlainThreadWithItsMessage) {
  auto [tx, rx] = spsc::channel<std::string>(1);
  ASSERT_TRUE(tx.try_send("queued"));
  std::string given_back;
  std::thread producer([&, tx = std::move(tx)]() mutable {
    auto r = tx.send_blocking("late");  // full: blocks until close
    if (!r) given_back = std::move(r.error().message);
  });
  // The thread may not have parked yet; close() is right either way.
  std::this_thread::yield();
  rx.close();
  producer.join();
  EXPECT_EQ(given_back, "late");
  EXPECT_EQ(rx.try_recv().value(), "queued");
  EXPECT_EQ(rx.try_recv().error(), TryRecvError::closed);
}

TEST(SpscChannel, AbortingTasksParkedInSendAndInRecvTakesTheirWakersBack) {
  World world = empty_world();
  Runtime rt(world);
  auto [tx, rx] = spsc::channel<int>(1);
  auto [back_tx, back_rx] = spsc::channel<int>(1);
  auto send = [](spsc::Sender<int>& tx, int v) -> Task<bool> { co_return static_cast<bool>(co_await tx.send(v)); };
  auto receive = [](spsc::Receiver<int>& rx) -> Task<std::optional<int>> { co_return co_await rx.recv(); };
  auto main = [&]() -> Task<std::optional<int>> {
    EXPECT_TRUE(tx.try_send(1));
    JoinHandle<bool> parked_send = keel::async::spawn(send(tx, 2));
    JoinHandle<std::optional<int>> parked_recv = keel::async::spawn(receive(back_rx));
    co_await keel::async::yield_now();
    parked_send.abort();
    parked_recv.abort();
    EXPECT_EQ(rx.try_recv().value(), 1);  // wakes nobody
    EXPECT_TRUE(back_tx.try_send(9));     // wakes nobody
    EXPECT_TRUE(co_await keel::async::spawn(send(tx, 3)));
    EXPECT_EQ(rx.try_recv().value(), 3);
    co_return co_await keel::async::spawn(receive(back_rx));
  };
  EXPECT_EQ(rt.block_on(main()), 9);
}

TEST(SpscChannel, TheSenderGoingAwayEndsTheStreamAfterTheQueuedMessages) {
  auto [tx, rx] = spsc::channel<int>(4);
  ASSERT_TRUE(tx.try_send(1));
  { auto gone = std::move(tx); }
  EXPECT_EQ(rx.try_recv().value(), 1);
  EXPECT_EQ(rx.try_recv().error(), TryRecvError::closed);
}

TEST(SpscChannel, SendBlockingFromATaskThrows) {
  World world = empty_world();
  Runtime rt(world);
  auto [tx, rx] = spsc::channel<int>(1);
  auto misuse = [](spsc::Sender<int>& tx) -> Task<void> {
    static_cast<void>(tx.send_blocking(1));
    co_return;
  };
  EXPECT_THROW(rt.block_on(misuse(tx)), std::logic_error);
}

TEST(SpscChannel, QueuedMessagesAreDestroyedOnceWithTheChannel) {
  keel_test::Counts counts;
  {
    auto [tx, rx] = spsc::channel<Tracked>(4);
    for (int i = 0; i < 4; ++i) ASSERT_TRUE(tx.try_send(Tracked(counts, i)));
    EXPECT_EQ(rx.try_recv().value().value, 0);
    ASSERT_TRUE(tx.try_send(Tracked(counts, 4)));
    rx.close();
    EXPECT_FALSE(tx.try_send(Tracked(counts, 5)));
    EXPECT_EQ(counts.live, 4);
  }
  EXPECT_EQ(counts.live, 0);
}

// --- mpsc -----------------------------------------------------------------------------------------

struct Stamped {
  std::uint32_t producer;
  std::uint32_t sequence;
};

// Receives until the end; true when every producer's messages arrived
// exactly once, in that producer's order.
Task<bool> receive_in_order(mpsc::Receiver<Stamped>& rx, std::size_t producers, std::uint32_t each) {
  std::vector<std::uint32_t> next(producers, 0);
  while (std::optional<Stamped> m = co_await rx.recv()) {
    if (m->producer >= producers || m->sequence != next[m->producer]) co_return false;
    ++next[m->producer];
  }
  for (std::uint32_t n : next) {
    if (n != each) co_return false;
  }
  co_return true;
}

TEST(MpscChannel, FourPlainThreadsSendAMillionEachExactlyOnceInProducerOrder) {
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
  constexpr std::uint32_t kEach = 100000;  // the sanitizers run the same code ten times slower
#else
  constexpr std::uint32_t kEach = 1000000;
#endif
  constexpr std::uint32_t kProducers = 4;
  auto [tx, rx] = mpsc::channel<Stamped>(256);
  std::vector<std::thread> producers;
  for (std::uint32_t p = 0; p < kProducers; ++p) {
    producers.emplace_back([p, tx]() {
      for (std::uint32_t i = 0; i < kEach; ++i) {
        if (p % 2 == 0) {
          ASSERT_TRUE(tx.send_blocking(Stamped{p, i}));
        } else {
          auto r = tx.try_send(Stamped{p, i});
          while (!r) {
            std::this_thread::yield();
            r = tx.try_send(r.error().message);
          }
        }
      }
    });
  }
  { auto gone = std::move(tx); }
  World world = empty_world();
  Runtime rt(world);
  EXPECT_TRUE(rt.block_on(receive_in_order(rx, kProducers, kEach)));
  for (std::thread& t : producers) t.join();
}

TEST(MpscChannel, ProducerTasksOnOtherRuntimesParkOnAFullChannelAndAreHandedRoom) {
  constexpr std::uint32_t kEach = 20000;
  constexpr std::uint32_t kProducers = 3;
  auto [tx, rx] = mpsc::channel<Stamped>(4);
  std::vector<std::thread> producers;
  for (std::uint32_t p = 0; p < kProducers; ++p) {
    producers.push_back(on_runtime_thread([p, tx]() -> Task<void> {
      for (std::uint32_t i = 0; i < kEach; ++i) EXPECT_TRUE(co_await tx.send(Stamped{p, i}));
    }));
  }
  { auto gone = std::move(tx); }
  World world = empty_world();
  Runtime rt(world);
  // The producers' senders live in their lambdas until their threads end.
  EXPECT_TRUE(rt.block_on(receive_in_order(rx, kProducers, kEach)));
  for (std::thread& t : producers) t.join();
}

TEST(MpscChannel, CloseWakesParkedTasksAndBlockedThreadsWithTheirMessages) {
  auto [tx, rx] = mpsc::channel<std::string>(1);
  ASSERT_TRUE(tx.try_send("queued"));
  std::string from_thread;
  std::thread blocked([&, tx]() {
    auto r = tx.send_blocking("thread");
    if (!r) from_thread = std::move(r.error().message);
  });
  std::string from_task;
  std::thread task_thread = on_runtime_thread([&, tx]() -> Task<void> {
    auto r = co_await tx.send("task");
    if (!r) from_task = std::move(r.error().message);
  });
  std::this_thread::yield();
  rx.close();
  blocked.join();
  task_thread.join();
  EXPECT_EQ(from_thread, "thread");
  EXPECT_EQ(from_task, "task");
  EXPECT_EQ(rx.try_recv().value(), "queued");
  EXPECT_EQ(rx.try_recv().error(), TryRecvError::closed);
}

TEST(MpscChannel, AbortingATaskParkedInSendLeavesTheOthersInLine) {
  aborting_a_parked_sender_leaves_the_others_in_line([] { return mpsc::channel<Tracked>(1); });
}

TEST(MpscChannel, AReceiverParkedOnAnotherThreadIsWokenAndAbortingItTakesItsWakerBack) {
  auto [tx, rx] = mpsc::channel<int>(8);
  World world = empty_world();
  Runtime rt(world);
  auto receive = [](mpsc::Receiver<int>& rx) -> Task<std::optional<int>> { co_return co_await rx.recv(); };
  auto main = [&]() -> Task<std::optional<int>> {
    JoinHandle<std::optional<int>> doomed = keel::async::spawn(receive(rx));
    co_await keel::async::yield_now();
    doomed.abort();
    std::thread late([tx]() { EXPECT_TRUE(tx.try_send(11)); });
    std::optional<int> got = co_await keel::async::spawn(receive(rx));
    late.join();
    co_return got;
  };
  EXPECT_EQ(rt.block_on(main()), 11);
}

TEST(MpscChannel, MoveOnlyMessagesAndMessagesLeftQueuedAreDestroyedOnce) {
  keel_test::Counts counts;
  {
    auto [tx, rx] = mpsc::channel<std::unique_ptr<Tracked>>(3);
    auto copy = tx;
    for (int i = 0; i < 3; ++i) ASSERT_TRUE((i % 2 ? copy : tx).try_send(std::make_unique<Tracked>(counts, i)));
    auto refused = tx.try_send(std::make_unique<Tracked>(counts, 9));
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().message->value, 9);
    EXPECT_EQ(rx.try_recv().value()->value, 0);
    ASSERT_TRUE(tx.try_send(std::make_unique<Tracked>(counts, 3)));  // wraps
    EXPECT_EQ(counts.live, 4);                              // three queued, one refused and still held
  }
  EXPECT_EQ(counts.live, 0);
}

TEST(MpscChannel, TheLastSenderGoingAwayEndsTheStream) {
  auto [tx, rx] = mpsc::channel<int>(4);
  auto copy = tx;
  ASSERT_TRUE(copy.try_send(1));
  { auto gone = std::move(copy); }
  EXPECT_FALSE(tx.is_closed());
  EXPECT_EQ(rx.try_recv().value(), 1);
  EXPECT_EQ(rx.try_recv().error(), TryRecvError::empty);
  { auto gone = std::move(tx); }
  EXPECT_EQ(rx.try_recv().error(), TryRecvError::closed);
}

TEST(MpscChannel, TheRuntimeGoingAwayWithAParkedReceiverLeavesProducersSafe) {
  auto [tx, rx] = mpsc::channel<int>(4);
  {
    World world = empty_world();
    Runtime rt(world);
    auto receive = [](mpsc::Receiver<int>& rx) -> Task<std::optional<int>> { co_return co_await rx.recv(); };
    JoinHandle<std::optional<int>> parked = rt.spawn(receive(rx));
    rt.tick(std::chrono::milliseconds(0));  // parks
    parked.detach();
  }  // the runtime destroys the parked task: its waker is taken back
  std::thread producer([tx]() { EXPECT_TRUE(tx.try_send(1)); });
  producer.join();
  EXPECT_EQ(rx.try_recv().value(), 1);
}

}  // namespace

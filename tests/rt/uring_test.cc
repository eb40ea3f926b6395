// Tests for rt/uring.h: the io_uring poll source and its epoll fallback.
//
// Every behavioural test runs twice, on Backend::IoUring and on
// Backend::Epoll (the suite is parameterized); where the kernel refuses
// io_uring, its half skips with the kernel's reason. The fds are real:
// pipes, socketpairs, eventfds and UDP sockets on 127.0.0.1.
//
// Readiness is edge-like on both backends (see rt/uring.h): handlers here
// read until EAGAIN unless a test is about what happens when they do not.
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "rt/internal/ring.h"
#include "rt/timer.h"
#include "rt/uring.h"
#include "rt/world.h"
#include "tests/rt/fd.h"
#include "tests/rt/fixtures.h"

namespace {

using namespace std::chrono_literals;
using keel::Backend;
using Clock = std::chrono::steady_clock;

using keel_test::backend_name;
using keel_test::drain;
using keel_test::Fd;
using keel_test::FdPair;
using keel_test::make_eventfd;
using keel_test::make_pipe;
using keel_test::make_socketpair;
using keel_test::make_udp;
using keel_test::signal_eventfd;
using keel_test::write_byte;

// --- the World -----------------------------------------------------------------

struct Seen {
  std::vector<keel::Readiness> events;
  std::vector<std::uint64_t> sequences;
  std::size_t runs() const { return events.size(); }
};

struct Loop {
  keel::World world;
  keel::UringPoller io;
  keel::Uring& uring() { return world.resource<keel::Uring>(); }
  Seen& seen() { return world.resource<Seen>(); }
  std::size_t poll(std::chrono::nanoseconds timeout = 0ns) { return io.poll(world, timeout); }
  // Polls until `done()` or the deadline; returns how many handlers ran.
  template <class Done>
  std::size_t poll_until(Done done, std::chrono::seconds limit = 10s) {
    std::size_t ran = 0;
    const auto deadline = Clock::now() + limit;
    while (!done() && Clock::now() < deadline) ran += io.poll(world, 50ms);
    return ran;
  }
};

Loop open_loop(keel::UringInstaller config) {
  keel::WorldBuilder wb;
  wb.insert(Seen{});
  keel::UringPoller io = wb.install_driver(std::move(config));
  return Loop{std::move(wb).build(), io};
}

// Counts its runs in `runs` and reads the fd dry.
auto counting(int& runs) {
  return [&runs](const keel::Readiness& r) {
    ++runs;
    drain(r.fd);
  };
}

// Records every readiness it sees and reads the fd dry.
auto recorder() {
  return [](keel::ResMut<Seen> seen, keel::Seq seq, const keel::Readiness& r) {
    seen->events.push_back(r);
    seen->sequences.push_back(seq);
    if (r.readable()) drain(r.fd);
  };
}

class UringTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    if (const auto why = keel_test::refusal(GetParam())) GTEST_SKIP() << *why;
  }

  Loop open(unsigned entries = 64, unsigned cq_entries = 0) {
    return open_loop(keel::UringInstaller{.entries = entries, .backend = GetParam(), .cq_entries = cq_entries});
  }
};

INSTANTIATE_TEST_SUITE_P(Backends, UringTest, ::testing::Values(Backend::IoUring, Backend::Epoll), backend_name);

// --- basics ----------------------------------------------------------------------

TEST_P(UringTest, ReportsTheBackendItRuns) {
  Loop loop = open();
  EXPECT_EQ(loop.uring().backend(), GetParam());
  EXPECT_FALSE(loop.uring().describe().empty());
  if (GetParam() == Backend::IoUring) {
    EXPECT_NE(loop.uring().setup_flags() & IORING_SETUP_CQSIZE, 0u) << loop.uring().describe();
    EXPECT_NE(loop.uring().describe().find("io_uring"), std::string::npos);
  } else {
    EXPECT_EQ(loop.uring().setup_flags(), 0u);
    EXPECT_NE(loop.uring().describe().find("epoll"), std::string::npos);
  }
  std::printf("[ backend  ] %s\n", loop.uring().describe().c_str());
}

TEST_P(UringTest, PollWithNothingReadyReturnsZeroAfterTheTimeout) {
  Loop loop = open();
  FdPair p = make_pipe();
  loop.uring().watch(p.a.get(), keel::Readable, recorder());
  const auto start = Clock::now();
  EXPECT_EQ(loop.poll(30ms), 0u);
  const auto waited = Clock::now() - start;
  EXPECT_GE(waited, 25ms);
  EXPECT_LT(waited, 2s);
  EXPECT_EQ(loop.seen().runs(), 0u);
}

TEST_P(UringTest, ZeroTimeoutDoesNotBlock) {
  Loop loop = open();
  FdPair p = make_pipe();
  loop.uring().watch(p.a.get(), keel::Readable, recorder());
  const auto start = Clock::now();
  for (int i = 0; i < 100; ++i) EXPECT_EQ(loop.poll(0ms), 0u);
  EXPECT_LT(Clock::now() - start, 1s);
}

TEST_P(UringTest, ReadablePipeRunsTheHandlerWithItsFdEventsAndWatch) {
  Loop loop = open();
  FdPair p = make_pipe();
  const keel::Watch w = loop.uring().watch(p.a.get(), keel::Readable, recorder());
  EXPECT_TRUE(loop.uring().watching(w));
  EXPECT_EQ(loop.uring().size(), 1u);
  EXPECT_EQ(loop.poll(), 0u);  // arms it
  write_byte(p.b.get());
  EXPECT_EQ(loop.poll(1s), 1u);
  ASSERT_EQ(loop.seen().runs(), 1u);
  const keel::Readiness& r = loop.seen().events[0];
  EXPECT_EQ(r.fd, p.a.get());
  EXPECT_EQ(r.events, keel::Readable);
  EXPECT_TRUE(r.readable());
  EXPECT_FALSE(r.writable());
  EXPECT_EQ(r.watch, w);
  EXPECT_EQ(r.error, 0);
  EXPECT_EQ(loop.seen().sequences[0], loop.world.sequence());
}

TEST_P(UringTest, AnFdReadyBeforeItIsWatchedIsReportedAtTheFirstPoll) {
  Loop loop = open();
  FdPair p = make_pipe();
  write_byte(p.b.get());
  loop.uring().watch(p.a.get(), keel::Readable, recorder());
  EXPECT_EQ(loop.poll(1s), 1u);
}

TEST_P(UringTest, EachReadyEventRunsOneHandlerWithAFreshSequenceNumber) {
  Loop loop = open();
  std::vector<Fd> fds;
  for (int i = 0; i < 5; ++i) {
    fds.push_back(make_eventfd());
    loop.uring().watch(fds.back().get(), keel::Readable, recorder());
  }
  loop.poll();
  const std::uint64_t before = loop.world.sequence();
  for (const Fd& fd : fds) signal_eventfd(fd.get());
  EXPECT_EQ(loop.poll_until([&] { return loop.seen().runs() == 5; }), 5u);
  ASSERT_EQ(loop.seen().sequences.size(), 5u);
  for (std::size_t i = 0; i < 5; ++i) EXPECT_EQ(loop.seen().sequences[i], before + 1 + i);
  EXPECT_EQ(loop.world.sequence(), before + 5);
}

TEST_P(UringTest, SocketpairReportsWritableAndThenReadable) {
  Loop loop = open();
  FdPair s = make_socketpair();
  loop.uring().watch(s.a.get(), keel::Readable | keel::Writable, recorder());
  // An empty socket with room to write: writable at once.
  EXPECT_EQ(loop.poll(1s), 1u);
  ASSERT_EQ(loop.seen().runs(), 1u);
  EXPECT_TRUE(loop.seen().events[0].writable());
  EXPECT_FALSE(loop.seen().events[0].readable());
  ASSERT_EQ(::write(s.b.get(), "ping", 4), 4);
  EXPECT_EQ(loop.poll_until([&] { return loop.seen().runs() == 2; }), 1u);
  ASSERT_EQ(loop.seen().runs(), 2u);
  EXPECT_TRUE(loop.seen().events[1].readable());
}

TEST_P(UringTest, HangupIsReportedWhenTheWriterCloses) {
  Loop loop = open();
  FdPair p = make_pipe();
  loop.uring().watch(p.a.get(), keel::Readable, recorder());
  loop.poll();
  p.b.reset();
  EXPECT_EQ(loop.poll(1s), 1u);
  ASSERT_EQ(loop.seen().runs(), 1u);
  EXPECT_TRUE(loop.seen().events[0].hangup());
}

TEST_P(UringTest, UdpDatagramsOnLoopbackAreAllReceived) {
  Loop loop = open();
  sockaddr_in address{};
  Fd receiver = make_udp(address);
  Fd sender(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  int received = 0;
  loop.uring().watch(receiver.get(), keel::Readable, [&received](const keel::Readiness& r) {
    char datagram[64];
    while (recv(r.fd, datagram, sizeof datagram, 0) > 0) ++received;
  });
  loop.poll();
  for (int burst = 0; burst < 10; ++burst) {
    for (int i = 0; i < 10; ++i) {
      ASSERT_EQ(sendto(sender.get(), "quote", 5, 0, reinterpret_cast<const sockaddr*>(&address), sizeof address), 5);
    }
    loop.poll(10ms);
  }
  loop.poll_until([&] { return received == 100; });
  EXPECT_EQ(received, 100);
}

// --- edge-like readiness: the same on both backends --------------------------------

TEST_P(UringTest, HandlerThatLeavesDataUnreadRunsAgainOnlyWhenNewDataArrives) {
  Loop loop = open();
  FdPair p = make_pipe();
  int runs = 0;
  loop.uring().watch(p.a.get(), keel::Readable, [&runs](const keel::Readiness&) { ++runs; });  // reads nothing
  write_byte(p.b.get());
  EXPECT_EQ(loop.poll(1s), 1u);
  // Still readable, but no new wake-up: neither backend reports it again.
  EXPECT_EQ(loop.poll(20ms), 0u);
  EXPECT_EQ(runs, 1);
  write_byte(p.b.get());
  EXPECT_EQ(loop.poll(1s), 1u);
  EXPECT_EQ(runs, 2);
}

TEST_P(UringTest, DeliversEveryRoundOverManyEvents) {
  // Continued delivery over many events: multishot polls stay armed (or are
  // re-armed) round after round.
  Loop loop = open(8);
  Fd fd = make_eventfd();
  int runs = 0;
  loop.uring().watch(fd.get(), keel::Readable, counting(runs));
  loop.poll();
  for (int i = 0; i < 2000; ++i) {
    signal_eventfd(fd.get());
    ASSERT_EQ(loop.poll(1s), 1u) << "round " << i;
  }
  EXPECT_EQ(runs, 2000);
}

TEST_P(UringTest, RearmsPollsTheKernelEndsWhenTheCompletionQueueOverflows) {
  // An overflowing CQ loses no event and leaves no watch unarmed. With a
  // 4-entry SQ and an 8-entry CQ, 64 eventfds made ready at once overflow
  // the CQ: io_uring then ends the multishot polls whose completions did not
  // fit (their last CQE lacks IORING_CQE_F_MORE and waits in the kernel's
  // overflow list).
  // The poll source must drain the overflow (IORING_SQ_CQ_OVERFLOW), deliver
  // every event, and re-arm the ended polls — or the next round would lose
  // most fds. On epoll the same rounds check the batched epoll_wait.
  Loop loop = open(4, 8);
  constexpr int kFds = 64;
  std::vector<Fd> fds;
  std::vector<int> hits(kFds, 0);
  for (int i = 0; i < kFds; ++i) {
    fds.push_back(make_eventfd());
    loop.uring().watch(fds.back().get(), keel::Readable, [&hits, i](const keel::Readiness& r) {
      ++hits[static_cast<std::size_t>(i)];
      drain(r.fd);
    });
  }
  loop.poll();
  for (int round = 1; round <= 20; ++round) {
    for (const Fd& fd : fds) signal_eventfd(fd.get());
    int total = 0;
    loop.poll_until([&] {
      total = 0;
      for (int h : hits) total += h;
      return total == kFds * round;
    });
    ASSERT_EQ(total, kFds * round) << "round " << round;
  }
  for (int h : hits) EXPECT_EQ(h, 20);
}

// --- watch and unwatch ------------------------------------------------------------

TEST_P(UringTest, HandlerUnwatchingItselfIsNotRunAgainAndDiesAfterItsRun) {
  Loop loop = open();
  Fd fd = make_eventfd();
  struct Probe {
    int* destroyed;
    bool* running;
    bool owner = true;
    Probe(int* d, bool* r) : destroyed(d), running(r) {}
    Probe(Probe&& o) noexcept : destroyed(o.destroyed), running(o.running), owner(std::exchange(o.owner, false)) {}
    ~Probe() {
      if (owner) {
        EXPECT_FALSE(*running) << "destroyed while it runs";
        ++*destroyed;
      }
    }
  };
  int destroyed = 0;
  bool running = false;
  int runs = 0;
  loop.uring().watch(fd.get(), keel::Readable,
                     [probe = Probe(&destroyed, &running), &runs](keel::ResMut<keel::Uring> uring,
                                                                  const keel::Readiness& r) {
                       *probe.running = true;
                       ++runs;
                       drain(r.fd);
                       EXPECT_TRUE(uring->unwatch(r.watch));
                       EXPECT_FALSE(uring->watching(r.watch));
                       EXPECT_EQ(*probe.destroyed, 0);  // still alive: it is running
                       *probe.running = false;
                     });
  loop.poll();
  signal_eventfd(fd.get());
  EXPECT_EQ(loop.poll(1s), 1u);
  EXPECT_EQ(destroyed, 1);
  EXPECT_EQ(loop.uring().size(), 0u);
  signal_eventfd(fd.get());
  EXPECT_EQ(loop.poll(30ms), 0u);
  EXPECT_EQ(runs, 1);
}

TEST_P(UringTest, UnwatchingAnotherWatchDuringDispatchSkipsItsPendingEvent) {
  Loop loop = open();
  Fd a = make_eventfd();
  Fd b = make_eventfd();
  keel::Watch wa;
  keel::Watch wb;
  int runs = 0;
  wa = loop.uring().watch(a.get(), keel::Readable, [&](keel::ResMut<keel::Uring> uring, const keel::Readiness& r) {
    ++runs;
    drain(r.fd);
    uring->unwatch(wb);
  });
  wb = loop.uring().watch(b.get(), keel::Readable, [&](keel::ResMut<keel::Uring> uring, const keel::Readiness& r) {
    ++runs;
    drain(r.fd);
    uring->unwatch(wa);
  });
  loop.poll();
  signal_eventfd(a.get());
  signal_eventfd(b.get());
  // Both completions arrive in one batch; whichever runs first removes the
  // other, whose completion must then be skipped.
  std::size_t ran = 0;
  const auto deadline = Clock::now() + 2s;
  while (runs == 0 && Clock::now() < deadline) ran += loop.poll(50ms);
  ran += loop.poll(30ms);
  EXPECT_EQ(ran, 1u);
  EXPECT_EQ(runs, 1);
  EXPECT_EQ(loop.uring().size(), 1u);
}

TEST_P(UringTest, WatchingFromInsideAHandlerGrowsTheSlabUnderTheRunningHandler) {
  Loop loop = open();
  Fd trigger = make_eventfd();
  std::vector<Fd> added;
  int added_runs = 0;
  const std::string payload(200, 'p');  // the handler reads it after the slab has moved
  std::string copied;
  loop.uring().watch(trigger.get(), keel::Readable,
                     [&, text = std::make_shared<std::string>(payload)](keel::ResMut<keel::Uring> uring,
                                                                        const keel::Readiness& r) {
                       drain(r.fd);
                       for (int i = 0; i < 100; ++i) {
                         added.push_back(make_eventfd());
                         uring->watch(added.back().get(), keel::Readable, [&added_runs](const keel::Readiness& a) {
                           ++added_runs;
                           drain(a.fd);
                         });
                       }
                       copied = *text;
                     });
  loop.poll();
  signal_eventfd(trigger.get());
  EXPECT_EQ(loop.poll(1s), 1u);
  EXPECT_EQ(copied, payload);
  EXPECT_EQ(loop.uring().size(), 101u);
  for (const Fd& fd : added) signal_eventfd(fd.get());
  loop.poll_until([&] { return added_runs == 100; });
  EXPECT_EQ(added_runs, 100);
}

TEST_P(UringTest, TokenOfARemovedWatchIsInertWhenItsSlotIsReused) {
  Loop loop = open();
  Fd a = make_eventfd();
  Fd b = make_eventfd();
  int a_runs = 0;
  int b_runs = 0;
  const keel::Watch wa = loop.uring().watch(a.get(), keel::Readable, [&](const keel::Readiness& r) {
    ++a_runs;
    drain(r.fd);
  });
  loop.poll();                 // armed
  signal_eventfd(a.get());     // ready in the kernel, not collected yet
  EXPECT_TRUE(loop.uring().unwatch(wa));
  const keel::Watch wb = loop.uring().watch(b.get(), keel::Readable, [&](const keel::Readiness& r) {
    ++b_runs;
    drain(r.fd);
  });
  signal_eventfd(b.get());
  loop.poll_until([&] { return b_runs == 1; });
  loop.poll(30ms);
  EXPECT_EQ(a_runs, 0);  // its completion, if the kernel made one, was stale
  EXPECT_EQ(b_runs, 1);
  EXPECT_NE(wa, wb);
  EXPECT_FALSE(loop.uring().unwatch(wa));
  EXPECT_FALSE(loop.uring().watching(wa));
  EXPECT_TRUE(loop.uring().watching(wb));
}

// Unwatches and watches one eventfd again `rounds` times, signalling it
// each round: every round's poll(1s) runs the new watch's handler once.
void rewatch_rounds(Loop& loop, int rounds) {
  Fd fd = make_eventfd();
  int runs = 0;
  auto count = counting(runs);
  keel::Watch w = loop.uring().watch(fd.get(), keel::Readable, count);
  loop.poll();
  for (int i = 0; i < rounds; ++i) {
    ASSERT_TRUE(loop.uring().unwatch(w));
    w = loop.uring().watch(fd.get(), keel::Readable, count);
    signal_eventfd(fd.get());
    ASSERT_EQ(loop.poll(1s), 1u) << "round " << i;
  }
  EXPECT_EQ(runs, rounds);
}

TEST_P(UringTest, UnwatchThenWatchTheSameFdAgain) {
  Loop loop = open();
  rewatch_rounds(loop, 50);
}

TEST_P(UringTest, RefusesWhatCannotBeWatched) {
  Loop loop = open();
  keel::Uring& uring = loop.uring();
  auto nothing = [](const keel::Readiness&) {};
  Fd fd = make_eventfd();

  EXPECT_EQ(uring.try_watch(-1, keel::Readable, nothing).error(), std::errc::bad_file_descriptor);
  EXPECT_EQ(uring.try_watch(fd.get(), keel::Events{}, nothing).error(), std::errc::invalid_argument);
  EXPECT_EQ(uring.try_watch(fd.get(), keel::Hangup, nothing).error(), std::errc::invalid_argument);
  FILE* file = std::tmpfile();
  ASSERT_NE(file, nullptr);
  EXPECT_EQ(uring.try_watch(fileno(file), keel::Readable, nothing).error(), std::errc::operation_not_permitted);
  std::fclose(file);

  ASSERT_TRUE(uring.try_watch(fd.get(), keel::Readable, nothing).has_value());
  EXPECT_EQ(uring.try_watch(fd.get(), keel::Writable, nothing).error(), std::errc::file_exists);
  try {
    uring.watch(fd.get(), keel::Readable, nothing);
    FAIL() << "expected UringError";
  } catch (const keel::UringError& e) {
    EXPECT_EQ(e.code(), std::errc::file_exists);
    EXPECT_NE(std::string(e.what()).find("already watched"), std::string::npos) << e.what();
  }
  EXPECT_EQ(uring.size(), 1u);
}

TEST_P(UringTest, TakesHandlersOfEveryKind) {
  Loop loop = open();
  Fd fds[5] = {make_eventfd(), make_eventfd(), make_eventfd(), make_eventfd(), make_eventfd()};
  int runs = 0;
  keel::Uring& uring = loop.uring();
  const keel::Registry& reg = loop.world.registry();
  // A keel handler, a by-value event, a boxed handler, a plain lambda, and
  // one too big to store inline (boxed behind the scenes).
  uring.watch(fds[0].get(), keel::Readable, keel::handler(reg, [&runs](const keel::Readiness& r) {
                ++runs;
                drain(r.fd);
              }));
  uring.watch(fds[1].get(), keel::Readable, keel::handler(reg, [&runs](keel::Readiness r) {
                ++runs;
                drain(r.fd);
              }));
  uring.watch(fds[2].get(), keel::Readable, keel::boxed(keel::handler(reg, [&runs](const keel::Readiness& r) {
                ++runs;
                drain(r.fd);
              })));
  uring.watch(fds[3].get(), keel::Readable, [&runs](keel::ResMut<Seen>, const keel::Readiness& r) {
    ++runs;
    drain(r.fd);
  });
  std::array<char, 256> big{};
  big[0] = 'b';
  uring.watch(fds[4].get(), keel::Readable, [&runs, big](const keel::Readiness& r) {
    runs += big[0] == 'b' ? 1 : 0;
    drain(r.fd);
  });
  loop.poll();
  for (const Fd& fd : fds) signal_eventfd(fd.get());
  loop.poll_until([&] { return runs == 5; });
  EXPECT_EQ(runs, 5);
}

TEST_P(UringTest, DestroysEveryHandlerOnceWhenTheWorldDies) {
  static int live = 0;
  struct Tracked {
    Tracked() { ++live; }
    Tracked(const Tracked&) { ++live; }
    Tracked(Tracked&&) noexcept { ++live; }
    ~Tracked() { --live; }
  };
  live = 0;
  std::vector<Fd> fds;
  {
    Loop loop = open();
    for (int i = 0; i < 20; ++i) {
      fds.push_back(make_eventfd());
      loop.uring().watch(fds.back().get(), keel::Readable, [t = Tracked()](const keel::Readiness&) {});
    }
    EXPECT_EQ(live, 20);
    loop.poll();
  }
  EXPECT_EQ(live, 0);
}

TEST_P(UringTest, TenThousandWatchedFds) {
  constexpr int kFds = 10'000;
  rlimit limit{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &limit), 0);
  const rlim_t needed = kFds + 256;
  if (limit.rlim_cur < needed) {
    if (limit.rlim_max != RLIM_INFINITY && limit.rlim_max < needed) {
      GTEST_SKIP() << "RLIMIT_NOFILE hard limit " << limit.rlim_max << " is below the " << needed << " fds needed";
    }
    rlimit raised = limit;
    raised.rlim_cur = needed;
    ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &raised), 0);
  }
  {
    // A 256-entry SQ: the 10,000 arms go in batches (SQ full: submit, go
    // on). The default 1,024-entry CQ overflows when they all fire at once.
    Loop loop = open(256);
    std::vector<Fd> fds;
    fds.reserve(kFds);
    std::vector<int> hits(kFds, 0);
    std::vector<keel::Watch> watches;
    for (int i = 0; i < kFds; ++i) {
      fds.push_back(make_eventfd());
      watches.push_back(loop.uring().watch(fds.back().get(), keel::Readable, [&hits, i](const keel::Readiness& r) {
        ++hits[static_cast<std::size_t>(i)];
        drain(r.fd);
      }));
    }
    EXPECT_EQ(loop.uring().size(), static_cast<std::size_t>(kFds));
    loop.poll();
    for (int round = 1; round <= 3; ++round) {
      for (const Fd& fd : fds) signal_eventfd(fd.get());
      std::size_t ran = 0;
      const auto deadline = Clock::now() + 20s;
      while (ran < kFds && Clock::now() < deadline) ran += loop.poll(50ms);
      ASSERT_EQ(ran, static_cast<std::size_t>(kFds)) << "round " << round;
    }
    for (int h : hits) ASSERT_EQ(h, 3);
    // Unwatching them all, then one more round: nothing runs.
    for (keel::Watch w : watches) ASSERT_TRUE(loop.uring().unwatch(w));
    EXPECT_EQ(loop.uring().size(), 0u);
    for (const Fd& fd : fds) signal_eventfd(fd.get());
    EXPECT_EQ(loop.poll(0ms) + loop.poll(30ms), 0u);
  }
  setrlimit(RLIMIT_NOFILE, &limit);
}

// --- errors in handlers and misuse -----------------------------------------------

TEST_P(UringTest, HandlerThatThrowsLeavesTheOtherEventsForTheNextPoll) {
  Loop loop = open();
  Fd a = make_eventfd();
  Fd b = make_eventfd();
  int runs = 0;
  auto throwing = [&runs](const keel::Readiness& r) {
    ++runs;
    drain(r.fd);
    throw std::runtime_error("handler failed");
  };
  loop.uring().watch(a.get(), keel::Readable, throwing);
  loop.uring().watch(b.get(), keel::Readable, throwing);
  loop.poll();
  signal_eventfd(a.get());
  signal_eventfd(b.get());
  // Both may arrive in one batch: the first throws out of poll(); the
  // second must not be lost, and runs at the next poll without waiting.
  const auto deadline = Clock::now() + 2s;
  while (runs < 2 && Clock::now() < deadline) {
    try {
      loop.poll(50ms);
    } catch (const std::runtime_error& e) {
      EXPECT_STREQ(e.what(), "handler failed");
    }
  }
  EXPECT_EQ(runs, 2);
  // The handlers were put back: they run again.
  signal_eventfd(a.get());
  EXPECT_THROW(loop.poll(1s), std::runtime_error);
  EXPECT_EQ(runs, 3);
  EXPECT_EQ(loop.uring().size(), 2u);
}

TEST_P(UringTest, PollingFromInsideAHandlerIsAConfigError) {
  Loop loop = open();
  Fd fd = make_eventfd();
  keel::UringPoller io = loop.io;
  std::string message;
  loop.uring().watch(fd.get(), keel::Readable, [&](const keel::Readiness& r) {
    drain(r.fd);
    message = keel_test::config_error_message([&] { io.poll(loop.world, 0ms); });
  });
  loop.poll();
  signal_eventfd(fd.get());
  EXPECT_EQ(loop.poll(1s), 1u);
  EXPECT_TRUE(keel_test::Contains(message, "inside a handler"));
}

TEST_P(UringTest, PollingAnotherWorldIsAConfigError) {
  Loop loop = open();
  keel::WorldBuilder other;
  keel::World world = std::move(other).build();
  EXPECT_THROW(loop.io.poll(world, 0ms), keel::ConfigError);
}

// --- timeouts, timers and signals ------------------------------------------------

TEST_P(UringTest, WaitEndsAtTheNextTimerDeadline) {
  keel::WorldBuilder wb;
  keel::TimerPoller timers = wb.install_driver(keel::TimerInstaller{});
  keel::UringPoller io = wb.install_driver(keel::UringInstaller{.entries = 8, .backend = GetParam()});
  keel::World world = std::move(wb).build();
  int fired = 0;
  world.resource<keel::TimerWheel>().schedule(Clock::now() + 40ms, [&fired](keel::Instant) { ++fired; });
  const auto start = Clock::now();
  EXPECT_EQ(io.poll(world, 10s), 0u);
  const auto waited = Clock::now() - start;
  EXPECT_GE(waited, 35ms);
  EXPECT_LT(waited, 5s);
  EXPECT_EQ(timers.poll(world, Clock::now()), 1u);
  EXPECT_EQ(fired, 1);
}

TEST_P(UringTest, WaitEndsAtTheNextTimerDeadlineWhateverTheInstallOrder) {
  keel::WorldBuilder wb;
  keel::UringPoller io = wb.install_driver(keel::UringInstaller{.entries = 8, .backend = GetParam()});
  wb.install_driver(keel::TimerInstaller{});
  keel::World world = std::move(wb).build();
  world.resource<keel::TimerWheel>().schedule(Clock::now() + 30ms, [](keel::Instant) {});
  const auto start = Clock::now();
  io.poll(world);  // no timeout of its own
  EXPECT_LT(Clock::now() - start, 5s);
}

void on_sigusr1(int) {}

TEST_P(UringTest, WaitInterruptedBySignalsResumesForTheTimeLeftAndLosesNothing) {
  // A wait interrupted by a signal (EINTR) resumes for the time left, so
  // poll(30ms) with nothing ready blocks for 30 ms. Spurious interruptions
  // happen — closing an io_uring queues task work that interrupts this
  // thread's next wait — so ending the wait at EINTR would return early.
  struct sigaction action {};
  struct sigaction previous {};
  action.sa_handler = on_sigusr1;  // no SA_RESTART: the wait sees EINTR
  sigemptyset(&action.sa_mask);
  ASSERT_EQ(sigaction(SIGUSR1, &action, &previous), 0);
  Loop loop = open();
  Fd fd = make_eventfd();
  loop.uring().watch(fd.get(), keel::Readable, recorder());
  loop.poll();
  const pthread_t self = pthread_self();
  {
    // Interrupted twice, nothing ready: the full timeout is still honoured.
    std::thread interrupter([self] {
      for (int i = 0; i < 2; ++i) {
        std::this_thread::sleep_for(40ms);
        pthread_kill(self, SIGUSR1);
      }
    });
    const auto start = Clock::now();
    EXPECT_EQ(loop.poll(200ms), 0u);
    EXPECT_GE(Clock::now() - start, 190ms);
    interrupter.join();
  }
  {
    // Interrupted, then an event: the resumed wait delivers it.
    const int event_fd = fd.get();
    std::thread interrupter([self, event_fd] {
      std::this_thread::sleep_for(40ms);
      pthread_kill(self, SIGUSR1);
      std::this_thread::sleep_for(40ms);
      eventfd_write(event_fd, 1);
    });
    const auto start = Clock::now();
    EXPECT_EQ(loop.poll(10s), 1u);
    EXPECT_LT(Clock::now() - start, 5s);
    interrupter.join();
  }
  sigaction(SIGUSR1, &previous, nullptr);
}

TEST_P(UringTest, StaleCompletionsDoNotEndABlockingPoll) {
  // A blocking poll ends when a handler runs or the time is up, not at a
  // completion that runs nothing: a removed watch's last completion
  // (-ECANCELED) must not make poll(1s) return 0 while the new watch's event
  // is a moment away.
  Loop loop = open();
  rewatch_rounds(loop, 500);
}

// --- cross-thread wake -----------------------------------------------------------

TEST_P(UringTest, WakeFromAnotherThreadInterruptsABlockingPoll) {
  Loop loop = open();
  keel::UringWaker waker = loop.uring().waker();
  EXPECT_TRUE(waker);
  std::thread t([waker] {
    std::this_thread::sleep_for(50ms);
    waker.wake();
  });
  const auto start = Clock::now();
  EXPECT_EQ(loop.poll(10s), 0u);  // no on_wake handler: nothing runs, the wait ends
  EXPECT_LT(Clock::now() - start, 5s);
  t.join();
}

TEST_P(UringTest, WakesFromFourThreadsAreNeverLost) {
  // Each thread publishes round k, wakes the loop, and waits for the loop to
  // acknowledge k before publishing k+1. The loop blocks in poll() with a
  // long timeout between wakes: one lost wake stalls a thread for the whole
  // timeout and fails the deadline below.
  constexpr int kThreads = 4;
  constexpr int kRounds = 200;
  Loop loop = open();
  std::array<std::atomic<int>, kThreads> published{};
  std::array<std::atomic<int>, kThreads> acknowledged{};
  int handler_runs = 0;
  loop.uring().on_wake([&](const keel::Woken&) {
    ++handler_runs;
    for (int i = 0; i < kThreads; ++i) acknowledged[i].store(published[i].load());
  });
  keel::UringWaker waker = loop.uring().waker();
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i, w = waker] {
      for (int k = 1; k <= kRounds; ++k) {
        published[i].store(k);
        w.wake();
        while (acknowledged[i].load() < k) std::this_thread::yield();
      }
    });
  }
  const auto deadline = Clock::now() + 30s;
  auto all_done = [&] {
    for (const auto& a : acknowledged)
      if (a.load() < kRounds) return false;
    return true;
  };
  std::size_t ran = 0;
  while (!all_done() && Clock::now() < deadline) ran += loop.poll(10s);
  for (std::thread& t : threads) t.join();
  EXPECT_TRUE(all_done());
  EXPECT_GT(handler_runs, 0);
  EXPECT_EQ(ran, static_cast<std::size_t>(handler_runs));
  EXPECT_LE(handler_runs, kThreads * kRounds);  // coalesced, never more than one per wake
}

TEST_P(UringTest, WakerThatOutlivesItsUringIsHarmless) {
  keel::UringWaker waker;
  {
    Loop loop = open();
    waker = loop.uring().waker();
  }
  waker.wake();
  waker.wake();
  keel::UringWaker empty;
  empty.wake();
  EXPECT_FALSE(empty);
}

// --- io_uring specifics: setup, refusal, thread ownership ------------------------

keel::UringError strict_refusal(keel::internal::RingSetupFault fault) {
  keel::internal::ScopedRingSetupFault injected(fault);
  try {
    keel::WorldBuilder wb;
    wb.install_driver(keel::UringInstaller{.entries = 4, .backend = Backend::IoUring});
  } catch (const keel::UringError& e) {
    return e;
  }
  ADD_FAILURE() << "Backend::IoUring did not refuse";
  return keel::UringError(keel::UringError::Kind::Failed, 0, "none");
}

TEST(UringSetup, StrictBackendThrowsUnavailableOnEpermAndEnosys) {
  const keel::UringError eperm = strict_refusal({.error = EPERM});
  EXPECT_EQ(eperm.kind(), keel::UringError::Kind::Unavailable);
  EXPECT_EQ(eperm.code(), std::errc::operation_not_permitted);
  EXPECT_NE(std::string(eperm.what()).find("unavailable"), std::string::npos) << eperm.what();
  EXPECT_NE(std::string(eperm.what()).find("EPERM"), std::string::npos) << eperm.what();
  EXPECT_NE(std::string(eperm.what()).find("seccomp"), std::string::npos) << eperm.what();

  const keel::UringError enosys = strict_refusal({.error = ENOSYS});
  EXPECT_EQ(enosys.kind(), keel::UringError::Kind::Unavailable);
  EXPECT_NE(std::string(enosys.what()).find("ENOSYS"), std::string::npos) << enosys.what();
}

TEST(UringSetup, StrictBackendThrowsUnavailableWhenIoUringIsDisabled) {
  char path[] = "/tmp/keel_io_uring_disabled_XXXXXX";
  Fd file(mkstemp(path));
  ASSERT_GE(file.get(), 0);
  ASSERT_EQ(::write(file.get(), "2\n", 2), 2);
  file.reset();
  const keel::UringError e = strict_refusal({.disabled_file = path});
  ::unlink(path);
  EXPECT_EQ(e.kind(), keel::UringError::Kind::Unavailable);
  EXPECT_NE(std::string(e.what()).find("io_uring_disabled"), std::string::npos) << e.what();
}

TEST(UringSetup, StrictBackendThrowsOutOfResourcesOnEnomem) {
  const keel::UringError e = strict_refusal({.error = ENOMEM});
  EXPECT_EQ(e.kind(), keel::UringError::Kind::OutOfResources);
  EXPECT_NE(std::string(e.what()).find("out of resources"), std::string::npos) << e.what();
  EXPECT_NE(std::string(e.what()).find("RLIMIT_MEMLOCK"), std::string::npos) << e.what();
}

// keel_test::refusal() decides every io_uring skip in tests/rt and
// sanitizer-tests: a refusal (EPERM, ENOSYS) is a reason to skip, any other
// setup failure is thrown on and fails the test.
TEST(UringSetup, TestsSkipWhenIoUringIsRefusedAndFailOnOtherSetupErrors) {
  for (const int refused : {EPERM, ENOSYS}) {
    keel::internal::ScopedRingSetupFault injected({.error = refused});
    const std::optional<std::string> why = keel_test::refusal(Backend::IoUring);
    ASSERT_TRUE(why.has_value()) << refused;
    EXPECT_TRUE(keel_test::Contains(*why, refused == EPERM ? "EPERM" : "ENOSYS"));
  }
  {
    keel::internal::ScopedRingSetupFault injected({.error = ENOMEM});
    EXPECT_THROW(static_cast<void>(keel_test::refusal(Backend::IoUring)), keel::UringError);
  }
  EXPECT_FALSE(keel_test::refusal(Backend::Epoll).has_value());
}

TEST(UringSetup, AutoFallsBackToEpollAndSaysSoOncePerProcess) {
  // In a child, so that "once per process" is this test's alone: stderr
  // goes to a pipe, two Urings fall back, one line must be printed.
  FdPair out = make_pipe(0);  // blocking: the parent reads to the end
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    dup2(out.b.get(), STDERR_FILENO);
    keel::internal::ScopedRingSetupFault injected({.error = EPERM});
    int code = 0;
    for (int i = 0; i < 2; ++i) {
      keel::WorldBuilder wb;
      wb.install_driver(keel::UringInstaller{.entries = 4, .backend = Backend::Auto});
      keel::World world = std::move(wb).build();
      if (world.resource<keel::Uring>().backend() != Backend::Epoll) code = 1;
      if (world.resource<keel::Uring>().describe().find("io_uring refused") == std::string::npos) code = 2;
    }
    std::fflush(stderr);
    _exit(code);
  }
  out.b.reset();
  std::string text;
  char buffer[512];
  for (ssize_t n; (n = ::read(out.a.get(), buffer, sizeof buffer)) > 0;) {
    text.append(buffer, static_cast<std::size_t>(n));
  }
  out.a.reset();
  int status = 0;
  waitpid(child, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  const std::string line = "the poll source runs on epoll";
  const auto first = text.find(line);
  ASSERT_NE(first, std::string::npos) << text;
  EXPECT_EQ(text.find(line, first + 1), std::string::npos) << "logged twice:\n" << text;
  EXPECT_NE(text.find("EPERM"), std::string::npos) << text;
}

TEST(UringSetup, SetupFlagsAreProbedAndSteppedDownOnEinval) {
  if (const auto why = keel_test::refusal(Backend::IoUring)) GTEST_SKIP() << *why;
  auto flags_with = [](unsigned refused) {
    keel::internal::ScopedRingSetupFault injected({.einval_flags = refused});
    keel::WorldBuilder wb;
    wb.install_driver(keel::UringInstaller{.entries = 4, .backend = Backend::IoUring});
    keel::World world = std::move(wb).build();
    return world.resource<keel::Uring>().setup_flags();
  };
  const unsigned best = flags_with(0);
  std::printf("[ flags    ] accepted: %s\n", keel::internal::RingBackend::flag_names(best).c_str());
  // Each step is tried with TASKRUN_FLAG first, and without it when refused.
  EXPECT_NE(best & IORING_SETUP_TASKRUN_FLAG, 0u);
  const unsigned no_taskrun_flag = flags_with(IORING_SETUP_TASKRUN_FLAG);
  EXPECT_EQ(no_taskrun_flag & IORING_SETUP_TASKRUN_FLAG, 0u);
  EXPECT_EQ(no_taskrun_flag & IORING_SETUP_DEFER_TASKRUN, best & IORING_SETUP_DEFER_TASKRUN);
  // Without DEFER_TASKRUN: COOP_TASKRUN is the next step.
  const unsigned no_defer = flags_with(IORING_SETUP_DEFER_TASKRUN);
  EXPECT_EQ(no_defer & (IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SINGLE_ISSUER), 0u);
  EXPECT_NE(no_defer & IORING_SETUP_COOP_TASKRUN, 0u);
  // Without either: plain, still with a larger CQ.
  const unsigned plain = flags_with(IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_COOP_TASKRUN);
  EXPECT_EQ(plain & (IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_COOP_TASKRUN), 0u);
  EXPECT_NE(plain & IORING_SETUP_CQSIZE, 0u);
  // And each of these rings works.
  for (unsigned refused : {0u, unsigned{IORING_SETUP_TASKRUN_FLAG}, unsigned{IORING_SETUP_DEFER_TASKRUN},
                           unsigned{IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_COOP_TASKRUN}}) {
    keel::internal::ScopedRingSetupFault injected({.einval_flags = refused});
    Loop loop = open_loop(keel::UringInstaller{.entries = 4, .backend = Backend::IoUring});
    Fd fd = make_eventfd();
    int runs = 0;
    loop.uring().watch(fd.get(), keel::Readable, counting(runs));
    loop.poll();
    signal_eventfd(fd.get());
    EXPECT_EQ(loop.poll(1s), 1u);
    EXPECT_EQ(runs, 1);
  }
}

// A poll that must not wait may skip the system call only when the ring
// shows nothing for the kernel to do: readiness that arrived since the last
// poll (task work the kernel holds) is still seen by the next zero-timeout
// poll, on every setup the probe can end with.
TEST(UringSetup, ZeroTimeoutPollSeesReadinessThatArrivedSinceTheLastPoll) {
  if (const auto why = keel_test::refusal(Backend::IoUring)) GTEST_SKIP() << *why;
  for (unsigned refused : {0u, unsigned{IORING_SETUP_TASKRUN_FLAG}, unsigned{IORING_SETUP_DEFER_TASKRUN},
                           unsigned{IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_COOP_TASKRUN}}) {
    keel::internal::ScopedRingSetupFault injected({.einval_flags = refused});
    Loop loop = open_loop(keel::UringInstaller{.entries = 4, .backend = Backend::IoUring});
    SCOPED_TRACE(keel::internal::RingBackend::flag_names(loop.uring().setup_flags()));
    Fd fd = make_eventfd();
    int runs = 0;
    loop.uring().watch(fd.get(), keel::Readable, counting(runs));
    for (int round = 1; round <= 100; ++round) {
      EXPECT_EQ(loop.poll(), 0u);  // armed (first round), then nothing to see
      signal_eventfd(fd.get());
      // The eventfd's wakeup has queued the poll's completion (as task work,
      // or posted) before write() returned: the next poll must find it.
      ASSERT_EQ(loop.poll(), 1u) << "round " << round;
      ASSERT_EQ(runs, round);  // the handler read the eventfd dry
    }
  }
}

TEST(UringSetup, WorldBuiltOnOneThreadIsPolledOnAnother) {
  if (const auto why = keel_test::refusal(Backend::IoUring)) GTEST_SKIP() << *why;
  Loop loop = open_loop(keel::UringInstaller{.entries = 4, .backend = Backend::IoUring});
  Fd fd = make_eventfd();
  int runs = 0;
  loop.uring().watch(fd.get(), keel::Readable, counting(runs));
  signal_eventfd(fd.get());
  std::size_t ran = 0;
  std::thread([&] { ran = loop.poll(1s); }).join();
  EXPECT_EQ(ran, 1u);
  EXPECT_EQ(runs, 1);
  // The polling thread now owns a SINGLE_ISSUER ring; another thread is told why it may not.
  if ((loop.uring().setup_flags() & IORING_SETUP_SINGLE_ISSUER) != 0) {
    signal_eventfd(fd.get());
    try {
      loop.poll(10ms);
      ADD_FAILURE() << "polling from a second thread was accepted";
    } catch (const keel::UringError& e) {
      EXPECT_NE(std::string(e.what()).find("thread"), std::string::npos) << e.what();
    }
  }
}

TEST(UringSetup, SecondUringInOneWorldIsAConfigError) {
  keel::WorldBuilder wb;
  wb.install_driver(keel::UringInstaller{.entries = 4, .backend = Backend::Epoll});
  EXPECT_THROW(wb.install_driver(keel::UringInstaller{.entries = 4, .backend = Backend::Epoll}), keel::ConfigError);
}

TEST(UringSetup, BackendNames) {
  EXPECT_EQ(keel::to_string(Backend::Auto), "auto");
  EXPECT_EQ(keel::to_string(Backend::IoUring), "io_uring");
  EXPECT_EQ(keel::to_string(Backend::Epoll), "epoll");
}

}  // namespace

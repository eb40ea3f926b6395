// Sanitizer test for the poll source's raw memory: the io_uring SQ and CQ
// rings shared with the kernel (rt/internal/ring.cc), and the watch slab
// (rt/internal/watch_slab.h), whose handlers are moved out of their slot to
// run and moved back by index.
//
// Run under --config=asan. The ring half drives the paths that index the
// shared rings by hand — SQ full (submit, then keep writing SQEs), CQ
// overflow (drain IORING_SQ_CQ_OVERFLOW, copy each CQE out before the head
// moves), a ring torn down with polls armed and completions unread — with
// rings of 2 to 8 entries so those paths run thousands of times. The slab
// half makes each mistake touch heap memory: every handler owns a string
// and a vector, so a handler destroyed while it runs, a slot reached
// through a reference taken before the slab grew, or a handler destroyed
// twice is a use-after-free or a double free; one never destroyed leaks.
#include <gtest/gtest.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "rt/internal/ring.h"
#include "rt/internal/watch_slab.h"
#include "rt/uring.h"
#include "rt/world.h"
#include "tests/rt/fd.h"

namespace {

using namespace std::chrono_literals;
using keel::Backend;

// --- helpers ---------------------------------------------------------------------

using keel_test::backend_name;
using keel_test::drain;
using keel_test::Fd;
using keel_test::make_eventfd;
using keel_test::make_eventfds;
using keel_test::signal_eventfd;

// Counts the live handlers and checks each one's heap memory when it runs
// and when it dies.
struct Census {
  int live = 0;
  int runs = 0;
};

struct Owned {
  Census* census;
  std::string text;
  std::vector<int> numbers;
  Owned(Census* c, int seed) : census(c), text("handler-" + std::to_string(seed) + std::string(40, '#')), numbers(32, seed) {
    ++census->live;
  }
  Owned(Owned&& o) noexcept : census(o.census), text(std::move(o.text)), numbers(std::move(o.numbers)) {
    ++census->live;
  }
  Owned(const Owned&) = delete;
  ~Owned() { --census->live; }
  void touch() const {
    // Reads every byte it owns: a freed or moved-from object shows here.
    int sum = 0;
    for (char ch : text) sum += ch;
    for (int n : numbers) sum += n;
    EXPECT_GT(sum, 0);
  }
};

struct Loop {
  keel::World world;
  keel::UringPoller io;
  keel::Uring& uring() { return world.resource<keel::Uring>(); }
};

Loop open(Backend backend, unsigned entries, unsigned cq_entries = 0) {
  keel::WorldBuilder wb;
  keel::UringPoller io =
      wb.install_driver(keel::UringInstaller{.entries = entries, .backend = backend, .cq_entries = cq_entries});
  return Loop{std::move(wb).build(), io};
}

template <class Done>
void poll_until(Loop& loop, Done done) {
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (!done() && std::chrono::steady_clock::now() < deadline) loop.io.poll(loop.world, 20ms);
}

class RingMemory : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    if (const auto why = keel_test::refusal(GetParam())) GTEST_SKIP() << *why;
  }
};

INSTANTIATE_TEST_SUITE_P(Backends, RingMemory, ::testing::Values(Backend::IoUring, Backend::Epoll), backend_name);

// --- the shared rings ---------------------------------------------------------------

TEST_P(RingMemory, TinySubmissionQueueTakesThousandsOfArmsInBatches) {
  // 2 SQ entries, 600 watches: the arms are written to the SQ two at a
  // time, submitting in between. Three rounds of every fd firing at once,
  // each overflowing a 4-entry CQ: every CQE copied out before the head
  // moves, every overflowed completion drained, every ended poll re-armed.
  Census census;
  {
    Loop loop = open(GetParam(), 2, 4);
    std::vector<Fd> fds = make_eventfds(600);
    for (std::size_t i = 0; i < fds.size(); ++i) {
      loop.uring().watch(fds[i].get(), keel::Readable, [o = Owned(&census, static_cast<int>(i) + 1)](
                                                         const keel::Readiness& r) {
        o.touch();
        ++o.census->runs;
        drain(r.fd);
      });
    }
    loop.io.poll(loop.world, 0ms);
    for (int round = 1; round <= 3; ++round) {
      for (const Fd& e : fds) signal_eventfd(e.get());
      poll_until(loop, [&] { return census.runs == 600 * round; });
      ASSERT_EQ(census.runs, 600 * round);
    }
    EXPECT_EQ(census.live, 600);
  }
  EXPECT_EQ(census.live, 0);
}

TEST_P(RingMemory, RingTornDownWithPollsArmedAndCompletionsUnread) {
  // Completions wait in the CQ (and the kernel's overflow list) when the
  // ring is closed; nothing reads the unmapped rings afterwards.
  Census census;
  for (int iteration = 0; iteration < 20; ++iteration) {
    Loop loop = open(GetParam(), 4, 8);
    std::vector<Fd> fds = make_eventfds(32);
    std::vector<keel::Watch> watches;
    for (std::size_t i = 0; i < fds.size(); ++i) {
      watches.push_back(loop.uring().watch(
          fds[i].get(), keel::Readable, [o = Owned(&census, static_cast<int>(i) + 1)](const keel::Readiness&) { o.touch(); }));
    }
    loop.io.poll(loop.world, 0ms);  // armed
    for (const Fd& e : fds) signal_eventfd(e.get());
    // Odd iterations also leave removals queued, never submitted.
    if (iteration % 2 == 1) {
      for (std::size_t i = 0; i < watches.size(); i += 2) loop.uring().unwatch(watches[i]);
    }
  }
  EXPECT_EQ(census.live, 0);
}

TEST(RingBackendMemory, CompletionsAreCopiedOutIntactAcrossOverflow) {
  if (const auto why = keel_test::refusal(Backend::IoUring)) GTEST_SKIP() << *why;
  keel::internal::RingRefusal refusal;
  std::unique_ptr<keel::internal::RingBackend> ring = keel::internal::RingBackend::open(2, 4, refusal);
  ASSERT_TRUE(ring) << refusal.reason;
  std::vector<Fd> fds = make_eventfds(40);
  for (std::size_t i = 0; i < fds.size(); ++i) {
    ASSERT_EQ(ring->add(fds[i].get(), 0x001, 1000 + i), 0);
  }
  EXPECT_EQ(ring->pending(), 40u);
  std::vector<keel::internal::Completion> out;
  ASSERT_FALSE(ring->wait(out, 0ns));  // all arms submitted, two at a time
  EXPECT_EQ(ring->pending(), 0u);
  EXPECT_TRUE(out.empty());
  for (const Fd& e : fds) signal_eventfd(e.get());
  ASSERT_FALSE(ring->wait(out, 1s));
  // 40 completions through a 4-entry CQ: each one exactly once, with its
  // own user_data and a POLLIN result.
  std::vector<int> seen(40, 0);
  for (const keel::internal::Completion& c : out) {
    ASSERT_GE(c.user_data, 1000u);
    ASSERT_LT(c.user_data, 1040u);
    EXPECT_EQ(c.result, 0x001);
    ++seen[c.user_data - 1000];
  }
  for (int s : seen) EXPECT_EQ(s, 1);
  // The ended polls come back when re-armed; removals complete quietly.
  for (const keel::internal::Completion& c : out) {
    if ((c.flags & keel::internal::kCompletionMore) == 0) {
      ring->rearm(fds[c.user_data - 1000].get(), 0x001, c.user_data);
    }
  }
  for (std::size_t i = 0; i < fds.size(); ++i) ring->remove(fds[i].get(), 1000 + i);
  out.clear();
  ASSERT_FALSE(ring->wait(out, 0ns));
}

TEST(RingBackendMemory, ZeroTimeoutWaitsReadTheSharedRingsAndLoseNoCompletion) {
  // Only waits that must not block: each reads the SQ ring's flags to
  // decide whether to enter the kernel, and reads the CQ either way. 40
  // completions through a 4-entry CQ (overflow and task work both marked
  // in the flags) arrive each exactly once, with no blocking wait.
  if (const auto why = keel_test::refusal(Backend::IoUring)) GTEST_SKIP() << *why;
  keel::internal::RingRefusal refusal;
  std::unique_ptr<keel::internal::RingBackend> ring = keel::internal::RingBackend::open(2, 4, refusal);
  ASSERT_TRUE(ring) << refusal.reason;
  std::vector<Fd> fds = make_eventfds(40);
  for (std::size_t i = 0; i < fds.size(); ++i) ASSERT_EQ(ring->add(fds[i].get(), 0x001, 1000 + i), 0);
  std::vector<keel::internal::Completion> out;
  ASSERT_FALSE(ring->wait(out, 0ns));
  ASSERT_TRUE(out.empty());
  for (int round = 0; round < 3; ++round) {
    for (const Fd& e : fds) signal_eventfd(e.get());
    std::vector<int> seen(40, 0);
    std::size_t total = 0;
    for (int wait = 0; wait < 1000 && total < 40; ++wait) {
      out.clear();
      ASSERT_FALSE(ring->wait(out, 0ns));
      for (const keel::internal::Completion& c : out) {
        ASSERT_GE(c.user_data, 1000u);
        ASSERT_LT(c.user_data, 1040u);
        ++seen[c.user_data - 1000];
        ++total;
        if ((c.flags & keel::internal::kCompletionMore) == 0) {
          ring->rearm(fds[c.user_data - 1000].get(), 0x001, c.user_data);
        }
      }
    }
    for (int s : seen) ASSERT_EQ(s, 1);
    for (const Fd& e : fds) drain(e.get());
  }
}

// --- the watch slab, through the Uring ------------------------------------------------

TEST_P(RingMemory, HandlerUnwatchingItselfDiesAfterItsRunNotDuring) {
  Census census;
  Loop loop = open(GetParam(), 4);
  Fd fd = make_eventfd();
  loop.uring().watch(fd.get(), keel::Readable,
                     [o = Owned(&census, 7)](keel::ResMut<keel::Uring> uring, const keel::Readiness& r) {
                       o.touch();
                       uring->unwatch(r.watch);
                       o.touch();  // still alive: destroyed after the call returns
                       ++o.census->runs;
                     });
  loop.io.poll(loop.world, 0ms);
  signal_eventfd(fd.get());
  poll_until(loop, [&] { return census.runs == 1; });
  EXPECT_EQ(census.runs, 1);
  EXPECT_EQ(census.live, 0);
}

TEST_P(RingMemory, SlabGrowsAndSlotsAreReusedWhileAHandlerIsOut) {
  // The running handler watches 200 new fds (both slab vectors reallocate
  // under it), unwatches half of them (their slots are reused at once by
  // the next watches), and unwatches another live handler; it then reads
  // its own captures, which must not have moved.
  Census census;
  Loop loop = open(GetParam(), 4);
  Fd trigger = make_eventfd();
  Fd victim_fd = make_eventfd();
  std::vector<Fd> added;
  added.reserve(400);
  const keel::Watch victim = loop.uring().watch(
      victim_fd.get(), keel::Readable, [o = Owned(&census, 3)](const keel::Readiness&) { o.touch(); });
  loop.uring().watch(trigger.get(), keel::Readable,
                     [&, o = Owned(&census, 1)](keel::ResMut<keel::Uring> uring, const keel::Readiness& r) {
                       drain(r.fd);
                       for (int round = 0; round < 2; ++round) {
                         std::vector<keel::Watch> made;
                         for (int i = 0; i < 100; ++i) {
                           added.push_back(make_eventfd());
                           made.push_back(uring->watch(added.back().get(), keel::Readable,
                                                       [n = Owned(&census, 100 + i)](const keel::Readiness& a) {
                                                         n.touch();
                                                         ++n.census->runs;
                                                         drain(a.fd);
                                                       }));
                         }
                         for (std::size_t i = 0; i < made.size(); i += 2) uring->unwatch(made[i]);
                       }
                       uring->unwatch(victim);
                       o.touch();
                     });
  loop.io.poll(loop.world, 0ms);
  signal_eventfd(trigger.get());
  signal_eventfd(victim_fd.get());
  poll_until(loop, [&] { return loop.uring().size() == 101; });
  ASSERT_EQ(loop.uring().size(), 101u);  // the trigger and 100 of the added
  for (const Fd& e : added) signal_eventfd(e.get());
  poll_until(loop, [&] { return census.runs == 100; });
  EXPECT_EQ(census.runs, 100);
  EXPECT_EQ(census.live, 101);
}

TEST_P(RingMemory, ThrowingHandlerIsPutBackIntact) {
  Census census;
  Loop loop = open(GetParam(), 4);
  Fd fd = make_eventfd();
  loop.uring().watch(fd.get(), keel::Readable, [o = Owned(&census, 5)](const keel::Readiness& r) {
    o.touch();
    ++o.census->runs;
    drain(r.fd);
    throw std::runtime_error(o.text);
  });
  loop.io.poll(loop.world, 0ms);
  for (int i = 1; i <= 20; ++i) {
    signal_eventfd(fd.get());
    EXPECT_THROW(loop.io.poll(loop.world, 1s), std::runtime_error);
    EXPECT_EQ(census.runs, i);
  }
  EXPECT_EQ(census.live, 1);
}

// --- the watch slab, alone --------------------------------------------------------------

using Slab = keel::internal::WatchSlab<keel::Uring::WatchHandler>;

keel::Uring::WatchHandler make_handler(Census* census, int seed) {
  struct H {
    using event_type = const keel::Readiness&;
    Owned owned;
    void run(keel::World&, const keel::Readiness&) {
      owned.touch();
      ++owned.census->runs;
    }
    std::string_view name() const noexcept { return "slab handler"; }
  };
  return keel::Uring::WatchHandler(H{Owned(census, seed)});
}

TEST(WatchSlabMemory, TakeRunPutBackAndReleaseWhileTaken) {
  Census census;
  keel::WorldBuilder wb;
  keel::World world = std::move(wb).build();
  keel::Readiness event;
  {
    Slab slab;
    std::vector<std::uint32_t> indices;
    for (int i = 0; i < 50; ++i) indices.push_back(slab.allocate(make_handler(&census, i + 1), i, 1));
    // Out of its slot while the slab grows three times over.
    const std::uint32_t first = indices[0];
    const std::uint32_t generation = slab.generation(first);
    keel::Uring::WatchHandler running = slab.take(first);
    for (int i = 0; i < 150; ++i) slab.allocate(make_handler(&census, 1000 + i), 100 + i, 1);
    running.run(world, event);
    ASSERT_TRUE(slab.taken(first, generation));
    slab.put_back(first, std::move(running));
    EXPECT_TRUE(slab.allocated(first, generation));

    // Released while out: the slot is freed (and reused) at once, and the
    // taker's local is the last owner.
    const std::uint32_t second = indices[1];
    const std::uint32_t second_generation = slab.generation(second);
    keel::Uring::WatchHandler out = slab.take(second);
    slab.release(second);
    const std::uint32_t reused = slab.allocate(make_handler(&census, 77), 77, 1);
    EXPECT_EQ(reused, second);
    EXPECT_FALSE(slab.taken(second, second_generation));
    EXPECT_FALSE(slab.allocated(second, second_generation));
    out.run(world, event);  // still whole
    EXPECT_EQ(census.live, 201);
    out.reset();
    EXPECT_EQ(census.live, 200);
  }
  EXPECT_EQ(census.live, 0);
  EXPECT_EQ(census.runs, 2);
}

// A handler whose destructor watches again, once. release() frees its slot
// before the destructor runs, so the new watch takes that very slot.
struct Refills {
  using event_type = const keel::Readiness&;
  Slab* slab;
  Census* census;
  std::string text = std::string(40, 'r');
  Refills(Slab* s, Census* c) : slab(s), census(c) { ++census->live; }
  Refills(Refills&& o) noexcept : slab(std::exchange(o.slab, nullptr)), census(o.census), text(std::move(o.text)) {
    ++census->live;
  }
  ~Refills() {
    --census->live;
    if (slab != nullptr) slab->allocate(make_handler(census, 5), 5, 1);
  }
  void run(keel::World&, const keel::Readiness&) {}
  std::string_view name() const noexcept { return "refills"; }
};

// clear() passes again until a pass finds nothing to release, so a watch
// that a destructor adds into a slot already passed (the slot just freed is
// the first one reused) is released by clear() too. ~Uring clears the slab
// while fd_slots_ and the backend still exist; a watch left for the slab's
// own destructor would have its handler destroyed after them, and that
// destructor could call back into a Uring whose later members are gone.
TEST(WatchSlabMemory, ClearReleasesWatchesThatDestructorsAddBehindIt) {
  Census census;
  Slab slab;
  slab.allocate(keel::Uring::WatchHandler(Refills(&slab, &census)), 0, 1);
  for (int i = 1; i < 4; ++i) slab.allocate(make_handler(&census, i), i, 1);
  slab.clear();
  EXPECT_EQ(slab.size(), 0u);
  EXPECT_EQ(census.live, 0);
}

TEST(WatchSlabMemory, GenerationsWrapWithinTheirBitsAndNeverReachZero) {
  Census census;
  Slab slab;
  std::uint32_t index = slab.allocate(make_handler(&census, 1), 0, 1);
  for (std::uint32_t i = 0; i < 4096; ++i) {
    slab.release(index);
    index = slab.allocate(make_handler(&census, 2), 0, 1);
    const std::uint32_t g = slab.generation(index);
    ASSERT_NE(g, 0u);
    ASSERT_LE(g, keel::internal::kGenerationMask);
  }
  EXPECT_EQ(census.live, 1);
}

}  // namespace

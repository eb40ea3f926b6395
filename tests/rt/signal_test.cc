// Tests for rt/signal.h: SIGINT/SIGTERM through a signalfd on the poll
// source into keel::Shutdown, on both backends (io_uring's half skips with
// the kernel's reason where io_uring is refused).
//
// Signals are per thread: each test blocks them through SignalInstaller on
// the test's own thread before any other thread exists, as the header asks.
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <utility>

#include "gtest/gtest.h"
#include "rt/signal.h"
#include "rt/uring.h"
#include "rt/world.h"
#include "tests/rt/fd.h"
#include "tests/rt/fixtures.h"

namespace {

using namespace std::chrono_literals;
using keel::Backend;
using keel_test::backend_name;
using Clock = std::chrono::steady_clock;

bool blocked(int signal) {
  sigset_t mask;
  pthread_sigmask(SIG_BLOCK, nullptr, &mask);
  return sigismember(&mask, signal) == 1;
}

struct Routed {
  keel::World world;
  keel::UringPoller io;
  keel::SignalRoute signals;

  // Runs the loop until shutdown, as a program would; false if it did not
  // stop within the limit.
  bool run_until_shutdown(std::chrono::seconds limit = 10s) {
    const auto deadline = Clock::now() + limit;
    bool in_time = true;
    world.run([&](keel::World& w) {
      io.poll(w, 50ms);
      if (Clock::now() > deadline) {
        in_time = false;
        w.resource<keel::Shutdown>().request();
      }
    });
    return in_time;
  }
};

class SignalTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    if (const auto why = keel_test::refusal(GetParam())) GTEST_SKIP() << *why;
  }

  Routed route(keel::SignalInstaller installer = {}) {
    keel::WorldBuilder wb;
    keel::UringPoller io = wb.install_driver(keel::UringInstaller{.entries = 8, .backend = GetParam()});
    keel::SignalRoute signals = wb.install_driver(std::move(installer));
    return Routed{std::move(wb).build(), io, signals};
  }
};

INSTANTIATE_TEST_SUITE_P(Backends, SignalTest, ::testing::Values(Backend::IoUring, Backend::Epoll), backend_name);

TEST_P(SignalTest, RaisedSigtermRequestsShutdownThroughThePollLoop) {
  Routed r = route();
  EXPECT_TRUE(blocked(SIGTERM));
  EXPECT_TRUE(blocked(SIGINT));
  ASSERT_EQ(raise(SIGTERM), 0);  // pending on this thread, not delivered: blocked
  EXPECT_FALSE(r.world.shutdown_handle().requested());
  EXPECT_TRUE(r.run_until_shutdown());
  EXPECT_TRUE(r.world.shutdown_handle().requested());
  EXPECT_EQ(r.signals.last_signal(), SIGTERM);
  EXPECT_EQ(r.signals.received(), 1u);
}

TEST_P(SignalTest, SigintSentToTheProcessRequestsShutdown) {
  Routed r = route();
  ASSERT_EQ(kill(getpid(), SIGINT), 0);
  EXPECT_TRUE(r.run_until_shutdown());
  EXPECT_EQ(r.signals.last_signal(), SIGINT);
  EXPECT_EQ(r.world.resource<keel::SignalSource>().received(), 1u);
}

TEST_P(SignalTest, SignalFromAnotherThreadEndsABlockingPoll) {
  Routed r = route();
  // Started after the install: the thread inherits the blocked mask, so the
  // signal stays pending for the process and reaches the signalfd.
  std::thread sender([] {
    std::this_thread::sleep_for(50ms);
    kill(getpid(), SIGTERM);
  });
  const auto start = Clock::now();
  r.io.poll(r.world);  // no timeout: only the signal can end it
  sender.join();
  EXPECT_LT(Clock::now() - start, 5s);
  EXPECT_TRUE(r.world.shutdown_handle().requested());
}

TEST_P(SignalTest, SeveralSignalsBetweenTwoPollsAreAllCounted) {
  Routed r = route();
  ASSERT_EQ(raise(SIGTERM), 0);
  ASSERT_EQ(raise(SIGINT), 0);
  EXPECT_TRUE(r.run_until_shutdown());
  EXPECT_EQ(r.signals.received(), 2u);
}

TEST_P(SignalTest, WithoutShutdownSignalsAreOnlyCounted) {
  Routed r = route(keel::SignalInstaller{.signals = {SIGUSR2}, .request_shutdown = false});
  ASSERT_EQ(raise(SIGUSR2), 0);
  const auto deadline = Clock::now() + 5s;
  while (r.signals.received() == 0 && Clock::now() < deadline) r.io.poll(r.world, 50ms);
  EXPECT_EQ(r.signals.received(), 1u);
  EXPECT_EQ(r.signals.last_signal(), SIGUSR2);
  EXPECT_FALSE(r.world.shutdown_handle().requested());
}

TEST_P(SignalTest, DestroyingTheWorldRestoresTheMaskAndDiscardsWhatIsPending) {
  ASSERT_FALSE(blocked(SIGTERM));
  {
    Routed r = route();
    EXPECT_TRUE(blocked(SIGTERM));
    // Pending when the World dies: discarded, not delivered (which would
    // end this process with SIGTERM's default action).
    ASSERT_EQ(raise(SIGTERM), 0);
  }
  EXPECT_FALSE(blocked(SIGTERM));
  EXPECT_FALSE(blocked(SIGINT));
}

TEST_P(SignalTest, SignalsBlockedBeforehandStayBlocked) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  ASSERT_EQ(pthread_sigmask(SIG_BLOCK, &set, nullptr), 0);
  { Routed r = route(); }
  EXPECT_TRUE(blocked(SIGINT));  // blocked by us before: not ours to unblock
  EXPECT_FALSE(blocked(SIGTERM));
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
}

TEST(SignalInstaller, NeedsAUringInstalledFirst) {
  keel::WorldBuilder wb;
  const std::string message = keel_test::config_error_message([&] { wb.install_driver(keel::SignalInstaller{}); });
  EXPECT_TRUE(keel_test::Contains(message, "UringInstaller"));
  EXPECT_FALSE(blocked(SIGTERM));
}

TEST(SignalInstaller, RefusesSignalsThatCannotBeBlocked) {
  keel::WorldBuilder wb;
  wb.install_driver(keel::UringInstaller{.entries = 8, .backend = Backend::Epoll});
  EXPECT_THROW(wb.install_driver(keel::SignalInstaller{.signals = {SIGTERM, SIGKILL}}), keel::ConfigError);
  EXPECT_FALSE(blocked(SIGTERM));
}

}  // namespace

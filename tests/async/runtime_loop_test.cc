// The runtime on the World's loop: tasks share the World's ring with its
// readiness handlers (one wait for both), a handler spawns tasks through
// the Spawner resource and a task runs a pre-resolved handler through
// with_world, and a task that never stops yielding does not keep the ring
// from being polled.
#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <string>
#include <utility>

#include "async/join_handle.h"
#include "async/runtime.h"
#include "async/spawner.h"
#include "async/task.h"
#include "rt/handler.h"
#include "rt/param.h"
#include "rt/uring.h"
#include "rt/world.h"
#include "tests/rt/fd.h"

namespace {

using keel::async::Runtime;
using keel::async::Task;

struct Tape {
  int readiness = 0;  // handler runs on the pipe
  int spawned = 0;    // tasks the handler started that ran
  int settled = 0;    // handler runs a task asked for
};

class RuntimeOnTheWorldsRing : public ::testing::TestWithParam<keel::Backend> {
 protected:
  void SetUp() override {
    if (const auto why = keel_test::refusal(GetParam())) GTEST_SKIP() << *why;
  }
  keel::World build() {
    keel::WorldBuilder wb;
    wb.install(keel::async::AsyncPlugin{});
    wb.insert(Tape{});
    io_ = wb.install_driver(keel::UringInstaller{.entries = 16, .backend = GetParam()});
    return std::move(wb).build();
  }
  std::optional<keel::UringPoller> io_;
};

Task<void> note_spawned(Tape& tape) {
  ++tape.spawned;
  co_return;
}

// A readiness handler that spawns a task per wake of the pipe.
void spawn_on_ready(keel::ResMut<keel::async::Spawner> tasks, keel::ResMut<Tape> tape, const keel::Readiness& r) {
  keel_test::drain(r.fd);
  ++tape->readiness;
  tasks->spawn(note_spawned(*tape)).detach();
}

TEST_P(RuntimeOnTheWorldsRing, SharesTheRingAndHandlersAndTasksMeetBothWays) {
  keel::World world = build();
  Runtime rt(world);
  EXPECT_TRUE(rt.shares_world_ring());
  EXPECT_EQ(&rt.ring(), &world.resource<keel::Uring>());

  keel_test::FdPair pipe = keel_test::make_pipe();
  keel::Watch watch =
      world.resource<keel::Uring>().watch(pipe.a.get(), keel::Readable, keel::handler(world.registry(), spawn_on_ready));
  // A handler resolved ahead of time, run by a task.
  auto settle = keel::handler(world.registry(), [](keel::ResMut<Tape> tape, int n) { tape->settled += n; });

  auto main = [&]() -> Task<int> {
    keel_test::write_byte(pipe.b.get());
    while (world.resource<Tape>().spawned == 0) co_await keel::async::yield_now();
    co_await keel::async::with_world([&](keel::World& w) {
      w.next_sequence();
      settle.run(w, 5);
    });
    co_return world.resource<Tape>().settled;
  };
  EXPECT_EQ(rt.block_on(main()), 5);
  const Tape& tape = world.resource<Tape>();
  EXPECT_EQ(tape.readiness, 1);
  EXPECT_EQ(tape.spawned, 1);
  world.resource<keel::Uring>().unwatch(watch);
}

TEST_P(RuntimeOnTheWorldsRing, TickServesHandlersAndTasksFromALoopOfYourOwn) {
  keel::World world = build();
  Runtime rt(world);
  keel_test::FdPair pipe = keel_test::make_pipe();
  keel::Watch watch =
      world.resource<keel::Uring>().watch(pipe.a.get(), keel::Readable, keel::handler(world.registry(), spawn_on_ready));
  keel_test::write_byte(pipe.b.get());
  const Tape& tape = world.resource<Tape>();
  for (int turn = 0; turn < 100 && tape.spawned == 0; ++turn) rt.tick(std::chrono::milliseconds(100));
  EXPECT_EQ(tape.readiness, 1);
  EXPECT_EQ(tape.spawned, 1);
  EXPECT_EQ(rt.tasks(), 0u);
  world.resource<keel::Uring>().unwatch(watch);
}

TEST_P(RuntimeOnTheWorldsRing, ATaskThatNeverStopsYieldingLetsReadinessHandlersRun) {
  keel::World world = build();
  keel::async::RuntimeOptions options;
  options.tasks_per_turn = 16;
  Runtime rt(world, options);
  keel_test::FdPair pipe = keel_test::make_pipe();
  auto on_ready = [](keel::ResMut<Tape> tape, const keel::Readiness& r) {
    keel_test::drain(r.fd);
    ++tape->readiness;
  };
  keel::Watch watch =
      world.resource<keel::Uring>().watch(pipe.a.get(), keel::Readable, keel::handler(world.registry(), on_ready));
  auto spin = [&]() -> Task<void> {
    keel_test::write_byte(pipe.b.get());
    // Only the handler, run by the ring's poll between task turns, ends this loop.
    while (world.resource<Tape>().readiness == 0) co_await keel::async::yield_now();
  };
  rt.block_on(spin());
  EXPECT_EQ(world.resource<Tape>().readiness, 1);
  world.resource<keel::Uring>().unwatch(watch);
}

INSTANTIATE_TEST_SUITE_P(Backends, RuntimeOnTheWorldsRing,
                         ::testing::Values(keel::Backend::IoUring, keel::Backend::Epoll), keel_test::backend_name);

TEST(Runtime, OpensARingOfItsOwnWhenTheWorldHasNone) {
  keel::World world = keel::WorldBuilder().build();
  Runtime rt(world);
  EXPECT_FALSE(rt.shares_world_ring());
  EXPECT_EQ(world.try_resource<keel::Uring>(), nullptr);
  auto main = []() -> Task<int> {
    co_await keel::async::yield_now();
    co_return 3;
  };
  EXPECT_EQ(rt.block_on(main()), 3);
}

}  // namespace

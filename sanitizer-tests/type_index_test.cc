// Sanitizer test where threads meet: internal::type_index<T>() (a relaxed
// atomic counter behind function-local statics, rt/internal/type_index.h),
// the name interning behind handler names (rt/internal/callable_name.cc) and
// keel::Shutdown, the one World member other threads may touch
// (rt/world.h). Runs under --config=asan and --config=tsan (the tsan_tests
// suite): a data race on any of them is a TSan report; without TSan, an
// index handed out twice or a lost shutdown request fails the assertions.
// Threads start together on a latch; nothing here depends on timing.
#include "rt/internal/type_index.h"
#include "rt/internal/serial.h"

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <latch>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "rt/handler.h"
#include "rt/internal/callable_name.h"
#include "rt/param.h"
#include "rt/world.h"

namespace {

using keel::internal::type_index;

// Distinct types, first named inside the threads below.
template <int N>
struct Tag {};

constexpr int kTypes = 64;
constexpr int kThreads = 8;

template <int... N>
std::array<std::size_t, sizeof...(N)> indices_forward(std::integer_sequence<int, N...>) {
  return {type_index<Tag<N>>()...};
}

template <int... N>
std::array<std::size_t, sizeof...(N)> indices_backward(std::integer_sequence<int, N...>) {
  // Same types, opposite order of first use: {Tag<63>, ..., Tag<0>}, then reversed back.
  std::array<std::size_t, sizeof...(N)> reversed{type_index<Tag<kTypes - 1 - N>>()...};
  std::array<std::size_t, sizeof...(N)> result{};
  for (std::size_t i = 0; i < reversed.size(); ++i) result[reversed.size() - 1 - i] = reversed[i];
  return result;
}

TEST(TypeIndex, ConcurrentFirstUseGivesOneIndexPerTypeAndDistinctIndicesAcrossTypes) {
  std::vector<std::array<std::size_t, kTypes>> seen(kThreads);
  std::latch start(kThreads);
  {
    std::vector<std::jthread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        start.arrive_and_wait();
        // Half the threads name the types in one order, half in the other,
        // so first uses collide from both ends.
        seen[static_cast<std::size_t>(t)] = t % 2 == 0
                                                ? indices_forward(std::make_integer_sequence<int, kTypes>{})
                                                : indices_backward(std::make_integer_sequence<int, kTypes>{});
      });
    }
  }  // jthreads join here

  for (int t = 1; t < kThreads; ++t) EXPECT_EQ(seen[static_cast<std::size_t>(t)], seen[0]) << "thread " << t;
  const std::set<std::size_t> distinct(seen[0].begin(), seen[0].end());
  EXPECT_EQ(distinct.size(), static_cast<std::size_t>(kTypes));
  // The main thread, asking afterwards, gets the same values.
  EXPECT_EQ(indices_forward(std::make_integer_sequence<int, kTypes>{}), seen[0]);
}

TEST(TypeIndex, SameTypeFromManyThreadsGetsTheSameIndex) {
  struct Shared {};
  std::vector<std::size_t> seen(kThreads * 100);
  std::latch start(kThreads);
  {
    std::vector<std::jthread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        start.arrive_and_wait();
        for (int i = 0; i < 100; ++i) seen[static_cast<std::size_t>(t * 100 + i)] = type_index<Shared>();
      });
    }
  }
  for (const std::size_t index : seen) EXPECT_EQ(index, type_index<Shared>());
  EXPECT_NE(type_index<Shared>(), type_index<Tag<0>>());
}

TEST(TypeIndex, TypeKeysAreConstantAcrossThreads) {
  std::vector<keel::internal::TypeKey> keys(kThreads, keel::internal::TypeKey::of<void>());
  std::latch start(kThreads);
  {
    std::vector<std::jthread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        start.arrive_and_wait();
        keys[static_cast<std::size_t>(t)] = keel::internal::TypeKey::of<Tag<1000>>();
      });
    }
  }
  for (const auto key : keys) EXPECT_TRUE(key == keel::internal::TypeKey::of<Tag<1000>>());
  EXPECT_FALSE(keys[0] == keel::internal::TypeKey::of<Tag<1001>>());
}

TEST(CallableName, InterningFromManyThreadsGivesOneStableViewPerName) {
  std::vector<std::vector<std::string_view>> seen(kThreads);
  std::latch start(kThreads);
  {
    std::vector<std::jthread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        start.arrive_and_wait();
        for (int i = 0; i < 200; ++i) {
          const std::string name = "handler-" + std::to_string((i * 7 + t) % 50) + std::string(30, '_');
          seen[static_cast<std::size_t>(t)].push_back(keel::internal::intern_name(name));
        }
      });
    }
  }
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < 200; ++i) {
      const std::string name = "handler-" + std::to_string((i * 7 + t) % 50) + std::string(30, '_');
      const std::string_view view = seen[static_cast<std::size_t>(t)][static_cast<std::size_t>(i)];
      EXPECT_EQ(view, name);
      EXPECT_EQ(view.data(), keel::internal::intern_name(name).data());  // one copy per name
    }
  }
}

struct Steps {
  std::uint64_t count = 0;
};

TEST(Shutdown, RequestFromAnotherThreadStopsWorldRun) {
  keel::WorldBuilder wb;
  wb.insert(Steps{});
  keel::World world = std::move(wb).build();
  const keel::Shutdown& shutdown = world.shutdown_handle();
  std::atomic<bool> looping{false};

  std::jthread requester([&] {
    // Wait until the loop has run at least once, so the request lands while
    // it runs (or between steps); either way run() must return.
    while (!looping.load(std::memory_order_acquire)) std::this_thread::yield();
    shutdown.request();
  });
  world.run([&](keel::World& w) {
    ++w.resource<Steps>().count;
    looping.store(true, std::memory_order_release);
    std::this_thread::yield();
  });
  requester.join();

  EXPECT_TRUE(shutdown.requested());
  EXPECT_GE(world.resource<Steps>().count, 1u);
  EXPECT_EQ(&world.resource<keel::Shutdown>(), &shutdown);
}

TEST(Shutdown, ManyThreadsRequestingAtOnceStopTheLoopAndResetLetsItRunAgain) {
  keel::World world = keel::WorldBuilder().build();
  const keel::Shutdown& shutdown = world.shutdown_handle();
  for (int round = 0; round < 20; ++round) {
    std::atomic<bool> looping{false};
    std::latch start(kThreads);
    std::vector<std::jthread> requesters;
    for (int t = 0; t < kThreads; ++t) {
      requesters.emplace_back([&] {
        start.arrive_and_wait();
        while (!looping.load(std::memory_order_acquire)) std::this_thread::yield();
        shutdown.request();
      });
    }
    std::uint64_t steps = 0;
    world.run([&](keel::World&) {
      ++steps;
      looping.store(true, std::memory_order_release);
      std::this_thread::yield();
    });
    requesters.clear();  // join every requester before the next round's reset
    EXPECT_TRUE(shutdown.requested());
    EXPECT_GE(steps, 1u);
    world.resource<keel::Shutdown>().reset();
    EXPECT_FALSE(shutdown.requested());
  }
}

TEST(Shutdown, HandlerTakingResShutdownStopsTheLoopFromInside) {
  keel::WorldBuilder wb;
  wb.insert(Steps{});
  keel::World world = std::move(wb).build();
  auto stop_at_ten = keel::handler(world.registry(),
                                   [](keel::ResMut<Steps> steps, keel::Res<keel::Shutdown> shutdown, int) {
                                     if (++steps->count == 10) shutdown->request();
                                   });
  world.run([&](keel::World& w) { stop_at_ten.run(w, 0); });
  EXPECT_EQ(world.resource<Steps>().count, 10u);
}

}  // namespace

// next_serial() names Worlds (the wrong-World check), SystemIds and
// BroadcastTokens: Worlds built on several threads at once must still get
// distinct serials.
TEST(Serial, ConcurrentCallsNeverReturnTheSameSerialTwice) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 2000;
  std::latch start(kThreads);
  std::vector<std::vector<std::uint64_t>> seen(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      for (int i = 0; i < kPerThread; ++i) seen[t].push_back(keel::internal::next_serial());
    });
  }
  for (auto& thread : threads) thread.join();
  std::set<std::uint64_t> all;
  for (const auto& values : seen) {
    for (std::size_t i = 1; i < values.size(); ++i) EXPECT_LT(values[i - 1], values[i]);  // per-thread order
    all.insert(values.begin(), values.end());
  }
  EXPECT_EQ(all.size(), static_cast<std::size_t>(kThreads * kPerThread));
  EXPECT_EQ(all.count(0), 0u);
}

TEST(Serial, WorldsBuiltOnDifferentThreadsHaveDistinctSerials) {
  constexpr int kThreads = 4;
  std::latch start(kThreads);
  std::vector<std::uint64_t> serials(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      keel::World world = keel::WorldBuilder{}.build();
      serials[t] = world.serial();
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(std::set<std::uint64_t>(serials.begin(), serials.end()).size(), serials.size());
}

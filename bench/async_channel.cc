// Channel cost (async/channel.h), each case beside a hand-written baseline
// in the same binary:
//   - local try_send + try_recv on one thread, against one call of a
//     non-inlined function (the bar: at most twice that);
//   - mpsc and spsc try_send + try_recv on one thread, against a plain
//     power-of-two ring with no atomics;
//   - spsc and mpsc across two threads pinned to two cores (busy try_send
//     and try_recv), in messages per second, against a hand-written
//     single-producer ring with no wake-ups; and the same with a receiver
//     task that parks on an empty channel and a producer that blocks on a
//     full one (send_blocking).
//
//   bazel run --config=bench //bench:async_channel -- --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <pthread.h>
#include <sched.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <thread>

#include "async/channel.h"
#include "async/runtime.h"
#include "async/task.h"
#include "bench/compare.h"
#include "benchmark/benchmark.h"
#include "rt/world.h"

namespace {

constexpr std::size_t kCapacity = 1024;

[[gnu::noinline]] std::int64_t plain_call(std::int64_t i) {
  asm volatile("");
  return i + 1;
}

// A power-of-two ring without atomics: the floor for a queue on one thread.
struct PlainRing {
  std::array<std::int64_t, kCapacity> slots{};
  std::uint64_t head = 0;
  std::uint64_t tail = 0;
  bool push(std::int64_t v) {
    if (tail - head == kCapacity) return false;
    slots[tail++ & (kCapacity - 1)] = v;
    return true;
  }
  std::optional<std::int64_t> pop() {
    if (head == tail) return std::nullopt;
    return slots[head++ & (kCapacity - 1)];
  }
};

// try_send + try_recv of one message on one thread, against `baseline`.
template <class Make, class Baseline>
void try_send_try_recv(benchmark::State& state, Make make, Baseline baseline) {
  auto [tx, rx] = make();
  std::int64_t sink = 0;
  keel::bench::compare(
      state,
      [&](std::int64_t i) {
        static_cast<void>(tx.try_send(i));
        sink += *rx.try_recv();
      },
      [&](std::int64_t i) { sink += baseline(i); });
  benchmark::DoNotOptimize(sink);
}

void BM_LocalTrySendTryRecv(benchmark::State& state) {
  try_send_try_recv(state, [] { return keel::async::local::channel<std::int64_t>(kCapacity); }, plain_call);
}
BENCHMARK(BM_LocalTrySendTryRecv);

// The cross-thread kinds, for BENCHMARK_TEMPLATE.
struct Spsc {
  static auto make() { return keel::async::spsc::channel<std::int64_t>(kCapacity); }
};
struct Mpsc {
  static auto make() { return keel::async::mpsc::channel<std::int64_t>(kCapacity); }
};

template <class Kind>
void BM_TrySendTryRecv(benchmark::State& state) {
  PlainRing ring;
  try_send_try_recv(state, Kind::make, [&](std::int64_t i) {
    ring.push(keel::bench::opaque(i));
    return *ring.pop();
  });
}
BENCHMARK_TEMPLATE(BM_TrySendTryRecv, Mpsc);
BENCHMARK_TEMPLATE(BM_TrySendTryRecv, Spsc);

// --- across two cores ---------------------------------------------------------------------------

void pin_to(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

// The baseline: a single-producer ring with cached indices and no wake-ups.
struct alignas(64) HandSpsc {
  std::array<std::int64_t, kCapacity> slots{};
  alignas(64) std::atomic<std::uint64_t> tail{0};
  std::uint64_t head_cache = 0;
  alignas(64) std::atomic<std::uint64_t> head{0};
  std::uint64_t tail_cache = 0;
  bool push(std::int64_t v) {
    const std::uint64_t t = tail.load(std::memory_order_relaxed);
    if (t - head_cache == kCapacity) {
      head_cache = head.load(std::memory_order_acquire);
      if (t - head_cache == kCapacity) return false;
    }
    slots[t & (kCapacity - 1)] = v;
    tail.store(t + 1, std::memory_order_release);
    return true;
  }
  std::optional<std::int64_t> pop() {
    const std::uint64_t h = head.load(std::memory_order_relaxed);
    if (h == tail_cache) {
      tail_cache = tail.load(std::memory_order_acquire);
      if (h == tail_cache) return std::nullopt;
    }
    const std::int64_t v = slots[h & (kCapacity - 1)];
    head.store(h + 1, std::memory_order_release);
    return v;
  }
};

constexpr std::int64_t kBatch = 2'000'000;

// Seconds to move kBatch messages from a thread pinned to CPU 1 to this
// thread pinned to CPU 0, both spinning.
template <class Push, class Pop>
double spin_transfer(Push push, Pop pop) {
  pin_to(0);
  std::atomic<bool> go{false};
  std::thread producer([&] {
    pin_to(1);
    while (!go.load(std::memory_order_acquire)) {
    }
    for (std::int64_t i = 0; i < kBatch;) {
      if (push(i)) ++i;
    }
  });
  const auto start = std::chrono::steady_clock::now();
  go.store(true, std::memory_order_release);
  std::int64_t expected = 0;
  while (expected < kBatch) {
    if (std::optional<std::int64_t> v = pop()) {
      if (*v != expected) std::abort();
      ++expected;
    }
  }
  const auto stop = std::chrono::steady_clock::now();
  producer.join();
  return std::chrono::duration<double>(stop - start).count();
}

template <class Make>
void cross_thread_against_hand_spsc(benchmark::State& state, Make make) {
  double seconds = 0;
  double hand_seconds = 0;
  for (auto _ : state) {
    auto [tx, rx] = make();
    const double s = spin_transfer([&](std::int64_t i) { return static_cast<bool>(tx.try_send(i)); },
                                   [&]() -> std::optional<std::int64_t> {
                                     if (auto r = rx.try_recv()) return *r;
                                     return std::nullopt;
                                   });
    auto hand = std::make_unique<HandSpsc>();
    hand_seconds += spin_transfer([&](std::int64_t i) { return hand->push(i); }, [&] { return hand->pop(); });
    seconds += s;
    state.SetIterationTime(s);
  }
  const double n = static_cast<double>(state.iterations());
  state.counters["Mmsg_per_s"] = kBatch * n / seconds / 1e6;
  state.counters["baseline_Mmsg_per_s"] = kBatch * n / hand_seconds / 1e6;
  state.counters["ratio"] = seconds / hand_seconds;
}

template <class Kind>
void BM_CrossThread(benchmark::State& state) {
  cross_thread_against_hand_spsc(state, Kind::make);
}
BENCHMARK_TEMPLATE(BM_CrossThread, Spsc)->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(5);
BENCHMARK_TEMPLATE(BM_CrossThread, Mpsc)->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(5);

// A receiver task on a runtime (parking when empty) fed by a plain thread
// that blocks when full: the path with wake-ups.
template <class Make>
void cross_thread_with_waits(benchmark::State& state, Make make) {
  double seconds = 0;
  for (auto _ : state) {
    auto [tx, rx] = make();
    pin_to(0);
    keel::World world = keel::WorldBuilder().build();
    keel::async::Runtime rt(world);
    std::thread producer([tx = std::move(tx)]() mutable {
      pin_to(1);
      for (std::int64_t i = 0; i < kBatch; ++i) {
        if (!tx.send_blocking(i)) std::abort();
      }
    });
    auto consume = [](auto& rx) -> keel::async::Task<std::int64_t> {
      std::int64_t n = 0;
      while (auto v = co_await rx.recv()) n += (*v == n) ? 1 : kBatch * 2;
      co_return n;
    };
    const auto start = std::chrono::steady_clock::now();
    if (rt.block_on(consume(rx)) != kBatch) std::abort();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    producer.join();
    seconds += s;
    state.SetIterationTime(s);
  }
  state.counters["Mmsg_per_s"] = kBatch * static_cast<double>(state.iterations()) / seconds / 1e6;
}

template <class Kind>
void BM_CrossThreadWithWaits(benchmark::State& state) {
  cross_thread_with_waits(state, Kind::make);
}
BENCHMARK_TEMPLATE(BM_CrossThreadWithWaits, Spsc)->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(3);
BENCHMARK_TEMPLATE(BM_CrossThreadWithWaits, Mpsc)->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(3);

}  // namespace

BENCHMARK_MAIN();

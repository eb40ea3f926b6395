// Timer cost: keel::TimerWheel against a hand-written timer queue.
//
// The baseline is what one writes without a wheel: an indexed binary
// min-heap ordered by (deadline, schedule order), with a position table so
// that cancel is an O(log n) removal, generation-checked ids, and a concrete
// (not erased) callback per timer. It does the same work as the wheel:
// same deadlines, same firing order, and one sequence-number increment per
// fired timer. Each benchmark reports the wheel's ns/op and `ratio` = wheel
// time / baseline time, measured with identical loops in the same run
// (bench/compare.h).
//
//   bazel run --config=bench //bench:timer -- --benchmark_repetitions=5
//       (add --benchmark_report_aggregates_only=true for medians only)
#include <chrono>
#include <cstdint>
#include <utility>
#include <vector>

#include "bench/compare.h"
#include "benchmark/benchmark.h"
#include "rt/handler.h"
#include "rt/timer.h"
#include "rt/world.h"

namespace {

using namespace std::chrono_literals;
using keel::Instant;

struct Counter {
  std::uint64_t fired = 0;
  std::int64_t last = 0;
};

// The work a timer does.
inline void on_timer(Counter& c, Instant at) {
  ++c.fired;
  c.last = at.time_since_epoch().count();
}

// Pseudo-random spread of deadlines, identical for both sides.
inline std::chrono::nanoseconds spread(std::int64_t i, std::int64_t range_ns) {
  return std::chrono::nanoseconds(
      static_cast<std::int64_t>((static_cast<std::uint64_t>(i) * 2654435761u) % static_cast<std::uint64_t>(range_ns)));
}

// --- the hand-written baseline -------------------------------------------------------

class HeapTimers {
 public:
  struct Token {
    std::uint32_t id = 0;
    std::uint32_t generation = 0;
  };
  struct Callback {
    Counter* counter;
    void operator()(Instant at) const { on_timer(*counter, at); }
  };

  explicit HeapTimers(std::size_t capacity) {
    heap_.reserve(capacity);
    slots_.reserve(capacity);
  }

  Token schedule(Instant deadline, Callback cb) {
    std::uint32_t id;
    if (free_.empty()) {
      id = static_cast<std::uint32_t>(slots_.size());
      slots_.push_back(Slot{});
    } else {
      id = free_.back();
      free_.pop_back();
    }
    Slot& s = slots_[id];
    s.callback = cb;
    s.pos = static_cast<std::uint32_t>(heap_.size());
    heap_.push_back(Entry{deadline, next_seq_++, id});
    sift_up(s.pos);
    return Token{id, s.generation};
  }

  bool cancel(Token t) {
    if (t.id >= slots_.size()) return false;
    Slot& s = slots_[t.id];
    if (s.generation != t.generation || s.pos == kNone) return false;
    remove_at(s.pos);
    release(t.id);
    return true;
  }

  std::size_t poll(Instant now, std::uint64_t& sequence) {
    std::size_t fired = 0;
    while (!heap_.empty() && heap_.front().deadline <= now) {
      const Entry top = heap_.front();
      remove_at(0);
      const Callback cb = slots_[top.id].callback;
      release(top.id);
      ++sequence;
      cb(top.deadline);
      ++fired;
    }
    return fired;
  }

 private:
  static constexpr std::uint32_t kNone = ~std::uint32_t{0};
  struct Entry {
    Instant deadline;
    std::uint64_t seq;
    std::uint32_t id;
  };
  struct Slot {
    Callback callback{};
    std::uint32_t pos = kNone;
    std::uint32_t generation = 1;
  };

  static bool less(const Entry& a, const Entry& b) {
    return a.deadline != b.deadline ? a.deadline < b.deadline : a.seq < b.seq;
  }
  void place(std::size_t i, const Entry& e) {
    heap_[i] = e;
    slots_[e.id].pos = static_cast<std::uint32_t>(i);
  }
  void sift_up(std::size_t i) {
    const Entry e = heap_[i];
    while (i > 0) {
      const std::size_t parent = (i - 1) / 2;
      if (!less(e, heap_[parent])) break;
      place(i, heap_[parent]);
      i = parent;
    }
    place(i, e);
  }
  void sift_down(std::size_t i) {
    const Entry e = heap_[i];
    const std::size_t n = heap_.size();
    for (;;) {
      std::size_t child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && less(heap_[child + 1], heap_[child])) ++child;
      if (!less(heap_[child], e)) break;
      place(i, heap_[child]);
      i = child;
    }
    place(i, e);
  }
  void remove_at(std::size_t i) {
    const Entry last = heap_.back();
    heap_.pop_back();
    if (i == heap_.size()) return;
    place(i, last);
    if (i > 0 && less(last, heap_[(i - 1) / 2])) {
      sift_up(i);
    } else {
      sift_down(i);
    }
  }
  void release(std::uint32_t id) {
    Slot& s = slots_[id];
    s.pos = kNone;
    ++s.generation;
    free_.push_back(id);
  }

  std::vector<Entry> heap_;
  std::vector<Slot> slots_;
  std::vector<std::uint32_t> free_;
  std::uint64_t next_seq_ = 1;
};

// --- the wheel ---------------------------------------------------------------------------

struct Setup {
  Setup() : poller(install(builder)), world(std::move(builder).build()), wheel(world.resource<keel::TimerWheel>()) {}
  static keel::TimerPoller install(keel::WorldBuilder& wb) {
    wb.emplace<Counter>();
    return wb.install_driver(keel::TimerInstaller{.capacity = 65536});
  }
  auto make_handler() {
    return keel::handler(world.registry(), [](keel::ResMut<Counter> c, Instant at) { on_timer(*c, at); });
  }

  keel::WorldBuilder builder;
  keel::TimerPoller poller;
  keel::World world;
  keel::TimerWheel& wheel;
};

// Schedule one timer and cancel the one scheduled `kOutstanding` iterations
// earlier: a steady state of 1024 pending timers, deadlines spread over 1 s
// (so they sit in several levels). Nothing fires.
constexpr std::int64_t kOutstanding = 1024;

void BM_ScheduleCancel(benchmark::State& state) {
  Setup s;
  const Instant now = Instant{} + 1h;
  auto h = s.make_handler();
  std::vector<keel::TimerToken> wheel_tokens(kOutstanding);
  HeapTimers heap(4096);
  std::vector<HeapTimers::Token> heap_tokens(kOutstanding);
  Counter& counter = s.world.resource<Counter>();
  keel::bench::compare(
      state,
      [&](std::int64_t i) {
        keel::TimerToken& slot = wheel_tokens[static_cast<std::size_t>(i % kOutstanding)];
        s.wheel.cancel(slot);
        slot = s.wheel.schedule(now + 1ms + spread(i, 1'000'000'000), h);
      },
      [&](std::int64_t i) {
        HeapTimers::Token& slot = heap_tokens[static_cast<std::size_t>(i % kOutstanding)];
        heap.cancel(slot);
        slot = heap.schedule(now + 1ms + spread(i, 1'000'000'000), HeapTimers::Callback{&counter});
      });
  benchmark::DoNotOptimize(counter.fired);
}
BENCHMARK(BM_ScheduleCancel);

// Each iteration: time moves 10 µs, one timer is scheduled 0 to N ms ahead
// (N = the argument), and a poll fires what is due: one timer per iteration
// on average, with ~N * 50 pending (500 for 10 ms, 50,000 for 1 s). The cost
// per timer of scheduling and firing it.
void BM_ScheduleFire(benchmark::State& state) {
  const std::int64_t window_ns = state.range(0) * 1'000'000;
  Setup s;
  auto h = s.make_handler();
  Instant wheel_now = Instant{} + 1h;
  Instant heap_now = wheel_now;
  HeapTimers heap(65536);
  std::uint64_t heap_sequence = 0;
  Counter& counter = s.world.resource<Counter>();
  keel::bench::compare(
      state,
      [&](std::int64_t i) {
        wheel_now += 10us;
        s.wheel.schedule(wheel_now + spread(i, window_ns), h);
        s.poller.poll(s.world, wheel_now);
      },
      [&](std::int64_t i) {
        heap_now += 10us;
        heap.schedule(heap_now + spread(i, window_ns), HeapTimers::Callback{&counter});
        heap.poll(heap_now, heap_sequence);
      });
  benchmark::DoNotOptimize(counter.fired);
  benchmark::DoNotOptimize(heap_sequence);
}
BENCHMARK(BM_ScheduleFire)->Arg(10)->Arg(1000);

// A poll with nothing due (the common case in a busy loop): the wheel
// compares `now` with its cached earliest deadline; the heap reads its top.
void BM_PollNothingDue(benchmark::State& state) {
  Setup s;
  auto h = s.make_handler();
  const Instant now = Instant{} + 1h;
  HeapTimers heap(4096);
  std::uint64_t heap_sequence = 0;
  Counter& counter = s.world.resource<Counter>();
  for (std::int64_t i = 0; i < kOutstanding; ++i) {
    s.wheel.schedule(now + 1s + spread(i, 1'000'000'000), h);
    heap.schedule(now + 1s + spread(i, 1'000'000'000), HeapTimers::Callback{&counter});
  }
  keel::bench::compare(
      state,
      [&](std::int64_t i) {
        benchmark::DoNotOptimize(s.poller.poll(s.world, now + std::chrono::nanoseconds(i & 1023)));
      },
      [&](std::int64_t i) {
        benchmark::DoNotOptimize(heap.poll(now + std::chrono::nanoseconds(i & 1023), heap_sequence));
      });
}
BENCHMARK(BM_PollNothingDue);

}  // namespace

BENCHMARK_MAIN();

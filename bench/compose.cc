// Composition cost: pipelines, DAGs and batches against the same functions
// called by hand, in the same binary (ratios from bench/compare.h).
//
//   bazel run --config=bench //bench:compose -- --benchmark_repetitions=10 --benchmark_report_aggregates_only=true
#include <array>
#include <memory>
#include <vector>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <optional>
#include <utility>

#include "bench/compare.h"
#include "bench/virtual_baseline.h"
#include "benchmark/benchmark.h"
#include "rt/dag.h"
#include "rt/pipeline.h"
#include "rt/reactor.h"
#include "rt/scheduler.h"
#include "rt/world.h"

namespace {

struct RawMessage {
  std::int64_t word;
};
struct Quote {
  std::int32_t level;
  std::int64_t price;
  std::int64_t quantity;
};
struct Order {
  std::int64_t price;
  std::int64_t quantity;
};
enum class Reject { kTooLarge, kOverLimit };

struct OrderBook {
  std::array<std::int64_t, 8> prices{};
  std::array<std::int64_t, 8> quantities{};
  std::uint64_t updates = 0;
  void apply(const Quote& q) {
    prices[q.level & 7] = q.price;
    quantities[q.level & 7] = q.quantity;
    ++updates;
  }
};
struct Gateway {
  std::int64_t notional = 0;
  std::uint64_t orders = 0;
  std::uint64_t rejects = 0;
};
struct Limits {
  std::int64_t max_quantity = 6;
};

RawMessage message(std::int64_t i) {
  return RawMessage{static_cast<std::int64_t>(static_cast<std::uint64_t>(i) * 0x9E3779B97F4A7C15ULL)};
}

std::optional<Quote> decode(const RawMessage& m) {
  if ((m.word & 0xF) == 0) return std::nullopt;  // malformed
  return Quote{static_cast<std::int32_t>(m.word >> 8), 100 + ((m.word >> 16) & 0xFF), 1 + ((m.word >> 24) & 7)};
}
bool tradable(const Quote& q) { return (q.level & 3) != 0; }
std::expected<Order, Reject> to_order(const Quote& q) {
  if (q.quantity > 7) return std::unexpected(Reject::kTooLarge);
  return Order{q.price, q.quantity};
}
std::expected<Order, Reject> check_risk(const Limits& limits, Order o) {
  if (o.quantity > limits.max_quantity) return std::unexpected(Reject::kOverLimit);
  return o;
}
void send(Gateway& g, const Order& o) {
  g.notional += o.price * o.quantity;
  ++g.orders;
}

keel::World make_world() {
  keel::WorldBuilder wb;
  wb.emplace<OrderBook>();
  wb.emplace<Gateway>();
  wb.emplace<Limits>();
  return std::move(wb).build();
}

// --- 3 steps: decode, filter, apply --------------------------------------------
// The baseline is the handler a user would write instead of the pipeline: an
// object holding a reference to its book, run through a reference, as the
// pipeline is. (Both then load the object's address and the book's; a
// lambda that captures `book` itself skips one of those loads, which no
// object that is built once and run many times can: see the next row.)

struct HandWrittenQuoteHandler {
  OrderBook& book;
  void run(const RawMessage& m) {
    if (auto q = decode(m)) {
      if (tradable(*q)) book.apply(*q);
    }
  }
};

auto quote_pipeline(const keel::Registry& registry) {
  return keel::pipeline<RawMessage>(registry)
      .then([](const RawMessage& m) { return decode(m); })
      .filter([](const Quote& q) { return tradable(q); })
      .map([](keel::ResMut<OrderBook> b, const Quote& q) { b->apply(q); });
}

void BM_Pipeline3Steps(benchmark::State& state) {
  keel::World world = make_world();
  auto p = quote_pipeline(world.registry()).build();
  HandWrittenQuoteHandler by_hand{world.resource<OrderBook>()};
  keel::bench::compare(state, [&](std::int64_t i) { p.run(world, message(i)); },
                       [&](std::int64_t i) { by_hand.run(message(i)); });
}
BENCHMARK(BM_Pipeline3Steps);

// The same pipeline against the three calls written into the loop with the
// book's address captured directly: the floor, one load below any handler object.
void BM_Pipeline3StepsVsCapturedBook(benchmark::State& state) {
  keel::World world = make_world();
  OrderBook& book = world.resource<OrderBook>();
  auto p = quote_pipeline(world.registry()).build();
  keel::bench::compare(state, [&](std::int64_t i) { p.run(world, message(i)); },
                       [&](std::int64_t i) {
                         if (auto q = decode(message(i))) {
                           if (tradable(*q)) book.apply(*q);
                         }
                       });
}
BENCHMARK(BM_Pipeline3StepsVsCapturedBook);

// --- 5 steps: decode, filter, to_order, check_risk, send (+ on_error) ----------

struct HandWrittenOrderHandler {
  Gateway& gateway;
  const Limits& limits;
  void run(const RawMessage& m) {
    auto q = decode(m);
    if (!q || !tradable(*q)) return;
    auto order = to_order(*q);
    if (order) order = check_risk(limits, *order);
    if (!order) {
      ++gateway.rejects;
      return;
    }
    send(gateway, *order);
  }
};

void BM_Pipeline5Steps(benchmark::State& state) {
  keel::World world = make_world();
  auto p = keel::pipeline<RawMessage>(world.registry())
               .then([](const RawMessage& m) { return decode(m); })
               .filter([](const Quote& q) { return tradable(q); })
               .map([](const Quote& q) { return to_order(q); })
               .and_then([](keel::Res<Limits> l, Order o) { return check_risk(*l, o); })
               .on_error([](keel::ResMut<Gateway> g, Reject) { ++g->rejects; })
               .map([](keel::ResMut<Gateway> g, const Order& o) { send(*g, o); })
               .build();
  HandWrittenOrderHandler by_hand{world.resource<Gateway>(), world.resource<Limits>()};
  keel::bench::compare(state, [&](std::int64_t i) { p.run(world, message(i)); },
                       [&](std::int64_t i) { by_hand.run(message(i)); });
}
BENCHMARK(BM_Pipeline5Steps);

// --- the same 3 steps given as function pointers (may not inline) ---------------

void apply_quote(keel::ResMut<OrderBook> b, const Quote& q) { b->apply(q); }

void BM_Pipeline3StepsFunctionPointers(benchmark::State& state) {
  keel::World world = make_world();
  auto p = keel::pipeline<RawMessage>(world.registry()).then(decode).filter(tradable).map(apply_quote).build();
  HandWrittenQuoteHandler by_hand{world.resource<OrderBook>()};
  keel::bench::compare(state, [&](std::int64_t i) { p.run(world, message(i)); },
                       [&](std::int64_t i) { by_hand.run(message(i)); });
}
BENCHMARK(BM_Pipeline3StepsFunctionPointers);

// --- a 3-arm DAG ------------------------------------------------------------------

struct Tick {
  std::int64_t bid;
  std::int64_t ask;
  std::int64_t bid_size;
  std::int64_t ask_size;
};
struct Fair {
  std::int64_t value = 0;
  std::uint64_t published = 0;
};
Tick tick(std::int64_t i) { return Tick{1000 + (i & 7), 1002 + (i & 3), 1 + (i & 15), 1 + ((i >> 4) & 15)}; }
std::int64_t mid(const Tick& t) { return (t.bid + t.ask) / 2; }
std::int64_t spread(const Tick& t) { return t.ask - t.bid; }
std::int64_t imbalance(const Tick& t) { return (t.bid_size - t.ask_size) * 4 / (t.bid_size + t.ask_size); }
std::int64_t fair_value(std::int64_t m, std::int64_t s, std::int64_t imb) { return m + imb * s / 8; }

struct HandWrittenFairValue {
  Fair& fair;
  void run(const Tick& t) {
    fair.value = fair_value(mid(t), spread(t), imbalance(t));
    ++fair.published;
  }
};

void BM_Dag3Arms(benchmark::State& state) {
  keel::WorldBuilder wb;
  wb.emplace<Fair>();
  keel::World world = std::move(wb).build();
  auto d = keel::dag<Tick>(world.registry())
               .root([](const Tick& t) { return t; })
               .fork()
               .arm([](auto a) { return a.then([](const Tick& t) { return mid(t); }); })
               .arm([](auto a) { return a.then([](const Tick& t) { return spread(t); }); })
               .arm([](auto a) { return a.then([](const Tick& t) { return imbalance(t); }); })
               .merge([](std::int64_t m, std::int64_t s, std::int64_t imb) { return fair_value(m, s, imb); })
               .then([](keel::ResMut<Fair> f, std::int64_t v) {
                 f->value = v;
                 ++f->published;
               })
               .build();
  HandWrittenFairValue by_hand{world.resource<Fair>()};
  keel::bench::compare(state, [&](std::int64_t i) { d.run(world, tick(i)); },
                       [&](std::int64_t i) { by_hand.run(tick(i)); });
}
BENCHMARK(BM_Dag3Arms);

// --- batch of 100 against 100 single runs (per item) ------------------------------
// Both sides get their 100 messages the same way: a producer (the IO layer)
// writes them into a buffer, the batch's own (fill()) or a plain array, then
// they are processed: batch.run() against 100 single.run() calls. The count
// is known only at run time on both sides, as a recvmmsg's would be.

// One op = 100 items; ratio = batch / 100 single runs. `fill(batch, i, n)`
// puts the op's n messages into the batch.
template <class Fill>
void batch_against_single_runs(benchmark::State& state, Fill fill) {
  keel::World world = make_world();
  auto batch = quote_pipeline(world.registry()).build_batch(100);
  auto single = quote_pipeline(world.registry()).build();
  std::array<RawMessage, 100> buffer{};
  // How many arrived, as an IO layer learns it: at run time (hidden from the
  // optimizer, so neither side unrolls for a known 100).
  const std::size_t received = keel::bench::opaque(std::size_t{100});
  keel::bench::compare(state,
                       [&](std::int64_t i) {
                         const std::size_t n = received;  // a local: the stores below cannot alias it
                         fill(batch, i, n);
                         batch.run(world);
                       },
                       [&](std::int64_t i) {
                         const std::size_t n = received;
                         for (std::size_t k = 0; k < n; ++k) buffer[k] = message(i * 100 + static_cast<std::int64_t>(k));
                         for (std::size_t k = 0; k < n; ++k) single.run(world, buffer[k]);
                       });
  state.counters["items_per_op"] = 100;
}

void BM_Batch100PerItem(benchmark::State& state) {
  batch_against_single_runs(state, [](auto& batch, std::int64_t i, std::size_t n) {
    batch.fill(n, [i](std::size_t k) { return message(i * 100 + static_cast<std::int64_t>(k)); });
  });
}
BENCHMARK(BM_Batch100PerItem);

// The same batch filled one push() at a time: a capacity check and a size
// update per item, which the plain array does not pay.
void BM_Batch100PerItemPushed(benchmark::State& state) {
  batch_against_single_runs(state, [](auto& batch, std::int64_t i, std::size_t n) {
    for (std::size_t k = 0; k < n; ++k) batch.push(message(i * 100 + static_cast<std::int64_t>(k)));
  });
}
BENCHMARK(BM_Batch100PerItemPushed);

// --- a scheduler of 10 systems -------------------------------------------------------
// A chain s0 -> s1 -> ... -> s9; each adds to its own counter and reports a
// change on most passes. Baseline: the same ten functions called by hand
// through a non-inlined call each, with the same skip logic written out.

struct Counters {
  std::array<std::int64_t, 10> values{};
  std::int64_t input = 0;
};

template <int N>
bool step_system(keel::ResMut<Counters> c) {
  c->values[N] += c->input + N;
  return ((c->values[N] >> 3) & 7) != 0;
}

template <int N>
[[gnu::noinline]] bool step_by_hand(Counters& c) {
  c.values[N] += c.input + N;
  return ((c.values[N] >> 3) & 7) != 0;
}

template <std::size_t... I>
bool run_by_hand(Counters& c, std::index_sequence<I...>) {
  bool changed = true;
  ((changed = changed && step_by_hand<static_cast<int>(I)>(c)), ...);
  return changed;
}

template <std::size_t... I>
keel::Scheduler make_chain(keel::WorldBuilder& wb, std::index_sequence<I...>) {
  keel::SchedulerInstaller sched;
  std::vector<keel::SystemId> ids{sched.add(step_system<static_cast<int>(I)>)...};
  for (std::size_t k = 1; k < ids.size(); ++k) sched.after(ids[k], ids[k - 1]);
  return wb.install_driver(std::move(sched));
}

void BM_Scheduler10Systems(benchmark::State& state) {
  keel::WorldBuilder wb;
  wb.emplace<Counters>();
  keel::Scheduler systems = make_chain(wb, std::make_index_sequence<10>{});
  keel::World world = std::move(wb).build();
  Counters& counters = world.resource<Counters>();
  keel::bench::compare(state,
                       [&](std::int64_t i) {
                         counters.input = i;
                         systems.run(world);
                       },
                       [&](std::int64_t i) {
                         counters.input = i;
                         run_by_hand(counters, std::make_index_sequence<10>{});
                       });
}
BENCHMARK(BM_Scheduler10Systems);

// --- reactors: N reactors on one source, ns per reactor --------------------------------
// Candidate: mark the source, dispatch (every reactor runs once). Baseline:
// one virtual call per reactor doing the same work.

using keel::bench::ReactorCounter;
struct QuoteContext {
  std::int64_t instrument = 0;
  std::int64_t seen = 0;
};
void requote(QuoteContext& ctx, keel::ResMut<ReactorCounter> counter) {
  ++ctx.seen;
  counter->total += ctx.instrument;
}

void BM_ReactorDispatch(benchmark::State& state) {
  const auto reactors = static_cast<std::size_t>(state.range(0));
  keel::WorldBuilder wb;
  wb.emplace<ReactorCounter>();
  keel::World world = std::move(wb).build();
  auto& rx = world.resource<keel::ReactorNotify>();
  keel::DataSource source = rx.register_source();
  for (std::size_t r = 0; r < reactors; ++r) {
    rx.spawn(QuoteContext{static_cast<std::int64_t>(r), 0}, world.registry(), keel::fn<&requote>).subscribe(source);
  }
  ReactorCounter& counter = world.resource<ReactorCounter>();
  std::vector<std::unique_ptr<keel::bench::VirtualReactor>> baseline;
  for (std::size_t r = 0; r < reactors; ++r) {
    baseline.push_back(keel::bench::make_virtual_requote(static_cast<std::int64_t>(r)));
  }
  keel::bench::compare(state,
                       [&](std::int64_t) {
                         rx.mark(source);
                         world.dispatch_reactors();
                       },
                       [&](std::int64_t) {
                         for (auto& v : baseline) v->run(counter);
                       });
  state.counters["reactors"] = static_cast<double>(reactors);
}
BENCHMARK(BM_ReactorDispatch)->Arg(1)->Arg(10)->Arg(50)->Arg(1000);

// The same with the reactor given as a plain function pointer (one more
// indirect call per reactor: the pointer is not known at compile time).
void BM_ReactorDispatchFunctionPointer(benchmark::State& state) {
  const auto reactors = static_cast<std::size_t>(state.range(0));
  keel::WorldBuilder wb;
  wb.emplace<ReactorCounter>();
  keel::World world = std::move(wb).build();
  auto& rx = world.resource<keel::ReactorNotify>();
  keel::DataSource source = rx.register_source();
  for (std::size_t r = 0; r < reactors; ++r) {
    rx.spawn(QuoteContext{static_cast<std::int64_t>(r), 0}, world.registry(), requote).subscribe(source);
  }
  ReactorCounter& counter = world.resource<ReactorCounter>();
  std::vector<std::unique_ptr<keel::bench::VirtualReactor>> baseline;
  for (std::size_t r = 0; r < reactors; ++r) {
    baseline.push_back(keel::bench::make_virtual_requote(static_cast<std::int64_t>(r)));
  }
  keel::bench::compare(state,
                       [&](std::int64_t) {
                         rx.mark(source);
                         world.dispatch_reactors();
                       },
                       [&](std::int64_t) {
                         for (auto& v : baseline) v->run(counter);
                       });
  state.counters["reactors"] = static_cast<double>(reactors);
}
BENCHMARK(BM_ReactorDispatchFunctionPointer)->Arg(1)->Arg(50);

}  // namespace

BENCHMARK_MAIN();

// Dispatch cost: Keel handlers against the same work written by hand.
//
// Two baselines, both in this binary: the work written inline (what a
// concrete handler must match) and the same work behind a non-inlined call
// (what virtual dispatch and World::resource<T>() must match). Each
// benchmark reports its ns/op and `ratio` = its time / its baseline's time,
// measured with identical loops in the same run (bench/compare.h).
//
//   bazel run --config=bench //bench:dispatch -- --benchmark_repetitions=10 --benchmark_report_aggregates_only=true
#include <array>
#include <cstdint>
#include <memory>
#include <utility>

#include "bench/compare.h"
#include "bench/dispatch_fixture.h"
#include "benchmark/benchmark.h"
#include "rt/handler.h"
#include "rt/world.h"

namespace {

using keel::bench::OrderBook;
using keel::bench::Quote;
using keel::bench::on_quote;

struct RiskLimits {
  std::int64_t max_quantity = 1'000'000;
};

Quote quote(std::int64_t i) { return Quote{static_cast<std::int32_t>(i), 100 + (i & 15), 1 + (i & 7)}; }

// --- the hand-written baselines ----------------------------------------------

inline void apply_checked(OrderBook& book, const RiskLimits& limits, const Quote& q) {
  if (q.quantity <= limits.max_quantity) book.apply(q);
}

[[gnu::noinline]] void apply_not_inlined(OrderBook& book, const Quote& q) { book.apply(q); }

// --- the handlers --------------------------------------------------------------

void on_quote_checked(keel::ResMut<OrderBook> book, keel::Res<RiskLimits> limits, const Quote& q) {
  apply_checked(*book, *limits, q);
}

struct QuoteContext {
  std::uint64_t seen = 0;
};
void on_quote_with_context(QuoteContext& context, keel::ResMut<OrderBook> book, const Quote& q) {
  ++context.seen;
  book->apply(q);
}

template <int N>
struct Filler {
  std::int64_t value = N;
};

keel::World make_world() {
  keel::WorldBuilder wb;
  wb.emplace<OrderBook>();
  wb.emplace<RiskLimits>();
  return std::move(wb).build();
}

template <std::size_t... I>
keel::World make_world_with_1000_resources(std::index_sequence<I...>) {
  keel::WorldBuilder wb;
  (wb.emplace<Filler<static_cast<int>(I)>>(), ...);
  wb.emplace<OrderBook>();
  (wb.emplace<Filler<static_cast<int>(1000 + I)>>(), ...);
  return std::move(wb).build();
}

// --- benchmarks -----------------------------------------------------------------

void BM_InlineBaseline(benchmark::State& state) {
  keel::World world = make_world();
  OrderBook& book = world.resource<OrderBook>();
  keel::bench::compare(state, [&](std::int64_t i) { book.apply(quote(i)); },
                       [&](std::int64_t i) { book.apply(quote(i)); });
}
BENCHMARK(BM_InlineBaseline);

void BM_NotInlinedCallBaseline(benchmark::State& state) {
  keel::World world = make_world();
  OrderBook& book = world.resource<OrderBook>();
  keel::bench::compare(state, [&](std::int64_t i) { apply_not_inlined(book, quote(i)); },
                       [&](std::int64_t i) { book.apply(quote(i)); });
}
BENCHMARK(BM_NotInlinedCallBaseline);

// A plain function pointer (see BM_HandlerResAndResMutFunctionPointer).
void BM_HandlerResMutFunctionPointer(benchmark::State& state) {
  keel::World world = make_world();
  OrderBook& book = world.resource<OrderBook>();
  auto h = keel::handler(world.registry(), on_quote);
  keel::bench::compare(state, [&](std::int64_t i) { h.run(world, quote(i)); },
                       [&](std::int64_t i) { book.apply(quote(i)); });
}
BENCHMARK(BM_HandlerResMutFunctionPointer);

void BM_HandlerResMutFn(benchmark::State& state) {
  keel::World world = make_world();
  OrderBook& book = world.resource<OrderBook>();
  auto h = keel::handler(world.registry(), keel::fn<&on_quote>);
  keel::bench::compare(state, [&](std::int64_t i) { h.run(world, quote(i)); },
                       [&](std::int64_t i) { book.apply(quote(i)); });
}
BENCHMARK(BM_HandlerResMutFn);

void BM_HandlerResMutLambda(benchmark::State& state) {
  keel::World world = make_world();
  OrderBook& book = world.resource<OrderBook>();
  auto h = keel::handler(world.registry(), [](keel::ResMut<OrderBook> b, const Quote& q) { b->apply(q); });
  keel::bench::compare(state, [&](std::int64_t i) { h.run(world, quote(i)); },
                       [&](std::int64_t i) { book.apply(quote(i)); });
}
BENCHMARK(BM_HandlerResMutLambda);

void BM_HandlerResAndResMut(benchmark::State& state) {
  keel::World world = make_world();
  OrderBook& book = world.resource<OrderBook>();
  const RiskLimits& limits = world.resource<RiskLimits>();
  auto h = keel::handler(world.registry(), keel::fn<&on_quote_checked>);
  keel::bench::compare(state, [&](std::int64_t i) { h.run(world, quote(i)); },
                       [&](std::int64_t i) { apply_checked(book, limits, quote(i)); });
}
BENCHMARK(BM_HandlerResAndResMut);

// The same two parameters with the function given as a plain pointer: the
// handler escapes into the timing loop, so the optimiser cannot see which
// function the pointer holds and the call stays indirect.
void BM_HandlerResAndResMutFunctionPointer(benchmark::State& state) {
  keel::World world = make_world();
  OrderBook& book = world.resource<OrderBook>();
  const RiskLimits& limits = world.resource<RiskLimits>();
  auto h = keel::handler(world.registry(), on_quote_checked);
  keel::bench::compare(state, [&](std::int64_t i) { h.run(world, quote(i)); },
                       [&](std::int64_t i) { apply_checked(book, limits, quote(i)); });
}
BENCHMARK(BM_HandlerResAndResMutFunctionPointer);

void BM_VirtualHandler(benchmark::State& state) {
  keel::World world = make_world();
  OrderBook& book = world.resource<OrderBook>();
  std::unique_ptr<keel::Handler<const Quote&>> boxed = keel::bench::make_boxed_on_quote(world.registry());
  keel::Handler<const Quote&>& h = *keel::bench::opaque(boxed.get());
  keel::bench::compare(state, [&](std::int64_t i) { h.run(world, quote(i)); },
                       [&](std::int64_t i) { apply_not_inlined(book, quote(i)); });
}
BENCHMARK(BM_VirtualHandler);

void BM_InlineHandler(benchmark::State& state) {
  keel::World world = make_world();
  OrderBook& book = world.resource<OrderBook>();
  keel::InlineHandler<const Quote&, 64> inline_handler = keel::bench::make_inline_on_quote(world.registry());
  keel::InlineHandler<const Quote&, 64>& h = *keel::bench::opaque(&inline_handler);
  keel::bench::compare(state, [&](std::int64_t i) { h.run(world, quote(i)); },
                       [&](std::int64_t i) { apply_not_inlined(book, quote(i)); });
}
BENCHMARK(BM_InlineHandler);

void BM_HandlerTemplateGenerateAndRun(benchmark::State& state) {
  keel::World world = make_world();
  OrderBook& book = world.resource<OrderBook>();
  keel::HandlerTemplate tmpl(world.registry(), keel::fn<&on_quote>);
  keel::bench::compare(state,
                       [&](std::int64_t i) {
                         auto h = tmpl.generate();
                         h.run(world, quote(i));
                       },
                       [&](std::int64_t i) { book.apply(quote(i)); });
}
BENCHMARK(BM_HandlerTemplateGenerateAndRun);

void BM_CallbackWithContext(benchmark::State& state) {
  keel::World world = make_world();
  OrderBook& book = world.resource<OrderBook>();
  QuoteContext context;
  auto cb = keel::callback(QuoteContext{}, world.registry(), keel::fn<&on_quote_with_context>);
  keel::bench::compare(state, [&](std::int64_t i) { cb.run(world, quote(i)); },
                       [&](std::int64_t i) {
                         ++context.seen;
                         book.apply(quote(i));
                       });
}
BENCHMARK(BM_CallbackWithContext);

void BM_WorldResourceWith1000Resources(benchmark::State& state) {
  keel::World world = make_world_with_1000_resources(std::make_index_sequence<500>{});
  OrderBook& book = world.resource<OrderBook>();
  keel::bench::compare(state, [&](std::int64_t i) { world.resource<OrderBook>().apply(quote(i)); },
                       [&](std::int64_t i) { apply_not_inlined(book, quote(i)); });
}
BENCHMARK(BM_WorldResourceWith1000Resources);

}  // namespace

BENCHMARK_MAIN();

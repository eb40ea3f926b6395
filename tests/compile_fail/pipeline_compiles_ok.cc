// Must compile: the positive control for the pipeline and DAG compile-fail
// tests. Each function below is the corrected form of one rejected snippet,
// built with the same headers, so those tests fail for their mistake and not
// for a broken include path or a header that no longer compiles.
#include <expected>
#include <optional>
#include <tuple>

#include "rt/dag.h"

struct Quote {
  int px = 0;
};
struct Order {
  int qty = 0;
};
struct Reject {
  int code = 0;
};
struct Tick {
  double bid = 0;
  double ask = 0;
};
struct Mid {
  double value = 0;
};
struct Vol {
  double value = 0;
};
struct Limits {
  int max_qty = 0;
};
struct Skew {
  double bps = 0;
};
struct Tape {
  int ticks = 0;
};
struct OrderReq {
  int qty = 0;
};
struct Verdict {
  bool ok = true;
};

Order to_order(const int& x) { return Order{x}; }
void on_order(const Order& o) { (void)o; }
Mid update_mid(const Tick& t) { return Mid{(t.bid + t.ask) / 2}; }
Vol update_vol(const Tick& t) { return Vol{t.ask - t.bid}; }
double compute_fair(const Mid& m, const Vol& v) { return m.value + v.value; }

void build_pipelines(const keel::Registry& registry) {
  // pipeline_step_input_mismatch.cc, with the step taking what comes before it.
  auto matched = keel::pipeline<int>(registry).then(to_order).then(on_order).build();
  // pipeline_map_on_plain_value.cc, with then() for the plain value.
  auto plain = keel::pipeline<Quote>(registry)
                   .then([](const Quote& q) { return q.px; })
                   .then([](int px) { return px * 2; })
                   .then([](int doubled) { (void)doubled; })
                   .build();
  // pipeline_on_error_without_expected.cc, on a chain carrying std::expected.
  auto fallible = keel::pipeline<int>(registry)
                      .then([](int x) -> std::expected<int, Reject> { return x; })
                      .on_error([](Reject r) { (void)r; })
                      .map([](int x) { (void)x; })
                      .build();
  // pipeline_step_not_a_parameter.cc: the value kept in a Local<int>, before the input.
  auto local = keel::pipeline<int>(registry)
                   .then([](int x) { return std::optional<Order>(Order{x}); })
                   .map([](keel::Local<int> extra, const Order& o) { *extra += o.qty; })
                   .build();
  // pipeline_map_input_mismatch.cc: the step takes the Quote map() passes.
  auto mapped = keel::pipeline<int>(registry)
                    .then([](int px) { return std::optional<Quote>(Quote{px}); })
                    .map([](keel::Res<Limits> limits, const Quote& q) { return q.px < limits->max_qty; })
                    .build();
  // pipeline_step_too_few_inputs.cc: one input per tuple element.
  auto spread = keel::pipeline<int>(registry)
                    .then([](int x) { return std::tuple(x, 2 * x, 0.5); })
                    .splat()
                    .then([](int a, int b, double c) { (void)(a + b + c); })
                    .build();
  // pipeline_step_parameter_after_input.cc: the keel parameter first.
  auto ordered = keel::pipeline<int>(registry)
                     .then([](int px) { return std::optional<Quote>(Quote{px}); })
                     .filter([](keel::Res<Limits> limits, const Quote& q) { return q.px >= limits->max_qty; })
                     .build();
  // pipeline_generic_step_with_parameter.cc: the parameter types spelled out.
  auto spelled = keel::pipeline<int>(registry)
                     .then([](keel::ResMut<Tape> tape, const int& qty) { tape->ticks += qty; })
                     .build();
  // pipeline_splat_without_tuple.cc: splat() of a tuple.
  auto tupled = keel::pipeline<int>(registry)
                    .then([](int x) { return std::pair(x, x + 1); })
                    .splat()
                    .then([](int a, int b) { (void)(a + b); })
                    .build();
  // pipeline_predicate_not_bool.cc: the predicate returns bool.
  auto tested = keel::pipeline<int>(registry)
                    .then([](int px) { return std::optional<Quote>(Quote{px}); })
                    .filter([](const Quote& q) { return q.px > 0; })
                    .build();
  // pipeline_and_then_plain_result.cc and pipeline_and_then_other_error.cc:
  // and_then() returns the chain's shape, with its error type.
  auto chained = keel::pipeline<int>(registry)
                     .then([](int qty) { return std::optional<int>(qty); })
                     .and_then([](int qty) { return std::optional<Order>(Order{qty}); })
                     .build();
  auto fallible_chain = keel::pipeline<int>(registry)
                            .then([](int x) -> std::expected<int, Reject> { return x; })
                            .and_then([](int x) -> std::expected<long, Reject> { return x; })
                            .build();
  // pipeline_or_else_other_value.cc: recovery into the same value type.
  auto recovered = keel::pipeline<int>(registry)
                       .then([](int x) -> std::expected<int, Reject> { return x; })
                       .or_else([](Reject r) -> std::expected<int, int> { return std::unexpected(r.code); })
                       .build();
  // pipeline_map_error_returns_void.cc: map_error() returns the new error.
  auto converted = keel::pipeline<int>(registry)
                       .then([](int x) -> std::expected<int, Reject> { return x; })
                       .map_error([](Reject r) { return r.code; })
                       .build();
  // pipeline_unwrap_or_wrong_fallback.cc: a fallback of the value type.
  auto unwrapped = keel::pipeline<int>(registry)
                       .then([](int x) { return std::optional<int>(x); })
                       .unwrap_or(0)
                       .build();
  // pipeline_dispatch_wrong_event.cc: a handler of the value the chain carries.
  auto dispatched =
      keel::pipeline<Quote>(registry).dispatch(keel::handler(registry, [](const Quote& q) { (void)q; })).build();
  (void)matched;
  (void)plain;
  (void)fallible;
  (void)local;
  (void)mapped;
  (void)spread;
  (void)ordered;
  (void)spelled;
  (void)tupled;
  (void)tested;
  (void)chained;
  (void)fallible_chain;
  (void)recovered;
  (void)converted;
  (void)unwrapped;
  (void)dispatched;
}

Verdict check_qty(keel::Res<Limits> limits, const OrderReq& r) { return Verdict{r.qty <= limits->max_qty}; }
Verdict check_size(const OrderReq& r) { return Verdict{r.qty > 0}; }
// A merge that takes the forked value first, then one output per arm.
Verdict decide(const OrderReq& r, Verdict qty, Verdict size) { return Verdict{qty.ok && size.ok && r.qty != 0}; }

void build_dags(const keel::Registry& registry) {
  // dag_merge_wrong_inputs.cc, with the merge taking (Mid, Vol).
  auto merged = keel::dag<Tick>(registry)
                    .root([](const Tick& t) { return t; })
                    .fork()
                    .arm([](auto a) { return a.then(update_mid); })
                    .arm([](auto b) { return b.then(update_vol); })
                    .merge(compute_fair)
                    .then([](double fair) { (void)fair; })
                    .build();
  // dag_merge_wrong_arity.cc and dag_merge_forked_value_mismatch.cc: the
  // forked value, taken as what the fork carries, then both arms' outputs;
  // the form an order gateway wrote as decide(const OrderReq&, Verdict, Verdict).
  auto forked = keel::dag<Tick>(registry)
                    .root([](const Tick& t) { return t; })
                    .fork()
                    .arm([](auto a) { return a.then(update_mid); })
                    .arm([](auto b) { return b.then(update_vol); })
                    .merge([](keel::Res<Skew> skew, const Tick& t, const Mid& m, const Vol& v) {
                      return (t.bid + m.value + v.value) * (1 + skew->bps);
                    })
                    .build();
  auto gateway = keel::dag<OrderReq>(registry)
                     .root([](const OrderReq& r) { return r; })
                     .fork()
                     .arm([](auto a) { return a.then(check_qty); })
                     .arm([](auto b) { return b.then(check_size); })
                     .merge(decide)
                     .then([](Verdict v) { (void)v; })
                     .build();
  // dag_merge_arm_produces_nothing.cc and dag_merge_one_arm.cc: two arms, each with a value.
  auto valued = keel::dag<Tick>(registry)
                    .root([](const Tick& t) { return t; })
                    .fork()
                    .arm([](auto a) { return a.then([](const Tick& t) { return t.bid; }); })
                    .arm([](auto b) { return b.then([](const Tick& t) { return t.ask; }); })
                    .merge([](double bid, double ask) { return bid + ask; })
                    .build();
  // dag_join_without_arms.cc and dag_arm_returns_nothing.cc: an arm that returns its builder.
  auto joined = keel::dag<int>(registry)
                    .root([](int x) { return x; })
                    .fork()
                    .arm([](auto a) { return a.then([](const int& x) { (void)x; }); })
                    .join()
                    .build();
  // dag_tee_arm_step_mistake.cc: the arm's value kept in a Local<int>.
  auto teed = keel::dag<Tick>(registry)
                  .root([](const Tick& t) { return t; })
                  .tee([](auto side) {
                    return side.then([](keel::ResMut<Tape> tape, keel::Local<int> every, const Tick&) {
                      tape->ticks += ++*every;
                    });
                  })
                  .then([](Tick t) { (void)t; })
                  .build();
  // dag_route_predicate_mistake.cc, with the predicate taking the Tick.
  auto routed_tick = keel::dag<Tick>(registry)
                         .root([](const Tick& t) { return t; })
                         .route([](const Tick& t) { return t.ask - t.bid < 1; },
                                [](auto tight) { return tight.then([](const Tick& t) { return t.bid; }); },
                                [](auto wide) { return wide.then([](const Tick& t) { return t.ask; }); })
                         .then([](double px) { (void)px; })
                         .build();
  // dag_route_arms_disagree.cc, with both arms producing an int.
  auto routed = keel::dag<int>(registry)
                    .root([](int x) { return x; })
                    .route([](const int& x) { return x > 0; },
                           [](auto yes) { return yes.then([](const int& x) { return x; }); },
                           [](auto no) { return no.then([](const int& x) { return -x; }); })
                    .then([](int x) { (void)x; })
                    .build();
  (void)merged;
  (void)forked;
  (void)gateway;
  (void)valued;
  (void)joined;
  (void)teed;
  (void)routed_tick;
  (void)routed;
}

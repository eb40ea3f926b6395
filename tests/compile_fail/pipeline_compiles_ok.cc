// Must compile: the positive control for the pipeline and DAG compile-fail
// tests. Each function below is the corrected form of one rejected snippet,
// built with the same headers, so those tests fail for their mistake and not
// for a broken include path or a header that no longer compiles.
#include <expected>
#include <optional>

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

Order to_order(const int& x) { return Order{x}; }
void on_order(const Order& o) { (void)o; }
Mid update_mid(const Tick& t) { return Mid{(t.bid + t.ask) / 2}; }
Vol update_vol(const Tick& t) { return Vol{t.ask - t.bid}; }
double compute_fair(const Mid& m, const Vol& v) { return m.value + v.value; }

void build(const keel::Registry& registry) {
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
  // dag_merge_wrong_inputs.cc, with the merge taking (Mid, Vol).
  auto merged = keel::dag<Tick>(registry)
                    .root([](const Tick& t) { return t; })
                    .fork()
                    .arm([](auto a) { return a.then(update_mid); })
                    .arm([](auto b) { return b.then(update_vol); })
                    .merge(compute_fair)
                    .then([](double fair) { (void)fair; })
                    .build();
  // dag_route_arms_disagree.cc, with both arms producing an int.
  auto routed = keel::dag<int>(registry)
                    .root([](int x) { return x; })
                    .route([](const int& x) { return x > 0; },
                           [](auto yes) { return yes.then([](const int& x) { return x; }); },
                           [](auto no) { return no.then([](const int& x) { return -x; }); })
                    .then([](int x) { (void)x; })
                    .build();
  (void)matched;
  (void)plain;
  (void)fallible;
  (void)merged;
  (void)routed;
}

// A tour of Keel's handlers: the ways to build one, the parameters they
// take, names, boxing, templates, callbacks, inline storage, the adapters,
// and the wrong-World check.
//
//   bazel run //examples:handlers_tour
//
// Explained in docs/handlers.md; each numbered section there matches one here.
#include <cstdint>
#include <exception>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "rt/handler.h"
#include "rt/testing.h"

struct OrderBook {
  std::int64_t bid = 0, ask = 0;
  std::uint64_t updates = 0;
};
struct RiskLimits {
  std::int64_t max_qty = 0;
};
struct Metrics {  // never registered: Opt<> makes it optional
  std::uint64_t quotes = 0;
};

struct Quote {
  char side;
  std::int64_t px, qty;
};

// A handler's keel parameters come first, its event last. All parameter
// kinds in one signature:
void on_quote(keel::ResMut<OrderBook> book,        // T&, resolved once
              keel::Res<RiskLimits> limits,        // const T&
              keel::Opt<keel::ResMut<Metrics>> m,  // may be empty: test before use
              keel::Local<std::uint64_t> seen,     // owned by this handler instance
              keel::Seq seq,                       // the event's sequence number
              const Quote& q) {
  ++*seen;
  if (m) ++m->quotes;
  if (q.qty > limits->max_qty) return;
  (q.side == 'B' ? book->bid : book->ask) = q.px;
  ++book->updates;
  std::cout << "   on_quote: seq " << seq.value() << ", this instance has seen " << *seen << "\n";
}

void count_update(keel::ResMut<OrderBook> book, const Quote&) { ++book->updates; }

// Handlers chosen at run time, kept behind the virtual Handler<E> interface.
struct Routes {
  std::vector<std::unique_ptr<keel::Handler<const Quote&>>> handlers;
};

// RegistryRef: builds handlers while dispatching, here on a subscribe event.
void on_subscribe(keel::ResMut<Routes> routes, keel::RegistryRef reg, const std::string& topic) {
  if (topic == "updates") routes->handlers.push_back(keel::boxed(keel::handler(*reg, count_update)));
}

namespace {
// Internal linkage: named from the binary's symbol table all the same.
void on_trade(keel::ResMut<OrderBook> book, const Quote&) { ++book->updates; }
}  // namespace

// keel::World&: the whole World, for a handler that reaches many resources
// or builds handlers as it runs. It comes first, and rules out Res/ResMut/Opt.
void on_snapshot(keel::World& world, keel::Seq seq, const Quote&) {
  const OrderBook& book = world.resource<OrderBook>();
  std::cout << "10. snapshot at seq " << seq.value() << ": bid " << book.bid << ", ask " << book.ask << "\n";
}

void show(const char* label, std::string_view name) { std::cout << "   " << label << " -> " << name << "\n"; }

int main() {
  keel::WorldBuilder wb;
  wb.emplace<OrderBook>();
  wb.insert(RiskLimits{.max_qty = 100});
  wb.emplace<Routes>();
  keel::testing::TestHarness harness(std::move(wb));
  keel::World& world = harness.world();
  const keel::Registry& reg = harness.registry();

  // 1. handler(): from a named function, a pointer, keel::fn<&f> or a lambda.
  std::cout << "1. building handlers and their names\n";
  auto by_name = keel::handler(reg, on_quote);
  auto by_pointer = keel::handler(reg, &on_quote);
  auto by_fn = keel::handler(reg, keel::fn<&on_quote>);  // exact name, call always inlined
  std::int64_t floor_px = 90;
  auto by_lambda = keel::handler(reg, [floor_px](keel::ResMut<OrderBook> book, const Quote& q) {
    if (q.px >= floor_px) ++book->updates;
  });
  show("on_quote           ", by_name.name());
  show("&on_quote          ", by_pointer.name());
  show("keel::fn<&on_quote>", by_fn.name());
  show("capturing lambda   ", by_lambda.name());
  show("on_trade (internal)", keel::handler(reg, on_trade).name());
  show("keel::fn<&on_trade>", keel::handler(reg, keel::fn<&on_trade>).name());

  // 2. Parameters: Local<T> is per instance; Seq is the harness's sequence.
  std::cout << "2. dispatching\n";
  harness.dispatch(by_name, Quote{'B', 99, 10});
  harness.dispatch(by_name, Quote{'S', 101, 10});
  harness.dispatch(by_fn, Quote{'B', 100, 10});  // another instance: its own Local
  harness.dispatch(by_lambda, Quote{'B', 100, 10});

  // 3. boxed() and RegistryRef: handlers built while dispatching, run through Handler<E>.
  auto subscribe = keel::handler(reg, on_subscribe);
  harness.dispatch(subscribe, std::string("updates"));
  auto& routes = world.resource<Routes>().handlers;
  routes.push_back(keel::boxed(std::move(by_lambda)));
  for (auto& h : routes) h->run(world, Quote{'S', 102, 1});
  std::cout << "3. " << routes.size() << " boxed handlers ran: [" << routes[0]->name() << "] [" << routes[1]->name()
            << "]\n";

  // 4. HandlerTemplate: resolve once, stamp copies (Local<T> starts from the template's value).
  keel::HandlerTemplate tmpl(reg, keel::fn<&on_quote>);
  auto first = tmpl.generate();
  auto second = tmpl.generate();
  std::cout << "4. two handlers stamped from template '" << tmpl.name() << "'\n";
  harness.dispatch(first, Quote{'B', 98, 1});
  harness.dispatch(second, Quote{'B', 98, 1});

  // 5. callback(): a context of its own, passed first, reachable through ctx().
  struct Timer {
    int id;
    int fires = 0;
  };
  auto timeout = keel::callback(Timer{.id = 7}, reg, [](Timer& t, keel::Res<OrderBook> book, std::uint64_t now) {
    ++t.fires;
    std::cout << "   timer " << t.id << " fired at " << now << ", bid " << book->bid << "\n";
  });
  std::cout << "5. callback\n";
  timeout.run(world, 1000);
  timeout.run(world, 2000);
  std::cout << "   fires = " << timeout.ctx().fires << "\n";

  //    CallbackTemplate: resolve once, generate(ctx) per timer.
  keel::CallbackTemplate timers(reg, [](Timer& t, keel::Res<OrderBook>, std::uint64_t) { ++t.fires; });
  auto t1 = timers.generate(Timer{.id = 1});
  auto t2 = timers.generate(Timer{.id = 2});
  t2.run(world, 3000);
  std::cout << "   stamped timers " << t1.ctx().id << " and " << t2.ctx().id << "; fires " << t1.ctx().fires << " and "
            << t2.ctx().fires << "\n";

  // 6. InlineHandler: type-erased without a heap allocation.
  std::vector<keel::InlineHandler<const Quote&>> table;
  table.emplace_back(keel::handler(reg, keel::fn<&count_update>));
  table.emplace_back(keel::handler(reg, [](keel::Res<OrderBook>, const Quote&) {}));
  std::cout << "6. inline table:";
  for (auto& slot : table) {
    slot.run(world, Quote{'B', 1, 1});
    std::cout << " [" << slot.name() << "]";
  }
  std::cout << "\n";

  // 7. catch_exceptions: a throwing handler is reported, and survives.
  int parsed = 0;
  auto parse_number = [&parsed](const std::string& text) {
    if (text.empty() || text[0] < '0' || text[0] > '9') throw std::invalid_argument("not a number: " + text);
    ++parsed;
  };
  auto report = [](std::exception_ptr error) {
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      std::cout << "   reported: " << e.what() << "\n";
    }
  };
  auto parse = keel::catch_exceptions(keel::handler(reg, parse_number), report);
  std::cout << "7. catch_exceptions\n";
  for (const char* text : {"42", "abc", "7"}) parse.run(world, text);
  std::cout << "   parsed " << parsed << " of 3; the handler survived the throw\n";

  // 8. Adapters: by_ref (const E& handler as an E handler), cloned (the reverse).
  auto takes_value = keel::cloned(keel::handler(reg, [](keel::ResMut<OrderBook> b, Quote q) { b->ask = q.px; }));
  auto takes_cref = keel::by_ref(keel::handler(reg, count_update));
  keel::InlineHandler<const Quote&> slot = std::move(takes_value);  // fits a const Quote& slot now
  slot.run(world, Quote{'S', 103, 1});
  takes_cref.run(world, Quote{'S', 104, 1});
  std::cout << "8. adapters: ask " << world.resource<OrderBook>().ask << "\n";

  // 9. The wrong-World check: a handler runs only on the World it was built for.
  keel::WorldBuilder other_builder;
  other_builder.emplace<OrderBook>();
  other_builder.insert(RiskLimits{});
  keel::World other = std::move(other_builder).build();
  try {
    by_name.run(other, Quote{'B', 1, 1});
  } catch (const keel::ConfigError& e) {
    std::cout << "9. " << e.what() << "\n";
  }

  // 10. A handler that takes the whole World.
  world.next_sequence();
  keel::handler(reg, on_snapshot).run(world, Quote{'B', 0, 0});
  return 0;
}

// Keel in one page: a World with two resources, a startup function, two
// handlers and a callback, driven by a small loop over scripted quotes.
//
//   bazel run //examples:quickstart
//
// Walked through in docs/getting-started.md.
#include <cstdint>
#include <iomanip>
#include <iostream>
#include <string_view>
#include <vector>

#include "rt/handler.h"

// --- resources: plain structs the World owns, one per type -----------------

struct OrderBook {
  std::int64_t bid = 0, bid_qty = 0;  // prices in ticks
  std::int64_t ask = 0, ask_qty = 0;
  std::uint64_t applied = 0, rejected = 0;
  std::uint64_t last_seq = 0;  // the sequence number of the last quote applied
};

struct RiskLimits {
  std::int64_t max_qty = 0;
};

// --- the event --------------------------------------------------------------

struct Quote {
  char side;  // 'B' (bid) or 'S' (ask)
  std::int64_t px;
  std::int64_t qty;
};

// --- a startup function: parameters only, run once --------------------------

void load_limits(keel::ResMut<RiskLimits> limits) {
  limits->max_qty = 500;  // as if read from a configuration file
}

// --- handler 1: a named function; keel parameters first, the event last ----

void on_quote(keel::ResMut<OrderBook> book, keel::Res<RiskLimits> limits, keel::Seq seq, const Quote& q) {
  if (q.qty > limits->max_qty) {
    ++book->rejected;
    std::cout << "seq " << seq.value() << "  rejected: qty " << q.qty << " is over the limit of " << limits->max_qty
              << "\n";
    return;
  }
  if (q.side == 'B') {
    book->bid = q.px;
    book->bid_qty = q.qty;
  } else {
    book->ask = q.px;
    book->ask_qty = q.qty;
  }
  ++book->applied;
  book->last_seq = seq;
}

// --- a callback: a context of its own, passed first -------------------------

struct Heartbeat {
  const char* label;
  int fires = 0;
};

void on_heartbeat(Heartbeat& hb, keel::Res<OrderBook> book, std::uint64_t seq) {
  ++hb.fires;
  std::cout << "seq " << seq << "  " << hb.label << " #" << hb.fires << ": bid " << book->bid << " x " << book->bid_qty
            << " / ask " << book->ask << " x " << book->ask_qty << "\n";
}

int main() {
  // 1. Register resources and freeze the set.
  keel::WorldBuilder wb;
  wb.emplace<OrderBook>();
  wb.insert(RiskLimits{});
  keel::World world = std::move(wb).build();

  // 2. Run a startup function: its parameters are injected like a handler's.
  world.run_startup(load_limits);

  // 3. Build handlers: parameters are resolved here, once.
  auto quotes = keel::handler(world.registry(), on_quote);

  // handler 2: a lambda with Local<T>, state owned by this handler instance.
  auto print_mid = [](keel::Res<OrderBook> book, keel::Local<std::int64_t> last_mid2, keel::Seq seq, const Quote&) {
    if (book->bid == 0 || book->ask == 0) return;     // one side still empty
    const std::int64_t mid2 = book->bid + book->ask;  // twice the mid, to stay in integers
    if (mid2 == *last_mid2) return;
    std::cout << "seq " << seq.value() << "  mid " << std::fixed << std::setprecision(1) << mid2 / 2.0 << "\n";
    *last_mid2 = mid2;
  };
  auto mid_watch = keel::handler(world.registry(), print_mid);

  auto heartbeat = keel::callback(Heartbeat{"heartbeat"}, world.registry(), on_heartbeat);

  std::cout << "resources:";
  for (std::string_view type : world.registry().type_names()) std::cout << " " << type;
  std::cout << "\nhandlers:  " << quotes.name() << " | " << mid_watch.name() << " | " << heartbeat.name() << "\n";

  // 4. The loop: one event per step, a fresh sequence number for each, and
  //    a heartbeat every third event. Stops when shutdown is requested.
  const std::vector<Quote> script = {
      {'B', 100, 10}, {'S', 104, 5}, {'B', 101, 20}, {'S', 103, 900}, {'S', 102, 7}, {'B', 101, 30},
  };
  std::size_t next = 0;
  world.run([&](keel::World& w) {
    if (next == script.size()) {
      w.shutdown_handle().request();
      return;
    }
    const Quote& q = script[next++];
    const std::uint64_t seq = w.next_sequence();
    quotes.run(w, q);
    mid_watch.run(w, q);
    if (seq % 3 == 0) heartbeat.run(w, seq);
  });

  // 5. Read the result straight from the World.
  const OrderBook& book = world.resource<OrderBook>();
  std::cout << "done after " << world.sequence() << " events: bid " << book.bid << " x " << book.bid_qty << " / ask "
            << book.ask << " x " << book.ask_qty << "; " << book.applied << " applied (the last at seq "
            << book.last_seq << "), " << book.rejected << " rejected; " << heartbeat.ctx().fires << " heartbeats\n";
  return 0;
}

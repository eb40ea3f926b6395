// Reactors: one reactor per strategy, each subscribed to the instruments it
// trades. Quotes mark their instrument's data source; each reactor pass then
// runs every woken strategy once. Instruments and strategies come and go
// while the program runs. Last, a book per instrument takes orders through a
// typed mailbox (rt/mailbox.h).
//
//   bazel run //examples:reactors
//
// Explained in docs/reactors.md.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iostream>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "rt/handler.h"
#include "rt/mailbox.h"
#include "rt/reactor.h"

struct Quote {
  std::string symbol;
  std::int64_t px = 0;
};
// Last price per symbol, written by on_quote, read by the strategies.
struct Prices {
  std::map<std::string, std::int64_t, std::less<>> last;
};
// Who ran in the current pass, for main to print.
struct RunLog {
  std::vector<std::string> ran;
};
// Symbol -> data source. A resource, so that handlers can look sources up.
using Instruments = keel::SourceRegistry<std::string>;

// A handler: store the price, then mark the instrument's source. The mark
// is O(1); the subscribers run in the next reactor pass, once each.
void on_quote(keel::ResMut<Prices> prices, keel::Res<Instruments> instruments, keel::ResMut<keel::ReactorNotify> rx,
              const Quote& q) {
  prices->last[q.symbol] = q.px;
  if (auto src = instruments->get(q.symbol)) rx->mark(*src);
}

// A reactor's context: owned by the reactor, handed to it by reference on
// every run.
struct Strategy {
  std::string name;
  std::vector<std::pair<std::string, std::int64_t>> legs;  // symbol, weight
  keel::DataSource moved{};  // marked when the value changes (may be none)
  std::int64_t value = 0;
  int runs = 0;
};

// A reactor: its context first, then keel parameters. No event: it reads
// the state that the marking handlers changed.
void requote(Strategy& s, keel::Res<Prices> prices, keel::ResMut<keel::ReactorNotify> rx, keel::ResMut<RunLog> log) {
  ++s.runs;
  log->ran.push_back(s.name);
  std::int64_t value = 0;
  for (const auto& [symbol, weight] : s.legs) {
    const auto it = prices->last.find(symbol);
    if (it != prices->last.end()) value += weight * it->second;
  }
  if (value == s.value) return;
  s.value = value;
  rx->mark(s.moved);  // made during a pass: wakes the hedger in the next pass
}

struct Hedge {
  int hedges = 0;
};
void hedge(Hedge& h, keel::ResMut<RunLog> log) {
  ++h.hedges;
  log->ran.push_back("hedger");
}

// A one-shot alert: fires once when its symbol trades above a level, then
// removes itself.
struct Alert {
  std::string symbol;
  std::int64_t above = 0;
  keel::ReactorToken self{};
};
void alert_once(Alert& a, keel::Res<Prices> prices, keel::ResMut<keel::ReactorNotify> rx, keel::ResMut<RunLog> log) {
  log->ran.push_back("alert");
  const auto it = prices->last.find(a.symbol);
  if (it == prices->last.end() || it->second <= a.above) return;
  std::cout << "  alert: " << a.symbol << " at " << it->second << ", above " << a.above << "; removing itself\n";
  rx->remove(a.self);  // allowed inside a pass, itself included: destroyed when the pass ends
}

// An order for one instrument's book: a signed quantity (buy > 0, sell < 0).
struct Order {
  std::int64_t qty = 0;
};
// A reactor's context owns its inbox: a bounded FIFO whose storage is
// allocated once, here.
struct Book {
  std::string symbol;
  keel::Inbox<Order> inbox{4};
  std::int64_t position = 0;
};
// An ordinary reactor function: it drains every order sent before the pass,
// in arrival order.
void on_orders(Book& book, keel::ResMut<RunLog> log) {
  const std::size_t n = book.inbox.drain([&](Order& o) { book.position += o.qty; });
  log->ran.push_back(book.symbol + " book (" + std::to_string(n) + " orders, position " +
                     std::to_string(book.position) + ")");
}
// Subscribed beside the books, without an inbox: publish() wakes it too.
struct Audit {
  int wakes = 0;
};
void audit(Audit& a, keel::ResMut<RunLog> log) {
  ++a.wakes;
  log->ran.push_back("audit");
}

int main() {
  keel::WorldBuilder wb;
  wb.emplace<Prices>();
  wb.emplace<RunLog>();
  wb.emplace<Instruments>();
  keel::World world = std::move(wb).build();  // registers keel::ReactorNotify

  // 1. Sources: one per instrument, found by symbol through a SourceRegistry.
  auto& rx = world.resource<keel::ReactorNotify>();
  auto& instruments = world.resource<Instruments>();
  for (const char* symbol : {"BTC", "ETH", "SOL"}) instruments.insert(symbol, rx.register_source());
  const keel::DataSource spread_moved = rx.register_source();  // a source that is not an instrument

  // 2. Reactors: two strategies on overlapping instruments, a hedger woken
  //    by one strategy's output, and a one-shot alert.
  const keel::ReactorToken spread =
      rx.spawn(Strategy{.name = "spread", .legs = {{"BTC", 1}, {"ETH", -1}}, .moved = spread_moved},
               world.registry(), requote)
          .subscribe(*instruments.get("BTC"))
          .subscribe(*instruments.get("ETH"))
          .token();
  const keel::ReactorToken basket =
      rx.spawn(Strategy{.name = "basket", .legs = {{"ETH", 1}, {"SOL", 1}}}, world.registry(), requote)
          .subscribe(*instruments.get("ETH"))
          .subscribe(*instruments.get("SOL"))
          .token();
  const keel::ReactorToken hedger = rx.spawn(Hedge{}, world.registry(), hedge).subscribe(spread_moved).token();
  const keel::ReactorToken alert =
      rx.spawn(Alert{.symbol = "SOL", .above = 25}, world.registry(), alert_once).subscribe(*instruments.get("SOL"));
  rx.context<Alert>(alert)->self = alert;  // the context is reachable through the token

  // 3. The loop: dispatch the events, then run reactor passes until no mark
  //    is left. Marks made by reactors wake reactors in the next pass.
  auto quotes = keel::handler(world.registry(), on_quote);
  auto tick = [&](const char* what, const std::vector<Quote>& batch) {
    std::cout << what << "\n";
    for (const Quote& q : batch) quotes.run(world, q);
    for (int pass = 1; rx.pending(); ++pass) {
      const std::size_t ran = world.dispatch_reactors();
      std::cout << "  pass " << pass << ":";
      for (const std::string& name : world.resource<RunLog>().ran) std::cout << " " << name;
      std::cout << " (" << ran << " ran)\n";
      world.resource<RunLog>().ran.clear();
    }
  };
  tick("tick 1: BTC 100, ETH 60, ETH 61, SOL 20",
       {{"BTC", 100}, {"ETH", 60}, {"ETH", 61}, {"SOL", 20}});
  tick("tick 2: SOL 26", {{"SOL", 26}});
  tick("tick 3: SOL 27, BTC 101", {{"SOL", 27}, {"BTC", 101}});

  // 4. At run time: list an instrument and give it a strategy; delist
  //    another. Outside a pass, all of this takes effect at once.
  const keel::DataSource doge = rx.register_source();
  instruments.insert("DOGE", doge);
  const keel::ReactorToken pair =
      rx.spawn(Strategy{.name = "doge-btc", .legs = {{"DOGE", 20}, {"BTC", -1}}}, world.registry(), requote)
          .subscribe(doge)
          .subscribe(*instruments.get("BTC"))
          .token();
  if (auto sol = instruments.remove("SOL")) rx.remove_source(*sol);  // drops basket's SOL subscription
  rx.unsubscribe(spread, *instruments.get("ETH"));                   // spread now follows BTC only
  tick("tick 4: DOGE listed, SOL delisted; SOL 30, DOGE 5, ETH 62, BTC 102",
       {{"SOL", 30}, {"DOGE", 5}, {"ETH", 62}, {"BTC", 102}});

  // 5. Contexts and names, through the tokens.
  for (keel::ReactorToken t : {spread, basket, pair}) {
    const Strategy* s = rx.context<Strategy>(t);
    std::cout << s->name << " (" << rx.name(t) << "): runs " << s->runs << ", value " << s->value << "\n";
  }
  std::cout << "hedger hedged " << rx.context<Hedge>(hedger)->hedges << " times; alert "
            << (rx.contains(alert) ? "still there" : "gone") << "; " << rx.reactor_count() << " reactors, "
            << rx.source_count() << " sources\n";

  // 6. Mailboxes: orders sent to one book, then published to every book.
  auto pass = [&] {
    const std::size_t ran = world.dispatch_reactors();
    std::cout << "  pass:";
    for (const std::string& name : world.resource<RunLog>().ran) std::cout << " " << name;
    std::cout << " (" << ran << " ran)\n";
    world.resource<RunLog>().ran.clear();
  };
  const keel::ReactorToken btc_book = rx.spawn(Book{.symbol = "BTC"}, world.registry(), on_orders).token();
  const keel::ReactorToken eth_book = rx.spawn(Book{.symbol = "ETH"}, world.registry(), on_orders).token();
  const keel::Address<Order> to_btc = rx.address(btc_book, &Book::inbox);  // cold: a typed lookup, once
  std::size_t delivered = 0;
  std::size_t refused = 0;
  for (std::int64_t qty : {5, -2, 3, 1, 4}) {
    switch (rx.send(to_btc, Order{.qty = qty})) {  // O(1); wakes the book for the next pass
      case keel::Delivery::delivered:
        ++delivered;
        break;
      case keel::Delivery::full:  // the inbox holds 4: the fifth order is refused, not queued
        ++refused;
        break;
      case keel::Delivery::gone:  // the book was removed
        break;
    }
  }
  std::cout << "6. sent 5 orders to the BTC book: " << delivered << " delivered, " << refused
            << " refused (inbox full, dropped() = " << rx.context<Book>(btc_book)->inbox.dropped() << ")\n";
  pass();

  const keel::DataSource desk = rx.register_source();  // every book, and an auditor without an inbox
  rx.subscribe(btc_book, desk);
  rx.subscribe(eth_book, desk);
  rx.spawn(Audit{}, world.registry(), audit).subscribe(desk);
  const std::size_t took = rx.publish(desk, &Book::inbox, Order{.qty = 1});  // a copy to each Book; marks desk
  std::cout << "6. published one order to the desk: " << took << " books took it\n";
  pass();

  const keel::Address<Order> to_eth = rx.address(eth_book, &Book::inbox);
  rx.remove(eth_book);  // its queued orders, if any, are destroyed with it
  const bool gone = rx.send(to_eth, Order{.qty = 1}) == keel::Delivery::gone;
  std::cout << "6. the ETH book was removed; a send to it is " << (gone ? "gone" : "delivered") << "\n";
}

// Fan-out: one event, several handlers. keel::fan_out fixes the set in the
// type; keel::Broadcast<E> changes it at run time.
//
//   bazel run //examples:fan_out
//
// Explained in docs/fan-out.md.
#include <cstdint>
#include <iostream>
#include <memory>
#include <vector>

#include "rt/fan_out.h"
#include "rt/handler.h"

struct Book {
  std::int64_t bid = 0, ask = 0;
};
struct Tape {
  std::vector<std::int64_t> prices;
};
struct Quote {
  char side;
  std::int64_t px;
};

void update_book(keel::ResMut<Book> book, const Quote& q) { (q.side == 'B' ? book->bid : book->ask) = q.px; }
void record_tape(keel::ResMut<Tape> tape, const Quote& q) { tape->prices.push_back(q.px); }
// Takes its event by value: it keeps (here: changes) its own copy.
void print_rounded(Quote q) {
  q.px = q.px / 10 * 10;
  std::cout << "  rounded " << q.side << " " << q.px << "\n";
}

int main() {
  keel::WorldBuilder wb;
  wb.emplace<Book>();
  wb.emplace<Tape>();
  keel::World world = std::move(wb).build();
  const keel::Registry& reg = world.registry();

  // 1. Static fan-out: every handler gets the same `const Quote&`, in order.
  //    A by-value handler joins through keel::cloned, which copies for it.
  auto on_quote = keel::fan_out(keel::handler(reg, update_book),
                                keel::handler(reg, record_tape),
                                keel::cloned(keel::handler(reg, print_rounded)));
  std::cout << on_quote.name() << "\n";
  on_quote.run(world, Quote{'B', 101});
  on_quote.run(world, Quote{'A', 103});
  std::cout << "book " << world.resource<Book>().bid << " / " << world.resource<Book>().ask << ", tape has "
            << world.resource<Tape>().prices.size() << " prices\n";

  // 2. Dynamic fan-out: subscribers come and go; each add() returns a token.
  keel::Broadcast<Quote> subscribers("quote subscribers");
  keel::BroadcastToken tape_token = subscribers.add(keel::handler(reg, record_tape));
  subscribers.add(keel::handler(reg, [](const Quote& q) { std::cout << "  subscriber saw " << q.px << "\n"; }));
  subscribers.run(world, Quote{'B', 102});
  subscribers.remove(tape_token);
  subscribers.run(world, Quote{'B', 104});  // only the printing subscriber is left
  std::cout << subscribers.name() << ": " << subscribers.size() << " left, tape has "
            << world.resource<Tape>().prices.size() << " prices\n";

  // 3. Both are handlers of `const Quote&`: they nest and box.
  std::unique_ptr<keel::Handler<const Quote&>> any =
      keel::boxed(keel::fan_out(std::move(subscribers), keel::handler(reg, update_book)));
  any->run(world, Quote{'A', 105});
  std::cout << "boxed " << any->name() << ": ask " << world.resource<Book>().ask << "\n";
}

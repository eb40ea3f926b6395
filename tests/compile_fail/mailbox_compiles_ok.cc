// Must compile (warnings as errors): the positive control for the mailbox
// compile-fail tests, with every drain() parameter form and both send()
// forms, move-only events included.
#include <cstddef>
#include <memory>

#include "rt/mailbox.h"

struct Order {
  int qty = 0;
};

struct Book {
  keel::Inbox<Order> inbox{4};
  keel::Inbox<std::unique_ptr<Order>> jobs{4};
  int position = 0;
};

void on_orders(Book& book) {
  book.inbox.drain([&](Order& o) { book.position += o.qty; });
  book.inbox.drain([&](const Order& o) { book.position += o.qty; });
  book.inbox.drain([&](Order&& o) { book.position += o.qty; });
  book.inbox.drain([&](Order o) { book.position += o.qty; });
  book.jobs.drain([&](std::unique_ptr<Order> o) { book.position += o->qty; });
  book.jobs.drain([&](std::unique_ptr<Order>& o) { book.position += o->qty; });
}

std::size_t route(keel::World& world, keel::DataSource desk) {
  auto& rx = world.resource<keel::ReactorNotify>();
  const keel::ReactorToken t = rx.spawn(Book{}, world.registry(), on_orders).subscribe(desk).token();
  const keel::Address<Order> to = rx.address(t, &Book::inbox);
  const Order order{.qty = 1};
  std::size_t delivered = rx.send(to, order) == keel::Delivery::delivered ? 1 : 0;
  delivered += rx.send(to, Order{.qty = 2}) == keel::Delivery::delivered ? 1 : 0;
  delivered += rx.send(rx.address(t, &Book::jobs), std::make_unique<Order>()) == keel::Delivery::delivered ? 1 : 0;
  return delivered + rx.publish(desk, &Book::inbox, order);
}

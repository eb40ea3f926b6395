// Must not compile: Broadcast<Quote> hands its handlers `const Quote&`, and
// this std::unique_ptr points to a handler of `const Trade&`. Expected: the
// fan-out static_assert, naming the shared event, the handler's event and
// the position.
#include <memory>
#include <string_view>

#include "rt/fan_out.h"

struct Quote {
  int price = 0;
};
struct Trade {
  int qty = 0;
};

struct OnTrade : keel::Handler<const Trade&> {
  void run(keel::World&, const Trade&) override {}
  std::string_view name() const noexcept override { return "OnTrade"; }
};

void build(keel::Broadcast<Quote>& subscribers) { subscribers.add(std::make_unique<OnTrade>()); }

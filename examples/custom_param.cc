// Writing your own handler parameter: two types that satisfy keel::Param.
//
//   JournalWriter — write access to a Journal resource, stamped with the
//                   sequence number of the event being dispatched.
//   Trading       — a bundle: the OrderBook (write) and the RiskLimits (read)
//                   that every trading handler needs, as one parameter.
//
//   bazel run //examples:custom_param
//
// Explained in docs/handlers.md, "Writing your own parameter".
#include <cstdint>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "rt/handler.h"
#include "rt/testing.h"

struct Journal {
  std::vector<std::string> lines;
};

struct OrderBook {
  std::int64_t bid = 0, ask = 0;
};

struct RiskLimits {
  std::int64_t max_qty = 0;
};

struct Quote {
  char side;
  std::int64_t px, qty;
};

// --- 1. a parameter over one resource ----------------------------------------

class JournalWriter {
 public:
  // What the handler keeps between events: here, the Journal's address.
  using State = Journal*;
  // What it touches, for the compile-time aliasing check: taking
  // JournalWriter together with Res<Journal> or ResMut<Journal> is an error.
  using Access = keel::Writes<Journal>;

  // Build time, once per handler: resolve against the Registry. A missing
  // Journal throws ConfigError; Keel adds the handler's name to the message.
  static State init(const keel::Registry& registry) { return &registry.resolve<Journal>(); }

  // Dispatch time, once per event: make the value the function receives.
  // Keep it to loads — this runs on the hot path.
  static JournalWriter fetch(keel::World& world, State& journal) { return JournalWriter(*journal, world.sequence()); }

  void write(std::string_view text) const {
    journal_->lines.push_back("#" + std::to_string(seq_) + " " + std::string(text));
  }

 private:
  JournalWriter(Journal& journal, std::uint64_t seq) : journal_(&journal), seq_(seq) {}
  Journal* journal_;
  std::uint64_t seq_;
};

static_assert(keel::Param<JournalWriter>);

// --- 2. a bundle of resources as one parameter --------------------------------

class Trading {
 public:
  struct State {
    OrderBook* book;
    const RiskLimits* limits;
  };
  using Access = keel::AccessList<keel::Writes<OrderBook>, keel::Reads<RiskLimits>>;

  static State init(const keel::Registry& registry) {
    return {&registry.resolve<OrderBook>(), &registry.resolve<RiskLimits>()};
  }
  static Trading fetch(keel::World&, State& state) noexcept { return Trading(state); }

  OrderBook& book() const noexcept { return *state_.book; }
  const RiskLimits& limits() const noexcept { return *state_.limits; }
  bool allows(std::int64_t qty) const noexcept { return qty <= state_.limits->max_qty; }

 private:
  explicit Trading(State state) noexcept : state_(state) {}
  State state_;
};

static_assert(keel::Param<Trading>);

// --- handlers use them like the built-in parameters ---------------------------

void on_quote(Trading trading, JournalWriter journal, const Quote& q) {
  if (!trading.allows(q.qty)) {
    journal.write("rejected qty " + std::to_string(q.qty));
    return;
  }
  (q.side == 'B' ? trading.book().bid : trading.book().ask) = q.px;
  journal.write(std::string(1, q.side) + " " + std::to_string(q.px));
}

// Would not compile: JournalWriter writes Journal, Res<Journal> reads it.
//   void audit(JournalWriter w, keel::Res<Journal> j, const Quote& q);
//   keel::handler(reg, audit);   // static_assert: HandlerTakesConflictingAccessTo<Journal>

int main() {
  keel::WorldBuilder wb;
  wb.emplace<Journal>();
  wb.emplace<OrderBook>();
  wb.insert(RiskLimits{.max_qty = 100});
  keel::testing::TestHarness harness(std::move(wb));

  auto h = keel::handler(harness.registry(), on_quote);
  for (const Quote& q : {Quote{'B', 99, 10}, Quote{'S', 101, 500}, Quote{'S', 102, 20}}) harness.dispatch(h, q);

  for (const std::string& line : harness.world().resource<Journal>().lines) std::cout << line << "\n";
  const OrderBook& book = harness.world().resource<OrderBook>();
  std::cout << "book: bid " << book.bid << " ask " << book.ask << "\n";

  // A missing resource is reported by name, with the handler's name.
  keel::WorldBuilder no_journal;
  no_journal.emplace<OrderBook>();
  no_journal.insert(RiskLimits{});
  keel::World other = std::move(no_journal).build();
  try {
    auto bad = keel::handler(other.registry(), on_quote);
    static_cast<void>(bad);
  } catch (const keel::ConfigError& e) {
    std::cout << e.what() << "\n";
  }
  return 0;
}

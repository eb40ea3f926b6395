// A tour of keel::World: registration (emplace, insert, plugins, drivers),
// the Registry, resource lookup, startup functions, the loop and Shutdown,
// sequence numbers, destruction order and the ConfigError cases.
//
//   bazel run //examples:world_tour
//
// Explained in docs/world.md; each numbered section there matches one here.
#include <cstdint>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

#include "rt/handler.h"

// Prints when destroyed, to show the order in which a World tears down.
struct Goodbye {
  const char* name;
  ~Goodbye() { std::cout << "  destroyed " << name << "\n"; }
};

struct OrderBook {
  std::int64_t bid = 0, ask = 0;
  Goodbye bye{"OrderBook"};
};

struct RiskLimits {
  std::int64_t max_qty = 0;
};

struct RiskStats {
  std::uint64_t checked = 0, rejected = 0;
  Goodbye bye{"RiskStats"};
};

struct Quote {
  char side;
  std::int64_t px, qty;
};

// --- a plugin: a bundle of registrations that travels as one value ---------

struct RiskPlugin {
  std::int64_t max_qty;
  void build(keel::WorldBuilder& wb) && {
    wb.insert(RiskLimits{.max_qty = max_qty});
    wb.emplace<RiskStats>();
  }
};

// --- a driver: an installer that registers resources and returns a poller --

struct FeedStats {
  std::uint64_t delivered = 0;
  Goodbye bye{"FeedStats"};
};

// Replays a script of quotes, one per poll, then asks the loop to stop.
class ReplayPoller {
 public:
  ReplayPoller(std::vector<Quote> script, FeedStats& stats) : script_(std::move(script)), stats_(&stats) {}

  // Dispatches the next quote to `h` with a fresh sequence number; returns
  // how many events ran (0 or 1), as real pollers do.
  template <class H>
  std::size_t poll(keel::World& world, H& h) {
    if (next_ == script_.size()) {
      world.shutdown_handle().request();
      return 0;
    }
    world.next_sequence();
    h.run(world, script_[next_++]);
    ++stats_->delivered;
    return 1;
  }

 private:
  std::vector<Quote> script_;
  std::size_t next_ = 0;
  FeedStats* stats_;  // a resource's address is stable for the World's life
};

struct ReplayInstaller {
  std::vector<Quote> script;
  ReplayPoller install(keel::WorldBuilder& wb) && {
    FeedStats& stats = wb.emplace<FeedStats>();
    return ReplayPoller(std::move(script), stats);
  }
};

// --- handlers ----------------------------------------------------------------

void on_quote(keel::ResMut<OrderBook> book, keel::Res<RiskLimits> limits, keel::ResMut<RiskStats> stats,
              const Quote& q) {
  ++stats->checked;
  if (q.qty > limits->max_qty) {
    ++stats->rejected;
    return;
  }
  (q.side == 'B' ? book->bid : book->ask) = q.px;
}

template <class F>
void expect_config_error(const char* what, F&& f) {
  try {
    f();
    std::cout << "  " << what << ": no error?\n";
  } catch (const keel::ConfigError& e) {
    std::cout << "  " << what << ":\n    " << e.what() << "\n";
  }
}

int main() {
  // 1. Building: emplace, insert, install, install_driver.
  keel::WorldBuilder wb;
  wb.emplace<OrderBook>();                 // constructed in place
  wb.install(RiskPlugin{.max_qty = 100});  // inserts RiskLimits, emplaces RiskStats
  auto feed = wb.install_driver(ReplayInstaller{.script = {{'B', 99, 10}, {'S', 101, 500}, {'S', 102, 20}}});
  keel::World world = std::move(wb).build();  // adds the built-in resources, freezes the set

  // 2. The Registry: what is registered, by type.
  const keel::Registry& reg = world.registry();
  std::cout << "2. registered " << reg.size() << ":";
  for (std::string_view type : reg.type_names()) std::cout << " " << type;
  std::cout << std::boolalpha << "\n   contains<RiskStats>: " << reg.contains<RiskStats>()
            << ", id<OrderBook>() is its address: " << (reg.id<OrderBook>().address() == &world.resource<OrderBook>())
            << "\n";

  // 3. Looking resources up: resource<T>() throws when missing, try_resource<T>() returns nullptr.
  std::cout << "3. max_qty " << world.resource<RiskLimits>().max_qty << ", try_resource<Quote>() "
            << (world.try_resource<Quote>() == nullptr ? "is null" : "is set") << "\n";

  // 4. A startup function: parameters injected, result returned.
  const std::int64_t tightened = world.run_startup([](keel::ResMut<RiskLimits> limits) {
    limits->max_qty = 50;
    return limits->max_qty;
  });
  std::cout << "4. startup set max_qty to " << tightened << "\n";

  // 5. The loop: run(step) until shutdown is requested; the driver requests
  //    it when its script is exhausted.
  auto h = keel::handler(world.registry(), on_quote);
  std::size_t steps = 0;
  world.run([&](keel::World& w) {
    feed.poll(w, h);
    ++steps;
  });
  const RiskStats& stats = world.resource<RiskStats>();
  std::cout << "5. loop stopped after " << steps << " steps, sequence " << world.sequence() << ": "
            << world.resource<FeedStats>().delivered << " delivered, " << stats.checked << " checked, "
            << stats.rejected << " rejected; bid " << world.resource<OrderBook>().bid << " ask "
            << world.resource<OrderBook>().ask << "\n";

  // 6. Shutdown stays requested until reset; run() returns at once until then.
  world.run([&](keel::World&) { std::cout << "   (not printed)\n"; });
  world.resource<keel::Shutdown>().reset();
  world.run([&](keel::World& w) {
    std::cout << "6. after reset() the loop runs again\n";
    w.shutdown_handle().request();
  });

  // 7. Mistakes in putting a World together are ConfigErrors, on the cold path.
  std::cout << "7. ConfigError cases:\n";
  expect_config_error("a type registered twice", [] {
    keel::WorldBuilder b;
    b.insert(RiskLimits{});
    b.insert(RiskLimits{});
  });
  expect_config_error("resource<T>() of a missing type", [&] { world.resource<Quote>(); });
  expect_config_error("a handler whose resource is missing", [] {
    keel::WorldBuilder b;
    b.insert(RiskLimits{});
    keel::World small = std::move(b).build();
    auto bad = keel::handler(small.registry(), on_quote);  // needs OrderBook and RiskStats too
    static_cast<void>(bad);
  });
  expect_config_error("a handler run on another World", [&] {
    keel::WorldBuilder b;
    b.insert(RiskLimits{});
    keel::World other = std::move(b).build();
    auto elsewhere = keel::handler(other.registry(), [](keel::Res<RiskLimits>, const Quote&) {});
    elsewhere.run(world, Quote{'B', 1, 1});  // built against `other`, run on `world`
  });

  // 8. Destruction: in reverse registration order, each resource once.
  std::cout << "8. destroying the World:\n";
  return 0;
}

// A tour of Keel's pipelines: an order-entry chain, each message's
// path through it, the combinators that reshape a chain, a batch pipeline,
// and a pipeline boxed as a handler.
//
//   bazel run //examples:pipeline
//
// Explained in docs/pipelines.md; each numbered section there matches one here.
#include <cstddef>
#include <cstdint>
#include <expected>
#include <iostream>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "rt/pipeline.h"

// --- events and resources ------------------------------------------------------

struct RawMsg {  // what arrives on the wire
  std::string symbol;
  std::int64_t px = 0, qty = 0;
};
struct Quote {
  std::string symbol;
  std::int64_t px, qty;
};
struct Order {
  std::string symbol;
  std::int64_t px, qty;
};
enum class Reject { kZeroQty, kOverLimit };

struct RiskLimits {
  std::int64_t max_qty = 0;
};
struct Tradable {  // the symbols we trade
  std::vector<std::string> symbols;
};
struct Gateway {  // where orders go
  std::vector<Order> sent;
};
struct Rejects {
  std::uint64_t zero_qty = 0, over_limit = 0;
};
struct Dropped {
  std::uint64_t undecodable = 0;
};

// --- 1. steps: keel parameters first, the input last ------------------------------

std::optional<Quote> decode(keel::ResMut<Dropped> dropped, const RawMsg& m) {
  if (m.symbol.empty() || m.px <= 0) {
    ++dropped->undecodable;
    return std::nullopt;
  }
  return Quote{m.symbol, m.px, m.qty};
}

bool is_tradable(keel::Res<Tradable> t, const Quote& q) {
  for (const std::string& s : t->symbols)
    if (s == q.symbol) return true;
  return false;
}

std::expected<Order, Reject> to_order(Quote q) {
  if (q.qty == 0) return std::unexpected(Reject::kZeroQty);
  return Order{q.symbol, q.px, q.qty};
}

std::expected<Order, Reject> check_risk(keel::Res<RiskLimits> lim, Order o) {
  if (o.qty > lim->max_qty) return std::unexpected(Reject::kOverLimit);
  return o;
}

void log_reject(keel::ResMut<Rejects> r, Reject why) {
  ++(why == Reject::kZeroQty ? r->zero_qty : r->over_limit);
}

void send(keel::ResMut<Gateway> gw, Order o) { gw->sent.push_back(std::move(o)); }

void print_outcomes(keel::World& world) {
  const auto& r = world.resource<Rejects>();
  std::cout << "sent " << world.resource<Gateway>().sent.size() << ", rejected " << r.zero_qty + r.over_limit
            << " (zero qty " << r.zero_qty << ", over limit " << r.over_limit << "), undecodable "
            << world.resource<Dropped>().undecodable << "\n";
}

int main() {
  keel::WorldBuilder wb;
  wb.insert(RiskLimits{.max_qty = 100});
  wb.insert(Tradable{.symbols = {"BTC", "ETH"}});
  wb.emplace<Gateway>();
  wb.emplace<Rejects>();
  wb.emplace<Dropped>();
  keel::World world = std::move(wb).build();
  const keel::Registry& reg = world.registry();

  // --- 2. the chain ------------------------------------------------------------------
  auto orders = keel::pipeline<RawMsg>(reg)
                    .then(decode)           // RawMsg -> std::optional<Quote>
                    .filter(is_tradable)    // keeps the Quote when true
                    .map(to_order)          // now std::optional<std::expected<Order, Reject>>
                    .and_then(check_risk)   // sees the Order inside both
                    .on_error(log_reject)   // handles the Reject; now std::optional<Order>
                    .map(send)              // runs for orders only; returns void: the end
                    .build();               // a handler of RawMsg

  // --- 3. every path -----------------------------------------------------------------
  for (const RawMsg& m : std::vector<RawMsg>{
           {"BTC", 101, 5},    // sent
           {"", 0, 0},         // decode -> nullopt: counted by decode
           {"DOGE", 1, 10},    // filtered out: not tradable
           {"ETH", 99, 0},     // to_order -> Reject::kZeroQty
           {"BTC", 100, 500},  // check_risk -> Reject::kOverLimit
           {"ETH", 98, 100},   // sent
       }) {
    world.next_sequence();
    orders.run(world, m);
  }
  std::cout << "3. ";
  print_outcomes(world);  // sent 2, rejected 2 (zero qty 1, over limit 1), undecodable 1

  // --- 4. more combinators ------------------------------------------------------------
  // Price changes: drop non-positive and repeated prices, number the rest,
  // and spread (number, price) over the next step's inputs.
  std::string changes;
  int skipped = 0;
  auto prices = keel::pipeline<std::int64_t>(reg)
                    .guard([](const std::int64_t& px) { return px > 0; })  // T -> optional<T>
                    .dedup()                                                // empty when equal to the last value
                    .on_none([&] { ++skipped; })                             // for empties only
                    .map([](keel::Local<int> n, std::int64_t px) { return std::tuple(++*n, px); })
                    .splat()                                                // the next step takes (int, int64_t)
                    .map([&](int n, std::int64_t px) { changes += " #" + std::to_string(n) + " " + std::to_string(px); })
                    .build();
  for (std::int64_t px : {100, 100, 0, 102, 101, 101}) prices.run(world, px);

  // Running volume: scan() keeps its accumulator across events; tap() looks;
  // dispatch() hands the value to an existing handler.
  struct Volume {
    std::int64_t total = 0;
  };
  Volume volume;
  auto record = keel::handler(reg, [&volume](std::int64_t total) { volume.total = total; });
  auto volumes = keel::pipeline<std::int64_t>(reg)
                     .scan(std::int64_t{0}, [](std::int64_t& sum, std::int64_t qty) { return sum += qty; })
                     .tap([](const std::int64_t& sum) { if (sum < 0) std::cerr << "negative volume\n"; })
                     .dispatch(std::move(record))
                     .build();
  for (std::int64_t qty : {10, 20, 30}) volumes.run(world, qty);
  std::cout << "4. price changes:" << changes << " (" << skipped << " skipped); volume " << volume.total << "\n";

  // --- 5. a batch pipeline -----------------------------------------------------------
  auto batch = keel::pipeline<RawMsg>(reg)
                   .then(keel::fn<&decode>)  // keel::fn<&f>: always inlined
                   .filter(keel::fn<&is_tradable>)
                   .map(keel::fn<&to_order>)
                   .and_then(keel::fn<&check_risk>)
                   .on_error(keel::fn<&log_reject>)
                   .map(keel::fn<&send>)
                   .build_batch(1024);  // owns a buffer of 1024 RawMsg, allocated now
  batch.push({"BTC", 101, 1});
  const RawMsg received[] = {{"BTC", 101, 1000}, {"ETH", 99, 2}};  // say, one recvmmsg's worth
  batch.fill(std::size(received), [&](std::size_t k) { return received[k]; });  // one capacity check
  const std::size_t ran = batch.run(world);  // each item independently, in order; empties the buffer
  std::cout << "5. batch of " << ran << ": ";
  print_outcomes(world);  // sent 4, rejected 3 ...

  // --- 6. as a handler -----------------------------------------------------------------
  std::unique_ptr<keel::Handler<const RawMsg&>> boxed =
      keel::boxed(keel::pipeline<const RawMsg&>(reg).then(decode).filter(is_tradable).map(to_order).ok().map(send).build());
  boxed->run(world, RawMsg{"ETH", 97, 3});
  std::cout << "6. " << boxed->name() << ": sent " << world.resource<Gateway>().sent.size() << "\n";
}

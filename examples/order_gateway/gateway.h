// The order gateway of docs/guide-order-gateway.md, the page to read after
// getting-started: orders arrive as UDP datagrams, are decoded and validated
// in a pipeline, checked by a risk DAG, and booked by one reactor per
// instrument, which receives them through its mailbox. A timer prints the
// counters and stops the program. main.cc runs it on the poll source;
// gateway_test.cc tests the same pieces with keel::testing::TestHarness.
//
// Nothing here is a class of Keel's: the steps, checks and reactors are
// plain functions, and the readiness handler is a lambda.
#pragma once

#include <sys/socket.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <optional>
#include <string_view>
#include <utility>

#include "rt/dag.h"
#include "rt/mailbox.h"
#include "rt/pipeline.h"
#include "rt/reactor.h"
#include "rt/timer.h"
#include "rt/uring.h"
#include "rt/world.h"

namespace gateway {

// --- 1. Orders, verdicts and the resources they touch ------------------------

enum class Instrument : std::uint8_t { BTC, ETH, SOL };
inline constexpr std::size_t kInstruments = 3;

// One datagram of text: "<id> <symbol> <B|S> <qty> <price>", as "17 BTC B 5 42000".
struct OrderReq {
  std::uint64_t id = 0;
  Instrument instrument{};
  char side = 'B';
  std::int64_t qty = 0;
  std::int64_t px = 0;  // in ticks
};

enum class Reject : std::uint8_t { malformed, unknown_symbol, bad_quantity, position_limit, price_band, book_full };
inline constexpr std::size_t kRejectKinds = 6;
std::string_view to_string(Reject reason);

// One risk check's answer.
struct Verdict {
  bool passed = true;
  Reject reason{};  // why not, when !passed
};

struct Limits {
  std::int64_t max_qty = 100;         // per order
  std::int64_t max_position = 300;    // per instrument, long or short
  std::int64_t band_ticks = 1'000;    // how far from the reference price an order may be
};

struct ReferencePrices {
  std::array<std::int64_t, kInstruments> px{42'000, 2'200, 150};
};

// What the risk DAG has accepted so far, per instrument (signed quantity).
struct Exposure {
  std::array<std::int64_t, kInstruments> qty{};
};

struct GatewayStats {
  std::uint64_t datagrams = 0;
  std::uint64_t accepted = 0;  // passed risk (a full book may still refuse it: Reject::book_full)
  std::uint64_t booked = 0;    // drained by a book reactor
  std::array<std::uint64_t, kRejectKinds> rejected{};
  std::uint64_t rejected_total() const;
};

// --- 2. The pipeline's steps -------------------------------------------------

std::expected<OrderReq, Reject> decode(keel::ResMut<GatewayStats> stats, std::string_view datagram);
std::expected<OrderReq, Reject> validate(keel::Res<Limits> limits, OrderReq order);
void count_reject(keel::ResMut<GatewayStats> stats, Reject reason);

// --- 3. The risk DAG's steps -------------------------------------------------

Verdict check_position(keel::Res<Limits> limits, keel::Res<Exposure> exposure, const OrderReq& order);
Verdict check_price_band(keel::Res<Limits> limits, keel::Res<ReferencePrices> reference, const OrderReq& order);
std::optional<OrderReq> decide(keel::ResMut<Exposure> exposure, keel::ResMut<GatewayStats> stats,
                               const OrderReq& order, Verdict position, Verdict band);

// --- 4. One reactor per instrument, fed through its mailbox -------------------

// A book reactor's context: its inbox and what it has booked.
struct Book {
  Instrument instrument{};
  keel::Inbox<OrderReq> inbox{1024};
  std::int64_t position = 0;
  std::uint64_t orders = 0;
};

// Where each instrument's book receives orders; filled by open_books().
struct Books {
  std::array<keel::Address<OrderReq>, kInstruments> address{};
  std::array<keel::ReactorToken, kInstruments> token{};
};

void on_orders(Book& book, keel::ResMut<GatewayStats> stats);
void open_books(keel::ResMut<keel::ReactorNotify> rx, keel::ResMut<Books> books, keel::RegistryRef registry);
void route_to_book(keel::ResMut<keel::ReactorNotify> rx, keel::Res<Books> books, keel::ResMut<Exposure> exposure,
                   keel::ResMut<GatewayStats> stats, const OrderReq& order);

// --- 5. Assembly ---------------------------------------------------------------

// The resources above, on a builder that drivers can still be installed on.
keel::WorldBuilder gateway_world(Limits limits = {});

// The risk DAG: two checks on the order, a decision that sees the order and
// both verdicts, and the hand-off to the instrument's book.
inline auto make_risk(const keel::Registry& reg) {
  return keel::dag<OrderReq>(reg)
      .fork()
      .arm([](auto order) { return order.then(check_position); })
      .arm([](auto order) { return order.then(check_price_band); })
      .merge(decide)  // (const OrderReq&, Verdict, Verdict) -> std::optional<OrderReq>
      .map(route_to_book)
      .build();
}

// The ingest pipeline: a datagram in, decoded, validated, and on into the
// risk DAG; a rejected datagram is counted and goes no further.
inline auto make_ingest(const keel::Registry& reg) {
  return keel::pipeline<std::string_view>(reg)
      .then(decode)          // std::string_view -> std::expected<OrderReq, Reject>
      .and_then(validate)    // OrderReq -> std::expected<OrderReq, Reject>
      .on_error(count_reject)  // now std::optional<OrderReq>
      .dispatch(make_risk(reg))
      .build();
}
using Ingest = decltype(make_ingest(std::declval<const keel::Registry&>()));

// The readiness handler: one readiness event, then one pipeline run per
// datagram, each with a sequence number of its own, until the socket is
// empty (readiness is edge-like, so it must be drained).
inline auto datagram_reader(Ingest ingest) {
  return [ingest = std::move(ingest)](keel::World& world, const keel::Readiness& ready) mutable {
    char datagram[512];
    for (ssize_t n; (n = ::recv(ready.fd, datagram, sizeof datagram, MSG_DONTWAIT)) >= 0;) {
      world.next_sequence();
      ingest.run(world, std::string_view(datagram, static_cast<std::size_t>(n)));
    }
  };
}

}  // namespace gateway

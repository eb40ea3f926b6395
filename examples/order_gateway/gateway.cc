#include "examples/order_gateway/gateway.h"

#include <charconv>
#include <cstdlib>
#include <numeric>

namespace gateway {

std::string_view to_string(Reject reason) {
  switch (reason) {
    case Reject::malformed:
      return "malformed";
    case Reject::unknown_symbol:
      return "unknown symbol";
    case Reject::bad_quantity:
      return "bad quantity";
    case Reject::position_limit:
      return "position limit";
    case Reject::price_band:
      return "price band";
    case Reject::book_full:
      return "book full";
  }
  return "?";
}

std::uint64_t GatewayStats::rejected_total() const {
  return std::accumulate(rejected.begin(), rejected.end(), std::uint64_t{0});
}

namespace {

// The next space-separated field of `text`, consumed.
std::string_view next_field(std::string_view& text) {
  const std::size_t start = text.find_first_not_of(' ');
  if (start == std::string_view::npos) {
    text = {};
    return {};
  }
  text.remove_prefix(start);
  const std::size_t end = std::min(text.find(' '), text.size());
  const std::string_view field = text.substr(0, end);
  text.remove_prefix(end);
  return field;
}

template <class Int>
bool parse_int(std::string_view field, Int& out) {
  const auto [end, error] = std::from_chars(field.data(), field.data() + field.size(), out);
  return error == std::errc() && end == field.data() + field.size() && !field.empty();
}

std::optional<Instrument> instrument_of(std::string_view symbol) {
  if (symbol == "BTC") return Instrument::BTC;
  if (symbol == "ETH") return Instrument::ETH;
  if (symbol == "SOL") return Instrument::SOL;
  return std::nullopt;
}

std::size_t index_of(Instrument instrument) { return static_cast<std::size_t>(instrument); }

std::int64_t signed_qty(const OrderReq& order) { return order.side == 'B' ? order.qty : -order.qty; }

}  // namespace

std::expected<OrderReq, Reject> decode(keel::ResMut<GatewayStats> stats, std::string_view datagram) {
  ++stats->datagrams;
  OrderReq order;
  const std::string_view id = next_field(datagram);
  const std::string_view symbol = next_field(datagram);
  const std::string_view side = next_field(datagram);
  const std::string_view qty = next_field(datagram);
  const std::string_view px = next_field(datagram);
  if (!parse_int(id, order.id) || side.size() != 1 || (side[0] != 'B' && side[0] != 'S') ||
      !parse_int(qty, order.qty) || !parse_int(px, order.px) || !next_field(datagram).empty()) {
    return std::unexpected(Reject::malformed);
  }
  order.side = side[0];
  const std::optional<Instrument> instrument = instrument_of(symbol);
  if (!instrument) return std::unexpected(Reject::unknown_symbol);
  order.instrument = *instrument;
  return order;
}

std::expected<OrderReq, Reject> validate(keel::Res<Limits> limits, OrderReq order) {
  if (order.qty <= 0 || order.qty > limits->max_qty) return std::unexpected(Reject::bad_quantity);
  return order;
}

void count_reject(keel::ResMut<GatewayStats> stats, Reject reason) {
  ++stats->rejected[static_cast<std::size_t>(reason)];
}

Verdict check_position(keel::Res<Limits> limits, keel::Res<Exposure> exposure, const OrderReq& order) {
  const std::int64_t after = exposure->qty[index_of(order.instrument)] + signed_qty(order);
  if (std::abs(after) > limits->max_position) return {.passed = false, .reason = Reject::position_limit};
  return {};
}

Verdict check_price_band(keel::Res<Limits> limits, keel::Res<ReferencePrices> reference, const OrderReq& order) {
  if (std::abs(order.px - reference->px[index_of(order.instrument)]) > limits->band_ticks) {
    return {.passed = false, .reason = Reject::price_band};
  }
  return {};
}

std::optional<OrderReq> decide(keel::ResMut<Exposure> exposure, keel::ResMut<GatewayStats> stats,
                               const OrderReq& order, Verdict position, Verdict band) {
  for (const Verdict& verdict : {position, band}) {
    if (!verdict.passed) {
      ++stats->rejected[static_cast<std::size_t>(verdict.reason)];
      return std::nullopt;
    }
  }
  exposure->qty[index_of(order.instrument)] += signed_qty(order);
  ++stats->accepted;
  return order;
}

void on_orders(Book& book, keel::ResMut<GatewayStats> stats) {
  book.inbox.drain([&](OrderReq& order) {
    book.position += signed_qty(order);
    ++book.orders;
    ++stats->booked;
  });
}

void open_books(keel::ResMut<keel::ReactorNotify> rx, keel::ResMut<Books> books, keel::RegistryRef registry) {
  for (Instrument instrument : {Instrument::BTC, Instrument::ETH, Instrument::SOL}) {
    const keel::ReactorToken token = rx->spawn(Book{.instrument = instrument}, *registry, on_orders).token();
    books->token[index_of(instrument)] = token;
    books->address[index_of(instrument)] = rx->address(token, &Book::inbox);
  }
}

void route_to_book(keel::ResMut<keel::ReactorNotify> rx, keel::Res<Books> books, keel::ResMut<Exposure> exposure,
                   keel::ResMut<GatewayStats> stats, const OrderReq& order) {
  if (rx->send(books->address[index_of(order.instrument)], order) != keel::Delivery::delivered) {
    // The book's inbox is full (or the book is gone): the order is refused,
    // counted, and its exposure given back.
    exposure->qty[index_of(order.instrument)] -= signed_qty(order);
    ++stats->rejected[static_cast<std::size_t>(Reject::book_full)];
  }
}

keel::WorldBuilder gateway_world(Limits limits) {
  keel::WorldBuilder wb;
  wb.insert(limits);
  wb.emplace<ReferencePrices>();
  wb.emplace<Exposure>();
  wb.emplace<GatewayStats>();
  wb.emplace<Books>();
  return wb;
}

}  // namespace gateway

// The market maker's Keel side: resources, the ingest pipeline, the strategy
// reactors, the risk DAG, the timers and the loop. Read top to bottom, it
// follows a quote from the socket to an order.
#include "examples/market_maker/market_maker.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <expected>
#include <memory>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "examples/market_maker/feed.h"
#include "examples/market_maker/latency.h"
#include "rt/handler.h"
#include "rt/pipeline.h"
#include "rt/reactor.h"
#include "rt/signal.h"
#include "rt/timer.h"
#include "rt/uring.h"
#include "rt/world.h"

namespace mm {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

constexpr int kStrategies = 2;
// After the feed's last datagram, how long the loop waits for datagrams
// still in flight before it stops (they are counted as not received).
constexpr auto kGrace = 250ms;
// How long a strategy leaves a side alone after risk refused its order
// (unless its position moves first), in feed time.
constexpr std::chrono::nanoseconds kRetryAfter = 10ms;

// ============================================================================
// Resources: plain structs and classes the World owns, one per type.
// ============================================================================

// One instrument's top of book, and the DataSource its reactors subscribe to.
struct Book {
  std::int64_t bid_px = 0, ask_px = 0;
  std::uint32_t bid_qty = 0, ask_qty = 0;
  std::uint64_t last_seq = 0;      // the feed sequence of the last quote applied (0: none yet)
  std::int64_t last_send_ns = 0;   // and its send timestamp
  keel::DataSource source;         // registered after build(): ReactorNotify comes with the World
};

// Every instrument's book, indexed by instrument id: one resource, so that a
// handler reaches any book with one load and an index.
struct Books {
  explicit Books(int instruments) : by_instrument(static_cast<std::size_t>(instruments)) {}
  std::vector<Book> by_instrument;
};

struct IngestStats {
  std::uint64_t readiness = 0;   // readiness events (one handler run each)
  std::uint64_t recv_calls = 0;  // recvmmsg calls, the final EAGAIN included
  std::uint64_t datagrams = 0;   // datagrams read from the socket
  std::uint64_t quotes = 0;      // datagrams that decoded and validated
  MalformedCounts malformed{};
};

enum class Side : std::uint8_t { kBuy, kSell };

// An order, carrying the tick that led to it (feed sequence and send time):
// every order traces to a tick.
struct Order {
  std::uint16_t strategy = 0;
  std::uint16_t instrument = 0;
  Side side = Side::kBuy;
  std::int64_t px = 0;
  std::uint32_t qty = 0;
  std::uint64_t tick_seq = 0;
  std::int64_t tick_send_ns = 0;
};

// One side of a quote resting at the (simulated) exchange; qty 0: none.
struct Resting {
  std::int64_t px = 0;
  std::uint32_t qty = 0;
  std::uint32_t changes = 0;  // bumped when an order replaces it or a fill takes it
  bool matches(std::int64_t p, std::uint32_t q) const { return q == 0 ? qty == 0 : px == p && qty == q; }
};

// Position per (strategy, instrument), moved by simulated fills.
struct Positions {
  explicit Positions(int instruments)
      : instruments(instruments), qty(static_cast<std::size_t>(kStrategies * instruments)) {}
  std::int64_t& at(int strategy, int instrument) { return qty[index(strategy, instrument)]; }
  std::int64_t at(int strategy, int instrument) const { return qty[index(strategy, instrument)]; }
  std::size_t index(int s, int i) const { return static_cast<std::size_t>(s * instruments + i); }

  void fill(int strategy, int instrument, std::int64_t signed_qty) {
    std::int64_t& p = at(strategy, instrument);
    p += signed_qty;
    peak = std::max(peak, p < 0 ? -p : p);
    ++fills;
  }

  int instruments;
  std::vector<std::int64_t> qty;
  std::uint64_t fills = 0;
  std::int64_t peak = 0;  // the largest |position| reached
};

struct RiskLimits {
  std::int64_t max_position = 50;         // lots, per strategy and instrument, counting the order as filled
  std::int64_t max_notional = 3'000'000;  // ticks x lots, per strategy: open positions plus the order
  std::uint32_t max_orders_per_window = 5'000;  // per strategy ...
  std::int64_t window_ns = 100'000'000;         // ... per 100 ms
};

struct RiskStats {
  std::array<std::uint64_t, kRejectReasons> rejects{};
};

// The loop's clock, read once per loop iteration: the rate check and the
// rate window use it, so that they agree.
struct LoopClock {
  std::int64_t now_ns = 0;
};

// The order gateway: an in-memory sink standing in for an exchange session.
// It keeps what rests (for the strategies to compare with, and for the
// simulated fills), counts orders and keeps each strategy's rate window.
class OrderGateway {
 public:
  explicit OrderGateway(int instruments)
      : instruments_(instruments), resting_(static_cast<std::size_t>(kStrategies * instruments)) {}

  const Resting& resting(int strategy, int instrument, Side side) const {
    return resting_[index(strategy, instrument)][static_cast<std::size_t>(side)];
  }
  Resting& resting(int strategy, int instrument, Side side) {
    return resting_[index(strategy, instrument)][static_cast<std::size_t>(side)];
  }

  // Orders `strategy` sent in the rate window that contains `now`.
  std::uint32_t window_count(int strategy, std::int64_t now, std::int64_t window_ns) const {
    const Window& w = windows_[static_cast<std::size_t>(strategy)];
    return now - w.start_ns < window_ns ? w.count : 0;
  }

  // Hot path: the order replaces the strategy's resting quote on its side.
  void accept(const Order& o, std::int64_t loop_now, std::int64_t window_ns) {
    Resting& r = resting(o.strategy, o.instrument, o.side);
    r = {.px = o.px, .qty = o.qty, .changes = r.changes + 1};
    Window& w = windows_[o.strategy];
    if (loop_now - w.start_ns >= window_ns) w = {.start_ns = loop_now, .count = 0};
    ++w.count;
    ++sent_;
    if (o.tick_seq != 0 && o.tick_send_ns != 0) ++traced_;
  }

  std::uint64_t sent() const { return sent_; }
  std::uint64_t traced() const { return traced_; }

 private:
  struct Window {
    std::int64_t start_ns = 0;
    std::uint32_t count = 0;
  };
  std::size_t index(int s, int i) const { return static_cast<std::size_t>(s * instruments_ + i); }

  int instruments_;
  std::vector<std::array<Resting, 2>> resting_;  // [strategy * instruments + instrument][side]
  std::array<Window, kStrategies> windows_{};
  std::uint64_t sent_ = 0;
  std::uint64_t traced_ = 0;
};

// What the reactors decided in this pass, for the risk DAG. Reserved up
// front: each reactor runs at most once per pass and emits at most two
// orders, so it never grows.
struct OrderQueue {
  explicit OrderQueue(std::size_t reactors) { orders.reserve(2 * reactors); }
  std::vector<Order> orders;
};

// The loop's side of the feed: where it learns that the feed has ended.
struct FeedLink {
  FeedControl* control = nullptr;
  bool ended = false;           // the feed's final wake() was handled
  std::uint64_t final_sent = 0;
  bool grace_expired = false;   // stopped with datagrams still missing
  bool deadline_hit = false;    // stopped by the safety deadline
};

struct Console {
  std::FILE* out = nullptr;
  keel::Instant start;
};

// ============================================================================
// The ingest pipeline: one datagram in, the book updated and its instrument's
// DataSource marked (or the datagram counted as malformed and dropped).
// ============================================================================

// The checks that need the World: a known instrument, a sane book.
std::expected<Quote, Malformed> validate(keel::Res<Books> books, const Quote& q) {
  if (q.instrument >= books->by_instrument.size()) return std::unexpected(Malformed::kUnknownInstrument);
  if (q.bid_px <= 0 || q.ask_px <= q.bid_px || q.bid_qty == 0 || q.ask_qty == 0)
    return std::unexpected(Malformed::kCrossed);
  return q;
}

void count_malformed(keel::ResMut<IngestStats> stats, Malformed m) { ++stats->malformed[static_cast<std::size_t>(m)]; }

// The simulated exchange: a quote that trades through one of our resting
// orders fills it (all of it), moving the strategy's position.
void match_fills(keel::ResMut<Positions> positions, keel::ResMut<OrderGateway> gateway, const Quote& q) {
  for (int s = 0; s < kStrategies; ++s) {
    Resting& bid = gateway->resting(s, q.instrument, Side::kBuy);
    if (bid.qty != 0 && q.ask_px <= bid.px) {
      positions->fill(s, q.instrument, bid.qty);
      bid.qty = 0;
      ++bid.changes;
    }
    Resting& ask = gateway->resting(s, q.instrument, Side::kSell);
    if (ask.qty != 0 && q.bid_px >= ask.px) {
      positions->fill(s, q.instrument, -static_cast<std::int64_t>(ask.qty));
      ask.qty = 0;
      ++ask.changes;
    }
  }
}

// The book takes the quote and wakes the instrument's reactors. mark() is
// O(1) and idempotent within a pass: 20 quotes for one instrument between two
// passes wake its reactors once.
void apply_quote(keel::ResMut<Books> books, keel::ResMut<keel::ReactorNotify> reactors,
                 keel::ResMut<IngestStats> stats, const Quote& q) {
  Book& b = books->by_instrument[q.instrument];
  b.bid_px = q.bid_px;
  b.ask_px = q.ask_px;
  b.bid_qty = q.bid_qty;
  b.ask_qty = q.ask_qty;
  b.last_seq = q.seq;
  b.last_send_ns = q.send_ns;
  ++stats->quotes;
  reactors->mark(b.source);
}

auto make_ingest(const keel::Registry& reg) {
  return keel::pipeline<const Datagram&>(reg)
      .then(keel::fn<&decode>)           // bytes -> expected<Quote, Malformed>: length, magic
      .and_then(keel::fn<&validate>)     // -> expected<Quote, Malformed>: instrument, prices, sizes
      .on_error(keel::fn<&count_malformed>)  // counted and dropped; the chain carries optional<Quote>
      .inspect(keel::fn<&match_fills>)   // our resting orders the quote trades through are filled
      .map(keel::fn<&apply_quote>)       // the book, and a mark on its DataSource
      .build();
}

// The watch handler on the UDP socket. A keel handler type of its own (any
// type with event_type, run(World&, event) and name() is one) because one
// readiness event carries many datagrams: it drains the socket with
// recvmmsg(2) until EAGAIN — the poll source is edge-like, so stopping
// earlier could strand datagrams — and runs the ingest pipeline on each, with
// a fresh sequence number, as a driver would. The receive buffers are
// allocated once, here.
template <class Ingest>
class UdpReceiver {
 public:
  using event_type = const keel::Readiness&;
  static constexpr std::size_t kBatch = 64;
  static constexpr std::size_t kSlot = 128;  // larger than any valid datagram: a longer one is "bad length"

  UdpReceiver(Ingest ingest, const keel::Registry& reg)
      : buffers_(std::make_unique<Buffers>()),
        ingest_(std::move(ingest)),
        stats_(&reg.resolve<IngestStats>()),
        link_(&reg.resolve<FeedLink>()),
        shutdown_(&reg.resolve<keel::Shutdown>()) {
    for (std::size_t i = 0; i < kBatch; ++i) {
      buffers_->iov[i] = {buffers_->data[i].data(), kSlot};
      buffers_->hdrs[i].msg_hdr.msg_iov = &buffers_->iov[i];
      buffers_->hdrs[i].msg_hdr.msg_iovlen = 1;
    }
  }

  void run(keel::World& world, const keel::Readiness& r) {
    ++stats_->readiness;
    for (;;) {
      const int n = ::recvmmsg(r.fd, buffers_->hdrs.data(), kBatch, MSG_DONTWAIT, nullptr);
      ++stats_->recv_calls;
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        throw std::system_error(errno, std::generic_category(), "market maker: recvmmsg");
      }
      for (int i = 0; i < n; ++i) {
        ++stats_->datagrams;
        world.next_sequence();
        ingest_.run(world, Datagram{buffers_->data[static_cast<std::size_t>(i)].data(),
                                    buffers_->hdrs[static_cast<std::size_t>(i)].msg_len});
      }
    }
    // The feed has ended and everything it sent is read: stop after this
    // iteration of the loop (the reactors and the risk DAG still run).
    if (link_->ended && stats_->datagrams >= link_->final_sent) shutdown_->request();
  }

  std::string_view name() const noexcept { return "UdpReceiver"; }

 private:
  struct Buffers {
    std::array<mmsghdr, kBatch> hdrs{};
    std::array<iovec, kBatch> iov{};
    std::array<std::array<std::byte, kSlot>, kBatch> data{};
  };
  std::unique_ptr<Buffers> buffers_;
  Ingest ingest_;
  IngestStats* stats_;
  FeedLink* link_;
  const keel::Shutdown* shutdown_;
};

// ============================================================================
// Strategies: one reactor per (strategy, instrument). Strategy 0 quotes its
// instrument around the mid; strategy 1 also subscribes to a reference
// instrument and leans its quote towards the reference's last move. Both
// skew away from their position and never cross the market.
// ============================================================================

struct StrategyCtx {
  int strategy = 0;
  int instrument = 0;
  int reference = 0;           // == instrument for strategy 0
  std::uint32_t qty = 10;
  std::int64_t half_spread = 0;  // ticks behind the fair price
  std::int64_t lots_per_tick = 20;  // position skew: one tick per this many lots
  std::int64_t soft_position = 50;  // the strategy's own limit: past it, it stops quoting that side
  std::uint64_t seen_own = 0;  // last_seq of the books when this reactor last ran
  std::uint64_t seen_ref = 0;
  std::int64_t ref_mid2 = 0;   // the reference's bid + ask when last run
  // Per side, when the last order was sent: the resting side's `changes`,
  // the position and the tick time. If `changes` has not moved since, risk
  // refused that order (an accepted one replaces the resting side); the side
  // is then left alone until the position moves or kRetryAfter has passed,
  // instead of being re-sent on every tick into the same limit.
  struct Sent {
    bool sent = false;
    std::uint32_t changes = 0;
    std::int64_t position = 0;
    std::int64_t at_ns = 0;
  };
  std::array<Sent, 2> sent{};
};

std::int64_t floor_div2(std::int64_t v) { return v >= 0 ? v / 2 : -((-v + 1) / 2); }

void requote(StrategyCtx& c, keel::Res<Books> books, keel::Res<Positions> positions, keel::Res<OrderGateway> gateway,
             keel::ResMut<OrderQueue> out) {
  const Book& own = books->by_instrument[static_cast<std::size_t>(c.instrument)];
  const Book& ref = books->by_instrument[static_cast<std::size_t>(c.reference)];
  // The tick that triggered this run: the newest unseen change among the
  // books it subscribes to. Orders carry it (tick-to-order latency is
  // measured from its send time).
  const Book* trigger = nullptr;
  if (own.last_seq != c.seen_own) trigger = &own;
  if (c.reference != c.instrument && ref.last_seq != c.seen_ref &&
      (trigger == nullptr || ref.last_send_ns > trigger->last_send_ns))
    trigger = &ref;
  c.seen_own = own.last_seq;
  c.seen_ref = ref.last_seq;
  if (trigger == nullptr || own.last_seq == 0) return;

  // Fair price in half ticks (bid + ask), leaned and skewed.
  std::int64_t fair2 = own.bid_px + own.ask_px;
  if (c.reference != c.instrument && ref.last_seq != 0) {
    const std::int64_t ref_mid2 = ref.bid_px + ref.ask_px;
    if (c.ref_mid2 != 0) fair2 += std::clamp<std::int64_t>(ref_mid2 - c.ref_mid2, -4, 4);
    c.ref_mid2 = ref_mid2;
  }
  const std::int64_t position = positions->at(c.strategy, c.instrument);
  fair2 -= 2 * position / c.lots_per_tick;
  // Never cross the market: at best, join the touch.
  const std::int64_t bid = std::min(floor_div2(fair2 - 1) - c.half_spread, own.bid_px);
  const std::int64_t ask = std::max(floor_div2(fair2) + 1 + c.half_spread, own.ask_px);

  // Past its own position limit the strategy pulls that side (an order of
  // qty 0 is a cancel).
  const std::int64_t qty = c.qty;
  const bool buy = position + qty <= c.soft_position;
  const bool sell = position - qty >= -c.soft_position;
  for (const auto& [side, px, qty] : {std::tuple{Side::kBuy, bid, buy ? c.qty : 0u},
                                      std::tuple{Side::kSell, ask, sell ? c.qty : 0u}}) {
    const Resting& have = gateway->resting(c.strategy, c.instrument, side);
    if (have.matches(px, qty)) continue;  // already there
    StrategyCtx::Sent& last = c.sent[static_cast<std::size_t>(side)];
    if (last.sent && last.changes == have.changes && last.position == position &&
        trigger->last_send_ns - last.at_ns < kRetryAfter.count())
      continue;  // refused: wait
    last = {.sent = true, .changes = have.changes, .position = position, .at_ns = trigger->last_send_ns};
    out->orders.push_back(Order{.strategy = static_cast<std::uint16_t>(c.strategy),
                                .instrument = static_cast<std::uint16_t>(c.instrument),
                                .side = side,
                                .px = px,
                                .qty = qty,
                                .tick_seq = trigger->last_seq,
                                .tick_send_ns = trigger->last_send_ns});
  }
}

// ============================================================================
// The risk DAG: each order forks into three checks that read the World
// (position, notional, rate); the merge passes the order or names the first
// limit it breaks; rejects are counted, passing orders go to the gateway.
// ============================================================================

using Verdict = std::optional<RejectReason>;  // nullopt: within the limit

struct Reject {
  RejectReason reason;
  Order order;
};

// Cancels (qty 0) reduce risk: only the rate check applies to them.
Verdict check_position(keel::Res<Positions> positions, keel::Res<RiskLimits> limits, const Order& o) {
  if (o.qty == 0) return std::nullopt;
  const std::int64_t signed_qty = o.side == Side::kBuy ? o.qty : -static_cast<std::int64_t>(o.qty);
  const std::int64_t after = positions->at(o.strategy, o.instrument) + signed_qty;
  if (after > limits->max_position || after < -limits->max_position) return RejectReason::kPosition;
  return std::nullopt;
}

Verdict check_notional(keel::Res<Positions> positions, keel::Res<Books> books, keel::Res<RiskLimits> limits,
                       const Order& o) {
  if (o.qty == 0) return std::nullopt;
  std::int64_t notional = static_cast<std::int64_t>(o.qty) * o.px;
  for (int i = 0; i < positions->instruments; ++i) {
    const Book& b = books->by_instrument[static_cast<std::size_t>(i)];
    notional += std::abs(positions->at(o.strategy, i)) * ((b.bid_px + b.ask_px) / 2);
  }
  if (notional > limits->max_notional) return RejectReason::kNotional;
  return std::nullopt;
}

Verdict check_rate(keel::Res<OrderGateway> gateway, keel::Res<RiskLimits> limits, keel::Res<LoopClock> clock,
                   const Order& o) {
  if (gateway->window_count(o.strategy, clock->now_ns, limits->window_ns) >= limits->max_orders_per_window)
    return RejectReason::kRate;
  return std::nullopt;
}

std::expected<Order, Reject> decide(const Order& o, Verdict position, Verdict notional, Verdict rate) {
  for (const Verdict& v : {position, notional, rate})
    if (v) return std::unexpected(Reject{*v, o});
  return o;
}

void count_reject(keel::ResMut<RiskStats> stats, const Reject& r) { ++stats->rejects[static_cast<std::size_t>(r.reason)]; }

// The order leaves: the gateway takes it, and its latency from the tick that
// caused it is recorded (a clock read per order: the figure is the point).
void send_order(keel::ResMut<OrderGateway> gateway, keel::ResMut<LatencyHistogram> latency,
                keel::Res<RiskLimits> limits, keel::Res<LoopClock> clock, const Order& o) {
  gateway->accept(o, clock->now_ns, limits->window_ns);
  latency->record(now_ns() - o.tick_send_ns);
}

auto make_risk(const keel::Registry& reg) {
  return keel::dag<const Order&>(reg)
      .fork()
      .arm([](auto a) { return a.then([](const Order& o) { return o; }); })  // the order itself, for the merge
      .arm([](auto a) { return a.then(keel::fn<&check_position>); })
      .arm([](auto a) { return a.then(keel::fn<&check_notional>); })
      .arm([](auto a) { return a.then(keel::fn<&check_rate>); })
      .merge(keel::fn<&decide>)           // -> expected<Order, Reject>
      .on_error(keel::fn<&count_reject>)  // -> optional<Order>
      .map(keel::fn<&send_order>)
      .build();
}

// ============================================================================
// Timers and the end of the feed.
// ============================================================================

// Locale-free thousands separators: 1234567 -> "1,234,567".
std::string grouped(std::uint64_t v) {
  std::string digits = std::to_string(v);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i != 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

struct StatusPrev {
  std::uint64_t datagrams = 0;
  std::uint64_t orders = 0;
  keel::Instant at{};
};

// Once a second: msgs/s, malformed, orders, rejects and p50 so far. Cold
// path (it formats and prints).
void print_status(keel::Res<Console> console, keel::Res<IngestStats> in, keel::Res<OrderGateway> gateway,
                  keel::Res<RiskStats> risk, keel::Res<LatencyHistogram> latency, keel::Local<StatusPrev> prev,
                  keel::Instant at) {
  const keel::Instant since = prev->at == keel::Instant{} ? console->start : prev->at;
  const double dt = std::max(1e-9, std::chrono::duration<double>(at - since).count());
  std::uint64_t malformed = 0, rejects = 0;
  for (std::uint64_t m : in->malformed) malformed += m;
  for (std::uint64_t r : risk->rejects) rejects += r;
  std::fprintf(console->out, "[%5.1fs] %s msgs/s | malformed %s | orders %s (%s/s) | risk rejects %s | p50 %.1f us\n",
               std::chrono::duration<double>(at - console->start).count(),
               grouped(static_cast<std::uint64_t>(static_cast<double>(in->datagrams - prev->datagrams) / dt)).c_str(),
               grouped(malformed).c_str(), grouped(gateway->sent()).c_str(),
               grouped(static_cast<std::uint64_t>(static_cast<double>(gateway->sent() - prev->orders) / dt)).c_str(),
               grouped(rejects).c_str(), static_cast<double>(latency->percentile(0.50)) / 1e3);
  std::fflush(console->out);
  *prev = {in->datagrams, gateway->sent(), at};
}

void expire_grace(keel::ResMut<FeedLink> link, keel::Res<keel::Shutdown> shutdown, keel::Instant) {
  link->grace_expired = true;
  shutdown->request();
}

void hit_deadline(keel::ResMut<FeedLink> link, keel::Res<keel::Shutdown> shutdown, keel::Instant) {
  link->deadline_hit = true;
  shutdown->request();
}

// The feed thread's final UringWaker::wake() lands here, on the loop
// thread. Datagrams it sent may still be queued (or, under load, still in
// the kernel's softirq backlog): stop now if all are read, else let
// UdpReceiver stop when the last arrives, with a grace timer as the bound.
void on_feed_end(keel::ResMut<FeedLink> link, keel::Res<IngestStats> in, keel::Res<keel::Shutdown> shutdown,
                 keel::ResMut<keel::TimerWheel> timers, const keel::Woken&) {
  if (link->ended || !link->control->done.load()) return;
  link->ended = true;
  link->final_sent = link->control->sent.load();
  if (in->datagrams >= link->final_sent) {
    shutdown->request();
  } else {
    timers->schedule(Clock::now() + kGrace, keel::fn<&expire_grace>);
  }
}

// ============================================================================
// The socket.
// ============================================================================

// A non-blocking UDP socket bound to 127.0.0.1 on an ephemeral port.
class UdpSocket {
 public:
  UdpSocket() : fd_(::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) {
    if (fd_ < 0) fail("socket");
    // A deep receive queue absorbs the loop's stalls (page faults, the status
    // line, the other core's scheduling): 8 MiB if we may force it (root),
    // else what net.core.rmem_max allows.
    const int want = 8 << 20;
    if (::setsockopt(fd_, SOL_SOCKET, SO_RCVBUFFORCE, &want, sizeof want) != 0)
      ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &want, sizeof want);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (::bind(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) fail("bind");
    socklen_t len = sizeof addr;
    if (::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) fail("getsockname");
    port_ = ntohs(addr.sin_port);
    socklen_t size_len = sizeof receive_buffer_;
    ::getsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer_, &size_len);
  }
  ~UdpSocket() { ::close(fd_); }
  UdpSocket(const UdpSocket&) = delete;
  UdpSocket& operator=(const UdpSocket&) = delete;

  int fd() const { return fd_; }
  std::uint16_t port() const { return port_; }
  int receive_buffer() const { return receive_buffer_; }

 private:
  [[noreturn]] void fail(const char* what) {
    const int e = errno;
    if (fd_ >= 0) ::close(fd_);
    throw std::system_error(e, std::generic_category(), std::string("market maker: ") + what);
  }
  int fd_;
  std::uint16_t port_ = 0;
  int receive_buffer_ = 0;
};

// Stops and joins the feed thread on every way out of run_market_maker.
struct FeedThread {
  FeedControl& control;
  std::thread thread;
  ~FeedThread() {
    control.stop.store(true);
    if (thread.joinable()) thread.join();
  }
};

}  // namespace

// ============================================================================
// The run.
// ============================================================================

Summary run_market_maker(const Options& o) {
  // Declared before the World, so destroyed after it: the World's Uring
  // (which unwatches) goes first, and the fd is closed last.
  UdpSocket sock;
  FeedControl control;

  // 1. Resources and drivers. The UringInstaller comes before the
  //    SignalInstaller (signals are read through it) and the TimerInstaller
  //    before the loop's first poll (the Uring bounds its wait by the wheel's
  //    next deadline when there is one).
  keel::WorldBuilder wb;
  wb.emplace<Books>(o.instruments);
  wb.emplace<IngestStats>();
  wb.emplace<Positions>(o.instruments);
  wb.insert(RiskLimits{});
  wb.emplace<RiskStats>();
  wb.emplace<LoopClock>();
  wb.emplace<OrderGateway>(o.instruments);
  wb.emplace<LatencyHistogram>();
  wb.emplace<OrderQueue>(static_cast<std::size_t>(kStrategies * o.instruments));
  wb.insert(FeedLink{.control = &control});
  wb.insert(Console{.out = o.status_out, .start = {}});
  auto io = wb.install_driver(keel::UringInstaller{.entries = 256, .backend = o.backend});
  auto timers = wb.install_driver(keel::TimerInstaller{});
  std::optional<keel::SignalRoute> signals;
  if (o.handle_signals) signals = wb.install_driver(keel::SignalInstaller{});
  keel::World world = std::move(wb).build();
  const keel::Registry& reg = world.registry();

  // 2. A DataSource per instrument, and one reactor per strategy instance.
  auto& reactors = world.resource<keel::ReactorNotify>();
  auto& books = world.resource<Books>();
  for (Book& b : books.by_instrument) b.source = reactors.register_source();
  for (int i = 0; i < o.instruments; ++i) {
    const keel::DataSource own = books.by_instrument[static_cast<std::size_t>(i)].source;
    // Strategy 0 joins the touch, skews hard, and keeps within the risk
    // limit by itself.
    static_cast<void>(reactors.spawn(StrategyCtx{.strategy = 0, .instrument = i, .reference = i, .qty = 10,
                                                 .half_spread = 0, .lots_per_tick = 20, .soft_position = 50},
                                     reg, keel::fn<&requote>)
                          .subscribe(own));
    // Strategy 1 stands a tick back, leans on the next instrument's moves,
    // skews less, and its own limit is looser than the risk limit: the risk
    // DAG's position arm is what stops it.
    const int ref = (i + 1) % o.instruments;
    static_cast<void>(reactors.spawn(StrategyCtx{.strategy = 1, .instrument = i, .reference = ref, .qty = 5,
                                                 .half_spread = 1, .lots_per_tick = 100, .soft_position = 75},
                                     reg, keel::fn<&requote>)
                          .subscribe(own)
                          .subscribe(books.by_instrument[static_cast<std::size_t>(ref)].source));
  }

  // 3. The risk DAG, and the socket's watch running the ingest pipeline.
  auto risk = make_risk(reg);
  auto& uring = world.resource<keel::Uring>();
  const keel::Watch watch = uring.watch(sock.fd(), keel::Readable, UdpReceiver(make_ingest(reg), reg));
  uring.on_wake(keel::fn<&on_feed_end>);
  keel::UringWaker waker = uring.waker();

  // 4. Timers: the status line, and a safety deadline in case the feed's
  //    wake never came (the feed stops by itself within seconds + 2 s).
  const keel::Instant start = Clock::now();
  world.resource<Console>().start = start;
  auto& wheel = world.resource<keel::TimerWheel>();
  if (o.status_out != nullptr) wheel.schedule_periodic(start + 1s, 1s, keel::fn<&print_status>);
  wheel.schedule(start + std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::duration<double>(o.seconds)) +
                     10s,
                 keel::fn<&hit_deadline>);

  // 5. The feed thread, started after SignalInstaller blocked SIGINT/SIGTERM
  //    in this thread, so that it inherits the mask and the signals come to
  //    the signalfd.
  FeedReport feed_report;
  const FeedOptions feed_options{.rate = o.rate,
                                 .seconds = o.seconds,
                                 .instruments = o.instruments,
                                 .malformed_per_million = o.malformed_per_million,
                                 .seed = o.seed};
  FeedThread feed{control, std::thread([&] { feed_report = run_feed(feed_options, sock.port(), waker, control); })};

  // 6. The loop. Each iteration:
  //    - io.poll: waits for datagrams, the feed's final wake or a signal, at
  //      most until the next timer deadline (the Uring reads it from the
  //      TimerWheel itself; 100 ms is only an outer bound), then runs the
  //      ready handlers: UdpReceiver drains the socket through the ingest
  //      pipeline, which updates books and marks their DataSources.
  //    - timers.poll: the status line and the grace/deadline timers, with
  //      the clock read once for the iteration.
  //    - dispatch_reactors: every strategy whose instruments changed since
  //      the last pass re-quotes once, however many quotes arrived for it in
  //      the batch (conflation), pushing orders to the OrderQueue.
  //    - the risk DAG runs on each queued order, one event each.
  //    The reactors run after the whole batch, not per datagram: at 200k
  //    msgs/s that is where the work is saved. When a handler requests
  //    Shutdown in this iteration, the rest of it still runs (the last
  //    ticks get their quotes) and world.run returns before the next.
  auto& clock = world.resource<LoopClock>();
  auto& queue = world.resource<OrderQueue>();
  std::uint64_t reactor_runs = 0;
  world.run([&](keel::World& w) {
    io.poll(w, 100ms);
    const keel::Instant now = Clock::now();
    clock.now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
    timers.poll(w, now);
    reactor_runs += w.dispatch_reactors();
    for (const Order& order : queue.orders) {
      w.next_sequence();
      risk.run(w, order);
    }
    queue.orders.clear();
  });
  const double loop_seconds = std::chrono::duration<double>(Clock::now() - start).count();

  // 7. Stop the feed (already done unless a signal came) and collect.
  control.stop.store(true);
  if (feed.thread.joinable()) feed.thread.join();
  uring.unwatch(watch);

  Summary s;
  s.backend = uring.backend();
  s.backend_description = uring.describe();
  s.instruments = o.instruments;
  s.receive_buffer_bytes = static_cast<std::uint64_t>(sock.receive_buffer());
  s.reactors = reactors.reactor_count();
  s.loop_seconds = loop_seconds;
  s.interrupted = signals && signals->received() > 0;
  s.feed_fell_behind = feed_report.fell_behind;
  s.feed_sent = feed_report.sent;
  s.feed_corrupted = feed_report.corrupted;
  s.feed_send_errors = feed_report.send_errors;
  s.feed_seconds = feed_report.elapsed_seconds;
  const auto& in = world.resource<IngestStats>();
  s.datagrams_received = in.datagrams;
  s.quotes_applied = in.quotes;
  s.malformed = in.malformed;
  s.recv_calls = in.recv_calls;
  s.readiness_events = in.readiness;
  s.reactor_runs = reactor_runs;
  const auto& gateway = world.resource<OrderGateway>();
  s.orders_sent = gateway.sent();
  s.orders_traced = gateway.traced();
  const auto& risk_stats = world.resource<RiskStats>();
  for (std::size_t r = 0; r < kRejectReasons; ++r) s.risk_rejects[r] = risk_stats.rejects[r];
  s.fills = world.resource<Positions>().fills;
  s.peak_position = world.resource<Positions>().peak;
  const auto& latency = world.resource<LatencyHistogram>();
  s.latency_samples = latency.count();
  s.latency_p50_ns = latency.percentile(0.50);
  s.latency_p99_ns = latency.percentile(0.99);
  s.latency_p999_ns = latency.percentile(0.999);
  s.latency_max_ns = latency.max();
  return s;
}

// ============================================================================
// Reject reasons and the summary table.
// ============================================================================

std::string_view to_string(RejectReason r) noexcept {
  switch (r) {
    case RejectReason::kPosition:
      return "position";
    case RejectReason::kNotional:
      return "notional";
    case RejectReason::kRate:
      return "rate";
  }
  return "?";
}

std::uint64_t Summary::malformed_total() const noexcept {
  std::uint64_t n = 0;
  for (std::uint64_t m : malformed) n += m;
  return n;
}
std::uint64_t Summary::feed_corrupted_total() const noexcept {
  std::uint64_t n = 0;
  for (std::uint64_t m : feed_corrupted) n += m;
  return n;
}
std::uint64_t Summary::risk_rejects_total() const noexcept {
  std::uint64_t n = 0;
  for (std::uint64_t r : risk_rejects) n += r;
  return n;
}

void print_summary(std::FILE* out, const Summary& s) {
  const auto row = [&](const char* label, const std::string& value, const std::string& note = {}) {
    std::fprintf(out, "  %-28s %14s  %s\n", label, value.c_str(), note.c_str());
  };
  const auto us = [](std::uint64_t ns) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f", static_cast<double>(ns) / 1e3);
    return std::string(buf);
  };
  std::string corrupted_kinds, malformed_kinds, reject_kinds;
  for (std::size_t k = 0; k < kMalformedKinds; ++k) {
    const std::string sep = k == 0 ? "" : ", ";
    corrupted_kinds += sep + std::string(to_string(static_cast<Malformed>(k))) + " " + grouped(s.feed_corrupted[k]);
    malformed_kinds += sep + std::string(to_string(static_cast<Malformed>(k))) + " " + grouped(s.malformed[k]);
  }
  for (std::size_t r = 0; r < kRejectReasons; ++r)
    reject_kinds +=
        (r == 0 ? "" : ", ") + std::string(to_string(static_cast<RejectReason>(r))) + " " + grouped(s.risk_rejects[r]);

  std::fprintf(out, "\nmarket maker summary: %s, %d instruments, %zu strategy reactors, loop ran %.2f s%s\n",
               std::string(keel::to_string(s.backend)).c_str(), s.instruments, s.reactors, s.loop_seconds,
               s.interrupted ? " (interrupted by a signal)" : "");
  row("messages sent by the feed", grouped(s.feed_sent),
      "in " + std::to_string(std::lround(s.feed_seconds * 1000)) + " ms" +
          (s.feed_fell_behind ? ", fell behind its rate" : "") +
          (s.feed_send_errors ? ", " + grouped(s.feed_send_errors) + " send errors" : ""));
  row("  corrupted on purpose", grouped(s.feed_corrupted_total()), corrupted_kinds);
  row("messages received", grouped(s.datagrams_received),
      grouped(s.recv_calls) + " recvmmsg calls in " + grouped(s.readiness_events) + " readiness events, " +
          grouped(s.receive_buffer_bytes >> 10) + " KiB receive buffer");
  row("  malformed (dropped)", grouped(s.malformed_total()), malformed_kinds);
  row("  valid quotes applied", grouped(s.quotes_applied));
  row("  not received", grouped(s.not_received()),
      s.interrupted ? "queued or dropped when the signal came" : "dropped by the kernel (receive queue full)");
  row("strategy reactor runs", grouped(s.reactor_runs));
  row("orders sent", grouped(s.orders_sent), grouped(s.orders_traced) + " traced to their tick");
  row("risk rejects", grouped(s.risk_rejects_total()), reject_kinds);
  row("simulated fills", grouped(s.fills), "largest position " + grouped(static_cast<std::uint64_t>(s.peak_position)) + " lots");
  std::fprintf(out, "  tick-to-order latency (us, feed send timestamp -> order at the gateway, %s samples)\n",
               grouped(s.latency_samples).c_str());
  std::fprintf(out, "  %-28s %14s\n  %-28s %14s\n  %-28s %14s\n  %-28s %14s\n", "  p50", us(s.latency_p50_ns).c_str(),
               "  p99", us(s.latency_p99_ns).c_str(), "  p99.9", us(s.latency_p999_ns).c_str(), "  max",
               us(s.latency_max_ns).c_str());
}

}  // namespace mm

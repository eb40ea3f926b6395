// The order gateway, run on Keel's poll source: a client socket in the same
// process sends a script of orders (some malformed, some over the limits) in
// bursts from a timer; the gateway reads them, checks them and books them;
// a status timer prints the counters and stops the loop once every order is
// accounted for. docs/guide-order-gateway.md walks through it.
//
//   bazel run //examples/order_gateway
//   bazel run //examples/order_gateway -- --orders=3000 --backend=epoll
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "examples/flags.h"
#include "examples/order_gateway/gateway.h"

using namespace std::chrono_literals;

ABSL_FLAG(int, orders, 600, "how many orders the client sends");
ABSL_FLAG(int, seconds, 5, "give up after this many seconds");
ABSL_FLAG(std::string, backend, "auto", "the poll source: auto, io_uring or epoll");

namespace {

constexpr const char* kSymbols[] = {"BTC", "ETH", "SOL"};  // in gateway::Instrument order

// The orders the client sends: mostly good ones, biased towards buying so
// that the position limit bites, and a few of every kind of mistake.
std::vector<std::string> order_script(int count) {
  static constexpr std::int64_t kPrices[] = {42'000, 2'200, 150};
  std::vector<std::string> script;
  for (int i = 1; i <= count; ++i) {
    const int k = i % 3;
    const char side = i % 7 < 4 ? 'B' : 'S';
    std::int64_t qty = 10 + i % 41;
    std::int64_t px = kPrices[k] + i % 9 - 4;
    std::string symbol = kSymbols[k];
    if (i % 50 == 0) {
      script.push_back("not an order");
      continue;
    }
    if (i % 40 == 0) symbol = "DOGE";
    if (i % 30 == 0) qty = 500;
    if (i % 35 == 0) px += 5'000;
    script.push_back(std::to_string(i) + " " + symbol + " " + side + " " + std::to_string(qty) + " " +
                     std::to_string(px));
  }
  return script;
}

// The client end: a socket of its own and the script, sent in bursts.
struct Client {
  int fd = -1;
  sockaddr_in gateway{};
  std::vector<std::string> script;
  std::size_t sent = 0;
};

// Sends the next burst. Twenty datagrams a millisecond stays well inside the
// socket's receive buffer, so none is dropped on the way.
void send_burst(keel::ResMut<Client> client, keel::Instant) {
  for (int burst = 0; burst < 20 && client->sent < client->script.size(); ++burst, ++client->sent) {
    const std::string& text = client->script[client->sent];
    ::sendto(client->fd, text.data(), text.size(), 0, reinterpret_cast<const sockaddr*>(&client->gateway),
             sizeof client->gateway);
  }
}

// Every 100 ms, and once everything sent has arrived: a status line; then stop.
void report(keel::Res<gateway::GatewayStats> stats, keel::Res<Client> client, keel::Res<keel::Shutdown> shutdown,
            keel::Instant) {
  const bool done = client->sent == client->script.size() && stats->datagrams == client->sent;
  std::printf("status: %llu datagrams, %llu accepted, %llu rejected%s\n",
              static_cast<unsigned long long>(stats->datagrams), static_cast<unsigned long long>(stats->accepted),
              static_cast<unsigned long long>(stats->rejected_total()), done ? " (all sent orders seen)" : "");
  if (done) shutdown->request();
}

int bound_udp_socket(sockaddr_in& address) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  address = {};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address);
  socklen_t length = sizeof address;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  return fd;
}

}  // namespace

int main(int argc, char** argv) {
  examples::parse_flags(argc, argv, "an order gateway on Keel's poll source (docs/guide-order-gateway.md)");
  const int orders = examples::checked_flag(
      FLAGS_orders, [](int n) { return n > 0 && n <= 1'000'000; }, "must be above 0 and up to 1000000");
  const int seconds =
      examples::checked_flag(FLAGS_seconds, [](int n) { return n > 0 && n <= 3600; }, "must be above 0 and up to 3600");

  // 1. The World: the gateway's resources, the client, and three drivers.
  keel::WorldBuilder wb = gateway::gateway_world();
  sockaddr_in gateway_address{};
  sockaddr_in client_address{};
  const int gateway_fd = bound_udp_socket(gateway_address);
  wb.insert(Client{.fd = bound_udp_socket(client_address), .gateway = gateway_address, .script = order_script(orders)});
  auto io = wb.install_driver(keel::UringInstaller{.backend = examples::backend_flag(FLAGS_backend)});
  auto timers = wb.install_driver(keel::TimerInstaller{});
  keel::World world = std::move(wb).build();

  // 2. The books (one reactor per instrument), then the readiness handler,
  // which owns the ingest pipeline.
  world.run_startup(gateway::open_books);
  auto& uring = world.resource<keel::Uring>();
  keel::Watch watch =
      uring.watch(gateway_fd, keel::Readable, gateway::datagram_reader(gateway::make_ingest(world.registry())));

  // 3. Timers: the client's bursts, the status line, and a deadline.
  auto& wheel = world.resource<keel::TimerWheel>();
  const keel::Instant start = std::chrono::steady_clock::now();
  wheel.schedule_periodic(start, 1ms, send_burst);
  wheel.schedule_periodic(start + 100ms, 100ms, report);
  wheel.schedule(start + std::chrono::seconds(seconds), [](keel::Res<keel::Shutdown> shutdown, keel::Instant) {
    std::printf("deadline reached before every order was seen\n");
    shutdown->request();
  });

  // 4. The loop: readiness (datagrams through the pipeline and the risk
  // DAG, into the books' inboxes), then timers, then one reactor pass, in
  // which each book that received orders drains its inbox once.
  world.run([&](keel::World& w) {
    io.poll(w, 100ms);
    timers.poll(w, std::chrono::steady_clock::now());
    w.dispatch_reactors();
  });

  // 5. The result.
  const auto& stats = world.resource<gateway::GatewayStats>();
  std::printf("order gateway on %s: %llu datagrams, %llu accepted, %llu booked\n", uring.describe().c_str(),
              static_cast<unsigned long long>(stats.datagrams), static_cast<unsigned long long>(stats.accepted),
              static_cast<unsigned long long>(stats.booked));
  for (std::size_t k = 0; k < gateway::kRejectKinds; ++k) {
    std::printf("  rejected, %s: %llu\n", gateway::to_string(static_cast<gateway::Reject>(k)).data(),
                static_cast<unsigned long long>(stats.rejected[k]));
  }
  auto& rx = world.resource<keel::ReactorNotify>();
  const auto& books = world.resource<gateway::Books>();
  for (std::size_t k = 0; k < gateway::kInstruments; ++k) {
    const gateway::Book* book = rx.context<gateway::Book>(books.token[k]);
    std::printf("  book %s: position %lld after %llu orders\n", kSymbols[k], static_cast<long long>(book->position),
                static_cast<unsigned long long>(book->orders));
  }
  std::printf("events dispatched (world.sequence()): %llu\n", static_cast<unsigned long long>(world.sequence()));
  const auto full = stats.rejected[static_cast<std::size_t>(gateway::Reject::book_full)];
  const bool accounted = stats.datagrams == static_cast<std::uint64_t>(orders) &&
                         stats.accepted + stats.rejected_total() - full == stats.datagrams &&
                         stats.booked + full == stats.accepted;
  std::printf("%s\n", accounted ? "every order accounted for" : "orders went missing");
  uring.unwatch(watch);
  ::close(gateway_fd);
  ::close(world.resource<Client>().fd);
  return accounted ? 0 : 1;
}

#include "examples/echo_server/load_client.h"

#include <algorithm>
#include <cmath>
#include <exception>
#include <limits>
#include <string>
#include <system_error>
#include <utility>

#include "async/buffer.h"
#include "async/io.h"
#include "async/join_handle.h"
#include "async/runtime.h"
#include "async/task.h"
#include "async/timer.h"
#include "rt/world.h"

namespace echo {

namespace {

using Clock = std::chrono::steady_clock;

// What one client did; written by its task, read after every task ended.
struct ClientOutcome {
  std::size_t round_trips = 0;
  std::uint64_t bytes_wrong = 0;
  bool finished = false;
  std::string failure;
};

std::string failure_after(std::string_view what, std::error_code error, const ClientOutcome& outcome,
                          std::size_t messages) {
  return std::string(what) + " failed after " + std::to_string(outcome.round_trips) + " of " +
         std::to_string(messages) + " round trips: " + error.message();
}

std::uint64_t differing_bytes(std::string_view got, std::string_view sent) {
  std::uint64_t wrong = 0;
  for (std::size_t i = 0; i < sent.size(); ++i) wrong += (i >= got.size() || got[i] != sent[i]) ? 1 : 0;
  return wrong;
}

// One connection's round trips.
keel::async::Task<void> run_client(keel::async::SocketAddr server, std::size_t client, const LoadConfig& config,
                                   ClientOutcome& outcome, LatencySamples& latencies) {
  auto connected = co_await keel::async::TcpStream::connect(server);
  if (!connected) {
    outcome.failure = failure_after("connect", connected.error(), outcome, config.messages);
    co_return;
  }
  keel::async::TcpStream stream = std::move(*connected);
  const std::size_t size = config.message_bytes;
  keel::Buffer request(size);
  keel::Buffer reply(size);
  for (std::size_t m = 0; m < config.messages; ++m) {
    request.clear();
    fill_pattern(request.spare_capacity().first(size), client, m);
    request.commit(size);

    const Clock::time_point start = Clock::now();
    auto [sent, unchanged] = co_await stream.send_all(std::move(request));
    request = std::move(unchanged);
    if (!sent) {
      outcome.failure = failure_after("send", sent.error(), outcome, config.messages);
      co_return;
    }
    // The reply buffer holds exactly one message, so a recv never takes
    // bytes of the next one (there are none: one message is in flight).
    reply.clear();
    while (reply.size() < size) {
      auto [received, filled] = co_await stream.recv(std::move(reply));
      reply = std::move(filled);
      if (!received) {
        outcome.failure = failure_after("recv", received.error(), outcome, config.messages);
        co_return;
      }
      if (*received == 0) {
        outcome.failure = "the server closed the connection after " + std::to_string(outcome.round_trips) + " of " +
                          std::to_string(config.messages) + " round trips";
        co_return;
      }
    }
    latencies.record(Clock::now() - start);
    outcome.bytes_wrong += differing_bytes(reply.view(), request.view());
    ++outcome.round_trips;
  }
  outcome.finished = true;
}

// A client bounded by the load's deadline: past it, its task is destroyed
// where it waits (its stream closes) and the client fails.
keel::async::Task<void> run_bounded(keel::Instant deadline, keel::async::SocketAddr server, std::size_t client,
                                    const LoadConfig& config, ClientOutcome& outcome, LatencySamples& latencies) {
  auto done = co_await keel::async::timeout_at(deadline, run_client(server, client, config, outcome, latencies));
  if (!done) {
    outcome.failure = "did not finish within " + std::to_string(config.deadline.count()) + " s (" +
                      std::to_string(outcome.round_trips) + " of " + std::to_string(config.messages) +
                      " round trips)";
  }
}

keel::async::Task<void> run_all(keel::async::SocketAddr server, const LoadConfig& config,
                                std::vector<ClientOutcome>& outcomes, LatencySamples& latencies) {
  const keel::Instant deadline = Clock::now() + config.deadline;
  std::vector<keel::async::JoinHandle<void>> clients;
  clients.reserve(config.clients);
  for (std::size_t c = 0; c < config.clients; ++c) {
    clients.push_back(keel::async::spawn(run_bounded(deadline, server, c, config, outcomes[c], latencies)));
  }
  for (keel::async::JoinHandle<void>& client : clients) co_await client;
}

}  // namespace

void LatencySamples::record(std::chrono::nanoseconds latency) {
  const auto ns = static_cast<std::uint32_t>(
      std::clamp<std::int64_t>(latency.count(), 0, std::numeric_limits<std::uint32_t>::max()));
  ++seen_;
  if (kept_.size() < keep_) {
    kept_.push_back(ns);
    return;
  }
  // Algorithm R: the n-th sample replaces a kept one with probability keep/n.
  const std::uint64_t slot = std::uniform_int_distribution<std::uint64_t>(0, seen_ - 1)(random_);
  if (slot < keep_) kept_[slot] = ns;
}

std::vector<std::uint32_t> LatencySamples::sorted() && {
  std::sort(kept_.begin(), kept_.end());
  return std::move(kept_);
}

void fill_pattern(std::span<std::byte> out, std::size_t client, std::size_t message) noexcept {
  // A linear congruential sequence seeded by (client, message): cheap,
  // and no two messages of a run start alike.
  std::uint64_t x = (static_cast<std::uint64_t>(client) << 32) ^ (message * 0x9E3779B97F4A7C15ull) ^ 0x5DEECE66Dull;
  for (std::byte& b : out) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    b = static_cast<std::byte>(x >> 56);
  }
}

double LoadReport::latency_us(double q) const {
  if (latencies_ns.empty()) return 0;
  const auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(latencies_ns.size())));
  const std::size_t at = std::clamp<std::size_t>(rank, 1, latencies_ns.size()) - 1;
  return static_cast<double>(latencies_ns[at]) / 1000.0;
}

double LoadReport::messages_per_second() const {
  const double seconds = std::chrono::duration<double>(elapsed).count();
  return seconds > 0 ? static_cast<double>(round_trips) / seconds : 0;
}

double LoadReport::megabytes_per_second(std::size_t message_bytes) const {
  return messages_per_second() * static_cast<double>(message_bytes) / 1e6;
}

LoadReport run_load(const keel::async::SocketAddr& server, const LoadConfig& config) {
  LoadReport report;
  report.clients = config.clients;
  std::vector<ClientOutcome> outcomes(config.clients);
  LatencySamples latencies;
  try {
    keel::WorldBuilder wb;
    wb.install_driver(keel::UringInstaller{.entries = 256, .backend = config.backend});
    keel::World world = std::move(wb).build();
    keel::async::Runtime rt(world);
    report.backend = std::string(keel::to_string(rt.ring().backend()));
    const Clock::time_point start = Clock::now();
    rt.block_on(run_all(server, config, outcomes, latencies));
    report.elapsed = Clock::now() - start;
  } catch (const std::exception& e) {
    report.failures.push_back(std::string("the load client stopped: ") + e.what());
  }

  for (std::size_t c = 0; c < config.clients; ++c) {
    const ClientOutcome& o = outcomes[c];
    report.round_trips += o.round_trips;
    report.bytes_checked += o.round_trips * config.message_bytes;
    report.bytes_wrong += o.bytes_wrong;
    if (o.finished) ++report.finished;
    if (!o.failure.empty()) report.failures.push_back("client " + std::to_string(c) + ": " + o.failure);
  }
  report.latencies_ns = std::move(latencies).sorted();
  return report;
}

}  // namespace echo

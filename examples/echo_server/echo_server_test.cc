// The echo server's behaviour on both backends: every byte comes back,
// also when a message is larger than a connection's buffer; the
// connection limit closes the extra connections and frees its place when
// a connection ends; a reset ends its own connection only; destroying the
// Runtime closes every connection. And the load client's pieces: the
// pattern and the latency quantiles.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "async/buffer.h"
#include "async/io.h"
#include "async/runtime.h"
#include "async/task.h"
#include "async/timer.h"
#include "examples/echo_server/load_client.h"
#include "examples/echo_server/server.h"
#include "rt/error.h"
#include "rt/uring.h"
#include "rt/world.h"

namespace {

using keel::async::Task;
using keel::async::TcpListener;
using keel::async::TcpStream;
using namespace std::chrono_literals;

class EchoServer : public ::testing::TestWithParam<keel::Backend> {
 protected:
  void SetUp() override {
    keel::WorldBuilder wb;
    try {
      wb.install_driver(keel::UringInstaller{.entries = 256, .backend = GetParam()});
    } catch (const keel::UringError& e) {
      if (e.kind() != keel::UringError::Kind::Unavailable) throw;
      GTEST_SKIP() << "io_uring refused here: " << e.what();
    }
    world_.emplace(std::move(wb).build());
    rt_.emplace(*world_);
  }
  void TearDown() override {
    rt_.reset();
    world_.reset();
  }

  // Starts the accept loop on 127.0.0.1 and returns its address.
  keel::async::SocketAddr start(echo::ServerConfig config) {
    TcpListener listener = TcpListener::bind("127.0.0.1:0").value();
    const keel::async::SocketAddr address = listener.local_addr();
    rt_->spawn(echo::serve(std::move(listener), config, stats_)).detach();
    return address;
  }

  echo::ServerStats stats_;  // outlives the runtime, as serve() requires
  std::optional<keel::World> world_;
  std::optional<keel::async::Runtime> rt_;
};

// Sends `text` and reads as many bytes back; "" when the connection ended first.
Task<std::string> round_trip(TcpStream& stream, std::string text) {
  auto [sent, request] = co_await stream.send_all(keel::Buffer::copy_of(text));
  if (!sent) co_return "";
  keel::Buffer reply(text.size());
  while (reply.size() < text.size()) {
    auto [received, filled] = co_await stream.recv(std::move(reply));
    reply = std::move(filled);
    if (!received || *received == 0) co_return "";
  }
  co_return std::string(reply.view());
}

// True when the peer ended the connection (end of stream or reset).
Task<bool> ended_by_peer(TcpStream& stream) {
  auto [received, unused] = co_await stream.recv(keel::Buffer(16));
  co_return !received || *received == 0;
}

// Waits until `done` holds, sleeping between looks: the server's tasks
// run meanwhile. The test's own timeout bounds it.
template <class Done>
Task<void> until(Done done) {
  while (!done()) co_await keel::async::sleep(1ms);
}

TEST_P(EchoServer, EchoesEveryByteToEveryClientWithMessagesLargerThanItsBuffer) {
  const keel::async::SocketAddr address = start({.buffer_bytes = 100, .max_connections = 64});
  echo::LoadConfig load{.clients = 8, .messages = 50, .message_bytes = 1000, .backend = GetParam()};
  std::atomic<bool> done{false};
  echo::LoadReport report;
  std::thread client([&, wake = rt_->ring().waker()] {
    report = echo::run_load(address, load);
    done = true;
    wake.wake();
  });
  while (!done) rt_->tick(100ms);
  client.join();

  EXPECT_TRUE(report.passed()) << (report.failures.empty() ? "bytes differed" : report.failures.front());
  EXPECT_EQ(report.finished, 8u);
  EXPECT_EQ(report.bytes_wrong, 0u);
  EXPECT_EQ(report.bytes_checked, 8u * 50 * 1000);
  EXPECT_EQ(report.latencies_ns.size(), 8u * 50);
  EXPECT_EQ(stats_.bytes, 8u * 50 * 1000);
  EXPECT_EQ(stats_.accepted, 8u);
  EXPECT_EQ(stats_.ended_by_error, 0u);
}

TEST_P(EchoServer, ClosesConnectionsBeyondTheLimitAndFreesAPlaceWhenOneEnds) {
  const keel::async::SocketAddr address = start({.buffer_bytes = 64, .max_connections = 1});
  rt_->block_on([](const keel::async::SocketAddr& at, echo::ServerStats& stats) -> Task<void> {
    std::optional<TcpStream> first = (co_await TcpStream::connect(at)).value();
    EXPECT_EQ(co_await round_trip(*first, "one"), "one");  // served: it holds the only place

    TcpStream second = (co_await TcpStream::connect(at)).value();
    auto ended = co_await keel::async::timeout(30s, ended_by_peer(second));  // fails instead of hanging
    EXPECT_TRUE(ended && *ended);
    EXPECT_EQ(stats.refused, 1u);
    EXPECT_EQ(co_await round_trip(*first, "still served"), "still served");

    first.reset();  // its task sees the end of the stream and gives the place back
    co_await until([&] { return stats.open == 0; });
    TcpStream third = (co_await TcpStream::connect(at)).value();
    EXPECT_EQ(co_await round_trip(third, "three"), "three");
    EXPECT_EQ(stats.accepted, 3u);
    EXPECT_EQ(stats.refused, 1u);
    EXPECT_EQ(stats.most_open, 1u);
  }(address, stats_));
}

TEST_P(EchoServer, AResetEndsThatConnectionOnlyAndIsCounted) {
  const keel::async::SocketAddr address = start({});
  rt_->block_on([](const keel::async::SocketAddr& at, echo::ServerStats& stats) -> Task<void> {
    std::optional<TcpStream> doomed = (co_await TcpStream::connect(at)).value();
    TcpStream other = (co_await TcpStream::connect(at)).value();
    EXPECT_EQ(co_await round_trip(*doomed, "a"), "a");
    EXPECT_EQ(co_await round_trip(other, "b"), "b");

    // Linger 0: the close sends a reset, which the server's recv sees.
    const linger abort_on_close{1, 0};
    EXPECT_EQ(::setsockopt(doomed->fd(), SOL_SOCKET, SO_LINGER, &abort_on_close, sizeof abort_on_close), 0);
    doomed.reset();
    co_await until([&] { return stats.ended_by_error == 1; });
    EXPECT_EQ(stats.last_error, std::errc::connection_reset) << stats.last_error.message();

    EXPECT_EQ(co_await round_trip(other, "the server goes on"), "the server goes on");
    EXPECT_EQ(stats.open, 1u);
  }(address, stats_));
}

TEST_P(EchoServer, DestroyingTheRuntimeClosesEveryConnection) {
  const keel::async::SocketAddr address = start({});
  const int fd = ::socket(address.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::connect(fd, address.native(), address.native_size()), 0);
  ASSERT_EQ(::send(fd, "ping", 4, 0), 4);
  char got[8];
  std::size_t have = 0;
  while (have < 4) {
    rt_->tick(10ms);  // the server accepts, reads and echoes
    const ssize_t n = ::recv(fd, got + have, sizeof got - have, MSG_DONTWAIT);
    if (n > 0) have += static_cast<std::size_t>(n);
  }
  EXPECT_EQ(std::string(got, 4), "ping");
  EXPECT_EQ(stats_.open, 1u);

  rt_.reset();
  EXPECT_EQ(stats_.open, 0u);
  EXPECT_EQ(::recv(fd, got, sizeof got, 0), 0);  // the server's side was closed: end of stream
  ::close(fd);
}

INSTANTIATE_TEST_SUITE_P(Backends, EchoServer, ::testing::Values(keel::Backend::IoUring, keel::Backend::Epoll),
                         [](const ::testing::TestParamInfo<keel::Backend>& info) {
                           return info.param == keel::Backend::IoUring ? "IoUring" : "Epoll";
                         });

TEST(LoadPattern, DiffersBetweenClientsAndBetweenMessagesAndRepeatsExactly) {
  auto message = [](std::size_t client, std::size_t m) {
    std::vector<std::byte> bytes(64);
    echo::fill_pattern(bytes, client, m);
    return bytes;
  };
  EXPECT_EQ(message(3, 7), message(3, 7));
  EXPECT_NE(message(3, 7), message(3, 8));
  EXPECT_NE(message(3, 7), message(4, 7));
  EXPECT_NE(message(0, 0), message(0, 1));
}

TEST(LoadReport, QuantilesAreNearestRankInMicroseconds) {
  echo::LoadReport report;
  EXPECT_EQ(report.latency_us(0.5), 0.0);  // no round trips
  for (std::uint32_t i = 1; i <= 100; ++i) report.latencies_ns.push_back(i * 1000);
  EXPECT_EQ(report.latency_us(0.50), 50.0);
  EXPECT_EQ(report.latency_us(0.99), 99.0);
  EXPECT_EQ(report.latency_us(1.0), 100.0);
  report.round_trips = 1000;
  report.elapsed = 2s;
  EXPECT_EQ(report.messages_per_second(), 500.0);
  EXPECT_EQ(report.megabytes_per_second(2000), 1.0);
}

TEST(LatencySamples, KeepsEverySampleUpToItsSizeThenAUniformSampleOfAll) {
  echo::LatencySamples few(100);
  for (int i = 50; i > 0; --i) few.record(std::chrono::nanoseconds(i));
  const std::vector<std::uint32_t> all = std::move(few).sorted();
  ASSERT_EQ(all.size(), 50u);
  for (std::uint32_t i = 0; i < 50; ++i) EXPECT_EQ(all[i], i + 1);

  // Beyond its size it keeps `keep` samples, each one of those recorded.
  echo::LatencySamples many(100);
  for (int i = 1; i <= 100'000; ++i) many.record(std::chrono::nanoseconds(i));
  EXPECT_EQ(many.seen(), 100'000u);
  const std::vector<std::uint32_t> kept = std::move(many).sorted();
  ASSERT_EQ(kept.size(), 100u);
  EXPECT_TRUE(std::adjacent_find(kept.begin(), kept.end()) == kept.end());  // no sample kept twice
  EXPECT_GE(kept.front(), 1u);
  EXPECT_LE(kept.back(), 100'000u);
  EXPECT_GT(kept.back(), 100u);  // later samples replaced early ones
}

TEST(LoadClient, ReportsAServerThatIsNotThereAsFailedClients) {
  // A port that was free a moment ago: connects are refused.
  keel::WorldBuilder wb;
  wb.install_driver(keel::UringInstaller{.entries = 16});
  keel::World world = std::move(wb).build();
  std::optional<keel::async::Runtime> rt(std::in_place, world);
  keel::async::SocketAddr closed;
  {
    TcpListener l = TcpListener::bind("127.0.0.1:0").value();
    closed = l.local_addr();
  }
  rt.reset();
  const echo::LoadReport report = echo::run_load(closed, {.clients = 2, .messages = 5});
  EXPECT_FALSE(report.passed());
  EXPECT_EQ(report.finished, 0u);
  ASSERT_EQ(report.failures.size(), 2u);
  EXPECT_EQ(report.failures[0], "client 0: connect failed after 0 of 5 round trips: Connection refused");
}

}  // namespace

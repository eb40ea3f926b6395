// Completion-based IO on both backends: TCP accept/connect/recv/send, UDP,
// files; the buffer comes back on every path; abandoning an operation
// (abort, timeout, runtime shutdown) loses no bytes, leaks no fd and frees
// nothing the kernel may still write.
#include <gtest/gtest.h>
#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "async/buffer.h"
#include "async/buffer_pool.h"
#include "async/io.h"
#include "async/join_handle.h"
#include "async/runtime.h"
#include "async/task.h"
#include "async/timer.h"
#include "rt/uring.h"
#include "rt/world.h"
#include "tests/async/io_fixture.h"
#include "tests/rt/fd.h"

namespace {

using keel::Buffer;
using keel::Bytes;
using keel::async::File;
using keel::async::IoResult;
using keel::async::ListenOptions;
using keel::async::Runtime;
using keel::async::SocketAddr;
using keel::async::Task;
using keel::async::TcpListener;
using keel::async::TcpStream;
using keel::async::UdpSocket;
using keel_test::connected_pair;
using keel_test::open_fds;
using keel_test::recv_into;
using namespace std::chrono_literals;

// Deterministic bytes: position i of a stream holds pattern_table()[i % kPeriod]. The
// period is prime, so no chunk size lines up with it.
constexpr std::size_t kPeriod = 65521;
const std::string& pattern_table() {
  static const std::string table = [] {
    std::string t(2 * kPeriod, '\0');
    for (std::size_t i = 0; i < t.size(); ++i) t[i] = static_cast<char>('a' + (i % kPeriod * 7 + i % kPeriod / 251) % 26);
    return t;
  }();
  return table;
}
std::string pattern(std::size_t from, std::size_t n) {
  std::string s;
  s.reserve(n);
  while (s.size() < n) {
    const std::size_t at = (from + s.size()) % kPeriod;
    s.append(pattern_table(), at, std::min(n - s.size(), kPeriod));
  }
  return s;
}
// Whether `got` is the pattern from position `from`.
bool matches_pattern(std::string_view got, std::size_t from) {
  for (std::size_t done = 0; done < got.size();) {
    const std::size_t at = (from + done) % kPeriod;
    const std::size_t n = std::min(got.size() - done, kPeriod);
    if (got.substr(done, n) != std::string_view(pattern_table()).substr(at, n)) return false;
    done += n;
  }
  return true;
}

// Frames from the runtime's arena, as in an application.
class Io : public keel_test::IoFixture {
 protected:
  Io() : IoFixture(keel::async::RuntimeOptions{}) {}
};

// Sends `total` pattern bytes in 64 KiB chunks, then shuts down its side.
Task<void> stream_pattern(TcpStream& s, std::size_t total) {
  constexpr std::size_t kChunk = 64 * 1024;
  for (std::size_t off = 0; off < total; off += kChunk) {
    auto [n, _] = co_await s.send_all(Buffer::copy_of(pattern(off, std::min(kChunk, total - off))));
    if (!n) co_return;
  }
  s.shutdown();
}

TEST_P(Io, EchoesOverLoopback) {
  const std::string got = rt().block_on([]() -> Task<std::string> {
    auto [server, client] = co_await connected_pair();
    auto [sent, b1] = co_await client.send_all(Buffer::copy_of("hello, keel"));
    EXPECT_EQ(sent.value(), 11u);
    EXPECT_EQ(b1.view(), "hello, keel");  // the buffer comes back with its bytes
    auto [n, request] = co_await server.recv(Buffer(64));
    EXPECT_EQ(n.value(), 11u);
    auto [m, _] = co_await server.send_all(std::move(request).freeze());
    EXPECT_EQ(m.value(), 11u);
    auto [k, reply] = co_await client.recv(Buffer(64));
    EXPECT_EQ(k.value(), 11u);
    co_return std::string(reply.view());
  }());
  EXPECT_EQ(got, "hello, keel");
}

TEST_P(Io, RecvAppendsAfterTheInitializedBytesAndSeesEndOfStream) {
  rt().block_on([]() -> Task<void> {
    auto [server, client] = co_await connected_pair();
    co_await client.send_all(Buffer::copy_of("abc"));
    auto [n, got] = co_await server.recv(Buffer(8));
    EXPECT_EQ(n.value(), 3u);
    EXPECT_EQ(got.view(), "abc");
    EXPECT_FALSE(client.shutdown());
    auto [eof, same] = co_await server.recv(std::move(got));
    EXPECT_EQ(eof.value(), 0u);  // end of stream
    EXPECT_EQ(same.view(), "abc");
  }());
}

TEST_P(Io, AFullBufferIsRefusedAndComesBack) {
  rt().block_on([]() -> Task<void> {
    auto [server, client] = co_await connected_pair();
    auto [n, back] = co_await server.recv(Buffer::copy_of("full"));
    CO_ASSERT_TRUE(!n);
    EXPECT_EQ(n.error(), std::errc::no_buffer_space);
    EXPECT_EQ(back.view(), "full");
  }());
}

TEST_P(Io, ConnectToAClosedPortIsRefused) {
  rt().block_on([]() -> Task<void> {
    std::uint16_t port;
    {
      TcpListener l = TcpListener::bind("127.0.0.1:0").value();
      port = l.local_addr().port();
    }
    auto c = co_await TcpStream::connect("127.0.0.1:" + std::to_string(port));
    CO_ASSERT_TRUE(!c);
    EXPECT_EQ(c.error(), std::errc::connection_refused);
    auto bad = co_await TcpStream::connect("not-an-address");
    CO_ASSERT_TRUE(!bad);
    EXPECT_EQ(bad.error(), std::errc::invalid_argument);
  }());
}

TEST_P(Io, ListenersWithReusePortShareAnAddressAndOthersAreRefused) {
  rt().block_on([]() -> Task<void> {
    const ListenOptions shared{.reuse_port = true};
    TcpListener first = TcpListener::bind(SocketAddr::parse("127.0.0.1:0").value(), shared).value();
    const SocketAddr address = first.local_addr();
    auto second = TcpListener::bind(address, shared);
    CO_ASSERT_TRUE(second.has_value());
    EXPECT_EQ(second->local_addr().port(), address.port());
    auto exclusive = TcpListener::bind(address);  // without SO_REUSEPORT
    CO_ASSERT_TRUE(!exclusive);
    EXPECT_EQ(exclusive.error(), std::errc::address_in_use);
    // The kernel hands the connection to one of the two; that one accepts it.
    auto client = co_await TcpStream::connect(address);
    CO_ASSERT_TRUE(client.has_value());
    pollfd listening[2] = {{.fd = first.fd(), .events = POLLIN, .revents = 0},
                           {.fd = second->fd(), .events = POLLIN, .revents = 0}};
    CO_ASSERT_TRUE(::poll(listening, 2, 10'000) == 1);
    TcpListener& chosen = (listening[0].revents & POLLIN) != 0 ? first : *second;
    auto accepted = co_await chosen.accept();
    EXPECT_TRUE(accepted.has_value());
  }());
}

TEST_P(Io, SendToAResetPeerFailsWithTheBufferBack) {
  rt().block_on([]() -> Task<void> {
    auto [server, client] = co_await connected_pair();
    // Linger 0: the close sends RST.
    linger l{1, 0};
    CO_ASSERT_TRUE(::setsockopt(server.fd(), SOL_SOCKET, SO_LINGER, &l, sizeof l) == 0);
    server = TcpStream();
    std::error_code error;
    for (int i = 0; i < 100 && !error; ++i) {
      auto [n, back] = co_await client.send(Buffer::copy_of(std::string(4096, 'x')));
      EXPECT_EQ(back.size(), 4096u);
      if (!n) error = n.error();
    }
    EXPECT_TRUE(error == std::errc::connection_reset || error == std::errc::broken_pipe) << error.message();
  }());
}

// The invariant: a recv whose task is destroyed keeps what the kernel
// gave it for the next recv on the stream; the byte stream stays exact.
TEST_P(Io, AbortedRecvLosesNoBytes) {
  rt().block_on([]() -> Task<void> {
    auto [server, client] = co_await connected_pair();
    std::string got;
    constexpr int kRounds = 10000;
    for (int i = 0; i < kRounds; ++i) {
      auto blocked = keel::async::spawn(recv_into(server, Buffer(16)));
      co_await keel::async::yield_now();  // it is in the kernel now
      blocked.abort();
      co_await client.send_all(Buffer::copy_of(pattern(static_cast<std::size_t>(i) * 3, 3)));
      while (got.size() < static_cast<std::size_t>(i + 1) * 3) {
        auto [n, b] = co_await server.recv(Buffer(16));
        EXPECT_TRUE(n && *n > 0);
        if (!n || *n == 0) co_return;
        got += b.view();
      }
    }
    EXPECT_EQ(got, pattern(0, kRounds * 3));
  }());
}

TEST_P(Io, TimeoutOfRecvInALoopReadsTheStreamExactly) {
  constexpr std::size_t kTotal = std::size_t{64} << 20;
  const std::size_t got = rt().block_on([]() -> Task<std::size_t> {
    auto [server, client] = co_await connected_pair();
    auto writer = keel::async::spawn(stream_pattern(client, kTotal));
    std::size_t received = 0;
    std::size_t mismatches = 0;
    std::size_t timeouts = 0;
    for (;;) {
      auto r = co_await keel::async::timeout(20us, recv_into(server, Buffer(64 * 1024)));
      if (!r) {
        ++timeouts;
        continue;
      }
      auto& [n, b] = *r;
      if (!n || *n == 0) break;
      const std::string_view v = b.view();
      mismatches += matches_pattern(v, received) ? 0 : 1;
      received += v.size();
    }
    co_await writer;
    EXPECT_EQ(mismatches, 0u);
    EXPECT_GT(timeouts, 0u) << "no recv was ever cut short: the test did not exercise cancellation";
    co_return received;
  }());
  EXPECT_EQ(got, kTotal);
}

TEST_P(Io, AcceptTimedOutWhileAClientConnectsLeaksNoFd) {
  const std::size_t before = open_fds();
  rt().block_on([]() -> Task<void> {
    TcpListener listener = TcpListener::bind("127.0.0.1:0").value();
    const std::string at = "127.0.0.1:" + std::to_string(listener.local_addr().port());
    for (int i = 0; i < 200; ++i) {
      auto accepting = keel::async::spawn([](TcpListener& l) -> Task<void> {
        auto s = co_await l.accept();
        (void)s;
      }(listener));
      co_await keel::async::yield_now();
      auto c = co_await TcpStream::connect(at);
      EXPECT_TRUE(c);
      accepting.abort();  // may race the accept's completion: either way, no fd stays open
    }
  }());
  EXPECT_EQ(open_fds(), before);
}

TEST_P(Io, RuntimeShutdownWithAThousandOperationsInFlight) {
  const std::size_t before = open_fds();
  {
    keel::WorldBuilder wb;
    wb.install_driver(keel::UringInstaller{.entries = 64, .backend = GetParam()});
    keel::World world = std::move(wb).build();
    std::vector<TcpStream> keep;
    {
      Runtime rt(world);
      rt.block_on([](std::vector<TcpStream>& keep) -> Task<void> {
        keep.reserve(1000);  // the recvs hold references into it
        for (int i = 0; i < 500; ++i) {
          auto [a, b] = co_await connected_pair();
          keep.push_back(std::move(a));
          keep.push_back(std::move(b));
          keel::async::spawn(recv_into(keep[keep.size() - 2], Buffer(256))).detach();
          keel::async::spawn(recv_into(keep.back(), Buffer(256))).detach();
        }
        co_await keel::async::yield_now();
        EXPECT_EQ(keel::async::Runtime::current()->io_driver().in_use(), 1000u);
      }(keep));
    }  // the runtime goes with 1,000 recvs in the kernel; their buffers are freed only after
    keep.clear();  // streams outliving their runtime close their fds themselves
  }
  EXPECT_EQ(open_fds(), before);
}

TEST_P(Io, FilesWriteSyncAndReadBack) {
  const std::string path = ::testing::TempDir() + "/keel_io_file_" + keel::to_string(GetParam()).data();
  rt().block_on([](std::string path) -> Task<void> {
    {
      File f = (co_await File::create(path)).value();
      auto [n, b] = co_await f.write_at(Buffer::copy_of("hello "), 0);
      EXPECT_EQ(n.value(), 6u);
      auto [m, _] = co_await f.write_at(Bytes(Buffer::copy_of("world").freeze()), 6);
      EXPECT_EQ(m.value(), 5u);
      EXPECT_TRUE(co_await f.fsync());
    }
    File r = (co_await File::open(path)).value();
    auto [n, b] = co_await r.read_at(Buffer(64), 0);
    EXPECT_EQ(n.value(), 11u);
    EXPECT_EQ(b.view(), "hello world");
    auto [k, tail] = co_await r.read_at(Buffer(64), 6);
    EXPECT_EQ(tail.view(), "world");
    auto [eof, e] = co_await r.read_at(Buffer(64), 11);
    EXPECT_EQ(eof.value(), 0u);
    auto missing = co_await File::open(path + ".missing");
    CO_ASSERT_TRUE(!missing);
    EXPECT_EQ(missing.error(), std::errc::no_such_file_or_directory);
  }(path));
  ::unlink(path.c_str());
}

TEST_P(Io, UdpDatagramsCarryTheirSender) {
  rt().block_on([]() -> Task<void> {
    UdpSocket a = UdpSocket::bind("127.0.0.1:0").value();
    UdpSocket b = UdpSocket::bind("127.0.0.1:0").value();
    auto [n, sent] = co_await a.send_to(Buffer::copy_of("ping"), b.local_addr());
    EXPECT_EQ(n.value(), 4u);
    auto r = co_await b.recv_from(Buffer(16));
    EXPECT_EQ(r.result.value(), 4u);
    EXPECT_EQ(r.buffer.view(), "ping");
    EXPECT_EQ(r.from, a.local_addr());
  }());
}

// Echoes one connection with one reused buffer until the peer closes.
Task<void> echo(TcpStream s) {
  Buffer buffer(16 * 1024);
  for (;;) {
    auto [n, b] = co_await s.recv(std::move(buffer));
    if (!n || *n == 0) co_return;
    auto [m, back] = co_await s.send_all(std::move(b));
    if (!m) co_return;
    buffer = std::move(back);
    buffer.clear();
  }
}

Task<void> serve(TcpListener& listener, int connections) {
  for (int i = 0; i < connections; ++i) {
    auto s = co_await listener.accept();
    if (!s) co_return;
    keel::async::spawn(echo(std::move(*s))).detach();
  }
}

// Sends `total` pattern bytes (from a writer task) and checks what comes back.
Task<bool> exchange(std::string at, std::size_t total, std::size_t seed) {
  auto c = co_await TcpStream::connect(at);
  if (!c) co_return false;
  TcpStream& s = *c;
  auto writer = keel::async::spawn([](TcpStream& s, std::size_t total, std::size_t seed) -> Task<bool> {
    constexpr std::size_t kChunk = 32 * 1024;
    for (std::size_t off = 0; off < total; off += kChunk) {
      auto [n, _] = co_await s.send_all(Buffer::copy_of(pattern(seed + off, std::min(kChunk, total - off))));
      if (!n) co_return false;
    }
    co_return true;
  }(s, total, seed));
  std::size_t got = 0;
  bool same = true;
  Buffer buffer(64 * 1024);
  while (got < total) {
    auto [n, b] = co_await s.recv(std::move(buffer));
    if (!n || *n == 0) break;
    const std::string_view v = b.view();
    same &= matches_pattern(v, seed + got);
    got += v.size();
    buffer = std::move(b);
    buffer.clear();
  }
  const bool wrote = co_await writer;
  co_return wrote && same && got == total;
}

TEST_P(Io, AThousandConcurrentEchoConnectionsOfOneMiBEach) {
  rlimit fds{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &fds), 0);
  if (fds.rlim_cur < 4096 && fds.rlim_max > fds.rlim_cur) {
    fds.rlim_cur = std::min<rlim_t>(fds.rlim_max, 4096);
    ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &fds), 0);
  }
  constexpr int kConnections = 1000;
  constexpr std::size_t kBytes = std::size_t{1} << 20;
  const int ok = rt().block_on([]() -> Task<int> {
    TcpListener listener = TcpListener::bind("127.0.0.1:0", 4096).value();
    const std::string at = "127.0.0.1:" + std::to_string(listener.local_addr().port());
    auto server = keel::async::spawn(serve(listener, kConnections));
    std::vector<keel::async::JoinHandle<bool>> clients;
    for (int i = 0; i < kConnections; ++i) {
      clients.push_back(keel::async::spawn(exchange(at, kBytes, static_cast<std::size_t>(i) * 977)));
    }
    int ok = 0;
    for (auto& c : clients) ok += co_await c ? 1 : 0;
    co_await server;
    co_return ok;
  }());
  EXPECT_EQ(ok, kConnections);
}

// A client that connects and sends nothing, and one that sends without
// ever reading: the others are served, and the writer is held back by TCP
// (its sends stop completing) instead of the server buffering for it.
TEST_P(Io, IdleAndGreedyClientsCostTheOthersNothing) {
  rt().block_on([]() -> Task<void> {
    TcpListener listener = TcpListener::bind("127.0.0.1:0").value();
    const std::string at = "127.0.0.1:" + std::to_string(listener.local_addr().port());
    auto server = keel::async::spawn(serve(listener, 3));
    TcpStream idle = (co_await TcpStream::connect(at)).value();
    TcpStream greedy = (co_await TcpStream::connect(at)).value();
    auto flood = keel::async::spawn([](TcpStream& s) -> Task<std::size_t> {
      std::size_t sent = 0;
      const Bytes chunk = Buffer::copy_of(pattern(0, 64 * 1024)).freeze();
      for (;;) {
        auto [n, _] = co_await s.send_all(chunk);
        if (!n) co_return sent;
        sent += *n;
      }
    }(greedy));
    co_await keel::async::sleep(50ms);  // the flood fills both directions' socket buffers
    EXPECT_TRUE(co_await exchange(at, 256 * 1024, 5)) << "a well-behaved client was not served";
    // Server state for the flood: one recv buffer and one send in flight, whatever was sent.
    EXPECT_LE(keel::async::Runtime::current()->io_driver().in_use(), 4u);
    flood.abort();
    greedy = TcpStream();
    idle = TcpStream();
    co_await server;
  }());
}

// Out of fds, accept fails with EMFILE for the task that asked; the
// listener accepts again once fds are free.
TEST_P(Io, AcceptOutOfFdsRecoversOnceFdsAreFree) {
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
  rt().block_on([](rlimit saved) -> Task<void> {
    TcpListener listener = TcpListener::bind("127.0.0.1:0").value();
    const std::string at = "127.0.0.1:" + std::to_string(listener.local_addr().port());
    auto first = co_await TcpStream::connect(at);
    CO_ASSERT_TRUE(first.has_value());
    // No fd left for the accepted socket.
    rlimit tight = saved;
    tight.rlim_cur = static_cast<rlim_t>(open_fds()) - 1;  // readdir's own fd counted
    CO_ASSERT_TRUE(::setrlimit(RLIMIT_NOFILE, &tight) == 0);
    std::vector<int> hogs;
    for (int fd; (fd = ::dup(0)) >= 0;) hogs.push_back(fd);
    auto refused = co_await listener.accept();
    for (int fd : hogs) ::close(fd);
    ::setrlimit(RLIMIT_NOFILE, &saved);
    CO_ASSERT_TRUE(!refused);
    EXPECT_TRUE(refused.error() == std::errc::too_many_files_open) << refused.error().message();
    auto accepted = co_await listener.accept();  // the same connection, still queued
    EXPECT_TRUE(accepted.has_value());
  }(saved));
  ::setrlimit(RLIMIT_NOFILE, &saved);
}

TEST_P(Io, IncomingServesManyConnectionsPastItsQuota) {
  constexpr int kClients = 200;
  const int served = rt().block_on([]() -> Task<int> {
    TcpListener listener = TcpListener::bind("127.0.0.1:0").value();
    const std::string at = "127.0.0.1:" + std::to_string(listener.local_addr().port());
    std::vector<keel::async::JoinHandle<bool>> clients;
    for (int i = 0; i < kClients; ++i) {
      clients.push_back(keel::async::spawn(exchange(at, 100, static_cast<std::size_t>(i))));
    }
    auto incoming = listener.incoming(4);  // far fewer than the clients: stopped and armed again
    for (int i = 0; i < kClients; ++i) {
      auto s = co_await incoming.next();
      EXPECT_TRUE(s) << s.error().message();
      if (!s) break;
      keel::async::spawn(echo(std::move(*s))).detach();
    }
    int ok = 0;
    for (auto& c : clients) ok += co_await c ? 1 : 0;
    co_return ok;
  }());
  EXPECT_EQ(served, kClients);
}

// Connections the kernel accepted for a stream that goes before taking
// them are closed, not leaked.
TEST_P(Io, DroppedAcceptStreamClosesWhatItAccepted) {
  const std::size_t before = open_fds();
  rt().block_on([]() -> Task<void> {
    std::vector<TcpStream> clients;
    {
      TcpListener listener = TcpListener::bind("127.0.0.1:0").value();
      const std::string at = "127.0.0.1:" + std::to_string(listener.local_addr().port());
      auto incoming = listener.incoming(64);
      auto first = keel::async::spawn([](keel::async::AcceptStream& in) -> Task<bool> {
        co_return (co_await in.next()).has_value();
      }(incoming));
      for (int i = 0; i < 10; ++i) clients.push_back((co_await TcpStream::connect(at)).value());
      EXPECT_TRUE(co_await first);
      co_await keel::async::sleep(5ms);  // io_uring: the others are accepted and queued
    }
    // Each client sees its server side closed (epoll: the listener's
    // backlog, reset when it closed).
    for (auto& c : clients) {
      auto [n, b] = co_await c.recv(Buffer(8));
      EXPECT_TRUE(!n || *n == 0);
    }
  }());
  EXPECT_EQ(open_fds(), before);
}

bool nodelay_on(const TcpStream& stream) {
  int on = 0;
  socklen_t size = sizeof on;
  return ::getsockopt(stream.fd(), IPPROTO_TCP, TCP_NODELAY, &on, &size) == 0 && on != 0;
}

// Every stream Keel makes has TCP_NODELAY: servers take that for granted
// and do not set it again per connection.
TEST_P(Io, StreamsFromConnectAcceptAndIncomingHaveNodelay) {
  rt().block_on([]() -> Task<void> {
    TcpListener listener = TcpListener::bind("127.0.0.1:0").value();
    const std::string at = "127.0.0.1:" + std::to_string(listener.local_addr().port());
    TcpStream connected = (co_await TcpStream::connect(at)).value();
    TcpStream accepted = (co_await listener.accept()).value();
    auto incoming = listener.incoming(4);
    TcpStream second = (co_await TcpStream::connect(at)).value();
    TcpStream streamed = (co_await incoming.next()).value();
    EXPECT_TRUE(nodelay_on(connected));
    EXPECT_TRUE(nodelay_on(accepted));
    EXPECT_TRUE(nodelay_on(second));
    EXPECT_TRUE(nodelay_on(streamed));
  }());
}

constexpr std::size_t kZcBytes = 1 << 20;

TEST_P(Io, SendZcDeliversEveryByte) {
  rt().block_on([]() -> Task<void> {
    auto [server, client] = co_await connected_pair();
    Bytes payload = Buffer::copy_of(pattern(0, kZcBytes)).freeze();
    auto reader = keel::async::spawn([](TcpStream& s) -> Task<std::size_t> {
      std::size_t got = 0;
      bool same = true;
      while (got < kZcBytes) {
        auto [n, b] = co_await s.recv(Buffer(64 * 1024));
        if (!n || *n == 0) break;
        same &= matches_pattern(b.view(), got);
        got += *n;
      }
      co_return same ? got : 0;
    }(server));
    std::size_t sent = 0;
    while (sent < kZcBytes) {
      const std::size_t offered = payload.size();
      auto [n, back] = co_await client.send_zc(payload);
      CO_ASSERT_TRUE(n.has_value());
      EXPECT_EQ(back.size(), offered);  // the bytes come back (shared), the kernel may still read them
      sent += *n;
      if (sent < kZcBytes) payload = Buffer::copy_of(pattern(sent, kZcBytes - sent)).freeze();
    }
    EXPECT_EQ(co_await reader, kZcBytes);
  }());
  EXPECT_EQ(rt().io_driver().in_use(), 0u) << "a zero-copy send's slot outlived its notification";
}

// Reads until the end of the stream; how many bytes came, or 0 when they
// were not the pattern from position 0.
Task<std::size_t> read_pattern_to_end(TcpStream& s) {
  std::size_t got = 0;
  bool same = true;
  Buffer buffer(64 * 1024);
  for (;;) {
    auto [n, b] = co_await s.recv(std::move(buffer));
    if (!n || *n == 0) break;
    same &= matches_pattern(b.view(), got);
    got += *n;
    buffer = std::move(b);
    buffer.clear();
  }
  co_return same ? got : 0;
}

constexpr std::size_t kSendAllBytes = std::size_t{4} << 20;

// A send buffer far smaller than the message: send_all goes through many
// short sends, and its count is every byte, once, in order.
TEST_P(Io, SendAllOfMoreThanTheSocketHoldsSendsEveryByteInOrder) {
  rt().block_on([]() -> Task<void> {
    auto [server, client] = co_await connected_pair();
    const int small = 64 * 1024;
    CO_ASSERT_TRUE(::setsockopt(client.fd(), SOL_SOCKET, SO_SNDBUF, &small, sizeof small) == 0);
    auto reader = keel::async::spawn(read_pattern_to_end(server));
    auto [n, back] = co_await client.send_all(Buffer::copy_of(pattern(0, kSendAllBytes)));
    CO_ASSERT_TRUE(n.has_value());
    EXPECT_EQ(*n, kSendAllBytes);
    EXPECT_EQ(back.size(), kSendAllBytes);
    auto [m, bytes_back] = co_await client.send_all(Buffer::copy_of(pattern(kSendAllBytes, kSendAllBytes)).freeze());
    CO_ASSERT_TRUE(m.has_value());
    EXPECT_EQ(*m, kSendAllBytes);
    EXPECT_EQ(bytes_back.size(), kSendAllBytes);
    client.shutdown();
    EXPECT_EQ(co_await reader, 2 * kSendAllBytes);
  }());
  EXPECT_EQ(rt().io_driver().in_use(), 0u);
}

// A send_all whose task is aborted while the peer is not reading: what
// reached the peer is a prefix of the message, in order, and nothing is
// sent after the abort; the slot goes once the kernel gives it back.
TEST_P(Io, AbortedSendAllHasSentAPrefixAndNothingAfter) {
  rt().block_on([]() -> Task<void> {
    auto [server, client] = co_await connected_pair();
    auto sender = keel::async::spawn([](TcpStream& s) -> Task<void> {
      co_await s.send_all(Buffer::copy_of(pattern(0, kSendAllBytes)));
    }(client));
    co_await keel::async::sleep(20ms);  // the socket buffers fill; the send waits for room
    EXPECT_FALSE(sender.is_finished());
    sender.abort();
    for (int i = 0; i < 1000 && keel::async::Runtime::current()->io_driver().in_use() > 0; ++i) {
      co_await keel::async::sleep(1ms);
    }
    EXPECT_EQ(keel::async::Runtime::current()->io_driver().in_use(), 0u);
    client.shutdown();
    const std::size_t got = co_await read_pattern_to_end(server);
    EXPECT_GT(got, 0u) << "the bytes that reached the peer are not the message's first bytes";
    EXPECT_LT(got, kSendAllBytes);
  }());
}

// The stream is closed (by another holder) while a send_all waits for
// room: the send_all ends with ECANCELED and its buffer, and no later send
// goes to whatever file takes the fd's number.
TEST_P(Io, SendAllOnAStreamClosedUnderItIsCancelledWithItsBuffer) {
  rt().block_on([]() -> Task<void> {
    auto [server, client] = co_await connected_pair();
    auto sender = keel::async::spawn([](TcpStream& s) -> Task<IoResult<Buffer>> {
      co_return co_await s.send_all(Buffer::copy_of(pattern(0, kSendAllBytes)));
    }(client));
    co_await keel::async::sleep(20ms);
    client = TcpStream();
    auto [n, back] = co_await sender;
    CO_ASSERT_TRUE(!n.has_value());
    EXPECT_EQ(n.error(), std::errc::operation_canceled) << n.error().message();
    EXPECT_EQ(back.size(), kSendAllBytes);
  }());
}

// A peer streams far more than the pool holds; the consumer keeps a few
// buffers at a time. The kernel runs the ring dry (ENOBUFS) and the queue
// hits its quota again and again; the reader sees neither, only the bytes.
TEST_P(Io, RecvStreamThroughAPoolSmallerThanTheLoad) {
  constexpr std::size_t kTotal = std::size_t{16} << 20;
  const bool uring = GetParam() == keel::Backend::IoUring;
  const std::size_t got = rt().block_on([](bool uring) -> Task<std::size_t> {
    auto [server, client] = co_await connected_pair();
    auto writer = keel::async::spawn(stream_pattern(client, kTotal));
    keel::BufferPool pool(4096, 4);
    auto rx = server.recv_stream(pool, 2);
    EXPECT_EQ(rx.multishot(), uring);
    std::vector<Buffer> held;  // the consumer lags: up to 3 buffers out of 4
    std::size_t received = 0;
    bool same = true;
    for (;;) {
      auto b = co_await rx.next();
      EXPECT_TRUE(b.has_value()) << b.error().message();
      if (!b || b->size() == 0) break;
      same &= matches_pattern(b->view(), received);
      received += b->size();
      held.push_back(std::move(*b));
      if (held.size() == 3) held.clear();
      EXPECT_LE(pool.size() - pool.available(), pool.size());
    }
    co_await writer;
    EXPECT_TRUE(same);
    co_return received;
  }(uring));
  EXPECT_EQ(got, kTotal);
  if (uring) {
    const auto& counters = rt().io_driver().counters();
    EXPECT_GT(counters.ring_ran_dry + counters.quota_stops, 0u) << "the pool never limited the multishot";
  }
}

// A RecvStream that goes mid-stream loses nothing: what it (or the kernel
// for it) received comes to the next recv on the TcpStream.
TEST_P(Io, RecvStreamDroppedMidStreamHandsItsBytesToTheNextRecv) {
  constexpr std::size_t kTotal = std::size_t{1} << 20;
  const std::size_t got = rt().block_on([]() -> Task<std::size_t> {
    auto [server, client] = co_await connected_pair();
    auto writer = keel::async::spawn([](TcpStream& c) -> Task<void> {
      co_await c.send_all(Buffer::copy_of(pattern(0, kTotal)));
      c.shutdown();
    }(client));
    keel::BufferPool pool(8192, 8);
    std::size_t received = 0;
    bool same = true;
    for (int round = 0; received < kTotal && round < 1000; ++round) {
      {
        auto rx = server.recv_stream(pool, 4);
        auto b = co_await rx.next();
        if (!b || b->size() == 0) break;
        same &= matches_pattern(b->view(), received);
        received += b->size();
        co_await keel::async::yield_now();  // more arrives for the stream, then it goes
      }
      auto [n, b] = co_await server.recv(Buffer(3000));
      if (!n || *n == 0) break;
      same &= matches_pattern(b.view(), received);
      received += *n;
    }
    co_await writer;
    EXPECT_TRUE(same);
    co_return received;
  }());
  EXPECT_EQ(got, kTotal);
}

// Two streams share one pool: each lends at most its quota, so neither
// takes every buffer from the other; and the TcpStreams move meanwhile.
TEST_P(Io, RecvStreamsShareAPoolAndOutliveAMoveOfTheirStream) {
  constexpr std::size_t kTotal = std::size_t{1} << 20;
  const std::size_t got = rt().block_on([]() -> Task<std::size_t> {
    auto [server_a, client_a] = co_await connected_pair();
    auto [server_b, client_b] = co_await connected_pair();
    auto writer_a = keel::async::spawn(stream_pattern(client_a, kTotal));
    auto writer_b = keel::async::spawn(stream_pattern(client_b, kTotal));
    keel::BufferPool pool(4096, 8);
    auto rx_a = server_a.recv_stream(pool, 2);
    auto rx_b = server_b.recv_stream(pool, 2);
    std::vector<TcpStream> moved;
    moved.push_back(std::move(server_a));  // the streams keep their fds' state, not the objects
    moved.push_back(std::move(server_b));
    std::size_t received[2] = {0, 0};
    bool same = true;
    bool ended[2] = {false, false};
    while (!ended[0] || !ended[1]) {
      for (int i = 0; i < 2; ++i) {
        if (ended[i]) continue;
        auto b = co_await (i == 0 ? rx_a : rx_b).next();
        EXPECT_TRUE(b.has_value());
        if (!b || b->size() == 0) {
          ended[i] = true;
          continue;
        }
        same &= matches_pattern(b->view(), received[i]);
        received[i] += b->size();
      }
    }
    co_await writer_a;
    co_await writer_b;
    EXPECT_TRUE(same);
    co_return received[0] + received[1];
  }());
  EXPECT_EQ(got, 2 * kTotal);
}

TEST(SocketAddr, ParsesAndPrints) {
  auto v4 = keel::async::SocketAddr::parse("127.0.0.1:8080");
  ASSERT_TRUE(v4);
  EXPECT_EQ(v4->port(), 8080);
  EXPECT_EQ(v4->to_string(), "127.0.0.1:8080");
  auto v6 = keel::async::SocketAddr::parse("[::1]:9");
  ASSERT_TRUE(v6);
  EXPECT_TRUE(v6->is_ipv6());
  EXPECT_EQ(v6->to_string(), "[::1]:9");
  for (const char* bad : {"", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "host:80", "1.2.3.4:8x", "[::1:80"}) {
    EXPECT_FALSE(keel::async::SocketAddr::parse(bad)) << bad;
  }
}

// While tasks wait only on their operations (no timer pending), the loop
// waits on the ring for those alone. A readiness of the World's that comes
// during that wait still runs its handler, and what the handler does (here,
// send the byte the task waits for) reaches the task. Each readiness is
// reported once by the watch's multishot poll: one lost in that wait would
// leave the recv waiting, until the watchdog ends the stream.
TEST_P(Io, AWorldsReadinessThatComesWhileTasksWaitOnOperationsRunsItsHandler) {
  keel_test::Fd event = keel_test::make_eventfd();
  std::atomic<int> reply_to{-1};
  int runs = 0;
  world_->resource<keel::Uring>().watch(event.get(), keel::Readable, [&](const keel::Readiness& r) {
    eventfd_t count = 0;
    static_cast<void>(eventfd_read(r.fd, &count));
    ++runs;
    EXPECT_EQ(::send(reply_to.load(), "x", 1, MSG_NOSIGNAL), 1);
  });
  std::atomic<bool> finished{false};
  std::thread watchdog([&] {
    for (int i = 0; i < 1000 && !finished.load(); ++i) std::this_thread::sleep_for(10ms);
    if (!finished.load()) ::shutdown(reply_to.load(), SHUT_RDWR);
  });
  rt().block_on([](std::atomic<int>& reply_to, const int& runs, int event) -> Task<void> {
    auto [server, client] = co_await connected_pair();
    reply_to.store(client.fd());
    for (int round = 1; round <= 20; ++round) {
      keel_test::signal_eventfd(event);  // the handler, once it runs, sends the byte
      auto [n, b] = co_await server.recv(Buffer(16));
      CO_ASSERT_TRUE(n.has_value());
      if (*n == 0) {
        ADD_FAILURE() << "round " << round << ": the readiness never ran its handler (the watchdog ended the stream)";
        co_return;
      }
      EXPECT_EQ(b.view(), "x");
      EXPECT_EQ(runs, round);
    }
  }(reply_to, runs, event.get()));
  finished.store(true);
  watchdog.join();
}

INSTANTIATE_TEST_SUITE_P(Backends, Io, ::testing::Values(keel::Backend::IoUring, keel::Backend::Epoll),
                         keel_test::backend_name);

keel::async::RuntimeOptions with_epoll_bytes_per_poll(std::size_t bytes) {
  keel::async::RuntimeOptions options;
  options.epoll_bytes_per_poll = bytes;
  return options;
}

// One task sends 16 chunks of 2 KiB, which a loopback socket takes at once;
// a reader on the same loop waits for the first bytes. Gives the order of
// the ends: 's' for each send, 'r' for the reader's receive.
std::string sends_and_a_receive(keel::async::Runtime& rt) {
  return rt.block_on([]() -> Task<std::string> {
    auto [server, client] = co_await connected_pair();
    std::string order;
    auto reader = keel::async::spawn([](TcpStream& s, std::string& order) -> Task<void> {
      auto [n, _] = co_await s.recv(Buffer(64 * 1024));
      if (n && *n > 0) order += 'r';
    }(server, order));
    for (std::size_t i = 0; i < 16; ++i) {
      auto [n, _] = co_await client.send(Buffer::copy_of(pattern(i * 2048, 2048)));
      if (!n || *n != 2048) {
        ADD_FAILURE() << "send " << i << " did not send its 2 KiB at once";
        co_return order;
      }
      order += 's';
    }
    co_await reader;
    co_return order;
  }());
}

class IoWithSmallPollAllowance : public keel_test::IoFixture {
 protected:
  IoWithSmallPollAllowance() : IoFixture(with_epoll_bytes_per_poll(8 * 1024)) {}
};

// On epoll a send that finds room ends without waiting; past the bytes
// allowed between two polls (8 KiB here), one is held for the next poll,
// so the reader runs while the sender still has chunks to send. On
// io_uring every send waits for the ring, and the reader runs early too.
TEST_P(IoWithSmallPollAllowance, ASenderThatNeverWaitsLetsTheReaderRunPastTheAllowance) {
  const std::string order = sends_and_a_receive(rt());
  ASSERT_EQ(order.size(), 17u) << order;
  EXPECT_LT(order.find('r'), std::size_t{16}) << "the reader ran only once the sender was done: " << order;
  EXPECT_EQ(driver().in_use(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Backends, IoWithSmallPollAllowance,
                         ::testing::Values(keel::Backend::IoUring, keel::Backend::Epoll), keel_test::backend_name);

class IoWithoutPollAllowance : public keel_test::IoFixture {
 protected:
  IoWithoutPollAllowance() : IoFixture(with_epoll_bytes_per_poll(0)) {}
};

// Zero lifts the limit: on epoll the sender's 16 sends all end before the
// reader runs.
TEST_P(IoWithoutPollAllowance, ASenderThatNeverWaitsRunsToItsEnd) {
  const std::string order = sends_and_a_receive(rt());
  ASSERT_EQ(order.size(), 17u) << order;
  if (!uring()) {
    EXPECT_EQ(order, std::string(16, 's') + 'r');
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, IoWithoutPollAllowance,
                         ::testing::Values(keel::Backend::IoUring, keel::Backend::Epoll), keel_test::backend_name);

}  // namespace

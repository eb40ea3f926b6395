// Orphaned IO completions under ASan (async/internal/io_driver.cc, pattern
// 39 in docs/soundness.md): an operation whose task is destroyed after the
// kernel took it is settled by the driver when its result comes — bytes a
// recv received become leftovers for the next recv (with their sender, for
// a datagram), an fd an accept or an open produced is closed, and a
// zero-copy send keeps its bytes until the kernel's notification that it
// no longer reads them.
//
// Each test abandons operations on both sides of their completion: while
// the kernel has them, and after the result came but before the task
// resumed (the loop is turned by hand with Runtime::tick, so the test
// aborts between the poll that completed the operation and the turn that
// would resume it). Buffers are heap blocks or pool slots whose return is
// counted, so a buffer given up early is read after its free (ASan) or
// comes back to its pool while the slot still names it.
#include <gtest/gtest.h>
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
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
using keel::BufferPool;
using keel::Bytes;
using keel::async::File;
using keel::async::IoResult;
using keel::async::JoinHandle;
using keel::async::RecvFromResult;
using keel::async::Runtime;
using keel::async::Task;
using keel::async::TcpListener;
using keel::async::TcpStream;
using keel::async::UdpSocket;
using keel::async::internal::IoDriver;
using keel_test::connect_to;
using keel_test::connected_pair;
using keel_test::open_fds;
using keel_test::pattern;
using namespace std::chrono_literals;

int unread_bytes(int fd) {
  int n = 0;
  return ::ioctl(fd, FIONREAD, &n) == 0 ? n : -1;
}

class IoOrphans : public keel_test::IoFixture {
 protected:
  // Turns the loop until `done()` or a bound; the tasks the last poll woke
  // have not run yet when it returns.
  template <class F>
  bool turn_until(F done) {
    for (int i = 0; i < 20000; ++i) {
      if (done()) return true;
      rt().tick(1ms);
    }
    return done();
  }
};

// Recvs whose task goes after the peer's bytes reached them (the driver
// has the result, the task was woken but did not run) or while they are
// still in the kernel: the bytes they took come to the next recv, and the
// stream reads exactly what the peer sent.
TEST_P(IoOrphans, RecvsAbandonedAroundTheirCompletionKeepTheirBytes) {
  auto [server, client] = rt().block_on(connected_pair());
  std::string got;
  std::size_t sent = 0;
  for (int i = 0; i < 300; ++i) {
    JoinHandle<IoResult<Buffer>> recv = rt().spawn([](TcpStream& s) -> Task<IoResult<Buffer>> {
      co_return co_await s.recv(Buffer(24));
    }(server));
    rt().tick(0ms);  // the recv is started
    const std::size_t n = 5 + static_cast<std::size_t>(i) % 13;
    const std::string data = pattern(sent, n);
    ASSERT_EQ(::send(client.fd(), data.data(), n, MSG_NOSIGNAL), static_cast<ssize_t>(n));
    sent += n;
    if (i % 2 == 0) {
      // The driver read the bytes; the task is woken but has not run.
      ASSERT_TRUE(turn_until([&] { return unread_bytes(server.fd()) == 0 && driver().in_kernel() == 0; }));
      ASSERT_FALSE(recv.is_finished());
    }
    recv.abort();
    while (got.size() < sent) {
      auto [m, b] = rt().block_on([](TcpStream& s) -> Task<IoResult<Buffer>> { co_return co_await s.recv(Buffer(7)); }(server));
      ASSERT_TRUE(m && *m > 0);
      got += b.view();
    }
  }
  EXPECT_EQ(got, pattern(0, sent));
  EXPECT_TRUE(turn_until([&] { return driver().in_use() == 0; }));
}

// A datagram an abandoned recv_from received is kept whole with its
// sender, and the next recv_from gets both.
TEST_P(IoOrphans, DatagramsOfAbandonedRecvFromsKeepTheirSender) {
  UdpSocket rx = UdpSocket::bind("127.0.0.1:0").value();
  UdpSocket a = UdpSocket::bind("127.0.0.1:0").value();
  UdpSocket b = UdpSocket::bind("127.0.0.1:0").value();
  for (int i = 0; i < 300; ++i) {
    JoinHandle<RecvFromResult> pending = rt().spawn([](UdpSocket& s) -> Task<RecvFromResult> {
      co_return co_await s.recv_from(Buffer(64));
    }(rx));
    rt().tick(0ms);
    UdpSocket& from = i % 2 == 0 ? a : b;
    const std::string data = pattern(static_cast<std::size_t>(i), 10 + static_cast<std::size_t>(i) % 40);
    // Sent past the runtime: no turn of the loop between here and the abort.
    const keel::async::SocketAddr to = rx.local_addr();
    ASSERT_EQ(::sendto(from.fd(), data.data(), data.size(), 0, to.native(), to.native_size()),
              static_cast<ssize_t>(data.size()));
    if (i % 3 != 0) {
      ASSERT_TRUE(turn_until([&] { return unread_bytes(rx.fd()) == 0 && driver().in_kernel() == 0; }));
      ASSERT_FALSE(pending.is_finished());
    }
    pending.abort();
    RecvFromResult r = rt().block_on([](UdpSocket& s) -> Task<RecvFromResult> { co_return co_await s.recv_from(Buffer(64)); }(rx));
    ASSERT_TRUE(r.result.has_value());
    EXPECT_EQ(r.buffer.view(), data);
    EXPECT_EQ(r.from, from.local_addr());
  }
}

// Whether `fd` is readable (a listener: a connection waits to be accepted).
bool readable_now(int fd) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, 0) == 1 && (p.revents & POLLIN) != 0;
}

// Whether the peer ended the connection: end of stream or a reset, within
// a bound that only keeps a broken build from hanging.
bool ended(int fd) {
  pollfd p{fd, POLLIN | POLLRDHUP, 0};
  if (::poll(&p, 1, 5000) != 1) return false;
  char c;
  const ssize_t n = ::recv(fd, &c, 1, MSG_DONTWAIT);
  return n == 0 || (n < 0 && errno == ECONNRESET);
}

// Accepts and opens whose task goes after the kernel produced their fd
// (or while it may still produce one): the fd is closed by the driver —
// the process's fd count is back where it was, and every client sees its
// connection end.
TEST_P(IoOrphans, FdsProducedForAbandonedAcceptsAndOpensAreClosed) {
  const std::string path = ::testing::TempDir() + "/keel_io_orphans_" + keel::to_string(GetParam()).data();
  { keel_test::Fd f(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)); }
  const std::size_t before = open_fds();
  std::vector<keel_test::Fd> clients;
  {
    TcpListener listener = TcpListener::bind("127.0.0.1:0").value();
    for (int i = 0; i < 100; ++i) {
      JoinHandle<bool> accepting = rt().spawn([](TcpListener& l) -> Task<bool> { co_return (co_await l.accept()).has_value(); }(listener));
      rt().tick(0ms);  // the accept is in the kernel (io_uring) or waits for readiness (epoll)
      clients.push_back(connect_to(listener.local_addr()));
      ASSERT_GE(clients.back().get(), 0);
      // Until the accept's result is in: its task woken, not yet run.
      if (i % 2 == 0) {
        ASSERT_TRUE(turn_until([&] { return !readable_now(listener.fd()) && driver().in_kernel() == 0; }));
      }
      ASSERT_FALSE(accepting.is_finished());
      accepting.abort();
      // A connection the aborted accept did not take waits in the backlog:
      // take it, so that the next round starts with none.
      ASSERT_TRUE(turn_until([&] { return driver().in_use() == 0; }));
      if (readable_now(listener.fd())) {
        ASSERT_TRUE(rt().block_on([](TcpListener& l) -> Task<bool> { co_return (co_await l.accept()).has_value(); }(listener)));
      }
    }
    for (int i = 0; i < 100; ++i) {
      JoinHandle<bool> opening = rt().spawn([](std::string p) -> Task<bool> { co_return (co_await File::open(p)).has_value(); }(path));
      rt().tick(0ms);
      if (i % 2 == 0) {
        ASSERT_TRUE(turn_until([&] { return opening.is_finished() || driver().in_kernel() == 0; }));
      }
      opening.abort();
    }
    ASSERT_TRUE(turn_until([&] { return driver().in_use() == 0; }));
  }
  // The listener is closed too: connections no accept took end with it.
  for (keel_test::Fd& c : clients) EXPECT_TRUE(ended(c.get()));
  clients.clear();
  EXPECT_EQ(open_fds(), before);
  ::unlink(path.c_str());
}

// Reads what is there now, without waiting.
void read_available(int fd, std::string& out) {
  char chunk[64 * 1024];
  for (ssize_t n; (n = ::recv(fd, chunk, sizeof chunk, MSG_DONTWAIT)) > 0;) out.append(chunk, static_cast<std::size_t>(n));
}

// Reads until the end of the stream, within a bound that only keeps a
// broken build from hanging.
void read_to_end(int fd, std::string& out) {
  for (;;) {
    pollfd p{fd, POLLIN | POLLRDHUP, 0};
    if (::poll(&p, 1, 5000) != 1) return;
    char chunk[64 * 1024];
    const ssize_t n = ::recv(fd, chunk, sizeof chunk, MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN)) return;
    if (n > 0) out.append(chunk, static_cast<std::size_t>(n));
  }
}

// A zero-copy send abandoned while the kernel sends it — then every other
// reference to its bytes dropped at once — keeps the bytes until the
// kernel's notification: while its slot lives, the bytes' pool slot has
// not come back, and the peer receives an intact prefix of them. Heap
// bytes alternate with pool bytes, so a slot that gave its reference up
// early is a double free (heap) or an over-release (pool) at the final
// release. The socket's buffer is filled first, so the send waits: in the
// kernel on io_uring, for writability on epoll (where the send is a plain
// one and its bytes may go as soon as it is abandoned).
TEST_P(IoOrphans, AnAbandonedZeroCopySendKeepsItsBytesUntilTheNotification) {
  constexpr std::size_t kBytes = std::size_t{1} << 20;
  BufferPool pool(kBytes, 1);
  std::size_t held_while_in_use = 0;
  for (int round = 0; round < 24; ++round) {
    auto [server, client] = rt().block_on(connected_pair());
    // A small send buffer; the peer's receive buffer stays as it is (a
    // shrunk window would slow the drain to zero-window probes).
    const int small = 16 * 1024;
    ASSERT_EQ(::setsockopt(client.fd(), SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
    const bool pooled = round % 2 == 0;
    const std::string data = pattern(static_cast<std::size_t>(round) * 101, kBytes);
    // Filled until it stays full for a while: the send then waits.
    std::size_t filled = 0;
    while (filled < kBytes) {
      const ssize_t n = ::send(client.fd(), data.data() + filled, std::min<std::size_t>(4096, kBytes - filled),
                               MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n > 0) {
        filled += static_cast<std::size_t>(n);
        continue;
      }
      pollfd writable{client.fd(), POLLOUT, 0};
      if (::poll(&writable, 1, 5) == 0) break;
    }
    ASSERT_LT(filled, kBytes);
    Buffer b = pooled ? pool.try_acquire().value() : Buffer(kBytes);
    b.append(data);
    Bytes rest = std::move(b).freeze().slice(filled, kBytes - filled);
    JoinHandle<IoResult<Bytes>> sending = rt().spawn([](TcpStream& s, Bytes bytes) -> Task<IoResult<Bytes>> {
      co_return co_await s.send_zc(std::move(bytes));
    }(client, std::move(rest)));
    for (int t = 0; t <= round % 4; ++t) rt().tick(0ms);
    if (sending.is_finished()) {
      // The connection drained enough for a short send: nothing was abandoned this round.
      auto [n, back] = rt().block_on([](JoinHandle<IoResult<Bytes>>& h) -> Task<IoResult<Bytes>> { co_return co_await h; }(sending));
      EXPECT_TRUE(n.has_value());
    }
    sending.abort();  // the slot's reference, if the send is still on, is now the only one
    // The peer reads while the slot settles.
    std::string received;
    ASSERT_TRUE(turn_until([&] {
      if (pooled && driver().in_use() > 0) {
        EXPECT_EQ(pool.available(), 0u) << "the bytes went back to their pool while the kernel may read them";
        ++held_while_in_use;
      }
      read_available(server.fd(), received);
      return driver().in_use() == 0;
    }));
    if (pooled) {
      EXPECT_EQ(pool.available(), 1u);
      // Reusing the bytes' storage now cannot change what the peer gets.
      Buffer scribble = pool.try_acquire().value();
      scribble.append(std::string(kBytes, 'Z'));
    }
    EXPECT_FALSE(client.shutdown());
    read_to_end(server.fd(), received);
    EXPECT_GE(received.size(), filled);
    EXPECT_LE(received.size(), kBytes);
    EXPECT_TRUE(received == data.substr(0, received.size())) << "round " << round;
  }
  if (GetParam() == keel::Backend::IoUring) {
    EXPECT_GT(held_while_in_use, 0u) << "no abandoned send outlived its task: the test did not exercise the hold";
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, IoOrphans, ::testing::Values(keel::Backend::IoUring, keel::Backend::Epoll),
                         keel_test::backend_name);

}  // namespace

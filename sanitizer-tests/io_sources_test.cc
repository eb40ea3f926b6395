// IO sources and slot lists under ASan (async/internal/io_driver.h,
// pattern 41 in docs/soundness.md): an IoSource — an fd and what its
// operations share — is counted by its object, by each slot naming it and
// by each stream over it, and freed by the last; the runtime may go before
// any of them. Slots wait in intrusive lists on their source (reads held
// behind an orphaned read, epoll's waiting readers and writers, the
// in-flight operations close() cancels) and leave them in any order.
//
// A source freed while a slot, a stream or an object still names it is a
// heap-use-after-free when that one goes; one never freed leaks (LSan); a
// slot left linked after it was released is reached through a freed or
// reused neighbour. What the sources hold outside the heap is counted by
// hand: the process's fds, the pool's buffers, and what the World's Uring
// still has registered for a runtime that is gone (its fds in the epoll set, its
// provided-buffer groups), which a second runtime on the same World finds.
#include <gtest/gtest.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <optional>
#include <random>
#include <stdexcept>
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
using keel::async::AcceptStream;
using keel::async::ConnectOp;
using keel::async::File;
using keel::async::IoResult;
using keel::async::JoinHandle;
using keel::async::RecvStream;
using keel::async::Runtime;
using keel::async::SocketAddr;
using keel::async::Task;
using keel::async::TcpListener;
using keel::async::TcpStream;
using keel::async::UdpSocket;
using keel::async::internal::IoDriver;
using keel_test::connect_to;
using keel_test::connected_pair;
using keel_test::heap_frames;
using keel_test::open_fds;
using keel_test::pattern;
using keel_test::recv_into;
using keel_test::settled;
using namespace std::chrono_literals;

// Waits (turning the loop) until no operation is in the kernel.
Task<bool> out_of_kernel(IoDriver& driver) {
  for (int i = 0; i < 100000 && driver.in_kernel() > 0; ++i) co_await keel::async::sleep(10us);
  co_return driver.in_kernel() == 0;
}

// One of each IO object, held outside the runtime's tasks.
struct Objects {
  std::optional<TcpListener> listener;
  std::optional<AcceptStream> incoming;
  std::optional<TcpStream> accepted, server, client;
  std::optional<RecvStream> rx;
  std::optional<UdpSocket> udp;
  std::optional<File> file;
  std::vector<keel_test::Fd> clients;
};

class IoSources : public keel_test::IoFixture {};

// Every kind of IO object, and both streams, made by a runtime that is
// then destroyed: the multishot accept stopped at its quota with accepted
// connections queued, the multishot recv stopped with bytes queued and the
// pool's buffers lent to its ring, a recv in flight, fds in the epoll set of the
// World's Uring. Afterwards the objects refuse operations, and are
// destroyed in an order the runtime would not allow (streams after their
// objects, sockets before their streams). Then every fd is closed, every
// pool buffer is back, and a second runtime on the same World watches the
// same fd numbers and registers a provided-buffer ring again.
TEST_P(IoSources, ObjectsOutlivingTheirRuntimeAreDestroyedAfterIt) {
  const std::string path = ::testing::TempDir() + "/keel_io_sources_" + keel::to_string(GetParam()).data();
  { keel_test::Fd f(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)); }
  BufferPool pool(2048, 8);
  const std::size_t before = open_fds();
  {
    Objects o;
    o.listener.emplace(TcpListener::bind("127.0.0.1:0").value());  // outside any task: the thread's runtime
    o.incoming.emplace(o.listener->incoming(2));
    rt().block_on([](Objects& o, BufferPool& pool, std::string path, IoDriver& driver) -> Task<void> {
      for (int i = 0; i < 5; ++i) o.clients.push_back(connect_to(o.listener->local_addr()));
      auto first = co_await o.incoming->next();
      CO_ASSERT_TRUE(first.has_value());
      o.accepted.emplace(std::move(*first));
      auto [s, c] = co_await connected_pair();
      o.server.emplace(std::move(s));
      o.client.emplace(std::move(c));
      o.rx.emplace(o.server->recv_stream(pool, 1));
      co_await o.client->send_all(Buffer::copy_of(pattern(0, 1000)));
      auto got = co_await o.rx->next();
      CO_ASSERT_TRUE(got.has_value());
      EXPECT_EQ(got->view(), pattern(0, got->size()));
      co_await o.client->send_all(Buffer::copy_of(pattern(1000, 1000)));
      // Both multishots stop at their quota with results queued.
      CO_ASSERT_TRUE(co_await out_of_kernel(driver));
      o.udp.emplace(UdpSocket::bind("127.0.0.1:0").value());
      auto opened = co_await File::open(path);
      CO_ASSERT_TRUE(opened.has_value());
      o.file.emplace(std::move(*opened));
      // A recv left in flight (waiting on epoll), destroyed with the runtime.
      keel::async::spawn(recv_into(*o.client, Buffer(64))).detach();
      co_await keel::async::yield_now();
    }(o, pool, path, rt().io_driver()));
    EXPECT_EQ(o.incoming->multishot(), uring());
    EXPECT_EQ(o.rx->multishot(), uring());
    rt_.reset();

    EXPECT_THROW(static_cast<void>(o.server->recv(Buffer(8))), std::logic_error);
    EXPECT_THROW(static_cast<void>(o.listener->accept()), std::logic_error);
    EXPECT_THROW(static_cast<void>(o.udp->recv_from(Buffer(8))), std::logic_error);
    EXPECT_THROW(static_cast<void>(o.file->read_at(Buffer(8), 0)), std::logic_error);
    EXPECT_THROW(static_cast<void>(o.server->recv_stream(pool)), std::logic_error);
    o.server.reset();    // before its RecvStream
    o.listener.reset();  // before its AcceptStream
    o.udp.reset();
    o.rx.reset();
    o.incoming.reset();
    o.accepted.reset();
    o.file.reset();
    o.client.reset();
    o.clients.clear();
  }
  EXPECT_EQ(open_fds(), before) << "an fd accepted, opened or made for the runtime that is gone stayed open";
  EXPECT_EQ(pool.available(), pool.size());

  rt_.emplace(*world_, heap_frames());
  rt().block_on([](BufferPool& pool, bool uring) -> Task<void> {
    auto [server, client] = co_await connected_pair();  // on epoll, watched on fd numbers used before
    auto waiting = keel::async::spawn(recv_into(client, Buffer(16)));
    co_await keel::async::yield_now();
    co_await server.send_all(Buffer::copy_of("after"));
    auto [n, b] = co_await waiting;
    EXPECT_EQ(b.view(), "after");
    RecvStream rx = server.recv_stream(pool);
    EXPECT_EQ(rx.multishot(), uring) << "the ring's buffer group is still registered for the runtime that is gone";
    co_await client.send_all(Buffer::copy_of("ring"));
    auto got = co_await rx.next();
    CO_ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->view(), "ring");
  }(pool, uring()));
  ::unlink(path.c_str());
}

// Moved-from objects own nothing: their operations throw, their
// destruction closes nothing, and moving onto an open object closes the
// old fd once. An operation moved before it is awaited hands its source
// over: a moved connect leaves its socket to the operation it moved to.
TEST_P(IoSources, MovedFromObjectsAndOperationsOwnNothing) {
  const std::size_t before = open_fds();
  rt().block_on([](IoDriver& driver) -> Task<void> {
    auto [server, client] = co_await connected_pair();
    TcpStream moved = std::move(server);
    EXPECT_FALSE(server.is_open());
    EXPECT_EQ(server.fd(), -1);
    EXPECT_THROW(static_cast<void>(server.recv(Buffer(8))), std::logic_error);
    EXPECT_THROW(static_cast<void>(server.send(Buffer::copy_of("x"))), std::logic_error);
    TcpStream assigned;
    assigned = std::move(client);  // onto an empty stream
    auto [a, b] = co_await connected_pair();
    assigned = std::move(a);  // onto an open one: the client's fd closes
    auto [n, got] = co_await moved.recv(Buffer(8));
    EXPECT_TRUE(n.has_value() && *n == 0) << "the peer was closed by the assignment";

    TcpListener listener = TcpListener::bind("127.0.0.1:0").value();
    const SocketAddr at = listener.local_addr();
    TcpListener listener2 = std::move(listener);
    EXPECT_EQ(listener.fd(), -1);
    EXPECT_THROW(static_cast<void>(listener.accept()), std::logic_error);
    EXPECT_THROW(static_cast<void>(listener.incoming()), std::logic_error);
    {
      AcceptStream incoming = listener2.incoming(4);
      AcceptStream incoming2 = std::move(incoming);  // the moved-from stream goes first, owning nothing
      auto accepting = keel::async::spawn([](AcceptStream& s) -> Task<bool> { co_return (co_await s.next()).has_value(); }(incoming2));
      keel_test::Fd c = connect_to(at);
      EXPECT_TRUE(co_await accepting);
    }
    {
      BufferPool pool(512, 4);
      RecvStream rx = b.recv_stream(pool);
      std::optional<RecvStream> rx2(std::move(rx));
      co_await assigned.send_all(Buffer::copy_of("moved"));
      auto got2 = co_await rx2->next();
      CO_ASSERT_TRUE(got2.has_value());
      EXPECT_EQ(got2->view(), "moved");
      rx2.reset();  // the moved-to stream goes first, the moved-from one at scope end
    }

    // An operation moved before it is awaited.
    for (int i = 0; i < 50; ++i) {
      ConnectOp op = TcpStream::connect(at);
      ConnectOp moved_op(std::move(op));
      auto c = co_await moved_op;
      CO_ASSERT_TRUE(c.has_value());
      auto s = co_await listener2.accept();
      CO_ASSERT_TRUE(s.has_value());
      auto [sent, _] = co_await c->send(Buffer::copy_of("op"));
      EXPECT_EQ(sent.value_or(0), 2u);
    }  // each `op`, moved from, goes after the stream it handed its socket to
    {
      ConnectOp never = TcpStream::connect(at);
      ConnectOp moved_never(std::move(never));  // neither awaited: the socket closes once
    }
    auto recv = moved.recv(Buffer(8));
    auto recv_moved = std::move(recv);
    co_await assigned.send_all(Buffer::copy_of("late"));
    auto [m, late] = co_await recv_moved;
    EXPECT_TRUE(!m || *m == 0) << "moved's peer is closed";
    EXPECT_TRUE(co_await settled(driver));
  }(rt().io_driver()));
  EXPECT_EQ(open_fds(), before);
}

// Many reads wait on one stream — held behind an orphaned read on
// io_uring, in the readiness list on epoll — and leave the list in a
// random order (aborted); the rest get the bytes that come, in the order
// they were sent. Then streams closed with reads and writes waiting on
// them end those with ECANCELED and free their slots.
TEST_P(IoSources, SlotsLeaveTheirSourcesListsInAnyOrder) {
  rt().block_on([](IoDriver& driver) -> Task<void> {
    auto [server, client] = co_await connected_pair();
    std::mt19937 rng(7);
    std::string got;
    std::size_t sent = 0;
    for (int round = 0; round < 200; ++round) {
      // An orphaned read first, so that the others are held (io_uring).
      auto orphan = keel::async::spawn(recv_into(server, Buffer(8)));
      co_await keel::async::yield_now();
      orphan.abort();
      std::vector<JoinHandle<IoResult<Buffer>>> readers;
      for (int i = 0; i < 8; ++i) readers.push_back(keel::async::spawn(recv_into(server, Buffer(8))));
      co_await keel::async::yield_now();
      std::vector<std::size_t> order(readers.size());
      for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
      std::shuffle(order.begin(), order.end(), rng);
      std::vector<bool> aborted(readers.size(), false);
      const std::size_t aborts = rng() % readers.size();
      for (std::size_t k = 0; k < aborts; ++k) {
        readers[order[k]].abort();
        aborted[order[k]] = true;
      }
      // A read's worth for every reader still there, and some to spare
      // should the bytes come in pieces; the spare is read below.
      const std::string data = pattern(sent, (readers.size() - aborts) * 8 + 64);
      co_await client.send_all(Buffer::copy_of(data));
      sent += data.size();
      for (std::size_t i = 0; i < readers.size(); ++i) {
        if (aborted[i]) continue;
        auto [n, b] = co_await readers[i];
        CO_ASSERT_TRUE(n && *n > 0);
        got += b.view();
      }
      // Reads' order among themselves is not defined: compare the bytes as a multiset at the end of each round.
      while (got.size() < sent) {
        auto [n, b] = co_await server.recv(Buffer(64));
        CO_ASSERT_TRUE(n && *n > 0);
        got += b.view();
      }
      std::string expect = pattern(sent - data.size(), data.size());
      std::string have = got.substr(sent - data.size());
      std::sort(expect.begin(), expect.end());
      std::sort(have.begin(), have.end());
      EXPECT_EQ(have, expect) << "round " << round;
    }
    CO_ASSERT_TRUE(co_await settled(driver));

    // Closing a stream with operations waiting on it.
    for (int round = 0; round < 50; ++round) {
      auto [a, b] = co_await connected_pair();
      const int small = 4096;
      ::setsockopt(a.fd(), SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
      auto orphan = keel::async::spawn(recv_into(a, Buffer(8)));
      co_await keel::async::yield_now();
      orphan.abort();
      std::vector<JoinHandle<IoResult<Buffer>>> waiting;
      for (int i = 0; i < 4; ++i) waiting.push_back(keel::async::spawn(recv_into(a, Buffer(8))));
      auto writer = keel::async::spawn([](TcpStream& s) -> Task<IoResult<Buffer>> {
        co_return co_await s.send(Buffer::copy_of(std::string(1 << 20, 'w')));
      }(a));
      co_await keel::async::yield_now();
      co_await keel::async::yield_now();
      a = TcpStream();  // closes: the waiting operations end
      for (auto& w : waiting) {
        auto [n, buffer] = co_await w;
        EXPECT_FALSE(n.has_value());
        EXPECT_EQ(buffer.capacity(), 8u);
      }
      auto [m, big] = co_await writer;
      EXPECT_EQ(big.size(), std::size_t{1} << 20) << "the send's buffer comes back";
    }
    CO_ASSERT_TRUE(co_await settled(driver));
  }(rt().io_driver()));
}

// epoll: a source's readiness comes to the driver named by an entry of
// its table of watched sources and the entry's generation. Closing a
// stream ends its watch and frees the source at once when no operation
// holds it; a readiness for it that epoll reported in the same batch, to
// be dispatched after the handler that closed it, must find no source (a
// heap-use-after-free otherwise). The freed entry then serves the next
// stream watched, whose own readiness reaches its recv.
TEST_P(IoSources, AReadinessCollectedForAStreamClosedBeforeItsDispatchIsDropped) {
  if (uring()) GTEST_SKIP() << "io_uring's streams wait on completions, not on readiness";
  std::optional<TcpStream> closed, reused, peer_of_closed, peer_of_reused;
  // Watched: a recv that found nothing waits for readiness, then completes.
  auto watched_pair = [](std::optional<TcpStream>& server, std::optional<TcpStream>& client) -> Task<void> {
    auto [s, c] = co_await connected_pair();
    auto read = keel::async::spawn(recv_into(s, Buffer(8)));
    co_await keel::async::yield_now();
    co_await c.send_all(Buffer::copy_of("x"));
    auto [n, b] = co_await read;
    CO_ASSERT_TRUE(n && *n == 1);
    server.emplace(std::move(s));
    client.emplace(std::move(c));
  };
  rt().block_on(watched_pair(closed, peer_of_closed));
  ASSERT_TRUE(closed && peer_of_closed);

  keel_test::Fd event = keel_test::make_eventfd();
  int handler_runs = 0;
  world_->resource<keel::Uring>().watch(event.get(), keel::Readable, [&](const keel::Readiness& r) {
    ++handler_runs;
    eventfd_t value = 0;
    eventfd_read(r.fd, &value);
    closed.reset();  // ends the watch and frees the source: no operation holds it
  });
  // The eventfd first, then the stream: epoll reports them in that order,
  // and the poll dispatches them in it.
  keel_test::signal_eventfd(event.get());
  ASSERT_EQ(::send(peer_of_closed->fd(), "y", 1, MSG_NOSIGNAL), 1);
  poller_->poll(*world_, 0ms);
  EXPECT_EQ(handler_runs, 1);
  EXPECT_FALSE(closed.has_value());

  // The next watched stream takes the freed entry, with a new generation.
  rt().block_on(watched_pair(reused, peer_of_reused));
  ASSERT_TRUE(reused && peer_of_reused);
  rt().block_on([](TcpStream& s, TcpStream& peer) -> Task<void> {
    auto read = keel::async::spawn(recv_into(s, Buffer(8)));
    co_await keel::async::yield_now();
    co_await peer.send_all(Buffer::copy_of("z"));
    auto [n, b] = co_await read;
    CO_ASSERT_TRUE(n && *n == 1);
    EXPECT_EQ(b.view(), "z");
  }(*reused, *peer_of_reused));
}

INSTANTIATE_TEST_SUITE_P(Backends, IoSources, ::testing::Values(keel::Backend::IoUring, keel::Backend::Epoll),
                         keel_test::backend_name);

}  // namespace

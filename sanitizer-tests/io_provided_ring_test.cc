// Provided-buffer rings under ASan (async/internal/io_driver.cc, pattern
// 40 in docs/soundness.md): a RecvStream's multishot recv reads into
// buffers lent from a BufferPool through a ring mapped into the kernel;
// each lent Buffer stays owned by the ring's table until a completion names
// its buffer id or the ring is unregistered, and then goes to the reader,
// to the stream's leftovers, or back to its pool — also when the kernel
// picked it for a multishot that was cancelled.
//
// The pool's count is the witness: once every stream, reader and leftover
// is gone, `available() == size()`; a buffer lost, kept, or given back
// twice leaves it short (or trips the pool's own checks), and a buffer
// returned while the kernel could still fill it is read by a later reader
// with bytes that break the stream's pattern. On epoll a RecvStream reads
// one pool buffer per next(), and the same counts hold.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <memory>
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
using keel::async::JoinHandle;
using keel::async::RecvStream;
using keel::async::Runtime;
using keel::async::Task;
using keel::async::TcpListener;
using keel::async::TcpStream;
using keel::async::internal::IoDriver;
using keel_test::connected_pair;
using keel_test::heap_frames;
using keel_test::pattern;
using keel_test::settled;
using namespace std::chrono_literals;

// Sends `total` pattern bytes, then ends the stream.
Task<void> write_pattern(TcpStream& c, std::size_t total) {
  constexpr std::size_t kChunk = 64 * 1024;
  for (std::size_t off = 0; off < total; off += kChunk) {
    auto [n, _] = co_await c.send_all(Buffer::copy_of(pattern(off, std::min(kChunk, total - off))));
    if (!n) co_return;
  }
  c.shutdown();
}

class IoProvidedRing : public keel_test::IoFixture {};

// Streams made and dropped over one connection, thousands of times: with
// their multishot in the kernel or stopped, buffers lent to the ring,
// results queued, a next() aborted in a task, buffers the reader still
// holds. Between streams a plain recv reads on. The bytes arrive exactly
// once and in order, and when the connection ends every pool buffer is
// back.
TEST_P(IoProvidedRing, StreamsDroppedMidStreamGiveEveryBufferBack) {
  constexpr std::size_t kTotal = std::size_t{1} << 20;
  BufferPool pool(4096, 8);
  std::string got;
  rt().block_on([](BufferPool& pool, std::string& got, IoDriver& driver, bool uring) -> Task<void> {
    auto [server, client] = co_await connected_pair();
    auto writer = keel::async::spawn(write_pattern(client, kTotal));
    std::vector<Buffer> held;
    bool end = false;
    for (int round = 0; !end && round < 5000; ++round) {
      {
        RecvStream rx = server.recv_stream(pool, 1 + static_cast<std::size_t>(round) % 4);
        EXPECT_EQ(rx.multishot(), uring);
        for (int t = 0; !end && t <= round % 3; ++t) {
          auto b = co_await rx.next();
          EXPECT_TRUE(b.has_value()) << b.error().message();
          if (!b || b->size() == 0) {
            end = true;
            break;
          }
          got += b->view();
          if (round % 2 == 0) held.push_back(std::move(*b));  // kept past the stream
        }
        if (!end && round % 5 == 0) {
          JoinHandle<std::optional<Buffer>> pending = keel::async::spawn([](RecvStream& r) -> Task<std::optional<Buffer>> {
            auto b = co_await r.next();
            if (!b) co_return std::nullopt;
            co_return std::move(*b);
          }(rx));
          co_await keel::async::yield_now();
          if (pending.is_finished()) {
            std::optional<Buffer> b = co_await pending;
            if (!b || b->size() == 0) end = true;
            else got += b->view();
          } else {
            pending.abort();  // its result, if one came, stays queued for the stream's leftovers
          }
        }
      }
      held.clear();
      if (!end) {
        auto [n, b] = co_await server.recv(Buffer(3000));
        EXPECT_TRUE(n.has_value());
        if (!n || *n == 0) end = true;
        else got += b.view();
      }
    }
    co_await writer;
    EXPECT_TRUE(co_await settled(driver));
  }(pool, got, rt().io_driver(), uring()));
  EXPECT_EQ(got.size(), kTotal);
  EXPECT_TRUE(got == pattern(0, kTotal));
  EXPECT_EQ(pool.available(), pool.size());
}

// The pool goes right after its stream, while the dropped stream's
// multishot is still in the kernel, its ring still lends the pool's
// buffers and the reader still holds one: the buffers outlive the pool
// (they keep its storage), the ring is unregistered at the final
// completion without reaching the pool, and the bytes the kernel put in
// them reach the next recv. The reader's buffer leaves the ring a free
// entry, so a ring that asked the destroyed pool to fill it would be a
// heap-use-after-free.
TEST_P(IoProvidedRing, APoolDestroyedWhileTheRingStillLendsItsBuffers) {
  std::size_t in_kernel_at_pool_death = 0;
  rt().block_on([](std::size_t& in_kernel_at_pool_death, IoDriver& driver) -> Task<void> {
    auto [server, client] = co_await connected_pair();
    std::string got;
    std::size_t sent = 0;
    for (int round = 0; round < 300; ++round) {
      // A little at a time: the multishot is left waiting for more.
      const std::size_t n = 500 + static_cast<std::size_t>(round) * 37 % 3000;
      auto [written, _] = co_await client.send_all(Buffer::copy_of(pattern(sent, n)));
      CO_ASSERT_TRUE(written.has_value());
      sent += n;
      auto pool = std::make_unique<BufferPool>(2048, 4);
      std::optional<Buffer> kept;  // the reader's buffer outlives the pool
      {
        RecvStream rx = server.recv_stream(*pool, 2);
        auto b = co_await rx.next();
        CO_ASSERT_TRUE(b.has_value() && b->size() > 0);
        kept = std::move(*b);
      }
      if (driver.in_kernel() > 0) ++in_kernel_at_pool_death;
      pool.reset();
      got += kept->view();
      kept.reset();
      while (got.size() < sent) {
        auto [m, b] = co_await server.recv(Buffer(4096));
        CO_ASSERT_TRUE(m && *m > 0);
        got += b.view();
      }
    }
    EXPECT_TRUE(got == pattern(0, sent));
    EXPECT_TRUE(co_await settled(driver));
  }(in_kernel_at_pool_death, rt().io_driver()));
  if (uring()) {
    EXPECT_GT(in_kernel_at_pool_death, 0u) << "no pool died under a multishot in the kernel";
  }
}

// A runtime destroyed while a task waits in next() — the multishot armed,
// its ring lending buffers, results queued — gives every buffer back to
// the pool, which outlives the runtime: the task's stream is dropped with
// its frame, the shutdown reaps the multishot's last completion and
// unregisters the ring, and queued bytes go with the closed TcpStream.
TEST_P(IoProvidedRing, ARuntimeDestroyedWhileItsRingLendsBuffersGivesThemBack) {
  BufferPool pool(1024, 16);
  for (int round = 0; round < 20; ++round) {
    std::optional<TcpStream> peer;  // outlives the runtime: the reader sees no end of stream
    rt_.emplace(*world_, heap_frames());
    rt().block_on([](BufferPool& pool, int round, std::optional<TcpStream>& peer) -> Task<void> {
      auto [server, client] = co_await connected_pair();
      TcpStream& c = peer.emplace(std::move(client));
      auto reader = [](TcpStream s, BufferPool& pool) -> Task<void> {
        RecvStream rx = s.recv_stream(pool, 4);
        for (;;) {
          auto b = co_await rx.next();
          if (!b || b->size() == 0) co_return;
        }
      };
      keel::async::spawn(reader(std::move(server), pool)).detach();
      co_await keel::async::yield_now();
      // Some rounds leave bytes queued in the stream (more than its quota).
      if (round % 2 == 0) co_await c.send_all(Buffer::copy_of(pattern(0, 10000)));
      co_await keel::async::sleep(1ms);
      EXPECT_LT(pool.available(), pool.size());
    }(pool, round, peer));
    rt_.reset();
    peer.reset();
    EXPECT_EQ(pool.available(), pool.size()) << "round " << round;
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, IoProvidedRing, ::testing::Values(keel::Backend::IoUring, keel::Backend::Epoll),
                         keel_test::backend_name);

}  // namespace

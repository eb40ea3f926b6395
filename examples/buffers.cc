// Owned buffers (docs/buffers.md): a Buffer filled by a read and parsed in
// place, frozen into Bytes that are sliced and shared without copying, a
// BufferPool feeding a task that reads datagrams and hands them to a worker
// thread, and Bytes that outlive their pool. The numbered comments match
// what it prints.
//
//   bazel run //examples:buffers
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <expected>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

#include "async/buffer.h"
#include "async/buffer_pool.h"
#include "async/channel.h"
#include "async/runtime.h"
#include "async/task.h"
#include "rt/world.h"

namespace {

// An operation in the shape of Keel's IO operations: it owns the buffer
// while it runs and gives it back with its result, on success and on
// error alike.
struct ReadResult {
  long result;  // bytes read, 0 at the end, or -errno
  keel::Buffer buffer;
};

ReadResult read_some(int fd, keel::Buffer buffer) {
  std::span<std::byte> room = buffer.spare_capacity();  // write-only until committed
  const ssize_t n = ::read(fd, room.data(), room.size());
  if (n > 0) buffer.commit(static_cast<std::size_t>(n));  // the bytes read join the contents
  return {n < 0 ? -errno : static_cast<long>(n), std::move(buffer)};
}

// 1. A line protocol read in chunks that split lines: complete lines are
// handled in place, the incomplete tail moves to the front for the next read.
int count_lines(int fd) {
  int lines = 0;
  keel::Buffer buf(32);  // smaller than the text: lines arrive split across reads
  for (;;) {
    ReadResult r = read_some(fd, std::move(buf));
    buf = std::move(r.buffer);  // back from the operation, whatever happened
    if (r.result <= 0) break;
    std::size_t done = 0;
    for (std::size_t end; (end = buf.view().find('\n', done)) != std::string_view::npos; done = end + 1) {
      ++lines;  // buf.view().substr(done, end - done) is one line
    }
    buf.consume(done);  // keeps the partial line
  }
  return lines;
}

// 3. A task reads datagrams into pooled buffers and sends them, frozen, to
// a worker thread. When the worker holds every buffer, acquire() waits:
// the reader slows down instead of allocating.
keel::async::Task<int> read_datagrams(int fd, keel::BufferPool& pool, keel::async::spsc::Sender<keel::Bytes>& to_worker,
                                      int datagrams) {
  int sent = 0;
  for (int i = 0; i < datagrams; ++i) {
    keel::Buffer buf = co_await pool.acquire();
    ReadResult r = read_some(fd, std::move(buf));
    if (r.result <= 0) break;                          // r.buffer goes back to the pool here
    keel::Bytes datagram = std::move(r.buffer).freeze();  // no copy, no allocation
    if (!co_await to_worker.send(std::move(datagram))) break;
    ++sent;
  }
  co_return sent;
}

}  // namespace

int main() {
  // 1. Reading into a Buffer.
  int pipe_fds[2];
  if (::pipe(pipe_fds) != 0) return 1;
  const std::string_view text = "BUY 10 ESZ5 @ 5012.25\nSELL 4 NQZ5 @ 17950.5\nBUY 1 ESZ5 @ 5012.5\n";
  if (::write(pipe_fds[1], text.data(), text.size()) != static_cast<ssize_t>(text.size())) return 1;
  ::close(pipe_fds[1]);
  std::printf("1. %d lines read through a 32-byte buffer\n", count_lines(pipe_fds[0]));
  ::close(pipe_fds[0]);

  // 2. Freezing: a Buffer becomes Bytes, shared and sliced without copies.
  keel::Buffer order = keel::Buffer::copy_of("35=D|55=ESZ5|38=10");
  keel::Bytes frozen = std::move(order).freeze();
  keel::Bytes symbol = frozen.slice(8, 4);  // shares the storage
  keel::Bytes copy = frozen;                // a count, not a copy of the bytes
  std::printf("2. symbol %.*s, %zu owners of one storage\n", static_cast<int>(symbol.size()), symbol.view().data(),
              frozen.use_count());

  // 3. A pool, a task and a worker thread.
  int sockets[2];
  if (::socketpair(AF_UNIX, SOCK_DGRAM, 0, sockets) != 0) return 1;
  constexpr int kDatagrams = 64;
  for (int i = 0; i < kDatagrams; ++i) {
    const std::string d = "tick " + std::to_string(i);
    if (::send(sockets[1], d.data(), d.size(), 0) < 0) return 1;
  }
  keel::World world = keel::WorldBuilder().build();
  keel::async::Runtime rt(world);
  keel::BufferPool pool(/*buffer_size=*/512, /*count=*/4);
  auto [tx, rx] = keel::async::spsc::channel<keel::Bytes>(2);
  std::thread worker([rx = std::move(rx)]() mutable {
    std::size_t bytes = 0;
    for (;;) {
      std::expected<keel::Bytes, keel::async::TryRecvError> d = rx.try_recv();
      if (d) {
        bytes += d->size();  // d goes out of scope: its buffer returns to the pool
      } else if (d.error() == keel::async::TryRecvError::closed) {
        break;
      } else {
        std::this_thread::yield();
      }
    }
    std::printf("   worker: %zu bytes\n", bytes);
  });
  const int sent = rt.block_on(read_datagrams(sockets[0], pool, tx, kDatagrams));
  { auto done = std::move(tx); }  // the last sender goes: the worker sees the end
  worker.join();
  std::printf("3. %d datagrams through %zu pooled buffers; %zu of them free again\n", sent, pool.size(),
              pool.available());
  ::close(sockets[0]);
  ::close(sockets[1]);

  // 4. Bytes outlive their pool: its storage goes with the last of them.
  std::optional<keel::Bytes> kept;
  {
    keel::BufferPool short_lived(64, 2);
    keel::Buffer b = *short_lived.try_acquire();
    b.append("kept after the pool");
    kept = std::move(b).freeze();
  }
  std::printf("4. %.*s\n", static_cast<int>(kept->size()), kept->view().data());
  return 0;
}

// The smallest coroutine echo on raw liburing (see echo_raw.h): what
// awaiting a completion costs by itself, with none of a runtime's
// guarantees. An awaiter fills an SQE whose user_data is the awaiter
// itself and suspends; the loop submits, waits, and resumes each
// completion's coroutine straight from the CQ. No slots, no generations,
// no ready queue, no cancellation: destroying a coroutine with an
// operation in flight would leave the kernel writing into a freed frame,
// which is exactly what keel::async's slots exist to prevent.
#include <liburing.h>
#include <sys/socket.h>

#include <cerrno>
#include <coroutine>
#include <cstddef>
#include <exception>
#include <memory>
#include <new>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "bench/echo_raw.h"
#include "bench/echo_raw_ring.h"
#include "bench/echo_support.h"

namespace keel::bench::echo {
namespace {

// One freed coroutine frame per thread, kept for the next; freed with the
// thread.
struct FrameCache {
  void* block = nullptr;
  std::size_t size = 0;
  FrameCache() = default;
  FrameCache(const FrameCache&) = delete;
  FrameCache& operator=(const FrameCache&) = delete;
  ~FrameCache() { ::operator delete(block); }
};
thread_local FrameCache frame_cache;

// A coroutine that starts at once and stays suspended at its end until its
// owner destroys it; `done` says whether it got there. Frames come from a
// one-block cache, so that a round trip's client coroutine does not pay a
// malloc (as Keel's frames come from its arena).
class Coro {
 public:
  struct promise_type {
    bool done = false;
    std::exception_ptr error;
    static void* operator new(std::size_t size) {
      if (frame_cache.block != nullptr && size <= frame_cache.size) return std::exchange(frame_cache.block, nullptr);
      return ::operator new(size);
    }
    static void operator delete(void* p, std::size_t size) {
      if (frame_cache.block == nullptr && size >= frame_cache.size) {
        frame_cache.block = p;
        frame_cache.size = size;
        return;
      }
      ::operator delete(p);
    }
    Coro get_return_object() { return Coro(std::coroutine_handle<promise_type>::from_promise(*this)); }
    std::suspend_never initial_suspend() noexcept { return {}; }
    std::suspend_always final_suspend() noexcept {
      done = true;
      return {};
    }
    void return_void() noexcept {}
    void unhandled_exception() noexcept { error = std::current_exception(); }
  };

  Coro(Coro&& other) noexcept : handle_(std::exchange(other.handle_, {})) {}
  Coro(const Coro&) = delete;
  Coro& operator=(const Coro&) = delete;
  Coro& operator=(Coro&&) = delete;
  ~Coro() {
    if (handle_) handle_.destroy();
  }

  bool done() const { return handle_.promise().done; }
  // Rethrows what the coroutine threw.
  void check() const {
    if (handle_.promise().error) std::rethrow_exception(handle_.promise().error);
  }

 private:
  explicit Coro(std::coroutine_handle<promise_type> h) : handle_(h) {}

  std::coroutine_handle<promise_type> handle_;
};

// co_await: the bytes moved, or -errno.
class Transfer {
 public:
  Transfer(RawRing& ring, int fd, std::span<std::byte> bytes, bool send) : ring_(ring), fd_(fd), bytes_(bytes), send_(send) {}
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) {
    waiter_ = h;
    io_uring_sqe* sqe = ring_.sqe();
    if (send_) {
      io_uring_prep_send(sqe, fd_, bytes_.data(), bytes_.size(), MSG_NOSIGNAL);
    } else {
      io_uring_prep_recv(sqe, fd_, bytes_.data(), bytes_.size(), 0);
    }
    io_uring_sqe_set_data(sqe, this);
  }
  int await_resume() const noexcept { return result_; }

  void complete(int result) {
    result_ = result;
    waiter_.resume();
  }

 private:
  RawRing& ring_;
  int fd_;
  std::span<std::byte> bytes_;
  bool send_;
  int result_ = 0;
  std::coroutine_handle<> waiter_;
};

// Submits, waits for a completion and resumes the coroutine of each one
// there is, until `coro` is done.
void run_until_done(RawRing& ring, const Coro& coro) {
  while (!coro.done()) {
    ring.run_once([](const io_uring_cqe& cqe) {
      static_cast<Transfer*>(io_uring_cqe_get_data(&cqe))->complete(cqe.res);
    });
  }
  coro.check();
}

std::size_t checked_count(int result, const char* what) {
  if (result < 0) throw_errno(-result, what);
  if (result == 0) throw std::runtime_error(std::string(what) + ": the connection closed");
  return static_cast<std::size_t>(result);
}

std::span<std::byte> writable(std::span<const std::byte> bytes) {
  // The kernel only reads a send's bytes.
  return {const_cast<std::byte*>(bytes.data()), bytes.size()};
}

// Receive, send all of it, receive again; until the client closes.
Coro serve(RawRing& ring, int fd) {
  std::vector<std::byte> buffer(kChunkBytes);
  for (;;) {
    const int n = co_await Transfer(ring, fd, buffer, false);
    if (n < 0) throw_errno(-n, "server recv");
    if (n == 0) co_return;
    std::size_t sent = 0;
    while (sent < static_cast<std::size_t>(n)) {
      sent += checked_count(co_await Transfer(ring, fd, std::span(buffer).subspan(sent, n - sent), true), "server send");
    }
  }
}

// One client coroutine for all of `run`'s round trips.
Coro client_round_trips(RawRing& ring, int fd, RoundTripRun& run) {
  std::span<const std::byte> message;
  std::span<std::byte> reply;
  while (run.next(message, reply)) {
    std::size_t sent = 0;
    while (sent < message.size()) {
      sent += checked_count(co_await Transfer(ring, fd, writable(message.subspan(sent)), true), "client send");
    }
    std::size_t received = 0;
    while (received < reply.size()) {
      received += checked_count(co_await Transfer(ring, fd, reply.subspan(received), false), "client recv");
    }
    run.done();
  }
}

Coro client_stream(RawRing& ring, int fd, std::span<const std::byte> chunk, std::size_t count, StreamCheck& check,
                   std::span<std::byte> buffer) {
  // The writer runs beside this reader; it is done before the reader is.
  Coro writer = [](RawRing& ring, int fd, std::span<const std::byte> chunk, std::size_t count) -> Coro {
    for (std::size_t i = 0; i < count; ++i) {
      std::size_t sent = 0;
      while (sent < chunk.size()) {
        sent += checked_count(co_await Transfer(ring, fd, writable(chunk.subspan(sent)), true), "client send");
      }
    }
  }(ring, fd, chunk, count);
  const std::size_t total = chunk.size() * count;
  std::size_t received = 0;
  while (received < total) {
    const std::size_t n = checked_count(co_await Transfer(ring, fd, buffer, false), "client recv");
    check.received(buffer.first(n));
    received += n;
  }
  writer.check();
}

class RawCoroPair final : public EchoPair {
 public:
  explicit RawCoroPair(Mode mode) : sockets_(connect_loopback()), buffer_(kChunkBytes) {
    if (mode == Mode::OneThread) {
      server_.emplace(serve(ring_, sockets_.server.get()));
    } else {
      server_thread_.emplace(sockets_.server.get(), [](int fd) {
        RawRing ring;
        const Coro server = serve(ring, fd);
        run_until_done(ring, server);
      });
    }
  }

  ~RawCoroPair() override {
    ::shutdown(sockets_.client.get(), SHUT_RDWR);
    if (server_ && !broken_) {
      // The server sees the end of the stream and returns: its frame holds
      // no operation when it is destroyed.
      try {
        run_until_done(ring_, *server_);
      } catch (const std::exception&) {
        // It returned by failing.
      }
    }
    server_thread_.reset();
  }

  void round_trip(std::span<const std::byte> message, std::span<std::byte> reply) override {
    OneRoundTrip one(message, reply);
    round_trips(one);
  }

  void round_trips(RoundTripRun& trips) override {
    run([&] { return client_round_trips(ring_, sockets_.client.get(), trips); });
  }

  void stream(std::span<const std::byte> chunk, std::size_t count, StreamCheck& check) override {
    run([&] { return client_stream(ring_, sockets_.client.get(), chunk, count, check, buffer_); });
  }

 private:
  template <class Start>
  void run(Start start) {
    try {
      const Coro client = start();
      run_until_done(ring_, client);
    } catch (...) {
      // Frames may have gone with operations in flight: the loop is not
      // driven again, and the ring goes before any frame does.
      broken_ = true;
      throw;
    }
  }

  // Destroyed in reverse: the ring exits before the server's frame, and
  // any frame an operation may still name, is freed.
  LoopbackPair sockets_;
  std::vector<std::byte> buffer_;
  std::optional<Coro> server_;
  RawRing ring_;
  std::optional<ServerThread> server_thread_;
  bool broken_ = false;
};

}  // namespace

std::unique_ptr<EchoPair> make_raw_coro_pair(Mode mode) { return std::make_unique<RawCoroPair>(mode); }

}  // namespace keel::bench::echo

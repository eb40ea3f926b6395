// Keel's echo rows (see echo_keel.h).
#include "bench/echo_keel.h"

#include <sys/socket.h>

#include <cstring>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>

#include "async/buffer.h"
#include "async/io.h"
#include "async/runtime.h"
#include "async/task.h"
#include "bench/echo_support.h"
#include "rt/uring.h"
#include "rt/world.h"

namespace keel::bench::echo {
namespace {

using keel::Buffer;
using keel::async::Task;
using keel::async::TcpStream;

[[noreturn]] void fail(const std::error_code& error, const char* what) {
  throw std::system_error(error, what);
}

// Receive, send all of it, receive again, through one buffer; until the
// client closes.
Task<void> serve(TcpStream stream) {
  Buffer buffer(kChunkBytes);
  for (;;) {
    auto [n, received] = co_await stream.recv(std::move(buffer));
    if (!n) fail(n.error(), "server recv");
    if (*n == 0) co_return;
    auto [m, sent] = co_await stream.send_all(std::move(received));
    if (!m) fail(m.error(), "server send");
    buffer = std::move(sent);
    buffer.clear();
  }
}

// A World with the poll source on `backend` and a Runtime on its ring.
struct Loop {
  explicit Loop(keel::Backend backend) : world(build(backend)), runtime(world) {}
  static keel::World build(keel::Backend backend) {
    keel::WorldBuilder wb;
    wb.install_driver(keel::UringInstaller{.entries = 64, .backend = backend});
    return std::move(wb).build();
  }
  keel::World world;
  keel::async::Runtime runtime;
};

TcpStream adopt(int fd) {
  auto stream = TcpStream::adopt(fd);
  if (!stream) fail(stream.error(), "TcpStream::adopt");
  return std::move(*stream);
}

class KeelPair final : public EchoPair {
 public:
  KeelPair(Mode mode, keel::Backend backend) : sockets_(connect_loopback()), loop_(backend) {
    client_ = adopt(sockets_.client.release());
    if (mode == Mode::OneThread) {
      keel::async::Runtime& rt = loop_.runtime;
      rt.block_on([](TcpStream server) -> Task<void> {
        keel::async::spawn(serve(std::move(server))).detach();
        co_return;
      }(adopt(sockets_.server.release())));
    } else {
      server_thread_.emplace(sockets_.server.release(), [backend](int fd) {
        Loop loop(backend);
        loop.runtime.block_on(serve(adopt(fd)));
      });
    }
    buffer_ = Buffer(kChunkBytes);
  }

  ~KeelPair() override {
    // The server sees the end of the stream and stops.
    client_.shutdown(SHUT_RDWR);
    if (server_thread_) server_thread_->join();
  }

  void round_trip(std::span<const std::byte> message, std::span<std::byte> reply) override {
    OneRoundTrip one(message, reply);
    round_trips(one);
  }

  void round_trips(RoundTripRun& run) override { loop_.runtime.block_on(client_round_trips(run)); }

  void stream(std::span<const std::byte> chunk, std::size_t count, StreamCheck& check) override {
    loop_.runtime.block_on(client_stream(chunk, count, check));
  }

 private:
  // One client task for all of `run`'s round trips, through one buffer.
  Task<void> client_round_trips(RoundTripRun& run) {
    Buffer buffer = std::move(buffer_);
    std::span<const std::byte> message;
    std::span<std::byte> reply;
    while (run.next(message, reply)) {
      buffer.clear();
      std::memcpy(buffer.spare_capacity().data(), message.data(), message.size());
      buffer.commit(message.size());
      auto [m, sent] = co_await client_.send_all(std::move(buffer));
      if (!m) fail(m.error(), "client send");
      buffer = std::move(sent);
      buffer.clear();
      while (buffer.size() < reply.size()) {
        auto [n, got] = co_await client_.recv(std::move(buffer));
        if (!n) fail(n.error(), "client recv");
        if (*n == 0) throw std::runtime_error("client recv: the server closed the connection");
        buffer = std::move(got);
      }
      std::memcpy(reply.data(), buffer.view().data(), reply.size());
      run.done();
    }
    buffer_ = std::move(buffer);
  }

  // Sends from one task while this one reads the echo back.
  Task<void> client_stream(std::span<const std::byte> chunk, std::size_t count, StreamCheck& check) {
    const keel::Bytes payload = Buffer::copy_of(std::string_view(reinterpret_cast<const char*>(chunk.data()), chunk.size())).freeze();
    auto writer = keel::async::spawn([](TcpStream& s, keel::Bytes payload, std::size_t count) -> Task<void> {
      for (std::size_t i = 0; i < count; ++i) {
        auto [n, back] = co_await s.send_all(std::move(payload));
        if (!n) fail(n.error(), "client send");
        payload = std::move(back);
      }
    }(client_, payload, count));
    const std::size_t total = chunk.size() * count;
    std::size_t received = 0;
    Buffer in = std::move(buffer_);
    while (received < total) {
      in.clear();
      auto [n, got] = co_await client_.recv(std::move(in));
      if (!n) fail(n.error(), "client recv");
      if (*n == 0) throw std::runtime_error("client recv: the server closed the connection");
      check.received(std::as_bytes(std::span<const char>(got.view().data(), got.size())));
      received += *n;
      in = std::move(got);
    }
    buffer_ = std::move(in);
    co_await writer;
  }

  LoopbackPair sockets_;
  Loop loop_;
  TcpStream client_;
  Buffer buffer_;
  std::optional<ServerThread> server_thread_;
};

}  // namespace

std::unique_ptr<EchoPair> make_keel_uring_pair(Mode mode) {
  return std::make_unique<KeelPair>(mode, keel::Backend::IoUring);
}
std::unique_ptr<EchoPair> make_keel_epoll_pair(Mode mode) {
  return std::make_unique<KeelPair>(mode, keel::Backend::Epoll);
}

}  // namespace keel::bench::echo

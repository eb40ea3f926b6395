// The raw liburing echo (see echo_raw.h).
#include <liburing.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <vector>

#include "bench/echo_raw.h"
#include "bench/echo_raw_ring.h"
#include "bench/echo_support.h"

namespace keel::bench::echo {
namespace {

// What a completion belongs to; the ring's user_data.
enum class Op : std::uint64_t { ServerRecv = 1, ServerSend, ClientSend, ClientRecv };

class Ring {
 public:
  void prep_recv(Op op, int fd, std::span<std::byte> buffer) {
    io_uring_sqe* sqe = ring_.sqe();
    io_uring_prep_recv(sqe, fd, buffer.data(), buffer.size(), 0);
    io_uring_sqe_set_data64(sqe, static_cast<std::uint64_t>(op));
  }

  void prep_send(Op op, int fd, std::span<const std::byte> data) {
    io_uring_sqe* sqe = ring_.sqe();
    io_uring_prep_send(sqe, fd, data.data(), data.size(), MSG_NOSIGNAL);
    io_uring_sqe_set_data64(sqe, static_cast<std::uint64_t>(op));
  }

  // Submits what is queued, waits for at least one completion and hands
  // every completion there is to on_completion(op, res).
  template <class OnCompletion>
  void run_once(OnCompletion&& on_completion) {
    ring_.run_once([&](const io_uring_cqe& cqe) { on_completion(static_cast<Op>(cqe.user_data), cqe.res); });
  }

 private:
  RawRing ring_;
};

// Receive, send all of it, receive again; until the client closes.
class Server {
 public:
  Server(Ring& ring, int fd) : ring_(ring), fd_(fd), buffer_(kChunkBytes) { ring_.prep_recv(Op::ServerRecv, fd_, buffer_); }

  void on_completion(Op op, int result) {
    if (result < 0) throw_errno(-result, op == Op::ServerRecv ? "server recv" : "server send");
    const auto n = static_cast<std::size_t>(result);
    if (op == Op::ServerRecv) {
      if (n == 0) {
        closed_ = true;
        return;
      }
      size_ = n;
      sent_ = 0;
    } else {
      sent_ += n;
    }
    if (sent_ < size_) {
      ring_.prep_send(Op::ServerSend, fd_, std::span<const std::byte>(buffer_).subspan(sent_, size_ - sent_));
    } else {
      ring_.prep_recv(Op::ServerRecv, fd_, buffer_);
    }
  }

  bool closed() const { return closed_; }

 private:
  Ring& ring_;
  int fd_;
  std::vector<std::byte> buffer_;
  std::size_t size_ = 0;
  std::size_t sent_ = 0;
  bool closed_ = false;
};

void serve(int fd) {
  Ring ring;
  Server server(ring, fd);
  while (!server.closed()) ring.run_once([&](Op op, int result) { server.on_completion(op, result); });
}

std::size_t checked_count(int result, const char* what) {
  if (result < 0) throw_errno(-result, what);
  if (result == 0) throw std::runtime_error(std::string(what) + ": the server closed the connection");
  return static_cast<std::size_t>(result);
}

class RawUringPair final : public EchoPair {
 public:
  explicit RawUringPair(Mode mode) : sockets_(connect_loopback()), buffer_(kChunkBytes) {
    if (mode == Mode::OneThread) {
      server_.emplace(ring_, sockets_.server.get());
    } else {
      server_thread_.emplace(sockets_.server.get(), serve);
    }
  }

  ~RawUringPair() override {
    shut_down_and_close(sockets_.client);
    server_thread_.reset();
  }

  void round_trip(std::span<const std::byte> message, std::span<std::byte> reply) override {
    const int fd = sockets_.client.get();
    std::size_t sent = 0;
    std::size_t received = 0;
    ring_.prep_send(Op::ClientSend, fd, message);
    ring_.prep_recv(Op::ClientRecv, fd, reply);
    while (sent < message.size() || received < reply.size()) {
      ring_.run_once([&](Op op, int result) {
        switch (op) {
          case Op::ClientSend:
            sent += checked_count(result, "client send");
            if (sent < message.size()) ring_.prep_send(Op::ClientSend, fd, message.subspan(sent));
            break;
          case Op::ClientRecv:
            received += checked_count(result, "client recv");
            if (received < reply.size()) ring_.prep_recv(Op::ClientRecv, fd, reply.subspan(received));
            break;
          default:
            server_->on_completion(op, result);
        }
      });
    }
  }

  void stream(std::span<const std::byte> chunk, std::size_t count, StreamCheck& check) override {
    const int fd = sockets_.client.get();
    const std::size_t total = chunk.size() * count;
    std::size_t chunks_sent = 0;
    std::size_t chunk_offset = 0;
    std::size_t received = 0;
    if (count == 0) return;
    ring_.prep_send(Op::ClientSend, fd, chunk);
    ring_.prep_recv(Op::ClientRecv, fd, buffer_);
    while (chunks_sent < count || received < total) {
      ring_.run_once([&](Op op, int result) {
        switch (op) {
          case Op::ClientSend:
            chunk_offset += checked_count(result, "client send");
            if (chunk_offset == chunk.size()) {
              ++chunks_sent;
              chunk_offset = 0;
            }
            if (chunks_sent < count) ring_.prep_send(Op::ClientSend, fd, chunk.subspan(chunk_offset));
            break;
          case Op::ClientRecv: {
            const std::size_t n = checked_count(result, "client recv");
            check.received(std::span<const std::byte>(buffer_).first(n));
            received += n;
            if (received < total) ring_.prep_recv(Op::ClientRecv, fd, buffer_);
            break;
          }
          default:
            server_->on_completion(op, result);
        }
      });
    }
  }

 private:
  // Destroyed in reverse: the server thread is joined (after the client's
  // socket is closed) before the ring, whose exit cancels what the
  // one-thread server still has in flight, before the sockets.
  LoopbackPair sockets_;
  Ring ring_;
  std::vector<std::byte> buffer_;
  std::optional<Server> server_;
  std::optional<ServerThread> server_thread_;
};

}  // namespace

std::unique_ptr<EchoPair> make_raw_uring_pair(Mode mode) { return std::make_unique<RawUringPair>(mode); }

}  // namespace keel::bench::echo

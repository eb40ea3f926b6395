// The raw epoll echo (see echo_raw.h).
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <vector>

#include "bench/echo_raw.h"
#include "bench/echo_support.h"

namespace keel::bench::echo {
namespace {

// Whose socket is ready; the event's data.
enum class Side : std::uint64_t { Server = 1, Client };

class Epoll {
 public:
  Epoll() : fd_(::epoll_create1(EPOLL_CLOEXEC)) {
    if (fd_.get() < 0) throw_errno(errno, "epoll_create1");
  }

  // Once per socket: edge-triggered for input and output, so nothing is
  // re-armed or modified afterwards.
  void add(int fd, Side side) {
    set_nonblocking(fd);
    epoll_event event{};
    event.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    event.data.u64 = static_cast<std::uint64_t>(side);
    if (::epoll_ctl(fd_.get(), EPOLL_CTL_ADD, fd, &event) != 0) throw_errno(errno, "epoll_ctl");
  }

  // Waits for readiness and hands each ready socket to on_ready(side).
  template <class OnReady>
  void run_once(OnReady&& on_ready) {
    const int n = ::epoll_wait(fd_.get(), events_.data(), static_cast<int>(events_.size()), -1);
    if (n < 0 && errno != EINTR) throw_errno(errno, "epoll_wait");
    for (int k = 0; k < n; ++k) on_ready(static_cast<Side>(events_[static_cast<std::size_t>(k)].data.u64));
  }

 private:
  UniqueFd fd_;
  std::array<epoll_event, 8> events_{};
};

// What a send or recv did on a non-blocking socket: a byte count, or
// nothing for EAGAIN; 0 from recv is the end of the stream.
std::optional<std::size_t> send_some(int fd, std::span<const std::byte> data) {
  while (true) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno == EAGAIN) return std::nullopt;
    if (errno != EINTR) throw_errno(errno, "send");
  }
}

std::optional<std::size_t> recv_some(int fd, std::span<std::byte> buffer) {
  while (true) {
    const ssize_t n = ::recv(fd, buffer.data(), buffer.size(), 0);
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno == EAGAIN) return std::nullopt;
    if (errno != EINTR) throw_errno(errno, "recv");
  }
}

std::size_t received_or_throw(std::optional<std::size_t> n) {
  if (n && *n == 0) throw std::runtime_error("client recv: the server closed the connection");
  return n.value_or(0);
}

// Receive, send all of it, receive again; until the client closes. Each
// edge runs the loop until the socket has nothing more to give or take.
class Server {
 public:
  explicit Server(int fd) : fd_(fd), buffer_(kChunkBytes) {}

  void on_ready() {
    while (!closed_) {
      if (sent_ < size_) {
        const std::optional<std::size_t> n =
            send_some(fd_, std::span<const std::byte>(buffer_).subspan(sent_, size_ - sent_));
        if (!n) return;  // the next output edge continues
        sent_ += *n;
        continue;
      }
      const std::optional<std::size_t> n = recv_some(fd_, buffer_);
      if (!n) return;
      if (*n == 0) {
        closed_ = true;
        return;
      }
      size_ = *n;
      sent_ = 0;
      if (*n < buffer_.size()) {
        // A short read emptied the socket: send, and leave the next read
        // to the next input edge.
        while (sent_ < size_) {
          const std::optional<std::size_t> s =
              send_some(fd_, std::span<const std::byte>(buffer_).subspan(sent_, size_ - sent_));
          if (!s) return;
          sent_ += *s;
        }
        return;
      }
    }
  }

  bool closed() const { return closed_; }

 private:
  int fd_;
  std::vector<std::byte> buffer_;
  std::size_t size_ = 0;
  std::size_t sent_ = 0;
  bool closed_ = false;
};

void serve(int fd) {
  Epoll epoll;
  Server server(fd);
  epoll.add(fd, Side::Server);
  while (!server.closed()) epoll.run_once([&](Side) { server.on_ready(); });
}

class RawEpollPair final : public EchoPair {
 public:
  explicit RawEpollPair(Mode mode) : sockets_(connect_loopback()), buffer_(kChunkBytes) {
    epoll_.add(sockets_.client.get(), Side::Client);
    if (mode == Mode::OneThread) {
      server_.emplace(sockets_.server.get());
      epoll_.add(sockets_.server.get(), Side::Server);
    } else {
      server_thread_.emplace(sockets_.server.get(), serve);
    }
  }

  ~RawEpollPair() override {
    shut_down_and_close(sockets_.client);
    server_thread_.reset();
  }

  void round_trip(std::span<const std::byte> message, std::span<std::byte> reply) override {
    const int fd = sockets_.client.get();
    std::size_t sent = send_some(fd, message).value_or(0);
    std::size_t received = 0;
    while (sent < message.size() || received < reply.size()) {
      epoll_.run_once([&](Side side) {
        if (side == Side::Server) {
          server_->on_ready();
          return;
        }
        if (sent < message.size()) sent += send_some(fd, message.subspan(sent)).value_or(0);
        while (received < reply.size()) {
          const std::size_t wanted = reply.size() - received;
          const std::size_t n = received_or_throw(recv_some(fd, reply.subspan(received)));
          received += n;
          if (n < wanted) break;  // empty now, or EAGAIN
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
    const auto send_until_full = [&] {
      while (chunks_sent < count) {
        const std::optional<std::size_t> n = send_some(fd, chunk.subspan(chunk_offset));
        if (!n) return;
        chunk_offset += *n;
        if (chunk_offset == chunk.size()) {
          ++chunks_sent;
          chunk_offset = 0;
        }
      }
    };
    const auto receive_until_empty = [&] {
      while (received < total) {
        const std::size_t n = received_or_throw(recv_some(fd, buffer_));
        check.received(std::span<const std::byte>(buffer_).first(n));
        received += n;
        if (n < buffer_.size()) return;
      }
    };
    send_until_full();
    while (chunks_sent < count || received < total) {
      epoll_.run_once([&](Side side) {
        if (side == Side::Server) {
          server_->on_ready();
          return;
        }
        send_until_full();
        receive_until_empty();
      });
    }
  }

 private:
  LoopbackPair sockets_;
  Epoll epoll_;
  std::vector<std::byte> buffer_;
  std::optional<Server> server_;
  std::optional<ServerThread> server_thread_;
};

}  // namespace

std::unique_ptr<EchoPair> make_raw_epoll_pair(Mode mode) { return std::make_unique<RawEpollPair>(mode); }

}  // namespace keel::bench::echo

// Standalone Asio's echo, on the backend this translation unit was compiled
// for (see echo_asio.h).
//
// The io_uring build defines ASIO_HAS_IO_URING and ASIO_DISABLE_EPOLL. In
// Asio 1.22's asio/detail/config.hpp, ASIO_HAS_IO_URING alone only adds
// io_uring for files (basic_file, ASIO_HAS_FILE); sockets and the
// scheduler's task stay on the epoll reactor. Only without ASIO_HAS_EPOLL
// does config.hpp define ASIO_HAS_IO_URING_AS_DEFAULT, which makes
// basic_socket use io_uring_socket_service, the scheduler's task
// io_uring_service and the reactor a null_reactor. The #error below keeps
// the first, misleading, configuration out.
#include <asio.hpp>

#include <cerrno>
#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include "bench/echo_asio.h"
#include "bench/echo_support.h"

#if defined(ASIO_HAS_IO_URING) && !defined(ASIO_HAS_IO_URING_AS_DEFAULT)
#error "keel: ASIO_HAS_IO_URING without ASIO_DISABLE_EPOLL leaves Asio's sockets on epoll; define both for the io_uring rows"
#endif

namespace keel::bench::echo {
namespace {

using asio::ip::tcp;

// Asio's concurrency hint for an io_context run by one thread only.
constexpr int kOneThread = 1;

// Throws unless `context` runs its sockets on this build's backend. The
// services are Asio's own: io_uring_service exists only in the io_uring
// build, and epoll_reactor is the reactor of the epoll build. (The
// benchmark also counts the SQEs the process's rings consume per round
// trip; the smoke test checks the io_uring instance in /proc/self/fd.)
void check_backend(asio::io_context& context) {
#if defined(ASIO_HAS_IO_URING_AS_DEFAULT)
  if (!asio::has_service<asio::detail::io_uring_service>(context))
    throw std::runtime_error("asio_uring: the io_context has no io_uring_service");
#else
  if (!asio::has_service<asio::detail::epoll_reactor>(context))
    throw std::runtime_error("asio_epoll: the io_context has no epoll_reactor");
#endif
}

// async_read_some, async_write of what came, again; until the client
// closes. On any other error it shuts its socket down, so the client sees
// the end of the stream instead of waiting for a reply.
class Server {
 public:
  // `fd` becomes the socket's own (Asio closes it).
  Server(asio::io_context& context, int fd) : socket_(context, tcp::v4(), fd), buffer_(kChunkBytes) { receive(); }

  bool ended() const { return ended_; }
  const asio::error_code& failure() const { return failure_; }

 private:
  void receive() {
    socket_.async_read_some(asio::buffer(buffer_), [this](const asio::error_code& error, std::size_t n) {
      if (error) {
        end(error);
        return;
      }
      asio::async_write(socket_, asio::buffer(buffer_.data(), n), [this](const asio::error_code& error, std::size_t) {
        if (error) {
          end(error);
          return;
        }
        receive();
      });
    });
  }

  void end(const asio::error_code& error) {
    ended_ = true;
    if (error == asio::error::eof) return;
    failure_ = error;
    asio::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
  }

  tcp::socket socket_;
  std::vector<std::byte> buffer_;
  bool ended_ = false;
  asio::error_code failure_;
};

void serve(int fd) {
  asio::io_context context(kOneThread);
  Server server(context, fd);
  check_backend(context);
  context.run();  // returns once the server has ended: no work is left
  if (server.failure()) throw std::system_error(server.failure(), "asio server");
}

// A duplicate of `fd` for Asio to own; the pair keeps the original, so a
// server thread that throws can still shut it down.
int dup_for_asio(int fd) {
  const int copy = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (copy < 0) throw_errno(errno, "dup");
  return copy;
}

class AsioPair final : public EchoPair {
 public:
  explicit AsioPair(Mode mode)
      : sockets_(connect_loopback()),
        client_(context_, tcp::v4(), sockets_.client.release()),
        buffer_(kChunkBytes) {
    if (mode == Mode::OneThread) {
      server_.emplace(context_, dup_for_asio(sockets_.server.get()));
    } else {
      const int server_fd = dup_for_asio(sockets_.server.get());
      server_thread_.emplace(sockets_.server.get(), [server_fd](int) { serve(server_fd); });
    }
    check_backend(context_);
  }

  ~AsioPair() override {
    asio::error_code ignored;
    client_.shutdown(tcp::socket::shutdown_both, ignored);
    client_.close(ignored);
    work_.reset();
    // The one-thread server's read completes with the end of the stream
    // here, so nothing of it is in flight when its buffer goes.
    while (server_ && !server_->ended() && context_.run_one() > 0) {
    }
    server_thread_.reset();
  }

  void round_trip(std::span<const std::byte> message, std::span<std::byte> reply) override {
    pending_ = 2;
    const auto done = [this](const asio::error_code& error, std::size_t) {
      if (error && !failure_) failure_ = error;
      --pending_;
    };
    asio::async_write(client_, asio::buffer(message.data(), message.size()), done);
    asio::async_read(client_, asio::buffer(reply.data(), reply.size()), done);
    run_until_done();
  }

  void stream(std::span<const std::byte> chunk, std::size_t count, StreamCheck& check) override {
    if (count == 0) return;
    stream_ = Stream{.chunk = chunk, .count = count, .total = chunk.size() * count, .check = &check};
    pending_ = 2;
    send_chunk();
    receive_piece();
    run_until_done();
  }

 private:
  // What a stream's handlers share; a member, so a handler still queued
  // when a stream fails never refers to a finished frame.
  struct Stream {
    std::span<const std::byte> chunk;
    std::size_t count = 0;
    std::size_t total = 0;
    StreamCheck* check = nullptr;
    std::size_t chunks_sent = 0;
    std::size_t received = 0;
  };

  void send_chunk() {
    asio::async_write(client_, asio::buffer(stream_.chunk.data(), stream_.chunk.size()),
                      [this](const asio::error_code& error, std::size_t) {
                        if (error || ++stream_.chunks_sent == stream_.count) {
                          finish(error);
                          return;
                        }
                        send_chunk();
                      });
  }

  void receive_piece() {
    client_.async_read_some(asio::buffer(buffer_), [this](const asio::error_code& error, std::size_t n) {
      if (!error) {
        stream_.check->received(std::span<const std::byte>(buffer_).first(n));
        stream_.received += n;
        if (stream_.received < stream_.total) {
          receive_piece();
          return;
        }
      }
      finish(error);
    });
  }

  void finish(const asio::error_code& error) {
    if (error && !failure_) failure_ = error;
    --pending_;
  }

  // Runs handlers (the client's, and the server's in one-thread mode) until
  // both of the client's operations have completed.
  void run_until_done() {
    while (pending_ > 0 && !failure_) {
      if (context_.run_one() == 0) throw std::runtime_error("asio: the io_context was stopped");
    }
    if (failure_) {
      const asio::error_code failure = std::exchange(failure_, {});
      if (server_ && server_->failure()) throw std::system_error(server_->failure(), "asio server");
      throw std::system_error(failure, "asio client");
    }
  }

  // Destroyed in reverse: the server thread is joined before anything
  // else goes; the sockets before the io_context.
  LoopbackPair sockets_;
  asio::io_context context_{kOneThread};
  // Without it, a two-thread client's io_context runs out of work after
  // each round trip, and Asio stops it until restart().
  asio::executor_work_guard<asio::io_context::executor_type> work_ = asio::make_work_guard(context_);
  tcp::socket client_;
  std::vector<std::byte> buffer_;
  std::optional<Server> server_;
  std::optional<ServerThread> server_thread_;
  std::size_t pending_ = 0;
  asio::error_code failure_;
  Stream stream_;
};

}  // namespace

const char* asio_backend() {
#if defined(ASIO_HAS_IO_URING_AS_DEFAULT)
  return "asio_uring";
#else
  return "asio_epoll";
#endif
}

std::unique_ptr<EchoPair> make_asio_pair(Mode mode) { return std::make_unique<AsioPair>(mode); }

}  // namespace keel::bench::echo

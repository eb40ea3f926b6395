// What every echo implementation needs around its loop: a connected
// loopback TCP pair, a server thread for Mode::TwoThreads, and a view of
// the process's io_uring instances from /proc (which backend is really in
// use, and how many SQEs it consumed).
#pragma once

#include <cstdint>
#include <exception>
#include <functional>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>

#include <sched.h>

namespace keel::bench::echo {

// An owned file descriptor.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  ~UniqueFd() { reset(); }

  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }
  void reset();

 private:
  int fd_ = -1;
};

[[noreturn]] void throw_errno(int error, const char* what);

// A connected TCP pair over 127.0.0.1 (accepted from a listener on an
// ephemeral port, which is closed again). Both ends are blocking, with
// TCP_NODELAY (no Nagle delay on a 64-byte message) and close-on-exec;
// an implementation that wants them non-blocking sets O_NONBLOCK itself
// (io_uring is given blocking sockets: it waits with its own poll).
struct LoopbackPair {
  UniqueFd client;
  UniqueFd server;
};
LoopbackPair connect_loopback();

void set_nonblocking(int fd);

// Shuts `fd` down both ways, then closes it. A plain close() sends no FIN
// while an io_uring request or a dup still holds the socket; the server
// must see the end of the stream to stop.
void shut_down_and_close(UniqueFd& fd);

// The server's loop of Mode::TwoThreads on a thread of its own: `body`
// runs the server on `server_fd` until the client closes its end. Where
// the process may run on two CPUs or more, the server thread is pinned to
// the second and the constructing thread to the first (restored by the
// destructor), so the two loops never share a core. If `body` throws, the
// server's socket is shut down, so the client sees the end of the stream
// instead of waiting forever, and the message is kept for error().
class ServerThread {
 public:
  ServerThread(int server_fd, std::function<void(int)> body);
  ServerThread(const ServerThread&) = delete;
  ServerThread& operator=(const ServerThread&) = delete;
  // Joins (once the server has stopped: the caller closes the client's
  // socket first) and gives the caller its CPUs back. Idempotent.
  void join();
  ~ServerThread() { join(); }

  // What the server threw, if it threw; read it after join().
  const std::string& error() const { return error_; }

 private:
  cpu_set_t caller_cpus_{};
  bool pinned_ = false;
  std::string error_;
  std::thread thread_;
};

// The number of this process's file descriptors whose /proc/self/fd link
// reads `target`: "anon_inode:[io_uring]" for io_uring instances,
// "anon_inode:[eventpoll]" for epoll instances.
int count_fds_linked_to(std::string_view target);

// The sum of SqHead (SQEs the kernel has consumed) over this process's
// io_uring instances, from /proc/self/fdinfo; modulo 2^32, like SqHead, so
// the difference of two readings over the same rings is the SQEs consumed
// in between.
std::uint32_t io_uring_sqes_consumed();

}  // namespace keel::bench::echo

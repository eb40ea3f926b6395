// File descriptors for the tests that open them by hand (tests/rt,
// sanitizer-tests): an owning Fd; the pipes, socketpairs, eventfds and
// loopback UDP sockets the poll-source tests watch; the one check of
// whether the kernel refuses a poll backend here, so that "io_uring is
// refused" is an outcome a test skips on, decided in one place (as
// liburing's tests do with t_create_ring's T_SETUP_SKIP); and the names of
// the backend-parameterised instances.
//
//   if (const auto why = keel_test::refusal(keel::Backend::IoUring)) GTEST_SKIP() << *why;
//   keel_test::Fd fd = keel_test::make_eventfd();
//   keel_test::signal_eventfd(fd.get());
//
// The makers throw std::runtime_error when the kernel will not give the fd:
// a broken test machine, not a result.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "rt/uring.h"
#include "rt/world.h"

namespace keel_test {

// Owns one fd (or none, -1) and closes it when it dies or is reset.
class Fd {
 public:
  explicit Fd(int fd = -1) noexcept : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    reset();
    fd_ = std::exchange(other.fd_, -1);
    return *this;
  }
  ~Fd() { reset(); }
  int get() const noexcept { return fd_; }
  void reset() noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

// Two connected fds: a pipe's read end (a) and write end (b), or the two
// ends of a socketpair.
struct FdPair {
  Fd a;
  Fd b;
};

// Non-blocking unless `flags` says otherwise: handlers read until EAGAIN.
inline FdPair make_pipe(int flags = O_NONBLOCK | O_CLOEXEC) {
  int fds[2];
  if (pipe2(fds, flags) != 0) throw std::runtime_error("pipe2");
  return {Fd(fds[0]), Fd(fds[1])};
}

inline FdPair make_socketpair() {
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0)
    throw std::runtime_error("socketpair");
  return {Fd(fds[0]), Fd(fds[1])};
}

inline Fd make_eventfd() {
  const int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (fd < 0) throw std::runtime_error("eventfd");
  return Fd(fd);
}

inline std::vector<Fd> make_eventfds(std::size_t n) {
  std::vector<Fd> fds;
  fds.reserve(n);
  for (std::size_t i = 0; i < n; ++i) fds.push_back(make_eventfd());
  return fds;
}

// A UDP socket bound to 127.0.0.1 on a port the kernel picks; `bound`
// receives the address.
inline Fd make_udp(sockaddr_in& bound) {
  Fd fd(socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0)
    throw std::runtime_error("bind");
  socklen_t length = sizeof bound;
  getsockname(fd.get(), reinterpret_cast<sockaddr*>(&bound), &length);
  return fd;
}

inline void write_byte(int fd) { ASSERT_EQ(::write(fd, "x", 1), 1); }
inline void signal_eventfd(int fd) { ASSERT_EQ(eventfd_write(fd, 1), 0); }

// Reads until EAGAIN (or end of file); returns the bytes read. On an
// eventfd, one read takes the whole count.
inline std::size_t drain(int fd) {
  char buffer[4096];
  std::size_t total = 0;
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n <= 0) return total;
    total += static_cast<std::size_t>(n);
  }
}

// Why the kernel refuses `backend` here, or nothing when a poll source can
// be set up on it. Refused means keel::UringError::Kind::Unavailable:
// io_uring_setup answered EPERM (a seccomp profile, a container) or ENOSYS,
// or kernel.io_uring_disabled forbids it. Any other failure (out of memory
// or fds, an unexpected errno) is thrown on: that is a test failure, not a
// reason to skip. Backend::Epoll and Backend::Auto are never refused.
inline std::optional<std::string> refusal(keel::Backend backend) {
  try {
    keel::WorldBuilder wb;
    wb.install_driver(keel::UringInstaller{.entries = 2, .backend = backend});
    return std::nullopt;
  } catch (const keel::UringError& e) {
    if (e.kind() != keel::UringError::Kind::Unavailable) throw;
    return std::string("io_uring refused here: ") + e.what();
  }
}

// Names the instances of a suite parameterised by backend, for
// INSTANTIATE_TEST_SUITE_P: Backends/UringTest.Name/IoUring, .../Epoll.
inline std::string backend_name(const ::testing::TestParamInfo<keel::Backend>& info) {
  return info.param == keel::Backend::IoUring ? "IoUring" : "Epoll";
}

}  // namespace keel_test

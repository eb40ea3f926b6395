// keel_test::IoFixture and the helpers the async IO tests share
// (tests/async/io_test.cc, sanitizer-tests/io_*_test.cc): a World with a
// Uring per backend under test and a Runtime over it, TCP pairs, a byte
// pattern no chunk size lines up with, counts of the process's fds, and
// waits for the IO driver to settle. Not for tests that need no IO driver:
// the async tests without IO build their Runtime directly.
//
//   class MyIo : public keel_test::IoFixture {};
//   TEST_P(MyIo, Echoes) {
//     auto [server, client] = rt().block_on(keel_test::connected_pair());
//     ...
//   }
//   INSTANTIATE_TEST_SUITE_P(Backends, MyIo,
//       ::testing::Values(keel::Backend::IoUring, keel::Backend::Epoll));
#pragma once

#include <gtest/gtest.h>
#include <dirent.h>
#include <sys/socket.h>

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <utility>

#include "async/buffer.h"
#include "async/io.h"
#include "async/runtime.h"
#include "async/task.h"
#include "async/timer.h"
#include "rt/uring.h"
#include "rt/world.h"
#include "tests/rt/fd.h"

// ASSERT_* returns, which a coroutine cannot: this one co_returns.
#define CO_ASSERT_TRUE(cond)                    \
  do {                                          \
    if (!(cond)) {                              \
      ADD_FAILURE() << "expected true: " #cond; \
      co_return;                                \
    }                                           \
  } while (false)

namespace keel_test {

// Every frame from the heap, where ASan sees it freed.
inline keel::async::RuntimeOptions heap_frames(std::size_t max_operations = 65536) {
  keel::async::RuntimeOptions options;
  options.arena = {};
  options.max_io_operations = max_operations;
  return options;
}

inline std::size_t open_fds() {
  std::size_t n = 0;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    while (::readdir(d) != nullptr) ++n;
    ::closedir(d);
  }
  return n;
}

// Byte i of a stream: a pattern no chunk size lines up with.
inline char pattern_at(std::size_t i) { return static_cast<char>('a' + (i * 7 + i / 251) % 26); }
inline std::string pattern(std::size_t from, std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = pattern_at(from + i);
  return s;
}

inline std::string address_of(const keel::async::TcpListener& l) {
  return "127.0.0.1:" + std::to_string(l.local_addr().port());
}

// A connected pair: (server side, client side).
inline keel::async::Task<std::pair<keel::async::TcpStream, keel::async::TcpStream>> connected_pair() {
  using keel::async::TcpListener;
  using keel::async::TcpStream;
  TcpListener listener = TcpListener::bind("127.0.0.1:0").value();
  auto accepting = keel::async::spawn([](TcpListener& l) -> keel::async::Task<TcpStream> {
    co_return (co_await l.accept()).value();
  }(listener));
  auto client = co_await TcpStream::connect(address_of(listener));
  TcpStream server = co_await accepting;
  co_return std::pair{std::move(server), std::move(client.value())};
}

inline keel::async::Task<keel::async::IoResult<keel::Buffer>> recv_into(keel::async::TcpStream& s, keel::Buffer b) {
  co_return co_await s.recv(std::move(b));
}

// Yields until the driver holds no slot: every abandoned operation settled.
inline keel::async::Task<bool> settled(keel::async::internal::IoDriver& driver) {
  using namespace std::chrono_literals;
  for (int i = 0; i < 100000 && driver.in_use() > 0; ++i) co_await keel::async::sleep(10us);
  co_return driver.in_use() == 0;
}

// A client connected by hand, past the runtime, so that nothing turns the
// loop between its connect and what the test does next.
inline Fd connect_to(const keel::async::SocketAddr& at) {
  Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0 || ::connect(fd.get(), at.native(), at.native_size()) != 0) return Fd();
  return fd;
}

// One World per test with a Uring on the backend the test is instantiated
// with (skipped where the kernel refuses it), and a Runtime over it built
// with `options` (frames from the heap unless a test says otherwise).
class IoFixture : public ::testing::TestWithParam<keel::Backend> {
 protected:
  explicit IoFixture(keel::async::RuntimeOptions options = heap_frames()) : options_(std::move(options)) {}

  void SetUp() override {
    if (const auto why = refusal(GetParam())) GTEST_SKIP() << *why;
    keel::WorldBuilder wb;
    poller_ = wb.install_driver(keel::UringInstaller{.entries = 64, .backend = GetParam()});
    world_.emplace(std::move(wb).build());
    rt_.emplace(*world_, options_);
  }
  void TearDown() override {
    rt_.reset();
    world_.reset();
  }
  keel::async::Runtime& rt() { return *rt_; }
  keel::async::internal::IoDriver& driver() { return rt_->io_driver(); }
  bool uring() const { return GetParam() == keel::Backend::IoUring; }

  keel::async::RuntimeOptions options_;
  std::optional<keel::UringPoller> poller_;
  std::optional<keel::World> world_;
  std::optional<keel::async::Runtime> rt_;
};

}  // namespace keel_test

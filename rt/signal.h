// Signals into the World: SIGINT and SIGTERM (or any set you choose) are
// blocked, read from a signalfd watched on the poll source, and turned into
// keel::Shutdown::request() — so Ctrl-C or `kill` ends world.run() cleanly,
// between two events, instead of killing the process mid-handler.
//
//   auto io = wb.install_driver(keel::UringInstaller{});
//   auto signals = wb.install_driver(keel::SignalInstaller{});  // after the UringInstaller
//   keel::World world = std::move(wb).build();
//   world.run([&](keel::World& w) { io.poll(w, 100ms); });      // returns after SIGINT/SIGTERM
//   signals.last_signal();                                      // SIGINT
//
// It composes as a driver: SignalInstaller registers a keel::SignalSource
// resource (handlers can read it with Res<keel::SignalSource>) and returns
// a SignalRoute handle; the Uring's poll() does the reading, so there is
// nothing else to poll. Install it on the thread that will run the loop,
// before starting other threads: the mask is per thread, and threads
// started later inherit it (a thread that does not block the signals would
// receive them instead, with their default action). The World's
// destruction restores the mask — on the thread that destroys it, which
// should be the same one.
#pragma once

#include <signal.h>

#include <cstdint>
#include <vector>

#include "rt/uring.h"
#include "rt/world.h"

namespace keel {

class SignalRoute;
namespace internal {
struct SignalReader;
}  // namespace internal

// Configures signal routing; wb.install_driver(keel::SignalInstaller{})
// blocks the signals in the calling thread, opens the signalfd and watches
// it on the World's Uring. Throws ConfigError when no UringInstaller was
// installed before it, or for a signal that cannot be blocked (SIGKILL,
// SIGSTOP) or does not exist; std::system_error when signalfd(2) fails.
struct SignalInstaller {
  std::vector<int> signals = {SIGINT, SIGTERM};
  // Request Shutdown on delivery. With false, signals are only counted
  // (SignalSource::received(), last_signal()): for programs that decide
  // themselves, e.g. SIGHUP to reload.
  bool request_shutdown = true;

  SignalRoute install(WorldBuilder& builder) &&;
};

// The resource SignalInstaller registers: the signalfd, its watch and what
// it has read. Destroyed with the World (before the Uring, which was
// registered first): it unwatches, discards signals still pending, closes
// the signalfd and unblocks the signals that it blocked.
class SignalSource {
 public:
  SignalSource(Uring& uring, const std::vector<int>& signals, bool request_shutdown);
  SignalSource(const SignalSource&) = delete;
  SignalSource& operator=(const SignalSource&) = delete;
  ~SignalSource();

  // Signals read so far, and the last one (0 before the first).
  std::uint64_t received() const noexcept { return received_; }
  int last_signal() const noexcept { return last_signal_; }
  const std::vector<int>& signals() const noexcept { return signals_; }
  bool requests_shutdown() const noexcept { return request_shutdown_; }

 private:
  friend struct internal::SignalReader;
  void read_all(World& world);

  Uring* uring_;
  std::vector<int> signals_;
  sigset_t unblock_on_exit_{};  // the signals this source blocked (not those blocked before)
  int fd_ = -1;
  Watch watch_;
  std::uint64_t received_ = 0;
  int last_signal_ = 0;
  bool request_shutdown_;
};

// What install_driver(SignalInstaller{}) returns: a view of the World's
// SignalSource. Cheap to copy (one pointer).
class SignalRoute {
 public:
  SignalSource& source() const noexcept { return *source_; }
  std::uint64_t received() const noexcept { return source_->received(); }
  int last_signal() const noexcept { return source_->last_signal(); }

 private:
  friend struct SignalInstaller;
  explicit SignalRoute(SignalSource& source) noexcept : source_(&source) {}
  SignalSource* source_;
};

}  // namespace keel

#include "rt/signal.h"

#include <pthread.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <string_view>
#include <system_error>

#include "rt/error.h"

namespace keel {
namespace internal {

// The watch handler on the signalfd: one pointer, stored inline.
struct SignalReader {
  using event_type = const Readiness&;
  SignalSource* source;
  void run(World& world, const Readiness&) { source->read_all(world); }
  std::string_view name() const noexcept { return "keel::SignalSource"; }
};

}  // namespace internal

SignalRoute SignalInstaller::install(WorldBuilder& builder) && {
  Uring* uring = builder.registry().try_resolve<Uring>();
  if (uring == nullptr) {
    throw ConfigError(
        "keel: SignalInstaller reads signals through the poll source, but no keel::Uring is registered; "
        "install_driver(keel::UringInstaller{...}) before install_driver(keel::SignalInstaller{})");
  }
  SignalSource& source = builder.emplace<SignalSource>(*uring, signals, request_shutdown);
  return SignalRoute(source);
}

SignalSource::SignalSource(Uring& uring, const std::vector<int>& signals, bool request_shutdown)
    : uring_(&uring), signals_(signals), request_shutdown_(request_shutdown) {
  sigset_t set;
  sigemptyset(&set);
  sigemptyset(&unblock_on_exit_);
  for (const int signal : signals_) {
    if (signal == SIGKILL || signal == SIGSTOP || sigaddset(&set, signal) != 0) {
      throw ConfigError("keel: SignalInstaller: signal " + std::to_string(signal) +
                        " cannot be routed (SIGKILL and SIGSTOP cannot be blocked; others must exist)");
    }
  }
  sigset_t previous;
  if (const int error = pthread_sigmask(SIG_BLOCK, &set, &previous)) {
    throw std::system_error(error, std::system_category(), "keel: SignalInstaller: pthread_sigmask");
  }
  for (const int signal : signals_) {
    if (sigismember(&previous, signal) == 0) sigaddset(&unblock_on_exit_, signal);
  }
  fd_ = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  if (fd_ < 0) {
    const int error = errno;
    pthread_sigmask(SIG_UNBLOCK, &unblock_on_exit_, nullptr);
    throw std::system_error(error, std::system_category(), "keel: SignalInstaller: signalfd");
  }
  try {
    watch_ = uring_->watch(fd_, Readable, internal::SignalReader{this});
  } catch (...) {
    ::close(fd_);
    pthread_sigmask(SIG_UNBLOCK, &unblock_on_exit_, nullptr);
    throw;
  }
}

SignalSource::~SignalSource() {
  uring_->unwatch(watch_);
  // Discard what is still pending for us: once unblocked, it would be
  // delivered with its default action (termination, for SIGINT/SIGTERM).
  signalfd_siginfo info;
  while (::read(fd_, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
  }
  ::close(fd_);
  pthread_sigmask(SIG_UNBLOCK, &unblock_on_exit_, nullptr);
}

void SignalSource::read_all(World& world) {
  signalfd_siginfo info;
  bool any = false;
  for (;;) {
    const ssize_t n = ::read(fd_, &info, sizeof info);
    if (n == static_cast<ssize_t>(sizeof info)) {
      ++received_;
      last_signal_ = static_cast<int>(info.ssi_signo);
      any = true;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    break;  // EAGAIN: drained (readiness is edge-like, so drain it all)
  }
  if (any && request_shutdown_) world.shutdown_handle().request();
}

}  // namespace keel

// The io_uring poll source: file-descriptor readiness into a World's
// handlers, with an epoll fallback (keel::UringInstaller → keel::UringPoller,
// and the keel::Uring resource).
//
// A handler is attached to a file descriptor with Uring::watch(); the loop's
// poll() waits for readiness and runs one handler per ready event, each with
// a fresh sequence number. Readiness is edge-like on both backends: a
// handler runs when its fd becomes ready (or gets new data, or new room),
// not again while it merely stays ready — read or write until EAGAIN, on
// non-blocking fds.
//
//   auto io = wb.install_driver(keel::UringInstaller{.entries = 256, .backend = keel::Backend::Auto});
//   keel::World world = std::move(wb).build();
//   auto& uring = world.resource<keel::Uring>();
//   keel::Watch w = uring.watch(fd, keel::Readable, keel::handler(world.registry(), on_ready));
//   // on_ready(keel::ResMut<Book> b, const keel::Readiness& r): r.fd, r.events, r.watch
//   world.run([&](keel::World& w) { io.poll(w, 10ms); });
//   uring.unwatch(w);                       // also from inside a handler, itself included
//
// Backends: io_uring multishot poll (Linux 5.13+); when io_uring_setup is
// refused (EPERM/ENOSYS under container seccomp profiles, or
// kernel.io_uring_disabled), Backend::Auto runs the same API on epoll and
// says so once on stderr. Uring::waker() interrupts a poll from any thread.
// Not for: completion-based IO with owned buffers (that is async/io.h), or
// regular files (always ready: watch() refuses them). See docs/drivers.md.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <memory>
#include <source_location>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "rt/handler.h"
#include "rt/internal/erase_handler.h"
#include "rt/internal/handle.h"
#include "rt/internal/poll_backend.h"
#include "rt/internal/wake_state.h"
#include "rt/internal/watch_slab.h"
#include "rt/registry.h"
#include "rt/world.h"

namespace keel {

class TimerWheel;  // rt/timer.h
class Uring;
class UringPoller;
namespace internal {
class UringOperations;  // rt/internal/uring_operations.h
}  // namespace internal

// Which kernel interface delivers readiness.
enum class Backend : std::uint8_t {
  Auto,     // io_uring when the kernel allows it, else epoll
  IoUring,  // io_uring or a UringError: for deployments that must not fall back silently
  Epoll,    // epoll (edge-triggered), e.g. to test the fallback
};

// "auto", "io_uring", "epoll".
std::string_view to_string(Backend backend) noexcept;

// A set of poll events. The values are the kernel's (POLLIN == EPOLLIN, ...).
class Events {
 public:
  constexpr Events() noexcept = default;
  constexpr explicit Events(std::uint32_t bits) noexcept : bits_(bits) {}
  constexpr std::uint32_t bits() const noexcept { return bits_; }
  // True when every event of `e` is in this set (and `e` is not empty).
  constexpr bool contains(Events e) const noexcept { return e.bits_ != 0 && (bits_ & e.bits_) == e.bits_; }
  constexpr explicit operator bool() const noexcept { return bits_ != 0; }
  friend constexpr Events operator|(Events a, Events b) noexcept { return Events(a.bits_ | b.bits_); }
  friend constexpr Events operator&(Events a, Events b) noexcept { return Events(a.bits_ & b.bits_); }
  friend constexpr bool operator==(Events, Events) = default;

 private:
  std::uint32_t bits_ = 0;
};

// Interest: what watch() may ask for.
inline constexpr Events Readable{0x001};     // POLLIN: data to read (or a connection to accept)
inline constexpr Events Priority{0x002};     // POLLPRI: urgent data
inline constexpr Events Writable{0x004};     // POLLOUT: room to write
inline constexpr Events ReadHangup{0x2000};  // POLLRDHUP: the peer shut down its writing half
// Reported whether asked for or not.
inline constexpr Events PollError{0x008};  // POLLERR: an error is pending (read it with SO_ERROR)
inline constexpr Events Hangup{0x010};     // POLLHUP: the peer closed (or the poll itself failed)

namespace internal {
struct WatchTag {
  using Owner = Uring;
};
}  // namespace internal

// Names one watched fd, for unwatch(). Trivially copyable (index +
// generation); a token of a removed watch is inert, even if its slot is
// reused. Default-constructed: no watch.
using Watch = internal::Handle<internal::WatchTag>;

// The event of a watch handler.
struct Readiness {
  int fd = -1;
  Events events;  // what is ready now: a subset of the interest, plus PollError/Hangup
  Watch watch;    // the watch that fired (unwatch(r.watch) from the handler removes it)
  int error = 0;  // non-zero (an errno) when the kernel ended the poll with an error;
                  // events is then PollError and the watch stays inert until unwatched

  bool readable() const noexcept { return events.contains(Readable); }
  bool writable() const noexcept { return events.contains(Writable); }
  bool hangup() const noexcept { return events.contains(Hangup) || events.contains(ReadHangup); }
  bool failed() const noexcept { return events.contains(PollError); }
};

// The event of the on_wake handler: a wake() from some thread happened.
struct Woken {};

// Thrown when the requested backend cannot be opened (Backend::IoUring with
// io_uring refused, or no epoll instance), and when the kernel fails a poll
// in a way Keel cannot handle. A std::system_error (code() is the errno),
// not a ConfigError: the World is put together right, the environment says
// no. kind() sorts the cause; what() says why and what to do.
class UringError : public std::system_error {
 public:
  enum class Kind : std::uint8_t {
    Unavailable,     // EPERM, ENOSYS, kernel.io_uring_disabled: use Backend::Auto or Epoll
    OutOfResources,  // ENOMEM (memlock limit on old kernels), out of file descriptors
    Failed,          // anything else, including errors while polling
  };
  UringError(Kind kind, int error, const std::string& what);
  Kind kind() const noexcept { return kind_; }

 private:
  Kind kind_;
};

// Configures the poll source; wb.install_driver(keel::UringInstaller{...})
// registers the keel::Uring resource and returns its UringPoller. Opening
// the backend happens here: a refusal under Backend::IoUring throws
// UringError from install_driver().
struct UringInstaller {
  // Submission-queue entries (io_uring) or events per epoll_wait. More
  // watches than this are fine: arms beyond it are submitted in batches.
  unsigned entries = 256;
  Backend backend = Backend::Auto;
  // Completion-queue entries; 0 means 4 x entries. Larger makes CQ overflow
  // (harmless, but it ends multishot polls, which are then re-armed) rarer
  // when many fds become ready at once.
  unsigned cq_entries = 0;

  UringPoller install(WorldBuilder& builder) &&;
};

// A handle that wakes the loop from any thread: wake() makes a blocked
// poll() return (or the next one not block) and, if Uring::on_wake() set a
// handler, runs it on the loop thread. Copyable, cheap (a shared pointer);
// wakes in a burst are coalesced into one. wake() is lock-free and
// async-signal-safe (an atomic exchange and at most one write(2)). Outliving
// the Uring is harmless: wake() then does nothing useful but stays safe.
// Default-constructed: inert.
class UringWaker {
 public:
  UringWaker() noexcept = default;
  void wake() const noexcept {
    if (state_) state_->wake();
  }
  explicit operator bool() const noexcept { return state_ != nullptr; }

 private:
  friend class Uring;
  explicit UringWaker(std::shared_ptr<internal::WakeState> state) noexcept : state_(std::move(state)) {}
  std::shared_ptr<internal::WakeState> state_;
};

namespace internal {

// What watch() and on_wake() take, and how they store it
// (rt/internal/erase_handler.h): handlers of `const E&`, a handler of E by
// value getting a copy per event; functions built with keel::handler().
struct WatchSlot {
  using Stored = const Readiness&;
  using Rejections = WatchRejections;
  static constexpr std::string_view kApi = "Uring::watch()";
  static constexpr bool kAdaptsSpelling = true;
  static constexpr bool kBuildsFunctions = true;
};
struct OnWakeSlot {
  using Stored = const Woken&;
  using Rejections = OnWakeRejections;
  static constexpr std::string_view kApi = "Uring::on_wake()";
  static constexpr bool kAdaptsSpelling = true;
  static constexpr bool kBuildsFunctions = true;
};

}  // namespace internal

// The poll source's resource: one per World, registered by UringInstaller.
// Reach it as world.resource<keel::Uring>() or, from handlers,
// ResMut<keel::Uring>. Loop-thread only, except UringWaker::wake().
class Uring {
 public:
  // Inline bytes per watch handler: a handler up to this size (and
  // nothrow-movable) costs no allocation; a bigger one is boxed.
  static constexpr std::size_t kInlineBytes = 64;
  using WatchHandler = InlineHandler<const Readiness&, kInlineBytes>;

  // Opens the backend (see UringInstaller). Throws UringError.
  Uring(const UringInstaller& config, const Registry& registry);
  Uring(const Uring&) = delete;
  Uring& operator=(const Uring&) = delete;
  ~Uring();

  // Runs `handler` on each readiness of `fd` for `interest` (Readable,
  // Writable, Priority, ReadHangup, or a union) until unwatch(). Takes a
  // handler of `const Readiness&` (or Readiness, copied per event): a keel
  // handler or callback, a value of a type of your own (event_type, run,
  // name() const), a std::unique_ptr<D> for a class D derived from
  // Handler<const Readiness&> (moved in; an empty one throws ConfigError),
  // or a plain function/lambda, built here with keel::handler(registry, fn).
  // Anything else is a static_assert saying what to pass. Cold path: one fstat(2);
  // on io_uring the poll is armed by the next poll(), on epoll now. Throws
  // UringError on failure: EBADF (not an open fd), EPERM (a regular file or
  // directory, which epoll refuses and io_uring would report always ready),
  // EEXIST (fd already watched: unwatch first), EINVAL (empty interest).
  // Callable from handlers; the new watch sees events from the next poll.
  template <class H>
  Watch watch(int fd, Events interest, H&& handler, std::source_location site = std::source_location::current()) {
    return watch_or_throw(fd, try_watch(fd, interest, std::forward<H>(handler), site));
  }

  // As watch(), returning the error instead of throwing it.
  template <class H>
  std::expected<Watch, std::error_code> try_watch(int fd, Events interest, H&& handler,
                                                  std::source_location site = std::source_location::current()) {
    using Slot = internal::WatchSlot;
    return add_watch(fd, interest,
                     internal::erase_inline<Slot, kInlineBytes>(std::forward<H>(handler), registry_, site));
  }

  // Stops watching; true when `w` was watched. The handler is destroyed now,
  // or, when it is the one running (unwatching itself), right after it
  // returns. Completions the kernel already produced for it are skipped.
  // Call it before closing the fd: io_uring holds a reference to the file
  // while the poll is armed.
  bool unwatch(Watch w);

  // True while `w` is watched.
  bool watching(Watch w) const noexcept { return slab_.allocated(w.index_, w.generation_); }
  // How many fds are watched.
  std::size_t size() const noexcept { return slab_.size(); }

  // Backend::IoUring or Backend::Epoll: which one runs (never Auto).
  Backend backend() const noexcept { return backend_kind_; }
  // The IORING_SETUP_* flags the kernel accepted (0 on epoll), e.g. to log.
  unsigned setup_flags() const noexcept { return setup_flags_; }
  // One line: the backend, its accepted flags and sizes.
  const std::string& describe() const noexcept { return description_; }

  // A handle other threads use to interrupt poll(). The first call creates
  // the eventfd it writes and watches it; later calls share it.
  UringWaker waker();

  // Sets the handler run (on the loop thread, with a fresh sequence number)
  // after wake() calls: at least once after each, several coalesced into one.
  // Same handler kinds as watch(), of `const Woken&`. Replaces the previous one.
  template <class H>
  void on_wake(H&& handler, std::source_location site = std::source_location::current()) {
    on_wake_ = internal::erase_boxed<internal::OnWakeSlot>(std::forward<H>(handler), registry_, site);
  }

 private:
  friend class UringPoller;
  friend class internal::UringOperations;
  using Slab = internal::WatchSlab<WatchHandler>;

  std::expected<Watch, std::error_code> add_watch(int fd, Events interest, WatchHandler&& handler);
  static Watch watch_or_throw(int fd, std::expected<Watch, std::error_code> result);

  // The loop's entry point (UringPoller::poll); timeout: kNoTimeout for none.
  std::size_t poll(World& world, std::chrono::nanoseconds timeout);
  std::chrono::nanoseconds clamp_to_timers(std::chrono::nanoseconds timeout);
  std::size_t dispatch(World& world);
  std::size_t dispatch_watch(World& world, const internal::Completion& completion);
  std::size_t dispatch_wake(World& world, const internal::Completion& completion);
  void run_watch(World& world, std::uint32_t index, const Readiness& readiness);
  [[noreturn]] void throw_failure(const internal::BackendFailure& failure) const;

  const Registry* registry_;
  std::unique_ptr<internal::PollBackend> backend_;
  Backend backend_kind_ = Backend::Epoll;
  unsigned setup_flags_ = 0;
  std::string description_;
  Slab slab_;
  absl::flat_hash_map<int, std::uint32_t> fd_slots_;  // fd -> slot index, to refuse a second watch
  std::vector<internal::Completion> ready_;            // collected by the last wait; [cursor_, end) not dispatched
  std::size_t cursor_ = 0;
  std::shared_ptr<internal::WakeState> wake_;
  std::unique_ptr<Handler<const Woken&>> on_wake_;
  // Receives the completions of operations (CompletionKind::kOperation).
  void (*operation_sink_)(void* context, const internal::Completion& completion) = nullptr;
  void* operation_sink_context_ = nullptr;
  TimerWheel* timers_ = nullptr;
  bool timers_resolved_ = false;
  bool dispatching_ = false;
  bool woken_ = false;  // the last wait collected a wake()
};

// Polls a World's Uring; returned by wb.install_driver(UringInstaller{...}).
// Cheap to copy (one pointer).
class UringPoller {
 public:
  // Submits pending arms, waits until a handler can run, a UringWaker
  // wakes it, `timeout` passes, or — when a keel::TimerWheel is registered —
  // its next deadline comes; then runs one handler per ready event
  // (world.next_sequence() before each) and returns how many ran. A zero
  // timeout never blocks. A wait interrupted by a signal (EINTR) is resumed
  // for the time left; to end it from a signal handler, call
  // UringWaker::wake(), which is async-signal-safe. Events not dispatched
  // because a handler threw stay queued for the next poll, which runs them
  // without waiting; the exception propagates. Throws ConfigError when
  // called from one of its own handlers or with another World, and
  // UringError when the kernel fails the wait. With io_uring, the first
  // thread to poll owns the ring: poll from that thread only.
  template <class Rep, class Period>
  std::size_t poll(World& world, std::chrono::duration<Rep, Period> timeout) {
    return uring_->poll(world, to_wait(timeout));
  }
  // As above, with no timeout (the next timer deadline still bounds it).
  std::size_t poll(World& world) { return uring_->poll(world, internal::kNoTimeout); }

  Uring& uring() const noexcept { return *uring_; }

  // A poller for a Uring reached some other way (an async Runtime polls
  // the World's, or a ring of its own).
  explicit UringPoller(Uring& uring) noexcept : uring_(&uring) {}

 private:
  template <class Rep, class Period>
  static std::chrono::nanoseconds to_wait(std::chrono::duration<Rep, Period> timeout) {
    using std::chrono::duration;
    if (timeout <= timeout.zero()) return std::chrono::nanoseconds(0);
    // Beyond a year means "no timeout" (and keeps the conversion in range).
    if (duration<double>(timeout) >= duration<double>(std::chrono::hours(24 * 365))) return internal::kNoTimeout;
    return std::chrono::ceil<std::chrono::nanoseconds>(timeout);
  }

  Uring* uring_;
};

}  // namespace keel

#include "rt/uring.h"

#include <poll.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <mutex>
#include <optional>
#include <string>

#include "rt/internal/epoll_backend.h"
#include "rt/internal/ring.h"
#include "rt/timer.h"

namespace keel {

static_assert(Readable.bits() == POLLIN && Priority.bits() == POLLPRI && Writable.bits() == POLLOUT &&
                  ReadHangup.bits() == POLLRDHUP && PollError.bits() == POLLERR && Hangup.bits() == POLLHUP,
              "keel::Events values are the kernel's poll bits");
static_assert(POLLIN == EPOLLIN && POLLPRI == EPOLLPRI && POLLOUT == EPOLLOUT && POLLRDHUP == EPOLLRDHUP &&
                  POLLERR == EPOLLERR && POLLHUP == EPOLLHUP,
              "poll and epoll share their bit values, so one mask serves both backends");

namespace {

constexpr std::uint32_t kInterestMask = POLLIN | POLLPRI | POLLOUT | POLLRDHUP;
constexpr std::uint32_t kAlwaysReported = POLLERR | POLLHUP;

UringError::Kind kind_of(internal::RingRefusal::Kind kind) noexcept {
  switch (kind) {
    case internal::RingRefusal::Kind::kUnavailable:
      return UringError::Kind::Unavailable;
    case internal::RingRefusal::Kind::kOutOfResources:
      return UringError::Kind::OutOfResources;
    case internal::RingRefusal::Kind::kOther:
      break;
  }
  return UringError::Kind::Failed;
}

// Backend::Auto's fallback is said once per process, however many Urings.
void log_fallback_once(const std::string& reason) {
  static std::once_flag once;
  std::call_once(once, [&] {
    std::fprintf(stderr, "keel: io_uring refused (%s); the poll source runs on epoll (Backend::Auto)\n",
                 reason.c_str());
  });
}

}  // namespace

std::string_view to_string(Backend backend) noexcept {
  switch (backend) {
    case Backend::Auto:
      return "auto";
    case Backend::IoUring:
      return "io_uring";
    case Backend::Epoll:
      return "epoll";
  }
  return "?";
}

UringError::UringError(Kind kind, int error, const std::string& what)
    : std::system_error(error, std::system_category(), what), kind_(kind) {}

UringPoller UringInstaller::install(WorldBuilder& builder) && {
  Uring& uring = builder.emplace<Uring>(*this, builder.registry());
  return UringPoller(uring);
}

Uring::Uring(const UringInstaller& config, const Registry& registry) : registry_(&registry) {
  const unsigned entries = config.entries == 0 ? 1 : config.entries;
  std::string refused;
  if (config.backend != Backend::Epoll) {
    internal::RingRefusal refusal;
    if (std::unique_ptr<internal::RingBackend> ring =
            internal::RingBackend::open(entries, config.cq_entries, refusal)) {
      setup_flags_ = ring->setup_flags();
      description_ = "io_uring (" + internal::RingBackend::flag_names(setup_flags_) + "; " +
                     std::to_string(ring->sq_entries()) + " SQ / " + std::to_string(ring->cq_entries()) +
                     " CQ entries)";
      backend_kind_ = Backend::IoUring;
      backend_ = std::move(ring);
    } else if (config.backend == Backend::IoUring) {
      const UringError::Kind kind = kind_of(refusal.kind);
      std::string message = std::string("keel: Backend::IoUring: io_uring is ") +
                            (kind == UringError::Kind::OutOfResources ? "out of resources: " : "unavailable: ") +
                            refusal.reason;
      if (kind == UringError::Kind::Unavailable) message += "; Backend::Auto would run on epoll instead";
      throw UringError(kind, refusal.error, message);
    } else {
      refused = refusal.reason;
      log_fallback_once(refused);
    }
  }
  if (!backend_) {
    int error = 0;
    std::unique_ptr<internal::EpollBackend> epoll = internal::EpollBackend::open(entries, error);
    if (!epoll) {
      const bool resources = error == EMFILE || error == ENFILE || error == ENOMEM;
      throw UringError(resources ? UringError::Kind::OutOfResources : UringError::Kind::Failed, error,
                       "keel: epoll_create1 failed");
    }
    description_ = "epoll (edge-triggered; " + std::to_string(entries < 64 ? 64 : entries) + " events per wait)";
    if (!refused.empty()) description_ += "; io_uring refused: " + refused;
    backend_kind_ = Backend::Epoll;
    backend_ = std::move(epoll);
  }
  ready_.reserve(4 * std::size_t{entries});
}

Uring::~Uring() {
  // Handlers first, while the backend they may unwatch from still exists.
  slab_.clear();
  on_wake_.reset();
}

std::expected<Watch, std::error_code> Uring::add_watch(int fd, Events interest, WatchHandler&& handler) {
  const auto fail = [](int error) { return std::unexpected(std::error_code(error, std::system_category())); };
  const std::uint32_t bits = interest.bits();
  if (bits == 0 || (bits & ~kInterestMask) != 0) return fail(EINVAL);
  struct stat st {};
  if (fd < 0 || ::fstat(fd, &st) != 0) return fail(EBADF);
  // epoll refuses regular files and directories (EPERM); io_uring would
  // report them always ready. Refuse them on both, the same way.
  if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) return fail(EPERM);
  if (fd_slots_.contains(fd)) return fail(EEXIST);

  const std::uint32_t index = slab_.allocate(std::move(handler), fd, bits);
  const std::uint32_t generation = slab_.generation(index);
  try {
    fd_slots_.emplace(fd, index);
    if (const int error = backend_->add(fd, bits, internal::encode_user_data(internal::CompletionKind::kWatch,
                                                                             index, generation))) {
      fd_slots_.erase(fd);
      slab_.release(index);
      return fail(error);
    }
  } catch (...) {
    fd_slots_.erase(fd);
    slab_.release(index);
    throw;
  }
  return Watch(index, generation);
}

Watch Uring::watch_or_throw(int fd, std::expected<Watch, std::error_code> result) {
  if (result) return *result;
  const int error = result.error().value();
  const char* why = "could not be watched";
  switch (error) {
    case EBADF:
      why = "is not an open file descriptor";
      break;
    case EPERM:
      why = "is a regular file or a directory, which is always ready and cannot be watched";
      break;
    case EEXIST:
      why = "is already watched by this Uring; unwatch it first";
      break;
    case EINVAL:
      why = "was given an empty or unknown interest; use Readable, Writable, Priority, ReadHangup or a union";
      break;
    default:
      break;
  }
  const bool resources = error == ENOMEM || error == ENOSPC;
  throw UringError(resources ? UringError::Kind::OutOfResources : UringError::Kind::Failed, error,
                   "keel: Uring::watch: fd " + std::to_string(fd) + " " + why);
}

bool Uring::unwatch(Watch w) {
  if (!slab_.allocated(w.index_, w.generation_)) return false;
  const int fd = slab_.meta(w.index_).fd;
  backend_->remove(fd, internal::encode_user_data(internal::CompletionKind::kWatch, w.index_, w.generation_));
  fd_slots_.erase(fd);
  slab_.release(w.index_);
  return true;
}

UringWaker Uring::waker() {
  if (!wake_) {
    std::shared_ptr<internal::WakeState> state = internal::WakeState::create();
    if (const int error = backend_->add(state->fd(), POLLIN, internal::kWakeUserData)) {
      throw UringError(UringError::Kind::Failed, error, "keel: Uring::waker: cannot watch the waker's eventfd");
    }
    wake_ = std::move(state);
  }
  return UringWaker(wake_);
}

std::size_t Uring::poll(World& world, std::chrono::nanoseconds timeout) {
  if (&world.registry() != registry_) [[unlikely]] {
    throw ConfigError("keel: UringPoller::poll() was given another World than the one its Uring was installed in");
  }
  if (dispatching_) [[unlikely]] {
    throw ConfigError("keel: UringPoller::poll() called from inside a handler it is running; return from the "
                      "handler instead");
  }
  // Events left by a handler that threw run first, without waiting.
  if (cursor_ < ready_.size()) return dispatch(world);

  timeout = clamp_to_timers(timeout);
  // A zero timeout makes one pass: no clock read on the busy-polling path.
  const bool bounded = timeout != internal::kNoTimeout && timeout.count() > 0;
  const auto deadline = bounded ? std::chrono::steady_clock::now() + timeout : Instant{};
  for (;;) {
    ready_.clear();
    cursor_ = 0;
    woken_ = false;
    if (const internal::BackendFailure failure = backend_->wait(ready_, timeout)) throw_failure(failure);
    const bool collected = !ready_.empty();
    const std::size_t ran = dispatch(world);
    if (ran > 0 || woken_ || !collected || timeout.count() == 0) return ran;
    // Only completions that run nothing came (a removed watch's last one,
    // a removal's own, an empty mask): wait on for the time left, as if
    // they had not come.
    if (bounded) {
      timeout = std::chrono::ceil<std::chrono::nanoseconds>(deadline - std::chrono::steady_clock::now());
      if (timeout.count() <= 0) return 0;
    }
  }
}

std::chrono::nanoseconds Uring::clamp_to_timers(std::chrono::nanoseconds timeout) {
  if (!timers_resolved_) {
    // The World is frozen by now: the answer does not change.
    timers_ = registry_->try_resolve<TimerWheel>();
    timers_resolved_ = true;
  }
  if (timers_ == nullptr || timeout.count() == 0) return timeout;
  const std::optional<Instant> next = timers_->next_deadline();
  if (!next) return timeout;
  const auto left = std::chrono::ceil<std::chrono::nanoseconds>(*next - std::chrono::steady_clock::now());
  if (left.count() <= 0) return std::chrono::nanoseconds(0);
  return left < timeout ? left : timeout;
}

std::size_t Uring::dispatch(World& world) {
  dispatching_ = true;
  struct Done {
    bool& flag;
    ~Done() { flag = false; }
  } done{dispatching_};
  std::size_t ran = 0;
  while (cursor_ < ready_.size()) {
    const internal::Completion completion = ready_[cursor_++];
    switch (internal::user_data_kind(completion.user_data)) {
      case internal::CompletionKind::kWatch:
        ran += dispatch_watch(world, completion);
        break;
      case internal::CompletionKind::kWake:
        ran += dispatch_wake(world, completion);
        break;
      case internal::CompletionKind::kIgnore:
        break;
      case internal::CompletionKind::kOperation:
        // Wakes the task that awaits it (or settles an orphaned operation);
        // counted so that a blocking poll returns to run that task.
        if (operation_sink_ != nullptr) {
          operation_sink_(operation_sink_context_, completion);
          ++ran;
        }
        break;
    }
  }
  return ran;
}

std::size_t Uring::dispatch_watch(World& world, const internal::Completion& completion) {
  const std::uint32_t index = internal::user_data_index(completion.user_data);
  const std::uint32_t generation = internal::user_data_generation(completion.user_data);
  // A completion for a removed watch (or for an earlier watch in a reused slot).
  if (!slab_.allocated(index, generation)) [[unlikely]]
    return 0;
  const internal::WatchMeta& meta = slab_.meta(index);
  const bool ended = (completion.flags & internal::kCompletionMore) == 0;
  Readiness readiness;
  readiness.fd = meta.fd;
  readiness.watch = Watch(index, generation);
  if (completion.result >= 0) [[likely]] {
    readiness.events = Events(static_cast<std::uint32_t>(completion.result) & (meta.interest | kAlwaysReported));
    // The kernel ended the multishot poll (a full CQ, for one): arm it
    // again. The new poll checks readiness when armed, so nothing is missed.
    if (ended) backend_->rearm(meta.fd, meta.interest, completion.user_data);
  } else if (completion.result == -ECANCELED) {
    // Ended by the kernel, not by us (an unwatched watch is not live).
    if (ended) backend_->rearm(meta.fd, meta.interest, completion.user_data);
    return 0;
  } else {
    // The poll failed; it is not re-armed (it would fail again). The handler
    // hears of it once and should unwatch.
    readiness.events = PollError;
    readiness.error = -completion.result;
  }
  if (!readiness.events) return 0;
  world.next_sequence();
  run_watch(world, index, readiness);
  return 1;
}

void Uring::run_watch(World& world, std::uint32_t index, const Readiness& readiness) {
  WatchHandler handler = slab_.take(index);
  // Back into its slot after the call, also when it throws — unless the
  // watch was removed meanwhile (by the handler itself, say): then the local
  // dies here, after the call, and the slot may already serve a new watch.
  struct PutBack {
    Slab& slab;
    std::uint32_t index;
    std::uint32_t generation;
    WatchHandler& handler;
    ~PutBack() {
      if (slab.taken(index, generation)) slab.put_back(index, std::move(handler));
    }
  } put_back{slab_, index, readiness.watch.generation_, handler};
  handler.run(world, readiness);
}

std::size_t Uring::dispatch_wake(World& world, const internal::Completion& completion) {
  if (!wake_) return 0;
  if ((completion.flags & internal::kCompletionMore) == 0) backend_->rearm(wake_->fd(), POLLIN, completion.user_data);
  if (!wake_->drain()) return 0;
  woken_ = true;  // ends a blocking poll even when no handler is set
  if (!on_wake_) return 0;
  world.next_sequence();
  std::unique_ptr<Handler<const Woken&>> handler = std::move(on_wake_);
  struct PutBack {
    std::unique_ptr<Handler<const Woken&>>& slot;
    std::unique_ptr<Handler<const Woken&>>& handler;
    ~PutBack() {
      if (!slot) slot = std::move(handler);  // unless the handler set a new one
    }
  } put_back{on_wake_, handler};
  handler->run(world, Woken{});
  return 1;
}

void Uring::throw_failure(const internal::BackendFailure& failure) const {
  std::string message = std::string("keel: the poll source's ") + failure.operation + " failed";
  if (failure.error == EEXIST && (setup_flags_ & IORING_SETUP_SINGLE_ISSUER) != 0) {
    message += " (EEXIST): polled from a thread other than the first one that polled; an io_uring set up "
               "with SINGLE_ISSUER belongs to that thread";
  }
  throw UringError(UringError::Kind::Failed, failure.error, message);
}

}  // namespace keel

#include "rt/internal/epoll_backend.h"

#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <climits>

namespace keel::internal {
namespace {

// Rounds of epoll_wait per wait() when each one fills the buffer: enough to
// collect a burst without starving the loop; the rest stays in epoll's
// ready list for the next wait().
constexpr int kMaxRounds = 4;

int to_milliseconds(std::chrono::nanoseconds timeout) noexcept {
  if (timeout == kNoTimeout) return -1;
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(timeout).count();
  return ms > INT_MAX ? INT_MAX : static_cast<int>(ms);
}

}  // namespace

std::unique_ptr<EpollBackend> EpollBackend::open(unsigned max_events, int& error) {
  const int epfd = epoll_create1(EPOLL_CLOEXEC);
  if (epfd < 0) {
    error = errno;
    return nullptr;
  }
  return std::unique_ptr<EpollBackend>(new EpollBackend(epfd, max_events < 64 ? 64 : max_events));
}

EpollBackend::EpollBackend(int epfd, unsigned max_events) : epfd_(epfd), events_(max_events) {}

EpollBackend::~EpollBackend() { ::close(epfd_); }

int EpollBackend::add(int fd, std::uint32_t events, std::uint64_t user_data) {
  epoll_event event{};
  event.events = events | EPOLLET;
  event.data.u64 = user_data;
  return epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &event) == 0 ? 0 : errno;
}

void EpollBackend::rearm(int, std::uint32_t, std::uint64_t) {
  // Never asked: epoll completions always carry kCompletionMore.
}

void EpollBackend::remove(int fd, std::uint64_t) {
  // ENOENT/EBADF: the file was closed before it was unwatched, which
  // removed it from the set already. Nothing else can fail here.
  epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr);
}

int EpollBackend::wait_once(std::chrono::nanoseconds timeout) {
  const int capacity = static_cast<int>(events_.size());
  // epoll_pwait2 only where its nanoseconds matter: zero and "no timeout"
  // take epoll_wait's cheaper path.
  if (have_pwait2_ && timeout.count() > 0 && timeout != kNoTimeout) {
    timespec ts{};
    ts.tv_sec = static_cast<time_t>(timeout.count() / 1'000'000'000);
    ts.tv_nsec = static_cast<long>(timeout.count() % 1'000'000'000);
    const int n = epoll_pwait2(epfd_, events_.data(), capacity, &ts, nullptr);
    if (n >= 0 || errno != ENOSYS) return n;
    have_pwait2_ = false;  // before Linux 5.11: millisecond timeouts, rounded up
  }
  return epoll_wait(epfd_, events_.data(), capacity, to_milliseconds(timeout));
}

BackendFailure EpollBackend::wait(std::vector<Completion>& out, std::chrono::nanoseconds timeout) {
  const bool bounded = timeout != kNoTimeout && timeout.count() > 0;
  const auto deadline = bounded ? std::chrono::steady_clock::now() + timeout : std::chrono::steady_clock::time_point{};
  for (int round = 0; round < kMaxRounds; ++round) {
    std::chrono::nanoseconds left = round == 0 ? timeout : std::chrono::nanoseconds(0);
    int n = wait_once(left);
    while (n < 0 && errno == EINTR) {
      // A signal, or task work the kernel queued for this thread (closing
      // an io_uring does that), interrupted the wait: resume it for the time
      // left. To end a wait from a signal handler, call UringWaker::wake().
      if (bounded && left.count() > 0) {
        left = std::chrono::ceil<std::chrono::nanoseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() < 0) left = std::chrono::nanoseconds(0);
      }
      n = wait_once(left);
    }
    if (n < 0) return {errno, "epoll_wait"};
    out.reserve(out.size() + static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
      const epoll_event& event = events_[static_cast<std::size_t>(i)];
      out.push_back(Completion{event.data.u64, static_cast<std::int32_t>(event.events & ~EPOLLET), kCompletionMore});
    }
    if (static_cast<std::size_t>(n) < events_.size()) break;
  }
  return {};
}

}  // namespace keel::internal

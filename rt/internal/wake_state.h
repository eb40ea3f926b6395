// WakeState: the shared half of keel::UringWaker — an eventfd that the poll
// source watches, and a flag that coalesces wakes so that a burst of wake()
// calls costs one write(2) between two polls.
//
// Owned by std::shared_ptr: the Uring holds one reference and every
// UringWaker copy another, so a waker that outlives its Uring writes to a
// live (unwatched) eventfd instead of a closed — possibly reused — fd number.
//
// Protocol. wake() (any thread): flip `pending_` false→true; the thread that
// flips it writes the eventfd. drain() (the loop thread, on the eventfd's
// readiness): read the eventfd, *then* flip `pending_` back to false.
//   - No lost wake: the wake() that sets pending_ writes afterwards, and
//     that write makes the eventfd ready, so a drain() follows it; that
//     drain()'s exchange comes after the set and clears the flag (reporting
//     true), and any wake() after the clear writes again.
//   - The order inside drain() matters. Clearing before the read could
//     consume the write of a wake() that set the flag just after the clear:
//     the flag would stay set with no readiness left to clear it, and every
//     later wake() would see `true` and skip its write — the loop would
//     never be woken again.
//   - Visibility: wake() and drain() exchange with acq_rel; drain()'s
//     exchange reads the last wake()'s value (a release sequence of RMWs),
//     so what a thread wrote before wake() is visible to the on_wake
//     handler that runs after a drain() returning true.
#pragma once

#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <memory>
#include <system_error>

namespace keel::internal {

class WakeState {
 public:
  // wake() is called from signal handlers too: it must not take a lock.
  static_assert(std::atomic<bool>::is_always_lock_free && std::atomic<std::uint64_t>::is_always_lock_free);

  // Throws std::system_error when no eventfd can be created.
  static std::shared_ptr<WakeState> create() {
    const int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fd < 0) throw std::system_error(errno, std::system_category(), "keel: eventfd for the Uring waker");
    return std::shared_ptr<WakeState>(new WakeState(fd));
  }

  WakeState(const WakeState&) = delete;
  WakeState& operator=(const WakeState&) = delete;
  ~WakeState() { ::close(fd_); }

  int fd() const noexcept { return fd_; }

  // Any thread. Makes the loop's next (or current) poll return and, when a
  // handler is set, run it. Lock-free; one syscall per burst.
  void wake() noexcept {
    wakes_.fetch_add(1, std::memory_order_relaxed);
    // SAFETY: acq_rel: release publishes what the caller wrote before
    // wake() to the drain() that clears the flag (acquire there); acquire
    // orders this after the previous drain's clear. Only the flipping call
    // writes the eventfd; see the protocol in the header comment.
    if (!pending_.exchange(true, std::memory_order_acq_rel)) signal();
  }

  // The loop thread, when the eventfd is readable: true when at least one
  // wake() happened since the last drain() that returned true.
  bool drain() noexcept {
    std::uint64_t count = 0;
    while (::read(fd_, &count, sizeof count) < 0 && errno == EINTR) {
    }
    // SAFETY: read first, clear second (see the protocol): a wake() whose
    // write the read above consumed has set the flag already, so this
    // exchange clears it and reports it. acq_rel pairs with wake()'s.
    return pending_.exchange(false, std::memory_order_acq_rel);
  }

  // How many wake() calls were made (relaxed: a statistic, for tests).
  std::uint64_t wakes() const noexcept { return wakes_.load(std::memory_order_relaxed); }

 private:
  explicit WakeState(int fd) noexcept : fd_(fd) {}

  void signal() noexcept {
    const std::uint64_t one = 1;
    // EAGAIN would mean a counter near 2^64: impossible, as writes are
    // coalesced to one per drain.
    while (::write(fd_, &one, sizeof one) < 0 && errno == EINTR) {
    }
  }

  const int fd_;
  std::atomic<bool> pending_{false};
  std::atomic<std::uint64_t> wakes_{0};
};

}  // namespace keel::internal

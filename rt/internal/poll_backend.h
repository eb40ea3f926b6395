// PollBackend: what keel::Uring asks of the kernel, whichever mechanism
// answers — io_uring multishot poll (rt/internal/ring.h) or edge-triggered
// epoll (rt/internal/epoll_backend.h). The Uring owns watches, handlers and
// dispatch; a backend only arms, disarms and collects completions.
//
// A completion names its registration by a 64-bit user_data chosen by the
// Uring: a kind (a watch, the internal waker, or "ignore"), a slot index and
// the slot's generation, so a completion that arrives after its watch was
// removed (or its slot reused) is recognised as stale and skipped.
#pragma once

#include <chrono>
#include <cstdint>
#include <vector>

namespace keel::internal {

// --- user_data encoding --------------------------------------------------------
//
//   bits 63..62  kind
//   bits 61..32  generation (30 bits; 0 is never a live generation)
//   bits 31..0   slot index
//
// Kind 3 names a completion-based operation (keel::async's IO); its slot
// indices stay below 2^32 - 1, because liburing reserves user_data ~0 for
// its own timeouts.

enum class CompletionKind : std::uint32_t { kWatch = 0, kWake = 1, kIgnore = 2, kOperation = 3 };

inline constexpr std::uint32_t kGenerationBits = 30;
inline constexpr std::uint32_t kGenerationMask = (std::uint32_t{1} << kGenerationBits) - 1;

constexpr std::uint64_t encode_user_data(CompletionKind kind, std::uint32_t index, std::uint32_t generation) noexcept {
  return (static_cast<std::uint64_t>(kind) << 62) |
         (static_cast<std::uint64_t>(generation & kGenerationMask) << 32) | index;
}
constexpr CompletionKind user_data_kind(std::uint64_t user_data) noexcept {
  return static_cast<CompletionKind>(user_data >> 62);
}
constexpr std::uint32_t user_data_generation(std::uint64_t user_data) noexcept {
  return static_cast<std::uint32_t>(user_data >> 32) & kGenerationMask;
}
constexpr std::uint32_t user_data_index(std::uint64_t user_data) noexcept {
  return static_cast<std::uint32_t>(user_data);
}

inline constexpr std::uint64_t kWakeUserData = encode_user_data(CompletionKind::kWake, 0, 1);
inline constexpr std::uint64_t kIgnoredUserData = encode_user_data(CompletionKind::kIgnore, 0, 0);

// --- completions -----------------------------------------------------------------

// Set in Completion::flags when the registration stays armed (io_uring's
// IORING_CQE_F_MORE; always set by epoll, whose registrations persist).
inline constexpr std::uint32_t kCompletionMore = 1;

struct Completion {
  std::uint64_t user_data;
  std::int32_t result;  // poll mask (POLLIN... bits), bytes moved, a new fd, or -errno
  std::uint32_t flags;  // kCompletionMore
  std::uint32_t cqe_flags = 0;  // io_uring's own IORING_CQE_F_* bits (buffer id, notification); 0 on epoll
};

// An error a backend could not handle itself: the errno and the call that
// failed (a string literal).
struct BackendFailure {
  int error = 0;
  const char* operation = "";
  explicit operator bool() const noexcept { return error != 0; }
};

// Timeout meaning "wait until something is ready".
inline constexpr std::chrono::nanoseconds kNoTimeout = std::chrono::nanoseconds::max();

class PollBackend {
 public:
  PollBackend() = default;
  PollBackend(const PollBackend&) = delete;
  PollBackend& operator=(const PollBackend&) = delete;
  virtual ~PollBackend() = default;

  virtual bool is_io_uring() const noexcept = 0;

  // Starts readiness notification for `fd` (events: POLLIN/POLLOUT/...
  // bits), reported with `user_data`. io_uring: queued, submitted by the
  // next wait(), never a syscall here; epoll: registered now. Returns 0 or
  // an errno.
  virtual int add(int fd, std::uint32_t events, std::uint64_t user_data) = 0;

  // Arms again a registration the kernel ended (a completion without
  // kCompletionMore). Queued like add(). Only io_uring ever needs it.
  virtual void rearm(int fd, std::uint32_t events, std::uint64_t user_data) = 0;

  // Stops notification for (fd, user_data). Completions already produced
  // may still be delivered; the caller recognises and skips them.
  virtual void remove(int fd, std::uint64_t user_data) = 0;

  // Submits what is queued, waits up to `timeout` (zero: not at all;
  // kNoTimeout: until something is ready) and appends every completion
  // available to `out`. An interrupted wait (EINTR: a signal, or task work
  // the kernel queued) is resumed for the time left; nothing is lost.
  // Returns a failure for errors it cannot handle.
  virtual BackendFailure wait(std::vector<Completion>& out, std::chrono::nanoseconds timeout) = 0;
};

}  // namespace keel::internal

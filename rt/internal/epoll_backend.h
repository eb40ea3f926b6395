// EpollBackend: keel::Uring's fallback when io_uring is refused (seccomp,
// io_uring_disabled, old kernels) or when Backend::Epoll is asked for.
//
// Registrations are edge-triggered (EPOLLET). That is what matches io_uring's
// multishot poll, measured on Linux 6.x: both post a notification when the
// file's wait queue is woken (data arrives, space frees up) and re-check the
// readiness mask at that moment; neither repeats a notification for a file
// that stays ready without a new wake-up. Level-triggered epoll would
// repeat it, so a handler that leaves data unread would run again on epoll
// and not on io_uring. With EPOLLET both backends deliver the same events,
// the same way: handlers read until EAGAIN.
//
// Registrations persist, so every completion carries kCompletionMore and
// rearm() is never needed; add() and remove() are epoll_ctl calls, made at
// once, from any thread.
#pragma once

#include <sys/epoll.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "rt/internal/poll_backend.h"

namespace keel::internal {

class EpollBackend final : public PollBackend {
 public:
  // An epoll instance returning up to `max_events` per epoll_wait. On
  // failure `error` is the errno and nullptr is returned.
  static std::unique_ptr<EpollBackend> open(unsigned max_events, int& error);

  ~EpollBackend() override;

  bool is_io_uring() const noexcept override { return false; }
  int add(int fd, std::uint32_t events, std::uint64_t user_data) override;
  void rearm(int fd, std::uint32_t events, std::uint64_t user_data) override;
  void remove(int fd, std::uint64_t user_data) override;
  BackendFailure wait(std::vector<Completion>& out, std::chrono::nanoseconds timeout) override;

 private:
  EpollBackend(int epfd, unsigned max_events);
  int wait_once(std::chrono::nanoseconds timeout);

  int epfd_;
  bool have_pwait2_ = true;  // epoll_pwait2 (Linux 5.11): nanosecond timeouts
  std::vector<epoll_event> events_;
};

}  // namespace keel::internal

// UringOperations: the door through which keel::async's completion-based
// IO uses a Uring's ring — submission entries for its operations, the sink
// their completions go to, and a reap that collects only those. On epoll,
// the same sink hears the readiness of the fds its operations wait on.
//
// The Uring keeps owning the ring and the wait; operations ride along: an
// entry filled here is submitted by the next poll, and each completion
// whose user_data is of CompletionKind::kOperation is handed to the sink
// during dispatch instead of to a watch handler.
//
//   internal::UringOperations ops(uring);
//   ops.set_sink(&Driver::complete, &driver);
//   if (io_uring_sqe* sqe = ops.sqe()) io_uring_prep_recv(sqe, fd, p, n, 0);
//
// Not for user code, and only on the loop thread.
#pragma once

#include <liburing.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>

#include "rt/internal/poll_backend.h"
#include "rt/internal/ring.h"
#include "rt/uring.h"

namespace keel::internal {

class UringOperations {
 public:
  using Sink = void (*)(void* context, const Completion& completion);

  // SAFETY: backend_kind_ names the backend the Uring made, so the cast is
  // to its real type; the backend lives as long as the Uring.
  explicit UringOperations(Uring& uring) noexcept
      : uring_(&uring),
        ring_(uring.backend_kind_ == Backend::IoUring ? static_cast<RingBackend*>(uring.backend_.get()) : nullptr) {}

  // False on the epoll backend: operations then run as readiness plus
  // non-blocking system calls.
  bool completion_based() const noexcept { return ring_ != nullptr; }

  // An entry to fill, submitted by the next poll; nullptr when the SQ is
  // full and cannot be submitted, or on epoll.
  io_uring_sqe* sqe() {
    if (ring_ == nullptr) return nullptr;
    if (io_uring_sqe* sqe = io_uring_get_sqe(&ring_->raw())) return sqe;
    return ring_->operation_sqe(uring_->ready_);  // a full SQ is submitted first
  }

  // epoll: edge-triggered readiness of `fd` for `events` (EPOLLIN...),
  // reported to the sink as completions named `user_data` (of
  // CompletionKind::kOperation; the result is the event mask) until
  // unwatch_readiness. Without a World watch, its handler slot and its
  // dispatch: the IO driver's sources are the runtime's own. Returns 0 or
  // the errno.
  int watch_readiness(int fd, std::uint32_t events, std::uint64_t user_data) {
    return uring_->backend_->add(fd, events, user_data);
  }
  void unwatch_readiness(int fd, std::uint64_t user_data) { uring_->backend_->remove(fd, user_data); }

  // The raw ring for registrations; only when completion_based().
  io_uring& ring() noexcept { return ring_->raw(); }

  // Where kOperation completions go; nullptr stops them (they are dropped).
  void set_sink(Sink sink, void* context) noexcept {
    uring_->operation_sink_ = sink;
    uring_->operation_sink_context_ = context;
  }

  // What wait_for_operations() did.
  struct DirectWait {
    std::size_t delivered = 0;  // operations' completions handed on
    bool others_queued = false;  // other completions wait in the Uring for a poll to dispatch
  };

  // One unbounded wait on the ring, for a runtime with nothing to wait for
  // but its operations: each operation's completion goes straight to
  // on_operation(completion) as it is read from the CQ (on epoll: each
  // readiness of an operation's fd, as epoll reports it); every other
  // completion (a watch's readiness, a wake) is queued in the Uring, which
  // its next poll dispatches first, without waiting. std::nullopt, with
  // nothing done, when only a full poll will do: the ring not yet enabled,
  // arms queued, completions not yet dispatched, an overflowed CQ, a
  // failed submit or wait (the poll reports it). Not from inside a handler.
  template <class OnOperation>
  std::optional<DirectWait> wait_for_operations(OnOperation&& on_operation) {
    Uring& u = *uring_;
    if (u.cursor_ < u.ready_.size() || u.dispatching_) return std::nullopt;
    if (ring_ == nullptr) return wait_for_readiness(on_operation);
    if (!ring_->direct_wait_ready()) return std::nullopt;
    const int rc = ring_->submit_and_wait_one();
    if (rc < 0 && rc != -EINTR) return std::nullopt;
    u.ready_.clear();
    u.cursor_ = 0;
    DirectWait done;
    ring_->drain(
        [&](const Completion&) {
          // Room first: a completion is consumed only once it has a place.
          if (u.ready_.size() == u.ready_.capacity()) u.ready_.reserve(u.ready_.size() + 16);
        },
        [&](const Completion& c) {
          if (user_data_kind(c.user_data) == CompletionKind::kOperation) {
            ++done.delivered;
            on_operation(c);
          } else {
            u.ready_.push_back(c);
            done.others_queued = true;
          }
        });
    return done;
  }

  // wait_for_operations() on epoll: the readiness of the operations' fds
  // goes to on_operation; the rest stays queued, in order, for the next
  // poll. A failed wait is left to that poll too (it reports the error).
  template <class OnOperation>
  std::optional<DirectWait> wait_for_readiness(OnOperation& on_operation) {
    Uring& u = *uring_;
    u.ready_.clear();
    u.cursor_ = 0;
    if (u.backend_->wait(u.ready_, kNoTimeout)) return std::nullopt;
    DirectWait done;
    done.delivered = take_operations(0, on_operation);
    done.others_queued = !u.ready_.empty();
    return done;
  }

  // Submits what is queued, waits up to `timeout` for completions and hands
  // those of operations to the sink at once; other completions stay queued
  // for the Uring's next poll, which runs them first. For a runtime that
  // must see its operations end before it goes. Returns how many went to
  // the sink; a kernel failure is returned as a negative errno.
  int reap(std::chrono::nanoseconds timeout) {
    Uring& u = *uring_;
    const std::size_t first = u.cursor_;
    if (const BackendFailure failure = u.backend_->wait(u.ready_, timeout)) return -failure.error;
    return static_cast<int>(take_operations(first, [&u](const Completion& c) {
      if (u.operation_sink_ != nullptr) u.operation_sink_(u.operation_sink_context_, c);
    }));
  }

 private:
  // Hands each operation completion in the Uring's list, from `first` (the
  // first one no poll has dispatched) on, to on_operation once, and keeps
  // every other kind, in order, for the next poll; how many it handed on.
  template <class OnOperation>
  std::size_t take_operations(std::size_t first, OnOperation&& on_operation) {
    Uring& u = *uring_;
    std::size_t kept = first;
    std::size_t delivered = 0;
    // SAFETY: on_operation may add to the list (a full SQ submitted while
    // it settles an operation harvests), which may move its storage: each
    // entry is copied out before it runs, the list is indexed again after
    // it, and what was added is taken in turn. Kept entries move to `kept`,
    // never past the one being read.
    for (std::size_t i = first; i < u.ready_.size(); ++i) {
      const Completion c = u.ready_[i];
      if (user_data_kind(c.user_data) == CompletionKind::kOperation) {
        ++delivered;
        on_operation(c);
      } else {
        u.ready_[kept++] = c;
      }
    }
    u.ready_.resize(kept);
    return delivered;
  }

  Uring* uring_;
  RingBackend* ring_;
};

}  // namespace keel::internal

// RawRing: the ring of the hand-written liburing echoes (echo_raw_uring.cc,
// echo_raw_coro.cc). Setup flags are probed as Keel probes them
// (SINGLE_ISSUER|DEFER_TASKRUN, else COOP_TASKRUN, else none); an SQE is
// taken after submitting a full SQ; a pass submits, waits for one
// completion and hands over every completion there is.
//
//   RawRing ring;
//   io_uring_prep_nop(ring.sqe());
//   ring.run_once([](const io_uring_cqe& cqe) { use(cqe.res); });
#pragma once

#include <liburing.h>

#include <cerrno>
#include <stdexcept>

#include "bench/echo_support.h"

namespace keel::bench::echo {

class RawRing {
 public:
  RawRing() {
    constexpr unsigned kEntries = 64;
    int result = -EINVAL;
    for (const unsigned flags : {IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
                                 unsigned{IORING_SETUP_COOP_TASKRUN}, 0u}) {
      io_uring_params params{};
      params.flags = flags;
      result = io_uring_queue_init_params(kEntries, &ring_, &params);
      if (result != -EINVAL) break;
    }
    if (result < 0) throw_errno(-result, "io_uring_queue_init_params");
  }
  RawRing(const RawRing&) = delete;
  RawRing& operator=(const RawRing&) = delete;
  ~RawRing() { io_uring_queue_exit(&ring_); }

  io_uring_sqe* sqe() {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    if (sqe == nullptr) {
      io_uring_submit(&ring_);
      sqe = io_uring_get_sqe(&ring_);
      if (sqe == nullptr) throw std::runtime_error("io_uring: no free SQE after a submit");
    }
    return sqe;
  }

  // Submits what is queued, waits for at least one completion and calls
  // on_completion(cqe) for every completion there is.
  template <class OnCompletion>
  void run_once(OnCompletion&& on_completion) {
    const int submitted = io_uring_submit_and_wait(&ring_, 1);
    if (submitted < 0 && submitted != -EINTR) throw_errno(-submitted, "io_uring_submit_and_wait");
    unsigned head;
    unsigned seen = 0;
    io_uring_cqe* cqe;
    io_uring_for_each_cqe(&ring_, head, cqe) {
      on_completion(*cqe);
      ++seen;
    }
    io_uring_cq_advance(&ring_, seen);
  }

 private:
  io_uring ring_{};
};

}  // namespace keel::bench::echo

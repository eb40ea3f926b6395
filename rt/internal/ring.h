// RingBackend: keel::Uring's io_uring backend — the only code that touches
// the memory io_uring shares with the kernel (the SQ and CQ rings, through
// liburing's inline accessors).
//
// Readiness is a multishot poll per watch (IORING_OP_POLL_ADD with
// IORING_POLL_ADD_MULTI), re-armed by the Uring when a completion arrives
// without IORING_CQE_F_MORE. Arms and removals are queued in `pending_` and
// written to the SQ by wait(), so add()/remove() never enter the kernel and
// may run on any thread before the first wait(); when the SQ is full, wait()
// submits what is there and continues (nothing is dropped).
//
// Setup flags are probed, not assumed: SINGLE_ISSUER|DEFER_TASKRUN, then
// COOP_TASKRUN, then none, each step taken only when the kernel answers
// EINVAL, and each tried first with TASKRUN_FLAG, with which a poll that
// must not wait enters the kernel only when the ring shows work for it. The ring is created disabled (IORING_SETUP_R_DISABLED) and enabled
// by the first wait(), so the single issuer is the thread that polls, not
// the one that built the World. The CQ is sized larger than the SQ
// (IORING_SETUP_CQSIZE, 4x by default); when it overflows anyway the kernel
// keeps the completions (IORING_FEAT_NODROP) and sets IORING_SQ_CQ_OVERFLOW,
// which harvest() checks and drains with io_uring_get_events().
#pragma once

#include <liburing.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "rt/internal/poll_backend.h"

namespace keel::internal {

// Why a ring could not be created.
struct RingRefusal {
  enum class Kind { kUnavailable, kOutOfResources, kOther };
  Kind kind = Kind::kOther;
  int error = 0;       // errno
  std::string reason;  // a sentence for the user: what failed and what to do
};

// Test hook: while one is alive, ring setups fail the way the kernel would,
// without asking it. Not thread-safe against concurrent setups; for tests.
struct RingSetupFault {
  int error = 0;                        // io_uring_setup answers -error (EPERM, ENOSYS, ENOMEM...)
  unsigned einval_flags = 0;            // ...or -EINVAL for flag sets containing any of these bits
  const char* disabled_file = nullptr;  // read instead of /proc/sys/kernel/io_uring_disabled
};

class ScopedRingSetupFault {
 public:
  explicit ScopedRingSetupFault(RingSetupFault fault) noexcept;
  ScopedRingSetupFault(const ScopedRingSetupFault&) = delete;
  ScopedRingSetupFault& operator=(const ScopedRingSetupFault&) = delete;
  ~ScopedRingSetupFault();

 private:
  RingSetupFault fault_;
  const RingSetupFault* previous_;
};

class RingBackend final : public PollBackend {
 public:
  // Creates a ring of `entries` SQ entries and `cq_entries` CQ entries
  // (0: 4x entries), probing setup flags. On failure `refusal` says why and
  // nullptr is returned.
  static std::unique_ptr<RingBackend> open(unsigned entries, unsigned cq_entries, RingRefusal& refusal);

  ~RingBackend() override;

  bool is_io_uring() const noexcept override { return true; }
  int add(int fd, std::uint32_t events, std::uint64_t user_data) override;
  void rearm(int fd, std::uint32_t events, std::uint64_t user_data) override;
  void remove(int fd, std::uint64_t user_data) override;
  BackendFailure wait(std::vector<Completion>& out, std::chrono::nanoseconds timeout) override;

  // The IORING_SETUP_* flags the kernel accepted (R_DISABLED, CQSIZE and
  // CLAMP included) and the ring's sizes.
  unsigned setup_flags() const noexcept { return flags_; }
  unsigned sq_entries() const noexcept { return sq_entries_; }
  unsigned cq_entries() const noexcept { return cq_entries_; }
  // "SINGLE_ISSUER|DEFER_TASKRUN" and the like: the probed flags by name.
  static std::string flag_names(unsigned flags);

  // A submission entry for a completion-based operation (keel::async's
  // IO), which the caller fills and the next wait() submits. When the SQ
  // is full, what is queued is submitted first (completions collected on
  // the way go to `out`); nullptr when the kernel refuses even that.
  io_uring_sqe* operation_sqe(std::vector<Completion>& out);
  // Whether a wait may go straight to the kernel: the ring is enabled, no
  // arm or removal is queued, and the kernel holds no overflowed
  // completions (which harvest() would have to flush).
  bool direct_wait_ready() const noexcept {
    return enabled_ && pending_.empty() && !io_uring_cq_has_overflow(&ring_);
  }
  // Submits the SQ and waits for one completion; 0 or the -errno of
  // io_uring_enter (-EINTR included).
  int submit_and_wait_one() noexcept {
    const int rc = io_uring_submit_and_wait(&ring_, 1);
    return rc < 0 ? rc : 0;
  }
  // Hands every completion in the CQ to take(completion), in order;
  // prepare(completion) runs first, while the CQE is still the kernel's to
  // keep, so what it throws (making room) loses nothing. The one reader of
  // the CQ: harvest() and UringOperations::wait_for_operations use it.
  template <class Prepare, class Take>
  void drain(Prepare&& prepare, Take&& take) {
    for (;;) {
      // SAFETY: the tail is read with acquire ordering, so the CQE at our
      // head is fully written; it is copied out before the new head is
      // published (release), after which the kernel may reuse its slot.
      // Head and tail are read again for each CQE: take() may submit, and
      // a full SQ's submit harvests before it returns.
      const unsigned head = *ring_.cq.khead;
      if (head == io_uring_smp_load_acquire(ring_.cq.ktail)) return;
      const io_uring_cqe& cqe = ring_.cq.cqes[io_uring_cqe_index(&ring_, head, ring_.cq.ring_mask)];
      const Completion completion{cqe.user_data, cqe.res, (cqe.flags & IORING_CQE_F_MORE) ? kCompletionMore : 0u,
                                  cqe.flags};
      prepare(completion);
      io_uring_smp_store_release(ring_.cq.khead, head + 1);
      take(completion);
    }
  }
  // The ring itself, for registrations (buffer rings, fixed buffers).
  io_uring& raw() noexcept { return ring_; }

  // Operations queued for the next wait(), for tests.
  std::size_t pending() const noexcept { return pending_.size(); }

 private:
  struct PendingOp {
    std::uint64_t user_data;
    int fd;  // -1: a removal of the poll named by user_data
    std::uint32_t events;
  };

  RingBackend() = default;
  int enable();
  BackendFailure flush_pending(std::vector<Completion>& out);
  int submit(std::vector<Completion>& out);
  // True unless the ring shows it has nothing to submit, no task work and
  // no overflowed completions (needs IORING_SETUP_TASKRUN_FLAG to tell).
  bool kernel_holds_work() const noexcept;
  int enter_no_wait(std::vector<Completion>& out);
  int enter_and_wait(std::vector<Completion>& out, std::chrono::nanoseconds timeout);
  void harvest(std::vector<Completion>& out);

  io_uring ring_{};
  std::vector<PendingOp> pending_;
  unsigned flags_ = 0;
  unsigned sq_entries_ = 0;
  unsigned cq_entries_ = 0;
  bool open_ = false;  // set up: io_uring_queue_exit() owed
  bool enabled_ = false;
};

}  // namespace keel::internal

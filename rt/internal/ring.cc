#include "rt/internal/ring.h"

#include <sys/resource.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

namespace keel::internal {
namespace {

std::atomic<const RingSetupFault*> g_setup_fault{nullptr};

const RingSetupFault* current_fault() noexcept {
  // SAFETY: acquire pairs with the release in ScopedRingSetupFault, so the
  // fault's fields are visible; the object outlives every setup made while
  // it is installed (the scope that installed it is still running).
  return g_setup_fault.load(std::memory_order_acquire);
}

// /proc/sys/kernel/io_uring_disabled: 0 allowed, 1 only for
// kernel.io_uring_group (or CAP_SYS_ADMIN), 2 disabled. -1 when unreadable
// (kernels before 6.6 have no such file: io_uring is allowed).
int read_io_uring_disabled() noexcept {
  const RingSetupFault* fault = current_fault();
  const char* path =
      fault && fault->disabled_file ? fault->disabled_file : "/proc/sys/kernel/io_uring_disabled";
  std::FILE* file = std::fopen(path, "re");
  if (file == nullptr) return -1;
  int value = -1;
  if (std::fscanf(file, "%d", &value) != 1) value = -1;
  std::fclose(file);
  return value;
}

int setup_ring(unsigned entries, io_uring& ring, io_uring_params& params) noexcept {
  if (const RingSetupFault* fault = current_fault()) {
    if ((params.flags & fault->einval_flags) != 0) return -EINVAL;
    if (fault->error != 0) return -fault->error;
  }
  return io_uring_queue_init_params(entries, &ring, &params);
}

std::string memlock_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_MEMLOCK, &limit) != 0) return "unknown";
  if (limit.rlim_cur == RLIM_INFINITY) return "unlimited";
  return std::to_string(limit.rlim_cur / 1024) + " KiB";
}

RingRefusal refusal_for(int error, int disabled, unsigned entries, unsigned cq_entries) {
  RingRefusal refusal;
  refusal.error = error;
  const std::string call = std::string("io_uring_setup failed with ") + strerrorname_np(error);
  switch (error) {
    case EPERM:
    case EACCES:
      refusal.kind = RingRefusal::Kind::kUnavailable;
      refusal.reason = call + " (" + std::strerror(error) + "): ";
      if (disabled == 1) {
        refusal.reason += "kernel.io_uring_disabled is 1, so only members of kernel.io_uring_group may create rings";
      } else {
        refusal.reason += "io_uring is blocked for this process, typically by a seccomp profile (Docker's and "
                          "Podman's default profiles block it)";
      }
      break;
    case ENOSYS:
      refusal.kind = RingRefusal::Kind::kUnavailable;
      refusal.reason = call + ": this kernel has no io_uring (built without CONFIG_IO_URING, older than 5.1, or "
                              "the system call is filtered)";
      break;
    case ENOMEM:
      refusal.kind = RingRefusal::Kind::kOutOfResources;
      refusal.reason = call + ": no memory for a ring of " + std::to_string(entries) + " SQ / " +
                       std::to_string(cq_entries) +
                       " CQ entries; before Linux 5.12 rings count against RLIMIT_MEMLOCK (here " + memlock_limit() +
                       "): raise it (ulimit -l) or lower UringInstaller::entries";
      break;
    case EMFILE:
    case ENFILE:
      refusal.kind = RingRefusal::Kind::kOutOfResources;
      refusal.reason = call + ": no file descriptor left for the ring (RLIMIT_NOFILE or the system-wide limit)";
      break;
    default:
      refusal.kind = RingRefusal::Kind::kOther;
      refusal.reason = call + " (" + std::strerror(error) + ")";
      break;
  }
  return refusal;
}

constexpr unsigned kSizeFlags = IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP;

// Tried in order; the next is taken only when the kernel answers EINVAL.
// TASKRUN_FLAG makes the kernel say in the SQ ring's flags when it holds
// task work, so a poll that must not wait can skip the system call when
// there is none (see enter_no_wait); each step tries it first.
constexpr unsigned kDeferTaskrun = IORING_SETUP_R_DISABLED | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
constexpr unsigned kCoopTaskrun = IORING_SETUP_R_DISABLED | IORING_SETUP_COOP_TASKRUN;
constexpr unsigned kCandidateFlags[] = {
    kDeferTaskrun | IORING_SETUP_TASKRUN_FLAG | kSizeFlags,  // 6.1+
    kDeferTaskrun | kSizeFlags,
    kCoopTaskrun | IORING_SETUP_TASKRUN_FLAG | kSizeFlags,  // 5.19+
    kCoopTaskrun | kSizeFlags,
    IORING_SETUP_R_DISABLED | kSizeFlags,                                                            // 5.10+
    kSizeFlags,                                                                                      // 5.6+
    0,
};

__kernel_timespec to_timespec(std::chrono::nanoseconds timeout) noexcept {
  __kernel_timespec ts{};
  ts.tv_sec = static_cast<long long>(timeout.count() / 1'000'000'000);
  ts.tv_nsec = static_cast<long long>(timeout.count() % 1'000'000'000);
  return ts;
}

// Retries of a submission the kernel refuses for want of room (EAGAIN,
// EBUSY) before giving up; each retry first empties the CQ.
constexpr int kMaxBusyRetries = 1000;
// CQ-sized batches drained from the kernel's overflow list per harvest.
constexpr int kMaxOverflowRounds = 4096;

}  // namespace

ScopedRingSetupFault::ScopedRingSetupFault(RingSetupFault fault) noexcept
    : fault_(fault),
      // SAFETY: release publishes fault_'s fields to setups on any thread;
      // the previous fault is restored on destruction (scopes nest).
      previous_(g_setup_fault.exchange(&fault_, std::memory_order_acq_rel)) {}

ScopedRingSetupFault::~ScopedRingSetupFault() {
  // SAFETY: as in the constructor; after this no setup reads fault_.
  g_setup_fault.store(previous_, std::memory_order_release);
}

std::unique_ptr<RingBackend> RingBackend::open(unsigned entries, unsigned cq_entries, RingRefusal& refusal) {
  if (entries == 0) entries = 1;
  if (cq_entries == 0) cq_entries = entries * 4;
  if (cq_entries < entries) cq_entries = entries;

  const int disabled = read_io_uring_disabled();
  if (disabled == 2) {
    refusal.kind = RingRefusal::Kind::kUnavailable;
    refusal.error = EPERM;
    refusal.reason = "io_uring is disabled system-wide (/proc/sys/kernel/io_uring_disabled is 2)";
    return nullptr;
  }

  std::unique_ptr<RingBackend> backend(new RingBackend());
  int error = EINVAL;
  for (const unsigned flags : kCandidateFlags) {
    io_uring_params params{};
    params.flags = flags;
    params.cq_entries = cq_entries;
    const int rc = setup_ring(entries, backend->ring_, params);
    if (rc == 0) {
      backend->open_ = true;
      backend->flags_ = params.flags;
      backend->sq_entries_ = params.sq_entries;
      backend->cq_entries_ = params.cq_entries;
      backend->enabled_ = (params.flags & IORING_SETUP_R_DISABLED) == 0;
      backend->pending_.reserve(params.sq_entries);
      return backend;
    }
    error = -rc;
    if (error != EINVAL) break;
  }
  // Every flag set refused with EINVAL (an entries count the kernel will not
  // take, even clamped), or a refusal that no flag change can cure.
  refusal = refusal_for(error, disabled, entries, cq_entries);
  return nullptr;
}

RingBackend::~RingBackend() {
  // Closing the ring cancels every poll still armed in it.
  if (open_) io_uring_queue_exit(&ring_);
}

std::string RingBackend::flag_names(unsigned flags) {
  struct Name {
    unsigned flag;
    const char* name;
  };
  static constexpr Name kNames[] = {
      {IORING_SETUP_SINGLE_ISSUER, "SINGLE_ISSUER"}, {IORING_SETUP_DEFER_TASKRUN, "DEFER_TASKRUN"},
      {IORING_SETUP_COOP_TASKRUN, "COOP_TASKRUN"},   {IORING_SETUP_TASKRUN_FLAG, "TASKRUN_FLAG"},
      {IORING_SETUP_R_DISABLED, "R_DISABLED"},
      {IORING_SETUP_CQSIZE, "CQSIZE"},               {IORING_SETUP_CLAMP, "CLAMP"},
  };
  std::string names;
  for (const Name& n : kNames) {
    if ((flags & n.flag) == 0) continue;
    if (!names.empty()) names += '|';
    names += n.name;
  }
  return names.empty() ? std::string("none") : names;
}

int RingBackend::add(int fd, std::uint32_t events, std::uint64_t user_data) {
  pending_.push_back(PendingOp{user_data, fd, events});
  return 0;
}

void RingBackend::rearm(int fd, std::uint32_t events, std::uint64_t user_data) {
  pending_.push_back(PendingOp{user_data, fd, events});
}

void RingBackend::remove(int, std::uint64_t user_data) {
  // Queued after any arm of the same poll, so the kernel sees the arm
  // first; a removal that finds nothing (the poll had ended) completes with
  // -ENOENT, which nobody reads (its user_data is kIgnoredUserData).
  pending_.push_back(PendingOp{user_data, -1, 0});
}

int RingBackend::enable() {
  if (enabled_) return 0;
  // The thread that enables a SINGLE_ISSUER ring becomes its one
  // submitter: the polling thread, whoever built the World.
  const int rc = io_uring_register(static_cast<unsigned>(ring_.ring_fd), IORING_REGISTER_ENABLE_RINGS, nullptr, 0);
  if (rc < 0) return rc;
  enabled_ = true;
  return 0;
}

io_uring_sqe* RingBackend::operation_sqe(std::vector<Completion>& out) {
  if (io_uring_sqe* sqe = io_uring_get_sqe(&ring_)) return sqe;
  if (enable() < 0 || submit(out) < 0) return nullptr;
  return io_uring_get_sqe(&ring_);
}

BackendFailure RingBackend::wait(std::vector<Completion>& out, std::chrono::nanoseconds timeout) {
  if (const int rc = enable(); rc < 0) return {-rc, "io_uring_register(IORING_REGISTER_ENABLE_RINGS)"};
  if (BackendFailure failure = flush_pending(out)) return failure;

  // Completions already waiting (or held by the kernel after an overflow)
  // must not be delayed by a wait.
  const bool ready = io_uring_cq_ready(&ring_) > 0 || io_uring_cq_has_overflow(&ring_);
  const int rc = (timeout.count() == 0 || ready) ? enter_no_wait(out) : enter_and_wait(out, timeout);
  if (rc < 0) return {-rc, "io_uring_enter"};
  harvest(out);
  return {};
}

BackendFailure RingBackend::flush_pending(std::vector<Completion>& out) {
  std::size_t done = 0;
  while (done < pending_.size()) {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    if (sqe == nullptr) {
      // SQ full: hand what is there to the kernel, then continue.
      const int rc = submit(out);
      if (rc < 0) {
        pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(done));
        return {-rc, "io_uring_submit"};
      }
      continue;
    }
    const PendingOp& op = pending_[done++];
    // SAFETY: `sqe` is the SQ slot io_uring_get_sqe() just reserved for us
    // (between the kernel's head and our unpublished tail); the prep helpers
    // fill every field and the tail is published by the next submit.
    if (op.fd < 0) {
      io_uring_prep_poll_remove(sqe, op.user_data);
      io_uring_sqe_set_data64(sqe, kIgnoredUserData);
    } else {
      io_uring_prep_poll_multishot(sqe, op.fd, op.events);
      io_uring_sqe_set_data64(sqe, op.user_data);
    }
  }
  pending_.clear();
  return {};
}

int RingBackend::submit(std::vector<Completion>& out) {
  for (int retries = 0;;) {
    const int rc = io_uring_submit(&ring_);
    if (rc >= 0) return rc;
    if (rc == -EINTR) continue;
    if ((rc == -EAGAIN || rc == -EBUSY) && ++retries < kMaxBusyRetries) {
      harvest(out);  // make room, then try again
      continue;
    }
    return rc;
  }
}

bool RingBackend::kernel_holds_work() const noexcept {
  // Without TASKRUN_FLAG, task work the kernel holds (a completion not yet
  // posted) is invisible from here: only entering finds it.
  if ((flags_ & IORING_SETUP_TASKRUN_FLAG) == 0) return true;
  if (io_uring_sq_ready(&ring_) > 0) return true;
  // SAFETY: kflags points into the SQ ring the kernel shares with us for
  // the ring's life; the kernel sets and clears these bits atomically, and
  // a stale read only delays what the next poll will see.
  const unsigned sq_flags = IO_URING_READ_ONCE(*ring_.sq.kflags);
  return (sq_flags & (IORING_SQ_TASKRUN | IORING_SQ_CQ_OVERFLOW)) != 0;
}

int RingBackend::enter_no_wait(std::vector<Completion>& out) {
  // Nothing to submit, no task work to run, no overflow to flush: what the
  // kernel has posted is already in the CQ, which harvest() reads.
  if (!kernel_holds_work()) return 0;
  for (int retries = 0;;) {
    // Submits the SQ and, with GETEVENTS, runs deferred task work
    // (DEFER_TASKRUN) and flushes overflowed completions into the CQ.
    const int rc = io_uring_submit_and_get_events(&ring_);
    if (rc >= 0) return 0;
    if (rc == -EINTR) continue;
    if ((rc == -EAGAIN || rc == -EBUSY) && ++retries < kMaxBusyRetries) {
      harvest(out);
      continue;
    }
    return rc;
  }
}

int RingBackend::enter_and_wait(std::vector<Completion>& out, std::chrono::nanoseconds timeout) {
  const bool bounded = timeout != kNoTimeout;
  const auto deadline = bounded ? std::chrono::steady_clock::now() + timeout : std::chrono::steady_clock::time_point{};
  for (;;) {
    int rc;
    if (bounded) {
      __kernel_timespec ts = to_timespec(timeout);
      io_uring_cqe* cqe = nullptr;
      rc = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
    } else {
      // One io_uring_enter, straight: the timeout variant first looks for
      // a CQE in user space, which harvest() does anyway.
      rc = io_uring_submit_and_wait(&ring_, 1);
    }
    if (rc >= 0 || rc == -ETIME) return 0;
    if (rc == -EINTR) {
      // A signal, or task work the kernel queued for this thread (closing
      // another ring does that), interrupted the wait: resume it for the
      // time left. To end a wait from a signal handler, call
      // UringWaker::wake().
      if (bounded) {
        timeout = std::chrono::ceil<std::chrono::nanoseconds>(deadline - std::chrono::steady_clock::now());
        if (timeout.count() <= 0) return enter_no_wait(out);
      }
      continue;
    }
    if (rc == -EAGAIN || rc == -EBUSY) {
      // Short of room: make some, then submit and collect without waiting.
      harvest(out);
      return enter_no_wait(out);
    }
    return rc;
  }
}

void RingBackend::harvest(std::vector<Completion>& out) {
  for (int round = 0; round < kMaxOverflowRounds; ++round) {
    // Room first (drain's prepare), so a completion is consumed only once
    // it has a place in `out`.
    drain(
        [&](const Completion&) {
          if (out.size() == out.capacity()) out.reserve(out.size() + io_uring_cq_ready(&ring_));
        },
        [&](const Completion& completion) { out.push_back(completion); });
    // The CQ was full at some point: the kernel holds the completions that
    // did not fit (and ended the multishot polls that produced them). Flush
    // them into the ring we just emptied.
    if (!io_uring_cq_has_overflow(&ring_)) return;
    int rc;
    do {
      rc = io_uring_get_events(&ring_);
    } while (rc == -EINTR);
    if (rc < 0 && rc != -EAGAIN && rc != -EBUSY) return;  // the next enter reports it
  }
}

}  // namespace keel::internal

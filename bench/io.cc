// Readiness dispatch: Keel's poll source against hand-written loops doing
// the same work, on each backend.
//
// The work, per iteration: N eventfds are made ready (eventfd_write), one
// poll collects their readiness, and for each event the handler reads its
// eventfd (8 bytes) and counts. Keel runs it as a World with a Uring and a
// handler per fd (keel::handler with ResMut<Counter>); the baselines are:
//   - io_uring: a raw liburing loop with the same ring (same setup flags,
//     same sizes), a multishot poll per fd, io_uring_submit_and_get_events,
//     io_uring_for_each_cqe, the read, the count, re-arming a poll the
//     kernel ended;
//   - epoll: a raw epoll loop, edge-triggered as Keel's fallback is,
//     epoll_wait with a zero timeout, the read, the count.
// Both sides make the same system calls; the difference is Keel's dispatch
// (user_data decoding, generation check, handler move-out/run/move-back,
// the sequence number, parameter fetch).
//
// Method: the framework's timed loop runs Keel (its Time/CPU columns are
// per iteration, N events). Afterwards eleven rounds alternate the
// baseline and Keel, each round ~20 ms of iterations, timed with this
// thread's CPU clock (user + kernel: the syscalls and io_uring's task work
// run in this thread; time preempted by other processes does not count).
// The counters are the medians, per event: keel_ns, raw_ns, overhead_ns =
// keel_ns - raw_ns, and ratio = keel_ns / raw_ns.
//
//   bazel run --config=bench //bench:io
#include <liburing.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "benchmark/benchmark.h"
#include "rt/uring.h"
#include "rt/world.h"

namespace {

using namespace std::chrono_literals;

struct Counter {
  std::uint64_t events = 0;
};

class EventFds {
 public:
  explicit EventFds(int n) {
    for (int i = 0; i < n; ++i) {
      const int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
      if (fd < 0) throw std::runtime_error("eventfd");
      fds_.push_back(fd);
    }
  }
  EventFds(const EventFds&) = delete;
  EventFds& operator=(const EventFds&) = delete;
  ~EventFds() {
    for (int fd : fds_) ::close(fd);
  }
  void make_ready() const {
    for (int fd : fds_) eventfd_write(fd, 1);
  }
  int operator[](std::size_t i) const { return fds_[i]; }
  std::size_t size() const { return fds_.size(); }

 private:
  std::vector<int> fds_;
};

// --- Keel --------------------------------------------------------------------------

void on_ready(keel::ResMut<Counter> counter, const keel::Readiness& r) {
  eventfd_t value;
  eventfd_read(r.fd, &value);
  ++counter->events;
}

class KeelLoop {
 public:
  KeelLoop(keel::Backend backend, const EventFds& fds) : fds_(fds) {
    keel::WorldBuilder wb;
    wb.emplace<Counter>();
    io_.emplace(wb.install_driver(keel::UringInstaller{.entries = 256, .backend = backend}));
    world_.emplace(std::move(wb).build());
    keel::Uring& uring = world_->resource<keel::Uring>();
    for (std::size_t i = 0; i < fds.size(); ++i) {
      uring.watch(fds[i], keel::Readable, keel::handler(world_->registry(), keel::fn<&on_ready>));
    }
    io_->poll(*world_, 0ns);  // arm
    counter_ = &world_->resource<Counter>();
  }

  void iteration() {
    fds_.make_ready();
    std::size_t ran = 0;
    while (ran < fds_.size()) ran += io_->poll(*world_, 0ns);
    ++iterations_;
  }

  std::uint64_t events() const { return counter_->events; }
  std::uint64_t iterations() const { return iterations_; }
  const keel::Uring& uring() { return world_->resource<keel::Uring>(); }

 private:
  const EventFds& fds_;
  std::optional<keel::UringPoller> io_;
  std::optional<keel::World> world_;
  Counter* counter_ = nullptr;
  std::uint64_t iterations_ = 0;
};

// --- the hand-written baselines ----------------------------------------------------

class RawUringLoop {
 public:
  // The same ring as Keel's: its accepted setup flags and sizes.
  RawUringLoop(const EventFds& fds, unsigned flags, unsigned entries, unsigned cq_entries) : fds_(fds) {
    io_uring_params params{};
    params.flags = flags;
    params.cq_entries = cq_entries;
    if (io_uring_queue_init_params(entries, &ring_, &params) < 0) throw std::runtime_error("io_uring setup");
    if ((flags & IORING_SETUP_R_DISABLED) != 0 &&
        io_uring_register(static_cast<unsigned>(ring_.ring_fd), IORING_REGISTER_ENABLE_RINGS, nullptr, 0) < 0)
      throw std::runtime_error("io_uring enable");
    for (std::size_t i = 0; i < fds.size(); ++i) arm(i);
    io_uring_submit_and_get_events(&ring_);
  }
  RawUringLoop(const RawUringLoop&) = delete;
  RawUringLoop& operator=(const RawUringLoop&) = delete;
  ~RawUringLoop() { io_uring_queue_exit(&ring_); }

  void iteration() {
    fds_.make_ready();
    std::size_t seen = 0;
    while (seen < fds_.size()) {
      io_uring_submit_and_get_events(&ring_);
      unsigned head;
      unsigned n = 0;
      io_uring_cqe* cqe;
      io_uring_for_each_cqe(&ring_, head, cqe) {
        const std::size_t i = cqe->user_data;
        eventfd_t value;
        eventfd_read(fds_[i], &value);
        ++events_;
        if ((cqe->flags & IORING_CQE_F_MORE) == 0) arm(i);
        ++n;
      }
      io_uring_cq_advance(&ring_, n);
      seen += n;
    }
    ++iterations_;
  }

  std::uint64_t events() const { return events_; }
  std::uint64_t iterations() const { return iterations_; }

 private:
  void arm(std::size_t i) {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    while (sqe == nullptr) {
      io_uring_submit(&ring_);
      sqe = io_uring_get_sqe(&ring_);
    }
    io_uring_prep_poll_multishot(sqe, fds_[i], POLLIN);
    io_uring_sqe_set_data64(sqe, i);
  }

  const EventFds& fds_;
  io_uring ring_{};
  std::uint64_t events_ = 0;
  std::uint64_t iterations_ = 0;
};

class RawEpollLoop {
 public:
  explicit RawEpollLoop(const EventFds& fds) : fds_(fds), epfd_(epoll_create1(EPOLL_CLOEXEC)), events_(256) {
    for (std::size_t i = 0; i < fds.size(); ++i) {
      epoll_event event{};
      event.events = EPOLLIN | EPOLLET;
      event.data.u64 = i;
      epoll_ctl(epfd_, EPOLL_CTL_ADD, fds[i], &event);
    }
  }
  RawEpollLoop(const RawEpollLoop&) = delete;
  RawEpollLoop& operator=(const RawEpollLoop&) = delete;
  ~RawEpollLoop() { ::close(epfd_); }

  void iteration() {
    fds_.make_ready();
    std::size_t seen = 0;
    while (seen < fds_.size()) {
      const int n = epoll_wait(epfd_, events_.data(), static_cast<int>(events_.size()), 0);
      for (int k = 0; k < n; ++k) {
        eventfd_t value;
        eventfd_read(fds_[events_[static_cast<std::size_t>(k)].data.u64], &value);
        ++count_;
      }
      seen += static_cast<std::size_t>(n > 0 ? n : 0);
    }
    ++iterations_;
  }

  std::uint64_t events() const { return count_; }
  std::uint64_t iterations() const { return iterations_; }

 private:
  const EventFds& fds_;
  int epfd_;
  std::vector<epoll_event> events_;
  std::uint64_t count_ = 0;
  std::uint64_t iterations_ = 0;
};

// --- the comparison ----------------------------------------------------------------

double thread_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

// CPU time of this thread per event, user and kernel: the syscalls and the
// io_uring task work (DEFER_TASKRUN/COOP_TASKRUN run it in this thread)
// count; time spent preempted by other processes does not, which keeps the
// ratio stable on a busy machine.
template <class Loop>
[[gnu::noinline]] double ns_per_event(Loop& loop, std::int64_t iterations, std::size_t events_per_iteration) {
  const double start = thread_cpu_ns();
  for (std::int64_t i = 0; i < iterations; ++i) {
    loop.iteration();
    benchmark::ClobberMemory();
  }
  return (thread_cpu_ns() - start) / static_cast<double>(iterations) / static_cast<double>(events_per_iteration);
}

constexpr int kRounds = 11;

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

template <class Raw>
void compare_dispatch(benchmark::State& state, KeelLoop& keel, Raw& raw, std::size_t events_per_iteration) {
  for (auto _ : state) keel.iteration();
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(events_per_iteration));

  // Rounds of ~20 ms, calibrated on the baseline.
  const auto start = std::chrono::steady_clock::now();
  std::int64_t calibration = 0;
  while (std::chrono::steady_clock::now() - start < 20ms) {
    raw.iteration();
    ++calibration;
  }
  const std::int64_t iterations = std::max<std::int64_t>(calibration, 10);
  std::vector<double> keel_ns;
  std::vector<double> raw_ns;
  for (int round = 0; round < kRounds; ++round) {
    raw_ns.push_back(ns_per_event(raw, iterations, events_per_iteration));
    keel_ns.push_back(ns_per_event(keel, iterations, events_per_iteration));
  }
  if (keel.events() != keel.iterations() * events_per_iteration ||
      raw.events() != raw.iterations() * events_per_iteration) {
    state.SkipWithError("an event was lost or duplicated");
    return;
  }
  const double k = median(keel_ns);
  const double r = median(raw_ns);
  state.counters["keel_ns"] = k;
  state.counters["raw_ns"] = r;
  state.counters["overhead_ns"] = k - r;
  state.counters["ratio"] = k / r;
}

void BM_IoUringReadiness(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  // Each loop its own fds: a poll on a shared fd would be woken by the
  // other loop's writes and do its work too.
  EventFds keel_fds(static_cast<int>(n));
  EventFds raw_fds(static_cast<int>(n));
  std::unique_ptr<KeelLoop> keel;
  try {
    keel = std::make_unique<KeelLoop>(keel::Backend::IoUring, keel_fds);
  } catch (const keel::UringError& e) {
    state.SkipWithError(e.what());
    for (auto _ : state) {
    }
    return;
  }
  // Keel's ring: 256 SQ entries, its CQ 4x that (see UringInstaller).
  RawUringLoop raw(raw_fds, keel->uring().setup_flags(), 256, 1024);
  state.SetLabel(keel->uring().describe());
  compare_dispatch(state, *keel, raw, n);
}

void BM_EpollReadiness(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  EventFds keel_fds(static_cast<int>(n));
  EventFds raw_fds(static_cast<int>(n));
  KeelLoop keel(keel::Backend::Epoll, keel_fds);
  RawEpollLoop raw(raw_fds);
  state.SetLabel(keel.uring().describe());
  compare_dispatch(state, keel, raw, n);
}

BENCHMARK(BM_IoUringReadiness)->Arg(1)->Arg(16)->Arg(256);
BENCHMARK(BM_EpollReadiness)->Arg(1)->Arg(16)->Arg(256);

}  // namespace

BENCHMARK_MAIN();

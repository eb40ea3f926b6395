// Runtime: runs keel::async tasks on the World's thread, on the same loop
// and the same ring as the World's handlers. One wait serves both: the
// runtime polls the World's Uring (when UringInstaller was installed; a
// ring of its own otherwise), so readiness handlers, timer handlers and
// tasks take turns on one thread without locks.
//
//   keel::async::Runtime rt(world);
//   int v = rt.block_on(main_task());               // runs the loop until main_task() ends
//   auto h = keel::async::spawn(worker(cfg));       // from a task: JoinHandle<T>
//   co_await keel::async::yield_now();              // let the other ready tasks run
//   co_await keel::async::with_world([](keel::World& w) { w.resource<Book>().clear(); });
//
// The loop is the runtime's (block_on) or yours (tick). Each turn resumes
// ready tasks in FIFO order (a task that yields goes to the back, so it
// cannot starve the others), collects wakes from other threads and fires
// due timers; then, when no task is ready or RuntimeOptions::
// ring_poll_interval has passed since the last poll, polls the ring —
// without blocking while tasks are ready — which runs the World's
// handlers. So busy tasks delay IO by at most about that interval, and a
// system call is not paid on every turn.
//
// A detached task's exception goes to RuntimeOptions::on_task_error
// (default: one line on stderr, and the runtime goes on). Destroying the
// Runtime destroys every task that is left, running their destructors.
//
// Not for: work on other threads (give each thread its own World and
// Runtime, and connect them with spsc/mpsc channels), or blocking calls
// inside a task (they stop every task and handler on the thread).
#pragma once

#include <chrono>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <vector>

#include "async/arena.h"
#include "async/internal/frame_arena.h"
#include "async/internal/io_driver.h"
#include "async/internal/scheduler.h"
#include "async/join_handle.h"
#include "async/task.h"
#include "rt/timer.h"
#include "rt/uring.h"
#include "rt/world.h"

namespace keel::async {

struct RuntimeOptions {
  // The task arena's size classes (async/arena.h).
  std::vector<ArenaClass> arena = default_arena_classes();
  // Gets the exception of a detached task (or of one whose JoinHandle was
  // dropped without awaiting it). Called on the runtime's thread; the
  // runtime goes on. Default: prints what() to stderr.
  std::function<void(std::exception_ptr)> on_task_error;
  // Task resumptions per turn, between two looks at wakes from other
  // threads and at the timers (no system call). At least 1.
  std::size_t tasks_per_turn = 256;
  // While tasks stay ready, the longest the ring goes unpolled: the IO
  // latency busy tasks can add. Lower polls more often; zero polls every
  // turn. A non-blocking poll is a system call (about a microsecond) on
  // epoll, and on io_uring when the ring shows work for the kernel (SQEs
  // to submit, completions to post); otherwise it only reads the CQ.
  std::chrono::nanoseconds ring_poll_interval = std::chrono::microseconds(20);
  // The ring the runtime opens when the World has no Uring.
  UringInstaller own_ring{.entries = 64};
  // Resolution and initial capacity of the runtime's timer wheel.
  std::chrono::nanoseconds timer_resolution = std::chrono::microseconds(100);
  std::size_t timer_capacity = 1024;
  // IO operations in progress at most (async/io.h): each holds a slot
  // until the kernel is done with it; one beyond fails with ENOBUFS.
  std::size_t max_io_operations = 65536;
  // On the epoll backend, where a send or receive that finds its socket
  // ready completes without waiting: the bytes such operations may move
  // between two polls of the ring. Past it, an operation that completed
  // at once resumes its task only after the next poll (which then does not
  // wait), so a task streaming through a fast socket lets the other tasks
  // and the poll run in between, and the peer reads the bytes while they
  // are still in the cache. Zero: no limit. No effect on io_uring, where
  // every operation waits for its completion.
  std::size_t epoll_bytes_per_poll = 256 * 1024;
};

class Runtime {
 public:
  // Binds the runtime to `world` and to this thread: tasks run here, and
  // coroutine frames created here come from the runtime's arena. Binds the
  // World's Spawner, when the AsyncPlugin registered one. Throws
  // ConfigError when that Spawner is already bound to another Runtime or
  // an option is out of range, UringError when no ring can be opened.
  explicit Runtime(World& world, RuntimeOptions options = {});
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  // Runs the loop until `task` ends; gives its result or rethrows its
  // exception. Other tasks and the World's handlers run meanwhile; those
  // still pending when it returns stay for the next block_on or tick.
  // Throws std::logic_error when called from a task or from a handler the
  // runtime is running (co_await or spawn there instead).
  template <class T>
  T block_on(Task<T> task) {
    check_not_inside("block_on()");
    JoinHandle<T> main = spawn(std::move(task));
    Turning turning(*this);
    while (true) {
      run_tasks();
      if (main.is_finished()) break;
      if (ring_due()) poll_ring(keel::internal::kNoTimeout);
    }
    return main.take();
  }

  // Queues `task` to run; the handle gives its result (async/join_handle.h).
  // Always inlined: GCC leaves it out of line in a coroutine's body, where
  // the call (the registers it saves, the handle returned through memory)
  // costs a fifth of a detached spawn.
  template <class T>
  [[gnu::always_inline]] JoinHandle<T> spawn(Task<T> task) {
    auto frame = internal::TaskAccess::release(task);
    if (!frame) throw std::logic_error("keel: spawn() was given an empty Task (moved from or default-constructed)");
    internal::TaskRecord* record = scheduler_.adopt(frame, &frame.promise());
    return JoinHandle<T>(record, frame);
  }

  // One turn of the loop, for a loop of your own: runs the ready tasks,
  // then polls the ring — waiting up to `max_wait` (bounded by the next
  // timer) when no task is ready — and fires due timers. Returns how many
  // tasks, handlers and timers ran.
  template <class Rep, class Period>
  std::size_t tick(std::chrono::duration<Rep, Period> max_wait) {
    check_not_inside("tick()");
    Turning turning(*this);
    const std::size_t ran = run_tasks();
    return ring_due() ? ran + poll_ring(std::chrono::ceil<std::chrono::nanoseconds>(max_wait)) : ran;
  }

  World& world() const noexcept { return *world_; }
  // Tasks spawned and not yet gone (including finished ones whose handle
  // still holds the result).
  std::size_t tasks() const noexcept { return scheduler_.live(); }
  ArenaStats arena_stats() const { return arena_.stats(); }
  // The ring's backend (Backend::IoUring or Backend::Epoll) and whether it is the World's.
  Uring& ring() const noexcept { return *ring_; }
  bool shares_world_ring() const noexcept { return own_ring_ == nullptr; }

  // The runtime whose loop (block_on, tick) runs on this thread; outside
  // any loop, the last one created on it that is still alive; or nullptr.
  static Runtime* current() noexcept { return current_; }

  // The runtime's timer wheel and clock, for async/timer.h.
  TimerWheel& timers() noexcept { return timers_; }
  // The IO operations' slots and state, for async/io.h.
  internal::IoDriver& io_driver() noexcept { return io_; }
  Instant now() const noexcept { return std::chrono::steady_clock::now(); }

 private:
  // While the loop runs: this runtime is the thread's (for spawn(), wakes
  // and timers of its tasks, and frames from its arena), also when another
  // Runtime was created on the thread after it.
  struct Turning {
    Runtime& rt;
    Runtime* outer;
    internal::FrameArena::Scope arena;
    internal::Scheduler::ThisThread scheduler;
    explicit Turning(Runtime& r) noexcept
        : rt(r), outer(std::exchange(current_, &r)), arena(r.arena_), scheduler(r.scheduler_) {
      rt.turning_ = true;
    }
    ~Turning() {
      rt.turning_ = false;
      current_ = outer;
    }
    Turning(const Turning&) = delete;
    Turning& operator=(const Turning&) = delete;
  };
  // Ready tasks (up to tasks_per_turn), wakes from other threads, due timers.
  std::size_t run_tasks() {
    const std::size_t work = scheduler_.run_ready(options_.tasks_per_turn);
    scheduler_.collect_remote_wakes();
    return work + fire_timers();
  }
  // Whether this turn polls the ring: no task is ready, or the interval passed.
  // The clock is read only while tasks stay ready (and when timers are
  // pending): a loop that waits on IO pays no clock reads for this.
  bool ring_due() noexcept {
    if (!scheduler_.has_ready()) return true;
    if (!now_fresh_) {
      last_now_ = now();
      now_fresh_ = true;
    }
    if (!ring_poll_stamped_) {
      // The last poll's time was not read: it counts as now.
      last_ring_poll_ = last_now_;
      ring_poll_stamped_ = true;
      return false;
    }
    return last_now_ - last_ring_poll_ >= options_.ring_poll_interval;
  }
  // One poll of the ring — not blocking while tasks are ready, else up to
  // `max_wait` and the next timer — then wakes and due timers again.
  std::size_t poll_ring(std::chrono::nanoseconds max_wait);
  bool world_timers_idle() const { return world_timers_ == nullptr || !world_timers_->next_deadline(); }
  std::size_t fire_timers() {
    if (timers_.empty() && (world_timers_ == nullptr || world_timers_->empty())) {
      now_fresh_ = false;  // nothing to fire: no clock read
      return 0;
    }
    return fire_due_timers();
  }
  std::size_t fire_due_timers();
  void check_not_inside(const char* what) const;

  static inline thread_local Runtime* current_ = nullptr;

  World* world_;
  RuntimeOptions options_;
  Runtime* outer_;
  internal::FrameArena arena_;
  internal::FrameArena::Scope arena_scope_;
  std::unique_ptr<Uring> own_ring_;
  Uring* ring_;
  // After the ring (destroyed before it): its destructor waits for the
  // kernel to finish with every operation's memory.
  internal::IoDriver io_;
  UringWaker interrupt_;
  TimerWheel* world_timers_;
  TimerWheel timers_;
  internal::Scheduler scheduler_;
  internal::Scheduler::ThisThread this_thread_;
  bool turning_ = false;
  Instant last_now_{};             // the clock at the last timer check
  bool now_fresh_ = false;         // last_now_ was read in this turn
  Instant last_ring_poll_{};       // ...and at the last ring poll
  bool ring_poll_stamped_ = true;  // last_ring_poll_ is that poll's (else read lazily)
};

// Queues `task` on this thread's runtime (see Runtime::spawn). Throws
// std::logic_error when no Runtime exists on this thread. Inlined for the
// reason given at Runtime::spawn.
template <class T>
[[gnu::always_inline]] inline JoinHandle<T> spawn(Task<T> task) {
  Runtime* rt = Runtime::current();
  if (rt == nullptr) throw std::logic_error("keel: spawn() was called on a thread without a keel::async::Runtime");
  return rt->spawn(std::move(task));
}

// co_await yield_now(): the task goes to the back of the run queue and
// resumes after every task that was ready.
inline auto yield_now() noexcept {
  struct Yield {
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> h) {
      internal::WakeRef ref = internal::Scheduler::suspend_current_or_throw(h, "yield_now()");
      ref.task->scheduler->wake(ref);
    }
    void await_resume() const noexcept {}
  };
  return Yield{};
}

// co_await with_world(fn): calls fn(world) on the runtime's World and
// gives what it returns — for a task to read resources or run handlers
// resolved ahead of time. Runs at once, without suspending.
template <class F>
auto with_world(F&& fn) {
  static_assert(std::is_invocable_v<F&&, World&>,
                "keel: with_world() takes a function of keel::World& (e.g. [](keel::World& w) { ... }).");
  struct WithWorld {
    F fn;
    bool await_ready() const noexcept { return true; }
    void await_suspend(std::coroutine_handle<>) const noexcept {}
    decltype(auto) await_resume() {
      Runtime* rt = Runtime::current();
      if (rt == nullptr) throw std::logic_error("keel: with_world() was awaited on a thread without a keel::async::Runtime");
      if constexpr (std::is_invocable_v<F&&, World&>) return std::invoke(std::forward<F>(fn), rt->world());
    }
  };
  return WithWorld{std::forward<F>(fn)};
}

}  // namespace keel::async

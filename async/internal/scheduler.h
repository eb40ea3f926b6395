// Scheduler: the runtime's bookkeeping of spawned tasks — one TaskRecord
// per task, a FIFO run queue of the tasks that can make progress, and a
// lock-free queue through which other threads wake tasks.
//
// A task is a spawned Task<T>: its root frame, and whatever chain of
// awaits it is inside. When the chain suspends on something outside itself
// (a timer, a channel, a join), the awaitable calls suspend_current(h): h
// is where the task resumes, and the WakeRef it gets back names this one
// wait. wake(ref) queues the task; the scheduler later resumes h through
// the trampoline.
//
// Epochs. A record's epoch names the task's current wait; accepting a
// wake, finishing and aborting each advance it. A WakeRef carries the
// epoch it was made for (every suspension starts a new one), so every
// other wake of the same wait, a wake for a wait the task already left,
// and a wake of a finished or aborted task (whose record may run another
// task by then) all find a different epoch and do nothing. Epochs only grow, also across reuse of a record.
//
// Records live in chunks that are freed only with the scheduler, so a
// WakeRef stays safe to use — a no-op once stale — for the scheduler's
// life. Waking from another thread after the scheduler is gone is not.
//
//   Scheduler& s = ...;                          // owned by a Runtime
//   TaskRecord* t = s.adopt(task.handle(), &task.handle().promise());
//   s.run_ready(256);                            // resumes queued tasks, FIFO
//
// Not for user code: keel::async::Runtime, Waker and JoinHandle use it.
#pragma once

#include <atomic>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "async/internal/trampoline.h"
#include "async/task.h"

namespace keel::async::internal {

class Scheduler;

// One wait of one task.
struct WakeRef {
  struct TaskRecord* task = nullptr;
  std::uint64_t epoch = 0;
};

struct TaskRecord {
  // Loop thread only.
  std::coroutine_handle<> resume_at;   // where the task continues when woken
  std::uint64_t epoch = 1;             // the current wait (see the file comment)
  std::coroutine_handle<> root;        // the spawned task's frame; null once destroyed
  TaskPromiseBase* promise = nullptr;  // root's promise: its exception
  WakeRef joiner;                      // the task awaiting this one's JoinHandle
  bool running = false;
  bool started = false;          // has had a turn (or was handed one)
  bool finished = false;         // root ran to its end
  bool aborted = false;          // root destroyed before its end
  bool detached = false;         // no JoinHandle: the scheduler frees the record
  bool abort_requested = false;  // abort() while running: destroyed once it suspends
  TaskRecord* next_free = nullptr;

  // Set when the record's chunk is made; never changes.
  Scheduler* scheduler = nullptr;

  // Cross-thread wakes: the highest epoch woken from another thread since
  // the loop last collected this record (0: none, and not on the queue).
  std::atomic<std::uint64_t> remote_epoch{0};
  TaskRecord* remote_next = nullptr;  // link in the remote queue while remote_epoch != 0
};

class Scheduler {
 public:
  // interrupt(): makes the loop's blocking wait return (called after a
  // cross-thread wake). on_error: a detached task's exception.
  Scheduler(std::function<void()> interrupt, std::function<void(std::exception_ptr)> on_error);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // The scheduler whose runtime lives on this thread (the innermost one).
  static Scheduler* on_this_thread() noexcept { return this_thread_; }
  // The task whose chain is running on this thread, or nullptr.
  static TaskRecord* current() noexcept { return running_; }

  // Takes a spawned task's root and queues it; the record is the task's
  // until release() (the JoinHandle's) or, once detached, its end.
  TaskRecord* adopt(std::coroutine_handle<> root, TaskPromiseBase* promise) {
    TaskRecord* task = free_ != nullptr ? pop_free() : grow();
    task->resume_at = root;
    task->root = root;
    task->promise = promise;
    push({task, task->epoch});
    ++live_;
    return task;
  }

  // Records that the running task suspends at `h` and names this wait.
  // Each suspension gets an epoch of its own, so a waker registered by an
  // awaitable that then did not suspend cannot end a later wait.
  static WakeRef suspend_current(std::coroutine_handle<> h) noexcept {
    running_->resume_at = h;
    return {running_, ++running_->epoch};
  }

  // As suspend_current(), or std::logic_error naming `awaitable` when no
  // task runs on this thread.
  static WakeRef suspend_current_or_throw(std::coroutine_handle<> h, const char* awaitable) {
    if (running_ == nullptr) [[unlikely]] throw_outside_task(awaitable);
    return suspend_current(h);
  }

  // For a task that awaits the JoinHandle of `child`, suspended at `at`
  // (the join's wait is registered): when the child has not started, the
  // awaiting task hands it the rest of its turn — the child runs now, with
  // its own record current, instead of after the tasks queued before it
  // (its queue entry goes stale). While the turn's budget of direct joins
  // lasts, the child's end also resumes the awaiting task directly
  // (joined_directly), without a trip through the run queue; past it, the
  // awaiting task is queued as usual, so a loop of spawn-and-join cannot
  // keep the other tasks from running. Returns the handle to transfer to,
  // or noop_coroutine() to just suspend.
  std::coroutine_handle<> hand_turn_to(TaskRecord* child, std::coroutine_handle<> at) noexcept {
    if (child->started || child->scheduler != this) return std::noop_coroutine();
    running_->running = false;
    if (direct_joins_left_ > 0) {
      --direct_joins_left_;
      child->promise->continue_with(at, &Scheduler::joined_directly, child);
    }
    ++child->epoch;
    child->started = child->running = true;
    running_ = child;
    return Trampoline::transfer(child->root);
  }
  // Direct joins per turn of a task.
  static constexpr unsigned kDirectJoins = 64;

  // Queues the task of `ref` if it is still in that wait. Loop thread.
  void wake(WakeRef ref) noexcept {
    TaskRecord* task = ref.task;
    if (task->epoch != ref.epoch) return;
    push({task, ++task->epoch});
  }
  // From any thread: the loop thread's own wake, or the remote queue.
  static void wake_from_anywhere(WakeRef ref) noexcept {
    if (ref.task == nullptr) return;
    Scheduler* owner = ref.task->scheduler;
    if (owner == this_thread_) {
      owner->wake(ref);
    } else {
      owner->wake_remote(ref);
    }
  }

  // Resumes queued tasks in FIFO order, at most `budget` of them (tasks
  // queued meanwhile go to the back and count too). Returns how many ran.
  std::size_t run_ready(std::size_t budget);
  // Moves the wakes other threads made into the run queue; how many.
  std::size_t collect_remote_wakes() noexcept {
    // A plain load first, here in the caller: the exchange is a locked
    // instruction, and most turns find nothing.
    if (remote_head_.load(std::memory_order_relaxed) == nullptr) return 0;
    return collect_queued_remote_wakes();
  }

  bool has_ready() const noexcept { return head_ != tail_; }
  // Queued entries, stale ones included.
  std::size_t queued() const noexcept { return tail_ - head_; }
  // Tasks spawned and not yet freed (running, queued, waiting, or finished
  // with their JoinHandle still holding the result).
  std::size_t live() const noexcept { return live_; }

  // JoinHandle operations.
  void detach(TaskRecord* task) noexcept {
    // The common case — detached right after spawn, or while it waits —
    // without a call; joined or ended ones need more.
    if (!task->finished && !task->aborted && task->joiner.task == nullptr) [[likely]] {
      task->detached = true;
      return;
    }
    detach_ended_or_joined(task);
  }
  void abort(TaskRecord* task) noexcept;
  // The handle is done with the record: the result was taken, or the
  // handle is destroyed (an unfinished task is aborted; an exception nobody
  // took goes to on_error).
  void release(TaskRecord* task) noexcept;

  // Destroys every task's frame (running each one's destructors) and frees
  // their records; records still named by a JoinHandle stay allocated,
  // marked aborted, until the scheduler itself goes.
  void destroy_all() noexcept;

  // Makes this scheduler the thread's (for Waker::wake and spawn()); the
  // previous one comes back when the guard goes.
  class ThisThread {
   public:
    explicit ThisThread(Scheduler& s) noexcept : outer_(std::exchange(this_thread_, &s)) {}
    ~ThisThread() { this_thread_ = outer_; }
    ThisThread(const ThisThread&) = delete;
    ThisThread& operator=(const ThisThread&) = delete;

   private:
    Scheduler* outer_;
  };

 private:
  struct Entry {
    TaskRecord* task;
    std::uint64_t epoch;  // the wake's; stale when the task moved on
  };

  void push(Entry e) {
    if (tail_ - head_ > mask_) [[unlikely]] grow_queue();
    queue_[tail_++ & mask_] = e;
  }
  TaskRecord* pop_free() noexcept { return std::exchange(free_, free_->next_free); }
  TaskRecord* grow();
  void grow_queue();
  std::size_t collect_queued_remote_wakes() noexcept;
  void detach_ended_or_joined(TaskRecord* task) noexcept;
  // The final hook of a child joined directly: it has ended, and its
  // joiner — suspended in that join, whose wait nothing else can end —
  // continues in this turn.
  static void joined_directly(void* child_record) noexcept;
  void finish(TaskRecord* task) noexcept;
  void destroy_root(TaskRecord* task) noexcept;
  void report(TaskRecord* task) noexcept;
  void free_record(TaskRecord* task) noexcept {
    task->promise = nullptr;
    task->joiner = {};
    task->running = task->started = task->finished = task->aborted = task->detached = task->abort_requested = false;
    task->next_free = free_;
    free_ = task;
    --live_;
  }
  void wake_remote(WakeRef ref) noexcept;
  [[noreturn]] static void throw_outside_task(const char* awaitable);

  static inline thread_local Scheduler* this_thread_ = nullptr;
  static inline thread_local TaskRecord* running_ = nullptr;

  std::unique_ptr<Entry[]> queue_;  // a ring of mask_ + 1 entries, a power of two
  std::size_t mask_;
  std::size_t head_ = 0;
  std::size_t tail_ = 0;
  TaskRecord* free_ = nullptr;
  std::size_t live_ = 0;
  unsigned direct_joins_left_ = 0;  // in the current turn
  std::vector<std::unique_ptr<TaskRecord[]>> chunks_;
  std::atomic<TaskRecord*> remote_head_{nullptr};
  std::function<void()> interrupt_;
  std::function<void(std::exception_ptr)> on_error_;
};

}  // namespace keel::async::internal

// JoinHandle<T>: the spawner's hold on a spawned task. co_await it for the
// task's result (or its exception, rethrown); detach() lets the task run
// on its own; abort() ends it at its current suspension point.
//
//   keel::async::JoinHandle<int> h = keel::async::spawn(count_orders(book));
//   int n = co_await h;                                   // or: co_await keel::async::spawn(...)
//   keel::async::spawn(heartbeat(link)).detach();         // runs to its end; errors to on_task_error
//   keel::async::JoinHandle<void> w = keel::async::spawn(watch(feed));
//   w.abort();                                            // destructors run now; co_await w throws TaskAborted
//
// Awaiting the handle of a task that has not started yet runs it at once,
// in the awaiting task's turn, and the awaiting task goes on as soon as it
// ends (at most 64 such joins per turn): `co_await spawn(f())` costs no
// trip through the run queue.
//
// Destroying a handle that was neither awaited nor detached aborts its
// task (and an exception the task ended with goes to on_task_error): work
// nobody holds does not run on unnoticed. A handle must not outlive its
// Runtime, and is used on the runtime's thread.
//
// Not for: a result several tasks wait for (send it on a channel), or
// tasks that must not be cancelled (detach them).
#pragma once

#include <coroutine>
#include <exception>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "async/internal/scheduler.h"
#include "async/task.h"
#include "async/waker.h"

namespace keel::async {

class Runtime;

// What co_await on a JoinHandle throws when its task was aborted before it finished.
class TaskAborted : public std::runtime_error {
 public:
  TaskAborted() : std::runtime_error("keel: the task was aborted before it finished") {}
};

template <class T>
class [[nodiscard]] JoinHandle {
  using Promise = internal::TaskPromise<T>;

 public:
  // Empty: holds no task.
  JoinHandle() noexcept = default;
  JoinHandle(JoinHandle&& other) noexcept
      : task_(std::exchange(other.task_, nullptr)), frame_(std::exchange(other.frame_, {})) {}
  JoinHandle& operator=(JoinHandle&& other) noexcept {
    if (this != &other) {
      reset();
      task_ = std::exchange(other.task_, nullptr);
      frame_ = std::exchange(other.frame_, {});
    }
    return *this;
  }
  JoinHandle(const JoinHandle&) = delete;
  JoinHandle& operator=(const JoinHandle&) = delete;
  ~JoinHandle() { reset(); }

  // True while the handle holds a task (not awaited, detached or moved from).
  explicit operator bool() const noexcept { return task_ != nullptr; }

  // True once the task ran to its end or was aborted.
  bool is_finished() const noexcept { return task_ != nullptr && (task_->finished || task_->aborted); }

  // Lets the task run on without the handle; its result is dropped and an
  // exception goes to RuntimeOptions::on_task_error. The handle is empty.
  void detach() noexcept {
    if (task_ == nullptr) return;
    internal::TaskRecord* task = std::exchange(task_, nullptr);
    frame_ = {};
    task->scheduler->detach(task);
  }

  // Destroys the task at its current suspension point, running the
  // destructors of its locals (and of every task it awaits). A running
  // task (aborting itself) ends at its next suspension. No effect on a
  // finished task: its result stays. co_await on the handle afterwards
  // throws TaskAborted.
  void abort() noexcept {
    if (task_ != nullptr) task_->scheduler->abort(task_);
  }

  // co_await h / co_await std::move(h) / co_await spawn(...): the task's
  // result, or its exception rethrown, or TaskAborted. The handle is empty
  // afterwards. Awaiting an empty handle throws std::logic_error.
  auto operator co_await() & noexcept { return Awaiter{this}; }
  auto operator co_await() && noexcept { return Awaiter{this}; }

 private:
  friend class Runtime;
  JoinHandle(internal::TaskRecord* task, std::coroutine_handle<Promise> frame) noexcept : task_(task), frame_(frame) {}

  struct Awaiter {
    JoinHandle* handle;
    bool await_ready() const noexcept { return handle->task_ == nullptr || handle->is_finished(); }
    std::coroutine_handle<> await_suspend(std::coroutine_handle<> h) {
      internal::TaskRecord* task = handle->task_;
      if (task->joiner.task != nullptr) [[unlikely]] {
        throw std::logic_error("keel: a JoinHandle is awaited by one task at a time");
      }
      task->joiner = internal::Scheduler::suspend_current_or_throw(h, "a JoinHandle");
      return task->scheduler->hand_turn_to(task, h);
    }
    T await_resume() const { return handle->take(); }
  };

  // The result (or the exception), releasing the task.
  T take() {
    internal::TaskRecord* task = std::exchange(task_, nullptr);
    if (task == nullptr) {
      throw std::logic_error("keel: co_await on an empty JoinHandle (awaited already, detached, or moved from)");
    }
    struct Release {
      internal::TaskRecord* task;
      ~Release() { task->scheduler->release(task); }
    } release{task};
    if (task->aborted) throw TaskAborted();
    return std::exchange(frame_, {}).promise().take_result();
  }

  void reset() noexcept {
    if (task_ == nullptr) return;
    internal::TaskRecord* task = std::exchange(task_, nullptr);
    frame_ = {};
    task->scheduler->release(task);
  }

  internal::TaskRecord* task_ = nullptr;
  std::coroutine_handle<Promise> frame_;
};

}  // namespace keel::async

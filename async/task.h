// Task<T>: a lazy coroutine that produces a T (or nothing, Task<void>) for
// whoever awaits it. Nothing runs until the task is awaited (or given to the
// runtime); `co_await std::move(task)` runs it and gives its result, or
// rethrows its exception. Move-only; destroying a task that has not run
// destroys its frame without running it.
//
//   keel::async::Task<int> fetch_depth(Book& book) { co_return book.depth(); }
//   keel::async::Task<void> requote(Book& book) {
//     int depth = co_await fetch_depth(book);   // runs it to its first suspension and on
//     book.quote(depth);
//   }
//
// Awaits nest at most 64 native stack frames (see internal/trampoline.h): a
// chain of 100,000 nested awaits or a loop of a million awaits on tasks
// that finish at once runs in constant stack, in every build.
//
// Not for: work that must run even if nobody awaits it (spawn it on the
// runtime), or a value computed once and read by several awaiters.
#pragma once

#include <coroutine>
#include <cstddef>
#include <exception>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "async/internal/frame_arena.h"
#include "async/internal/trampoline.h"

namespace keel::async {

template <class T = void>
class Task;

namespace internal {

template <class T>
inline constexpr bool dependent_false = false;

// The runtime takes a spawned task's frame out of its Task.
struct TaskAccess {
  template <class T>
  static auto release(Task<T>& task) noexcept {
    return std::exchange(task.frame_, {});
  }
};

class TaskPromiseBase {
 public:
  // Frames come from the thread's current FrameArena (the runtime's), or
  // the heap when there is none.
  static void* operator new(std::size_t bytes) { return FrameArena::allocate(bytes); }
  static void operator delete(void* frame) noexcept { FrameArena::deallocate(frame); }

  std::suspend_always initial_suspend() noexcept { return {}; }

  // On finishing, the awaiter (if any) continues through the trampoline.
  struct FinalAwaiter {
    bool await_ready() noexcept { return false; }
    template <class Promise>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<Promise> self) noexcept {
      TaskPromiseBase& promise = self.promise();
      if (std::coroutine_handle<> awaiter = promise.continuation_) {
        if (promise.final_hook_ != nullptr) [[unlikely]] promise.final_hook_(promise.final_hook_arg_);
        return Trampoline::transfer(awaiter);
      }
      return std::noop_coroutine();
    }
    void await_resume() noexcept {}
  };
  FinalAwaiter final_suspend() noexcept { return {}; }

  void unhandled_exception() noexcept { exception_ = std::current_exception(); }

  void set_continuation(std::coroutine_handle<> awaiter) noexcept { continuation_ = awaiter; }

  // For the runtime: a spawned task whose joiner continues directly when
  // it ends. `hook(arg)` runs at the end, before the awaiter continues.
  using FinalHook = void (*)(void*) noexcept;
  void continue_with(std::coroutine_handle<> awaiter, FinalHook hook, void* arg) noexcept {
    continuation_ = awaiter;
    final_hook_ = hook;
    final_hook_arg_ = arg;
  }
  // The awaiter is gone (or will be woken otherwise): the task ends alone.
  void forget_continuation() noexcept {
    continuation_ = {};
    final_hook_ = nullptr;
  }

  // True when the task ended with an exception not taken yet.
  bool failed() const noexcept { return static_cast<bool>(exception_); }
  // The exception the task ended with, if any; taken, so it is reported once.
  std::exception_ptr take_exception() noexcept { return std::exchange(exception_, nullptr); }

 protected:
  void rethrow_if_failed() {
    if (exception_) std::rethrow_exception(std::exchange(exception_, nullptr));
  }

 private:
  std::coroutine_handle<> continuation_;
  FinalHook final_hook_ = nullptr;
  void* final_hook_arg_ = nullptr;
  std::exception_ptr exception_;
};

template <class T>
class TaskPromise final : public TaskPromiseBase {
 public:
  Task<T> get_return_object() noexcept;

  template <class U = T>
    requires std::is_convertible_v<U&&, T>
  void return_value(U&& value) noexcept(std::is_nothrow_constructible_v<T, U&&>) {
    value_.emplace(std::forward<U>(value));
  }

  T take_result() {
    rethrow_if_failed();
    return std::move(*value_);
  }

 private:
  std::optional<T> value_;
};

template <>
class TaskPromise<void> final : public TaskPromiseBase {
 public:
  Task<void> get_return_object() noexcept;
  void return_void() noexcept {}
  void take_result() { rethrow_if_failed(); }
};

template <class T>
inline constexpr bool valid_task_value = std::is_void_v<T> || (std::is_object_v<T> && !std::is_const_v<T> && !std::is_array_v<T>);

// The promise of a Task<T> whose T the static_assert in Task refused: it
// accepts any coroutine body, so that the static_assert is the only error.
template <class T>
class RefusedTaskPromise final : public TaskPromiseBase {
 public:
  Task<T> get_return_object() noexcept;
  void return_value(auto&&) noexcept {}
};

}  // namespace internal

template <class T>
class [[nodiscard]] Task {
  static_assert(internal::valid_task_value<T>,
                "keel: Task<T> produces a value: T is void or a non-const object type (return a pointer or a "
                "std::reference_wrapper to hand out a reference).");

 public:
  using promise_type =
      std::conditional_t<internal::valid_task_value<T>, internal::TaskPromise<T>, internal::RefusedTaskPromise<T>>;
  using value_type = T;

  Task() noexcept = default;
  Task(Task&& other) noexcept : frame_(std::exchange(other.frame_, {})) {}
  Task& operator=(Task&& other) noexcept {
    if (this != &other) {
      destroy();
      frame_ = std::exchange(other.frame_, {});
    }
    return *this;
  }
  Task(const Task&) = delete;
  Task& operator=(const Task&) = delete;
  ~Task() { destroy(); }

  // True when the task holds a coroutine (not moved from, not default-constructed).
  explicit operator bool() const noexcept { return static_cast<bool>(frame_); }
  // True once the coroutine has run to its end (returned or thrown).
  bool done() const noexcept { return frame_ && frame_.done(); }

  struct Awaiter {
    std::coroutine_handle<promise_type> frame;
    bool await_ready() const noexcept { return frame.done(); }
    std::coroutine_handle<> await_suspend(std::coroutine_handle<> awaiter) const noexcept {
      frame.promise().set_continuation(awaiter);
      return internal::Trampoline::transfer(frame);
    }
    T await_resume() const { return frame.promise().take_result(); }
  };

  // Runs the task, suspending the awaiter until it finishes; gives its
  // result or rethrows its exception.
  Awaiter operator co_await() && noexcept { return Awaiter{frame_}; }

  template <class Self = Task>
  Awaiter operator co_await() & {
    static_assert(internal::dependent_false<Self>,
                  "keel: a Task runs once and is awaited as an rvalue: write `co_await std::move(task)` (or await "
                  "the call directly: `co_await make_task()`).");
    return Awaiter{frame_};
  }

  // The coroutine, for the runtime. Ownership stays with the task.
  std::coroutine_handle<promise_type> handle() const noexcept { return frame_; }

 private:
  friend promise_type;
  friend struct internal::TaskAccess;
  explicit Task(std::coroutine_handle<promise_type> frame) noexcept : frame_(frame) {}

  void destroy() noexcept {
    if (frame_) std::exchange(frame_, {}).destroy();
  }

  std::coroutine_handle<promise_type> frame_;
};

namespace internal {

template <class T>
Task<T> TaskPromise<T>::get_return_object() noexcept {
  return Task<T>(std::coroutine_handle<TaskPromise<T>>::from_promise(*this));
}

inline Task<void> TaskPromise<void>::get_return_object() noexcept {
  return Task<void>(std::coroutine_handle<TaskPromise<void>>::from_promise(*this));
}

template <class T>
Task<T> RefusedTaskPromise<T>::get_return_object() noexcept {
  return Task<T>(std::coroutine_handle<RefusedTaskPromise<T>>::from_promise(*this));
}

// Runs a task on this thread until it finishes and gives its result: for
// tasks that never wait on anything outside their chain of awaits (the
// runtime's block_on drives the others). Throws std::logic_error if the
// task suspends on something else.
template <class T>
T run_to_completion(Task<T> task) {
  Trampoline::run(task.handle());
  if (!task.done()) {
    throw std::logic_error(
        "keel: run_to_completion(): the task waits on something outside its chain of awaits; run it on a Runtime");
  }
  return task.handle().promise().take_result();
}

}  // namespace internal

}  // namespace keel::async

// Waker: how something outside a task — a channel, a timer, another
// thread — says "the task waiting on me can go on". An awaitable takes one
// in await_suspend() and stores it; whoever completes the wait calls
// wake(), and the runtime resumes the task at its next turn.
//
//   struct Flag {
//     bool set = false; keel::async::Waker waiter;
//     bool await_ready() const noexcept { return set; }
//     void await_suspend(std::coroutine_handle<> h) { waiter = keel::async::Waker::for_current_task(h); }
//     void await_resume() const noexcept {}
//   };                                   // elsewhere: flag.set = true; flag.waiter.wake();
//
// A waker is a task reference plus the number of the wait it was made for:
// two words, copied freely, no allocation. It wakes the task out of that
// wait only: waking it again, waking it after the task moved on to another
// wait, finished or was aborted does nothing.
//
// wake() may be called from any thread. From the runtime's own thread it
// queues the task at once; from another thread it goes through a
// lock-free queue and interrupts the runtime's wait on its ring. What the
// waking thread wrote before the wake() that ends the wait is visible to
// the task when it resumes. The
// runtime must still exist when another thread wakes: a primitive that
// hands wakers to other threads takes them back, under its own
// synchronization, when the waiting awaiter is destroyed (keel's channels
// do).
//
// Not for: waiting itself (co_await a channel, a timer or a JoinHandle),
// or signalling between threads that run no runtime (use a condition
// variable).
#pragma once

#include <coroutine>
#include <cstdint>

#include "async/internal/scheduler.h"

namespace keel::async {

class Waker {
 public:
  // Inert: wake() does nothing.
  Waker() noexcept = default;

  // For an awaitable's await_suspend(h): h is where the current task
  // resumes, and the waker ends this wait. Throws std::logic_error when no
  // runtime task is running on this thread (the awaitable was awaited from
  // a coroutine that is not a keel task, or on another thread).
  static Waker for_current_task(std::coroutine_handle<> h, const char* awaitable = "this awaitable") {
    return Waker(internal::Scheduler::suspend_current_or_throw(h, awaitable));
  }

  // Queues the task if it is still in the wait this waker was made for.
  // Any thread (see the file comment); lock-free.
  void wake() const noexcept { internal::Scheduler::wake_from_anywhere(ref_); }

  // False for a default-constructed waker.
  explicit operator bool() const noexcept { return ref_.task != nullptr; }

  // True when both wake the same task out of the same wait.
  friend bool operator==(const Waker& a, const Waker& b) noexcept {
    return a.ref_.task == b.ref_.task && a.ref_.epoch == b.ref_.epoch;
  }

 private:
  explicit Waker(internal::WakeRef ref) noexcept : ref_(ref) {}

  internal::WakeRef ref_;
};

}  // namespace keel::async

// The timer handlers behind async/timer.h: what the runtime's TimerWheel
// runs when a sleep's or a timeout's deadline comes. Each is a small value
// of a handler type of its own (event_type, run, name), stored inline in
// the wheel; the awaiter that scheduled it cancels it when destroyed, so a
// handler never outlives the wait it ends.
//
//   token = wheel.schedule(deadline, internal::WakeAtDeadline(waker));           // sleep
//   token = wheel.schedule(deadline, internal::ResumeAtDeadline(task, h, wheel)); // timeout
//
// WakeAtDeadline wakes one wait of a task through its Waker. ResumeAtDeadline
// ends whatever wait the task is in — a wait of the task the timeout runs,
// somewhere below the awaiting frame — and resumes the task at the frame
// that awaits the timeout, which then destroys that inner task.
//
// Not for user code: sleep(), Interval and timeout() schedule these.
#pragma once

#include <coroutine>
#include <string_view>

#include "async/internal/scheduler.h"
#include "async/waker.h"
#include "rt/timer.h"
#include "rt/world.h"

namespace keel::async::internal {

class WakeAtDeadline {
 public:
  using event_type = Instant;

  explicit WakeAtDeadline(Waker waker) noexcept : waker_(waker) {}

  // A stale waker (the task left the wait) does nothing.
  void run(World&, Instant) const noexcept { waker_.wake(); }
  std::string_view name() const noexcept { return "keel::async::sleep()"; }

 private:
  Waker waker_;
};

class ResumeAtDeadline {
 public:
  using event_type = Instant;

  // `task` is the running task; `awaiting` the frame suspended in the
  // timeout's co_await; `wheel` the wheel the handler is scheduled on.
  ResumeAtDeadline(TaskRecord* task, std::coroutine_handle<> awaiting, TimerWheel* wheel) noexcept
      : task_(task), awaiting_(awaiting), wheel_(wheel) {}

  void run(World&, Instant deadline) const noexcept {
    if (task_->running) [[unlikely]] {
      // The wheel was polled from inside the task itself (the task the
      // timeout runs polled the runtime's wheel by hand): the task is in no
      // wait that can be ended. Arm again at the same deadline: the next
      // poll at or after it comes from the runtime, while the task waits.
      wheel_->reschedule(wheel_->firing(), deadline);
      return;
    }
    // SAFETY: `awaiting_` is a frame suspended in the timeout's co_await: the
    // timeout awaiter lives in that frame and cancels this timer when it is
    // destroyed (the frame resumed past the co_await, or was destroyed), so
    // while the timer can fire, the frame lives and is suspended. The record
    // outlives every task (records are freed only with the scheduler, which
    // the Runtime destroys after every frame), and it is the awaiting task's
    // while that frame lives. The task is suspended (not running: checked
    // above) in a wait below that frame, or queued; rewriting resume_at and
    // waking the current epoch ends that wait, and the epoch's advance makes
    // every other wake of it — the inner task's own waker, a queued entry, a
    // remote wake — stale, so the frame is resumed once, here.
    task_->resume_at = awaiting_;
    task_->scheduler->wake(WakeRef{task_, task_->epoch});
  }
  std::string_view name() const noexcept { return "keel::async::timeout()"; }

 private:
  TaskRecord* task_;
  std::coroutine_handle<> awaiting_;
  TimerWheel* wheel_;
};

}  // namespace keel::async::internal

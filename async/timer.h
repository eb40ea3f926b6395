// Time in tasks: sleep for a while or until an instant, bound a task by a
// deadline, tick at a fixed period. Every wait is a timer on the runtime's
// own keel::TimerWheel, which the runtime fires each turn and whose next
// deadline bounds the ring's wait; unlike std::this_thread::sleep_for, a
// sleep suspends the task only, and the thread runs the other tasks and
// the World's handlers meanwhile.
//
//   co_await keel::async::sleep(5ms);                         // or sleep_until(instant)
//   std::expected<Quote, keel::async::TimedOut> q = co_await keel::async::timeout(1s, fetch(venue));
//   keel::async::Interval tick(10ms);                         // MissedTicks::kSkip by default
//   while (true) { keel::Instant at = co_await tick.next(); publish(at); }
//
// Deadlines already due yield instead of sleeping: the task goes to the
// back of the run queue and resumes in the same turn, after the tasks that
// were ready. timeout() runs the task inside the awaiting task (no spawn);
// when the deadline comes first it destroys the task at its suspension
// point — its destructors run before timeout() returns — and gives
// TimedOut. Abandoning any of these waits (abort, an enclosing timeout)
// cancels its timer. For one deadline over several steps, compute it once
// and pass it to timeout_at() at each.
//
// Not for: handler code (schedule on keel::TimerWheel, rt/timer.h), or
// waits finer than the wheel's resolution (RuntimeOptions::timer_resolution,
// 100 µs). Loop thread only. See docs/async-timers.md.
#pragma once

#include <chrono>
#include <coroutine>
#include <expected>
#include <ratio>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "async/internal/scheduler.h"
#include "async/internal/timer_wake.h"
#include "async/internal/trampoline.h"
#include "async/runtime.h"
#include "async/task.h"
#include "async/waker.h"
#include "rt/error.h"
#include "rt/timer.h"

namespace keel::async {

// What timeout() gives when its deadline came before the task finished.
struct TimedOut {
  Instant deadline;  // the deadline that passed
  friend bool operator==(const TimedOut&, const TimedOut&) = default;
};

namespace internal {

template <class T>
inline constexpr bool is_duration = false;
template <class Rep, class Period>
inline constexpr bool is_duration<std::chrono::duration<Rep, Period>> = true;

template <class T>
inline constexpr bool is_task = false;
template <class T>
inline constexpr bool is_task<Task<T>> = true;

// Instantiated for a length that is not a std::chrono duration.
template <class T>
struct TimerTakesADuration {
  static_assert(dependent_false<T>,
                "keel: sleep(), timeout() and Interval take a std::chrono duration (5ms, 1s, "
                "std::chrono::microseconds(250)): a bare number has no unit. The type in "
                "'TimerTakesADuration<T>' is what was passed.");
  static constexpr bool ok = false;
};

// Instantiated for a sleep_until() deadline that is not a keel::Instant.
template <class T>
struct SleepUntilTakesAnInstant {
  static_assert(dependent_false<T>,
                "keel: sleep_until() and timeout_at() take a keel::Instant (a std::chrono::steady_clock "
                "time point, e.g. runtime.now() + 5ms); wall-clock time points jump, and a duration goes to "
                "sleep() or timeout(). The type in 'SleepUntilTakesAnInstant<T>' is what was passed.");
  static constexpr bool ok = false;
};

// Instantiated for a timeout() of something that is not a Task<T> prvalue.
template <class T>
struct TimeoutTakesATask {
  static_assert(dependent_false<T>,
                "keel: timeout() takes a keel::async::Task<T> by value: call the coroutine in place "
                "(timeout(1s, fetch())) or move the task in (timeout(1s, std::move(task))); timeout() destroys "
                "it when the deadline comes first. The type in 'TimeoutTakesATask<T>' is what was passed.");
  static constexpr bool ok = false;
};

// `now` + `length`, saturating at Instant::max() (a wait that never ends),
// rounded up so that a wait never ends early. A length of zero or less
// gives `now`.
template <class Rep, class Period>
Instant deadline_after(Instant now, std::chrono::duration<Rep, Period> length) noexcept {
  if (length <= length.zero()) return now;
  using Exact = std::chrono::duration<long double, std::nano>;
  if (Exact(length) >= Exact(Instant::max() - now)) return Instant::max();
  return now + std::chrono::ceil<std::chrono::nanoseconds>(length);
}

}  // namespace internal

// The awaitable of sleep() and sleep_until(): waits until its deadline. An
// awaitable of one co_await; not copyable or movable (the runtime's timer
// names the wait it is in).
class [[nodiscard]] Sleep {
 public:
  // Instant::min(): due without reading the clock (sleep() of zero or less).
  explicit Sleep(Instant deadline) noexcept : deadline_(deadline) {}
  Sleep(const Sleep&) = delete;
  Sleep& operator=(const Sleep&) = delete;
  // An abandoned sleep (its task aborted or timed out) takes its timer with it.
  ~Sleep() {
    if (wheel_ != nullptr) wheel_->cancel(token_);
  }

  bool await_ready() const noexcept { return false; }
  // Throws std::logic_error outside a task of a keel::async::Runtime.
  void await_suspend(std::coroutine_handle<> awaiting) {
    const Waker waker = Waker::for_current_task(awaiting, "sleep()");
    Runtime& runtime = *Runtime::current();
    if (deadline_ == Instant::min() || deadline_ <= runtime.now()) {
      waker.wake();  // due: the back of the run queue, no timer
      return;
    }
    TimerWheel& wheel = runtime.timers();
    token_ = wheel.schedule(deadline_, internal::WakeAtDeadline(waker));
    wheel_ = &wheel;
  }
  void await_resume() noexcept { wheel_ = nullptr; }  // the timer fired: nothing to cancel

  Instant deadline() const noexcept { return deadline_; }

 private:
  Instant deadline_;
  TimerWheel* wheel_ = nullptr;  // set while a timer is pending
  TimerToken token_;
};

// co_await sleep_until(at): resumes at the first turn of the runtime at or
// after `at`; an `at` already past yields once (see the file comment).
template <class At>
Sleep sleep_until(At at) noexcept {
  if constexpr (std::is_same_v<At, Instant>) {
    return Sleep(at);
  } else {
    (void)internal::SleepUntilTakesAnInstant<At>::ok;  // its static_assert says what to pass
    return Sleep(Instant::min());
  }
}

// co_await sleep(5ms): sleep_until(now + length), rounded up to a whole
// nanosecond; a length of zero or less yields once.
template <class Length>
Sleep sleep(Length length) noexcept {
  if constexpr (internal::is_duration<Length>) {
    if (length <= length.zero()) return Sleep(Instant::min());
    return Sleep(internal::deadline_after(std::chrono::steady_clock::now(), length));
  } else {
    (void)internal::TimerTakesADuration<Length>::ok;  // its static_assert says what to pass
    return Sleep(Instant::min());
  }
}

// The awaitable of timeout() and timeout_at(): runs `task` in the awaiting
// task and gives std::expected<T, TimedOut> (std::expected<void, TimedOut>
// for Task<void>). Awaited once; not copyable or movable.
template <class T>
class [[nodiscard]] Timeout {
 public:
  using result_type = std::expected<T, TimedOut>;

  Timeout(Instant deadline, Task<T> task) noexcept : deadline_(deadline), task_(std::move(task)) {}
  Timeout(const Timeout&) = delete;
  Timeout& operator=(const Timeout&) = delete;
  ~Timeout() { cancel_timer(); }

  bool await_ready() const noexcept { return false; }

  // Arms the deadline, then runs the task until it suspends (or finishes)
  // by symmetric transfer, so nested timeouts keep the stack bounded.
  // Throws std::logic_error for an empty task or outside a runtime task.
  std::coroutine_handle<> await_suspend(std::coroutine_handle<> awaiting) {
    if (!task_ || task_.done()) {
      throw std::logic_error("keel: timeout() was given an empty Task (moved from), or its Timeout was awaited twice");
    }
    internal::TaskRecord* running = internal::Scheduler::current();
    if (running == nullptr) {
      throw std::logic_error(
          "keel: timeout() was awaited outside a task of a keel::async::Runtime: spawn the coroutine on a Runtime "
          "(or block_on it), on the runtime's thread");
    }
    TimerWheel& wheel = Runtime::current()->timers();
    token_ = wheel.schedule(deadline_, internal::ResumeAtDeadline(running, awaiting, &wheel));
    wheel_ = &wheel;
    task_.handle().promise().set_continuation(awaiting);
    return internal::Trampoline::transfer(task_.handle());
  }

  // The task's result, its exception rethrown, or TimedOut — in which case
  // the task's frames are destroyed, destructors run, before this returns.
  result_type await_resume() {
    cancel_timer();
    if (!task_.done()) {
      task_ = Task<T>();
      return std::unexpected(TimedOut{deadline_});
    }
    if constexpr (std::is_void_v<T>) {
      task_.handle().promise().take_result();
      return {};
    } else {
      return result_type(std::in_place, task_.handle().promise().take_result());
    }
  }

  Instant deadline() const noexcept { return deadline_; }

 private:
  void cancel_timer() noexcept {
    if (wheel_ != nullptr) std::exchange(wheel_, nullptr)->cancel(token_);
  }

  Instant deadline_;
  Task<T> task_;
  TimerWheel* wheel_ = nullptr;  // set while the deadline's timer is pending
  TimerToken token_;
};

namespace internal {

// The Timeout a misused timeout() returns after its static_assert, so the
// caller's code compiles on and the static_assert is the only error.
template <class Work>
auto timeout_stand_in() {
  if constexpr (is_task<std::remove_cvref_t<Work>>) {
    return Timeout<typename std::remove_cvref_t<Work>::value_type>(Instant{}, {});
  } else {
    return Timeout<void>(Instant{}, {});
  }
}

}  // namespace internal

// co_await timeout_at(deadline, task): as timeout(), with a deadline.
template <class At, class Work>
auto timeout_at(At deadline, Work&& task) {
  if constexpr (!std::is_same_v<At, Instant>) {
    (void)internal::SleepUntilTakesAnInstant<At>::ok;  // its static_assert says what to pass
    return internal::timeout_stand_in<Work>();
  } else if constexpr (!internal::is_task<Work>) {
    (void)internal::TimeoutTakesATask<std::remove_reference_t<Work>>::ok;  // its static_assert says what to pass
    return internal::timeout_stand_in<Work>();
  } else {
    return Timeout<typename Work::value_type>(deadline, std::move(task));
  }
}

// co_await timeout(1s, fetch()): runs the task for at most `limit`. It
// always runs until its first suspension, even with a limit of zero; a
// task that is still waiting when the deadline's timer fires is destroyed
// there, whatever it waits on — also when that wait ended in the same turn.
template <class Length, class Work>
auto timeout(Length limit, Work&& task) {
  if constexpr (!internal::is_duration<Length>) {
    (void)internal::TimerTakesADuration<Length>::ok;  // its static_assert says what to pass
    return internal::timeout_stand_in<Work>();
  } else {
    return timeout_at(internal::deadline_after(std::chrono::steady_clock::now(), limit), std::forward<Work>(task));
  }
}

// Ticks at a fixed period: co_await tick.next() resumes at the next tick
// and gives the tick's instant (first + n * period). Ticks do not pile up
// while nobody awaits: next() computes the tick it waits for from the
// policy when the previous one is taken.
//
//   MissedTicks::kSkip  (default) a late next() gives the missed tick once,
//                       then continues at the first tick after now (phase
//                       kept): a status line after a stall, once.
//   MissedTicks::kBurst a late next() gives every missed tick, one per
//                       co_await (each yields): a count of periods that
//                       must not lose any.
class Interval {
 public:
  // The first tick one period from now. Throws ConfigError for a period
  // that is not positive.
  template <class Length>
    requires(!std::is_same_v<std::remove_cvref_t<Length>, Interval>)
  explicit Interval(Length period, MissedTicks missed = MissedTicks::kSkip)
      : Interval(std::chrono::steady_clock::now() + period_of(period), period_of(period), missed) {}

  Interval(Instant first, std::chrono::nanoseconds period, MissedTicks missed = MissedTicks::kSkip);

  // The awaitable of next(): a sleep until the tick, then the tick's instant.
  class [[nodiscard]] NextTick {
   public:
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> awaiting) { sleep_.await_suspend(awaiting); }
    Instant await_resume() noexcept {
      sleep_.await_resume();
      return interval_->take_tick();
    }

   private:
    friend class Interval;
    explicit NextTick(Interval* interval) noexcept : interval_(interval), sleep_(interval->next_) {}
    Interval* interval_;
    Sleep sleep_;
  };

  // Waits for the next tick. The Interval must outlive the co_await; a
  // wait abandoned (its task aborted) takes no tick.
  NextTick next() noexcept { return NextTick(this); }

  // The instant the next tick is due (before the missed-tick policy of a
  // late next() applies).
  Instant deadline() const noexcept { return next_; }
  std::chrono::nanoseconds period() const noexcept { return period_; }
  MissedTicks missed() const noexcept { return missed_; }

 private:
  template <class Length>
  static std::chrono::nanoseconds period_of(Length period) {
    if constexpr (internal::is_duration<Length>) {
      return std::chrono::ceil<std::chrono::nanoseconds>(period);
    } else {
      (void)internal::TimerTakesADuration<Length>::ok;  // its static_assert says what to pass
      return std::chrono::nanoseconds(1);
    }
  }

  // The tick just reached, advancing to the one after it by the policy.
  Instant take_tick() noexcept;

  Instant next_;
  std::chrono::nanoseconds period_;
  MissedTicks missed_;
};

inline Interval::Interval(Instant first, std::chrono::nanoseconds period, MissedTicks missed)
    : next_(first), period_(period), missed_(missed) {
  if (period.count() <= 0) throw ConfigError("keel: keel::async::Interval needs a positive period");
}

inline Instant Interval::take_tick() noexcept {
  const Instant tick = next_;
  next_ += period_;
  if (missed_ == MissedTicks::kSkip) {
    const Instant now = std::chrono::steady_clock::now();
    if (next_ <= now) next_ += ((now - next_) / period_ + 1) * period_;
  }
  return tick;
}

}  // namespace keel::async

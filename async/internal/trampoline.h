// The trampoline: how coroutines resume one another in bounded stack. An
// await that starts another coroutine (or a coroutine that finishes and
// continues its awaiter) transfers to it with transfer(): directly
// (symmetric transfer) up to kMaxDirect times in a row, then through the
// trampoline's loop, which unwinds whatever frames the direct transfers
// nested and resumes the next coroutine from the bottom of the stack.
//
// Why both: g++ 12 makes symmetric transfer a tail call only at -O2 without
// sanitizers; at -O0, -O1 and under ASan or TSan each transfer nests a
// frame, and a loop of a million ready awaits overflows the stack. Going
// through the loop on every await bounds the stack but costs about 2 ns
// per await at -O2 (15 vs 13 ns with heap frames); bouncing once every
// kMaxDirect transfers bounds the stack to kMaxDirect frames in every
// build and costs within noise of symmetric transfer.
//
//   internal::Trampoline::Turns turns;             // the runtime's turn
//   turns.run(task_handle);                        // its one resume point
//   return internal::Trampoline::transfer(next);   // from await_suspend / final_suspend
//
// Not for user code: tasks and the runtime use it. Every resumption of a
// Keel coroutine must go through run(); a coroutine resumed directly would
// leave the coroutine it hands over unresumed.
#pragma once

#include <coroutine>
#include <utility>

namespace keel::async::internal {

class Trampoline {
 public:
  // Resumes chains, one after another, in bounded stack. While a Turns
  // lives, the state of an enclosing chain (a run from inside a resumed
  // coroutine: a handler it calls that blocks on a task of its own) is set
  // aside, so a loop that resumes many chains (the scheduler's turn) pays
  // for that once.
  class Turns {
   public:
    Turns() noexcept : outer_next_(std::exchange(next_, {})), outer_depth_(depth_) {}
    ~Turns() {
      next_ = outer_next_;
      depth_ = outer_depth_;
    }
    Turns(const Turns&) = delete;
    Turns& operator=(const Turns&) = delete;

    // Resumes `first`, then each coroutine handed over, until none is.
    // Returns when the chain suspends on something outside it (a timer, a
    // channel) or finishes.
    void run(std::coroutine_handle<> first) noexcept {
      depth_ = 0;
      first.resume();
      while (next_) {
        depth_ = 0;
        std::exchange(next_, {}).resume();
      }
    }

   private:
    std::coroutine_handle<> outer_next_;
    unsigned outer_depth_;
  };

  // One chain: Turns::run in a Turns of its own.
  static void run(std::coroutine_handle<> first) noexcept { Turns().run(first); }

  // What await_suspend returns to run `next` once the current coroutine has
  // suspended: `next` itself while the direct-transfer budget lasts, else
  // noop_coroutine() with `next` queued for the loop.
  static std::coroutine_handle<> transfer(std::coroutine_handle<> next) noexcept {
    if (++depth_ < kMaxDirect) return next;
    next_ = next;
    return std::noop_coroutine();
  }
  // Nested frames at most, in a build where transfers are not tail calls.
  static constexpr unsigned kMaxDirect = 64;

  // Called while a coroutine suspends: `next` runs as soon as the current
  // one has suspended. At most one hand-over per suspension.
  static void hand_over(std::coroutine_handle<> next) noexcept { next_ = next; }

 private:
  static inline thread_local std::coroutine_handle<> next_{};
  static inline thread_local unsigned depth_ = 0;  // direct transfers since the loop last resumed
};

}  // namespace keel::async::internal

// The trampoline: how coroutines resume one another without nesting native
// stack frames. An await that starts another coroutine (or a coroutine that
// finishes and continues its awaiter) hands the next coroutine to the
// trampoline and suspends; the trampoline's loop, which is the only place
// that calls resume(), then resumes it. The stack stays one loop frame plus
// one coroutine deep however long the chain of awaits.
//
// Why not symmetric transfer (returning the next handle from await_suspend):
// g++ 12 turns that into a tail call only at -O2 without sanitizers; at -O0,
// -O1 and under ASan or TSan each transfer nests a frame, and a loop of a
// million ready awaits overflows the stack.
//
//   internal::Trampoline::run(task_handle);       // the runtime's one resume point
//   internal::Trampoline::hand_over(next);        // from await_suspend / final_suspend
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
  // Resumes `first`, then each coroutine handed over, until none is. Returns
  // when the chain suspends on something outside it (a timer, a channel) or
  // finishes. Re-entrant: a run() from inside a resumed coroutine (a
  // handler it calls that blocks on a task of its own) keeps its own chain.
  static void run(std::coroutine_handle<> first) noexcept {
    std::coroutine_handle<> outer = std::exchange(next_, first);
    while (next_) std::exchange(next_, {}).resume();
    next_ = outer;
  }

  // Called while a coroutine suspends: `next` runs as soon as the current
  // one has suspended. At most one hand-over per suspension.
  static void hand_over(std::coroutine_handle<> next) noexcept { next_ = next; }

 private:
  static inline thread_local std::coroutine_handle<> next_{};
};

}  // namespace keel::async::internal

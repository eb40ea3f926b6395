// Asymmetric fences for the cross-thread channels' wait handshakes.
//
// A side that is about to wait (a receiver on an empty channel, a sender
// on a full one) writes "I wait" and then re-reads the queue; the other
// side writes the queue and then reads "does anyone wait?". Each side's
// write must be ordered before its own read (a store-load order, which
// x86 does not keep on its own), or both can miss each other and the
// waiter sleeps with a message queued. Paying a full fence on every send
// and every receive costs a locked instruction per message and, across
// cores, a wait for the cache line to move (a sixfold loss of throughput
// measured here).
//
// So the cost goes to the rare side: the waiting side calls heavy_fence(),
// a membarrier(2) that runs a full barrier on every thread of the process,
// and the per-message side calls light_fence(), which only stops the
// compiler from moving its read above its write. Where membarrier is not
// available (old kernels, seccomp) both are a full fence.
//
//   queue.publish(m); light_fence(); slot.wake_if(...);                // per message
//   slot.arm(waker); heavy_fence(); if (!queue.empty()) slot.disarm(); // before waiting
//
// Not for user code: async/channel.h uses it.
#pragma once

#include <atomic>

namespace keel::async::internal {

class ChannelFences {
 public:
  // Registers the process for membarrier, once; the channels' factories
  // call it, so every thread that holds an endpoint sees the outcome.
  static void enable() noexcept;
  static bool asymmetric() noexcept { return asymmetric_.load(std::memory_order_relaxed); }

 private:
  static inline std::atomic<bool> asymmetric_{false};
};

// A full store-load fence. ThreadSanitizer rejects std::atomic_thread_fence,
// so x86-64 uses a locked no-op on the stack (what g++ emits for the fence).
inline void full_fence() noexcept {
#if defined(__x86_64__)
  asm volatile("lock orq $0, (%%rsp)" ::: "memory", "cc");
#else
  std::atomic_thread_fence(std::memory_order_seq_cst);
#endif
}

// The per-message side of a handshake (see the file comment).
inline void light_fence() noexcept {
  if (ChannelFences::asymmetric()) [[likely]] {
    std::atomic_signal_fence(std::memory_order_seq_cst);
  } else {
    full_fence();
  }
}

// The waiting side of a handshake: a full barrier on every thread of the
// process (microseconds), or a full fence on this one.
void heavy_fence() noexcept;

}  // namespace keel::async::internal

// MpscChannel: the shared state of a keel::async::mpsc channel — an
// MpscRing fed by any number of senders on any threads, the receiver's
// waiter slot, the list of senders parked on a full queue (under a
// mutex), and the counts of senders and of endpoints.
//
//   auto* state = new MpscChannel<Order>(1024);
//   state->try_push(order);      // any thread: then wakes the receiver if it is parked
//
// Waits. The receiver parks in rx_waiter_ with the handshake of
// channel_fence.h (arm, heavy fence, look again); a push pays a light
// fence and a relaxed load of the slot's state. A sender parks by linking
// a node holding its message into the list and publishing the list's
// length in waiting_ (under the mutex), then a heavy fence and one more
// push attempt. After every pop the receiver pays a light fence and a
// relaxed load of waiting_; when senders wait it takes the mutex and moves
// their messages into the room it made, first parked first, waking each —
// so a woken sender's message is already queued, and senders on other
// threads that try_push meanwhile cannot leave it without room.
//
// Lifetime. A waker is used only under the mutex (serve_senders, close),
// and a parked sender re-takes the mutex before its awaiter or its thread
// goes on (finish_send, unpark_sender), so no thread is still inside a
// wake() of it when its runtime may be destroyed. The receiver's waker is
// guarded by WaiterSlot's protocol.
//
// Woken receiver. A push wakes the receiver after publishing position p;
// the head may be a position below p whose producer has claimed it and is
// still building the object: take_after_wake() waits for it (the few
// instructions between a claim and its publication).
//
// Not for user code: async/channel.h uses it.
#pragma once

#include <atomic>
#include <cstddef>
#include <mutex>
#include <optional>

#include "async/internal/channel_fence.h"
#include "async/internal/mpsc_ring.h"
#include "async/internal/waiter.h"
#include "async/waker.h"

namespace keel::async::internal {

template <class T>
class MpscChannel : public SharedByEndpoints<MpscChannel<T>> {
  using SharedByEndpoints<MpscChannel<T>>::release;

 public:
  using value_type = T;
  static constexpr bool kCopyableSender = true;
  static constexpr bool kCrossThread = true;

  explicit MpscChannel(std::size_t capacity) : ring_(capacity) { ChannelFences::enable(); }

  void add_sender() noexcept {
    senders_.fetch_add(1, std::memory_order_relaxed);
    this->add_ref();
  }
  static void drop_sender(MpscChannel* c) noexcept {
    // SAFETY: acq_rel: the last sender's decrement follows every other
    // sender's (a release sequence), so their pushes happen before the
    // close below, and a receiver that sees the closed mark (acquire)
    // finds every message published: no claim is left in flight.
    if (c->senders_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      c->ring_.close();
      light_fence();
      c->rx_waiter_.wake();
    }
    release(c);
  }

  // Senders, any thread.
  PushResult try_push(T& message) noexcept {
    std::uint64_t position = 0;
    const PushResult r = ring_.try_push(message, &position);
    if (r == PushResult::ok) {
      light_fence();
      rx_waiter_.wake_if([this, position] { return ring_.head() <= position; });
    }
    return r;
  }
  bool park_sender(SendWaiter<T>& w) {
    {
      std::lock_guard guard(mutex_);
      waiters_.push_back(w);
      waiting_.store(waiters_.size(), std::memory_order_relaxed);
    }
    heavy_fence();
    std::lock_guard guard(mutex_);
    if (!w.linked) return false;  // served or closed meanwhile
    const PushResult r = try_push(*w.message);
    if (r == PushResult::full) return true;
    waiters_.unlink(w);
    waiting_.store(waiters_.size(), std::memory_order_relaxed);
    w.outcome.store(r == PushResult::ok ? SendOutcome::sent : SendOutcome::closed, std::memory_order_relaxed);
    return false;
  }
  void wait_sender(SendWaiter<T>& w) noexcept {
    for (SendOutcome o = w.outcome.load(std::memory_order_acquire); o == SendOutcome::waiting;
         o = w.outcome.load(std::memory_order_acquire)) {
      w.outcome.wait(o, std::memory_order_acquire);
    }
  }
  PushResult finish_send(SendWaiter<T>& w) {
    unpark_sender(w);
    return w.outcome.load(std::memory_order_relaxed) == SendOutcome::sent ? PushResult::ok : PushResult::closed;
  }
  void unpark_sender(SendWaiter<T>& w) {
    std::lock_guard guard(mutex_);
    if (w.linked) {
      waiters_.unlink(w);
      waiting_.store(waiters_.size(), std::memory_order_relaxed);
    }
  }
  bool is_closed() const noexcept { return ring_.closed(); }

  // The receiver.
  std::optional<T> try_pop() noexcept {
    std::optional<T> out = ring_.try_pop();
    if (out) {
      light_fence();
      if (waiting_.load(std::memory_order_relaxed) != 0) [[unlikely]] serve_senders();
    }
    return out;
  }
  bool drained() const noexcept { return ring_.drained(); }
  bool park_receiver(Waker waker) noexcept {
    rx_waiter_.arm(waker);
    receiver_parked = true;
    heavy_fence();
    if (ring_.has_message() || ring_.drained()) {
      unpark_receiver();
      return false;
    }
    return true;
  }
  void unpark_receiver() noexcept {
    rx_waiter_.disarm();
    receiver_parked = false;
  }
  std::optional<T> take_after_wake() noexcept {
    unsigned spins = 0;
    while (true) {
      if (std::optional<T> out = try_pop()) return out;
      if (ring_.drained()) return std::nullopt;
      pause_briefly(spins);  // the head's producer is between its claim and its publication
    }
  }
  void close() noexcept {
    ring_.close();
    std::lock_guard guard(mutex_);
    while (SendWaiter<T>* w = waiters_.front()) {
      waiters_.unlink(*w);
      finish_send_wait(*w, SendOutcome::closed);
    }
    waiting_.store(0, std::memory_order_relaxed);
  }
  std::size_t capacity() const noexcept { return ring_.capacity(); }

  // The receiver's: a recv() is parked, so try_recv() leaves the messages to it.
  bool receiver_parked = false;

 private:
  // The room the last pop made goes to the senders parked first.
  void serve_senders() noexcept {
    std::lock_guard guard(mutex_);
    while (SendWaiter<T>* w = waiters_.front()) {
      const PushResult r = ring_.try_push(*w->message);
      if (r == PushResult::full) break;
      waiters_.unlink(*w);
      finish_send_wait(*w, r == PushResult::ok ? SendOutcome::sent : SendOutcome::closed);
    }
    waiting_.store(waiters_.size(), std::memory_order_relaxed);
  }

  MpscRing<T> ring_;
  std::atomic<std::size_t> senders_{1};
  alignas(kCacheLine) WaiterSlot rx_waiter_;
  alignas(kCacheLine) std::atomic<std::size_t> waiting_{0};
  std::mutex mutex_;
  SendWaiterList<T> waiters_;
};

}  // namespace keel::async::internal

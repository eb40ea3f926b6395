// LocalChannel: the shared state of a keel::async::local channel — a
// bounded queue used by tasks of one thread, with the receiver's waker
// and the list of senders parked on a full queue. No atomics, no locks.
//
//   auto* state = new LocalChannel<Order>(64);    // a Sender and a Receiver share it
//   state->try_push(order);                       // ok, full or closed
//
// A pop hands the freed room to the first parked sender at once (moving
// its message into the queue), so a woken sender never finds the queue
// full again and parked senders go in the order they parked.
//
// Not for user code: async/channel.h uses it.
#pragma once

#include <cassert>
#include <cstddef>
#include <optional>
#include <stdexcept>
#include <utility>

#include "async/internal/spsc_ring.h"
#include "async/internal/waiter.h"
#include "async/waker.h"
#include "rt/internal/event_ring.h"

namespace keel::async::internal {

template <class T>
class LocalChannel {
 public:
  using value_type = T;
  static constexpr bool kCopyableSender = true;
  static constexpr bool kCrossThread = false;

  explicit LocalChannel(std::size_t capacity) : ring_(checked(capacity)) {}

  // Ownership: the channel goes with its last endpoint.
  void add_sender() noexcept {
    ++senders_;
    ++refs_;
  }
  static void drop_sender(LocalChannel* c) noexcept {
    if (--c->senders_ == 0) {
      c->closed_ = true;
      c->wake_receiver();
    }
    if (--c->refs_ == 0) delete c;
  }
  static void drop_receiver(LocalChannel* c) noexcept {
    c->close();
    if (--c->refs_ == 0) delete c;
  }

  // Senders.
  PushResult try_push(T& message) noexcept {
    if (closed_) return PushResult::closed;
    if (!ring_.try_emplace_back(std::move(message))) return PushResult::full;
    wake_receiver();
    return PushResult::ok;
  }
  bool park_sender(SendWaiter<T>& w) noexcept {
    waiters_.push_back(w);
    return true;
  }
  PushResult finish_send(SendWaiter<T>& w) noexcept {
    assert(!w.linked);
    return w.outcome.load(std::memory_order_relaxed) == SendOutcome::sent ? PushResult::ok : PushResult::closed;
  }
  void unpark_sender(SendWaiter<T>& w) noexcept { waiters_.unlink(w); }
  bool is_closed() const noexcept { return closed_; }

  // The receiver.
  std::optional<T> try_pop() noexcept {
    if (ring_.empty()) return std::nullopt;
    std::optional<T> out(std::in_place, ring_.take_front());
    serve_senders();
    return out;
  }
  bool drained() const noexcept { return closed_ && ring_.empty(); }
  bool park_receiver(Waker waker) noexcept {
    receiver_waker_ = waker;
    receiver_parked = true;
    return true;
  }
  void unpark_receiver() noexcept {
    receiver_waker_ = Waker();
    receiver_parked = false;
  }
  std::optional<T> take_after_wake() noexcept { return try_pop(); }
  void close() noexcept {
    closed_ = true;
    while (SendWaiter<T>* w = waiters_.front()) {
      waiters_.unlink(*w);
      finish_send_wait(*w, SendOutcome::closed);
    }
    wake_receiver();
  }
  std::size_t size() const noexcept { return ring_.size(); }
  std::size_t capacity() const noexcept { return ring_.capacity(); }

  // A recv() is parked: try_recv() leaves the messages to it.
  bool receiver_parked = false;

 private:
  static std::size_t checked(std::size_t capacity) {
    if (capacity == 0 || capacity > (std::size_t{1} << 40)) {
      throw std::length_error("keel: a channel's capacity is at least 1 and at most 2^40");
    }
    return capacity;
  }

  void wake_receiver() noexcept {
    if (receiver_waker_) std::exchange(receiver_waker_, Waker()).wake();
  }

  // The room a pop made goes to the senders parked first.
  void serve_senders() noexcept {
    while (SendWaiter<T>* w = waiters_.front()) {
      if (!ring_.try_emplace_back(std::move(*w->message))) break;
      waiters_.unlink(*w);
      finish_send_wait(*w, SendOutcome::sent);
    }
  }

  keel::internal::EventRing<T> ring_;
  SendWaiterList<T> waiters_;
  Waker receiver_waker_;
  bool closed_ = false;
  std::size_t senders_ = 1;
  std::size_t refs_ = 2;  // the first sender and the receiver
};

}  // namespace keel::async::internal

// SpscChannel: the shared state of a keel::async::spsc channel — an
// SpscRing between one producer thread and one consumer thread, a waiter
// slot for each side, and the reference count of the two endpoints.
//
//   auto* state = new SpscChannel<Order>(1024);
//   state->try_push(order);     // producer: then wakes the receiver if it is parked
//
// Waits. The receiver parks on an empty queue in rx_waiter_, the sender
// on a full one in tx_waiter_, each with the handshake of
// channel_fence.h: arm the slot, heavy fence, look at the queue again.
// Per message the other side pays a light fence and one relaxed load of
// the slot's state; it wakes only a parked waiter, so a steady stream
// wakes nobody. A woken sender pushes its message itself: it is the only
// producer, and while it is parked try_push() from the same thread says
// full, so the room the receiver made is still there when it runs.
//
// Not for user code: async/channel.h uses it.
#pragma once

#include <atomic>
#include <cstddef>
#include <optional>
#include <stdexcept>

#include "async/internal/channel_fence.h"
#include "async/internal/spsc_ring.h"
#include "async/internal/waiter.h"
#include "async/waker.h"

namespace keel::async::internal {

template <class T>
class SpscChannel : public SharedByEndpoints<SpscChannel<T>> {
  using SharedByEndpoints<SpscChannel<T>>::release;

 public:
  using value_type = T;
  static constexpr bool kCopyableSender = false;
  static constexpr bool kCrossThread = true;

  explicit SpscChannel(std::size_t capacity) : ring_(capacity) { ChannelFences::enable(); }

  static void drop_sender(SpscChannel* c) noexcept {
    c->ring_.close_from_producer();
    light_fence();
    c->rx_waiter_.wake();
    release(c);
  }

  // The producer.
  PushResult try_push(T& message) noexcept {
    if (send_parked_) [[unlikely]] return PushResult::full;  // the parked send goes first
    return push(message);
  }
  bool park_sender(SendWaiter<T>& w) {
    if (send_parked_) throw std::logic_error("keel: an spsc Sender is awaited by one task at a time");
    if (w.thread) {
      tx_waiter_.arm_thread();
    } else {
      tx_waiter_.arm(w.waker);
    }
    send_parked_ = true;
    heavy_fence();
    if (ring_.has_room() || ring_.closed()) {
      tx_waiter_.disarm();
      return false;
    }
    return true;
  }
  void wait_sender(SendWaiter<T>&) noexcept { tx_waiter_.wait_until_woken(); }
  PushResult finish_send(SendWaiter<T>& w) noexcept {
    unpark_sender(w);
    return push(*w.message);
  }
  void unpark_sender(SendWaiter<T>&) noexcept {
    tx_waiter_.disarm();
    send_parked_ = false;
  }
  bool is_closed() const noexcept { return ring_.closed(); }

  // The consumer.
  std::optional<T> try_pop() noexcept {
    std::optional<T> out = ring_.try_pop();
    if (out) {
      light_fence();
      tx_waiter_.wake_if([this] { return ring_.producer_has_room(); });
    }
    return out;
  }
  bool drained() noexcept { return ring_.closed() && !ring_.has_message(); }
  bool park_receiver(Waker waker) noexcept {
    rx_waiter_.arm(waker);
    receiver_parked = true;
    heavy_fence();
    if (ring_.has_message() || ring_.closed()) {
      unpark_receiver();
      return false;
    }
    return true;
  }
  void unpark_receiver() noexcept {
    rx_waiter_.disarm();
    receiver_parked = false;
  }
  // Woken by a push (a message is there) or by the sender's end.
  std::optional<T> take_after_wake() noexcept { return try_pop(); }
  void close() noexcept {
    ring_.close();
    tx_waiter_.wake();
  }
  std::size_t capacity() const noexcept { return ring_.capacity(); }

  // The consumer's: a recv() is parked, so try_recv() leaves the messages to it.
  bool receiver_parked = false;

 private:
  PushResult push(T& message) noexcept {
    std::uint64_t position = 0;
    const PushResult r = ring_.try_push(message, &position);
    if (r == PushResult::ok) {
      light_fence();
      rx_waiter_.wake_if([this, position] { return ring_.head() <= position; });
    }
    return r;
  }

  SpscRing<T> ring_;
  bool send_parked_ = false;  // the producer's
  alignas(kCacheLine) WaiterSlot rx_waiter_;
  alignas(kCacheLine) WaiterSlot tx_waiter_;
};

}  // namespace keel::async::internal

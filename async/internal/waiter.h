// Where a channel keeps whoever waits on it: WaiterSlot, the one receiver
// (or spsc sender) of a cross-thread channel parked with its Waker or as a
// blocked plain thread; SendWaiter, a sender parked with its message, in
// a SendWaiterList that the receiver serves first in, first out.
//
//   slot.arm(waker);  heavy_fence();  if (ready) slot.disarm(); else suspend;   // the waiter
//   light_fence();    slot.wake_if([&] { return my_message_unread(); });         // the other side
//
// Lifetime protocol (WaiterSlot). A Waker must not be used once its
// runtime is gone, and a runtime can go as soon as the waiting task's
// frame is destroyed. So a waker handed to other threads is taken back
// before the awaiter that armed it is destroyed:
//   - state_ is empty → armed (the owner stored the waker, release) →
//     taken (one waking thread won the CAS, acquire: it reads the waker)
//     → empty (it called wake() and is done with the waker, release).
//   - disarm() (the owner; every awaiter calls it in its destructor, also
//     when the task was aborted or the runtime destroyed) CASes armed →
//     empty, so no thread can take the waker afterwards; if a thread has
//     taken it, disarm() waits until it stores empty. That wait is the
//     length of one wake() (a lock-free push and at most one eventfd
//     write), and happens only when a wake and a destruction race.
//   - The owner writes waker_ only while the slot is empty and after it
//     saw empty with acquire, so it never races with a waking thread's
//     read of the previous waker.
//   - No wake without cause: state_ also counts the armings, and a waking
//     thread first checks, against what the owner had done before it
//     armed, that the wait is still its business (a pusher: that its
//     message was not consumed already; a popper: that the parked sender
//     now has room). Without that, a push whose message the receiver
//     already took could wake the receiver's next, unrelated wait, and
//     the receiver would find nothing.
// A plain thread waits on state_ itself (std::atomic::wait); the waking
// thread notifies after storing empty. The slot lives in the channel's
// shared state, which the waking thread's own endpoint keeps alive.
//
// SendWaiterList nodes live in the waiting senders' awaiters (or on a
// blocked thread's stack); the list is guarded by its channel (a mutex for
// mpsc, nothing for local). A node leaves the list either by its owner
// (destruction, a recheck that found room) or by the receiver, which moves
// its message into the queue and marks it sent (or closed) while holding
// the guard; the owner reads the outcome under the same guard.
//
// Not for user code: async/channel.h uses it.
#pragma once

#include <atomic>
#include <cstdint>
#include <thread>

#include "async/waker.h"

namespace keel::async::internal {

// Spins politely while another thread finishes a short step (a wake(), a
// push between its claim and its publication).
inline void pause_briefly(unsigned& spins) noexcept {
  if (++spins < 64) {
#if defined(__x86_64__)
    __builtin_ia32_pause();
#endif
  } else {
    std::this_thread::yield();
  }
}

class WaiterSlot {
 public:
  WaiterSlot() noexcept = default;
  WaiterSlot(const WaiterSlot&) = delete;
  WaiterSlot& operator=(const WaiterSlot&) = delete;

  // The owner parks a task. The slot is empty (the owner disarmed it).
  void arm(Waker waker) noexcept {
    waker_ = waker;
    thread_ = false;
    publish_armed();
  }
  // The owner parks this plain thread; wait_until_woken() blocks on it.
  void arm_thread() noexcept {
    waker_ = Waker();
    thread_ = true;
    publish_armed();
  }

  // The owner takes its waker back: afterwards no other thread uses it.
  void disarm() noexcept {
    std::uint64_t seen = state_.load(std::memory_order_acquire);
    // SAFETY: acquire on every outcome: after armed → empty nobody can
    // take the waker; after seeing empty, the waking thread's use of it
    // happened before (its release store).
    if ((seen & kStateBits) == kArmed &&
        state_.compare_exchange_strong(seen, empty_of(seen), std::memory_order_acquire, std::memory_order_acquire)) {
      return;
    }
    unsigned spins = 0;
    while ((seen & kStateBits) == kTaken) {
      pause_briefly(spins);
      seen = state_.load(std::memory_order_acquire);
    }
  }

  // The other side, after light_fence(): wakes the parked waiter if there
  // is one and `still_wanted()` — evaluated after seeing the arming, with
  // everything the owner did before it visible — says this wake is for
  // its wait. Any thread, any number of callers; wakes each arming at
  // most once.
  template <class StillWanted>
  void wake_if(StillWanted still_wanted) noexcept {
    // SAFETY: acquire pairs with publish_armed(): the owner's state before
    // it parked (how far it has consumed) is visible to still_wanted().
    std::uint64_t seen = state_.load(std::memory_order_acquire);
    if ((seen & kStateBits) != kArmed) [[likely]] return;
    if (!still_wanted()) return;
    // SAFETY: the CAS names the arming seen above (its generation): if
    // the owner disarmed and parked again meanwhile, it fails, so a wake
    // meant for an earlier wait never ends a later one. The one winner
    // reads waker_ (acquire) and stores empty only after its last use of
    // the waker, so disarm() — and with it the runtime's end — waits.
    if (!state_.compare_exchange_strong(seen, taken_of(seen), std::memory_order_acquire, std::memory_order_relaxed)) {
      return;
    }
    const Waker waker = waker_;
    const bool thread = thread_;
    waker.wake();
    state_.store(empty_of(seen), std::memory_order_release);
    if (thread) state_.notify_all();
  }
  void wake() noexcept {
    wake_if([] { return true; });
  }

  // A plain thread armed with arm_thread(): blocks until wake() ran.
  void wait_until_woken() noexcept {
    for (std::uint64_t seen = state_.load(std::memory_order_acquire); (seen & kStateBits) != kEmpty;
         seen = state_.load(std::memory_order_acquire)) {
      state_.wait(seen, std::memory_order_acquire);
    }
  }

 private:
  // The low bits hold the state, the rest the number of the arming.
  static constexpr std::uint64_t kEmpty = 0;
  static constexpr std::uint64_t kArmed = 1;
  static constexpr std::uint64_t kTaken = 2;
  static constexpr std::uint64_t kStateBits = 3;

  static std::uint64_t empty_of(std::uint64_t word) noexcept { return (word & ~kStateBits) | kEmpty; }
  static std::uint64_t taken_of(std::uint64_t word) noexcept { return (word & ~kStateBits) | kTaken; }

  void publish_armed() noexcept {
    const std::uint64_t next = (state_.load(std::memory_order_relaxed) & ~kStateBits) + (kStateBits + 1);
    // SAFETY: release publishes waker_ (and the owner's progress) to the
    // thread whose acquire load sees this arming.
    state_.store(next | kArmed, std::memory_order_release);
  }

  std::atomic<std::uint64_t> state_{kEmpty};
  Waker waker_;
  bool thread_ = false;
};

// The reference count of a cross-thread channel's state, shared by its
// endpoints: Derived is deleted by the last endpoint to let go, and
// Derived::close() runs when the receiver goes.
template <class Derived>
class SharedByEndpoints {
 public:
  static void drop_receiver(Derived* c) noexcept {
    c->close();
    release(c);
  }

 protected:
  void add_ref() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
  static void release(Derived* c) noexcept {
    // SAFETY: acq_rel: whoever deletes the state sees everything the other
    // endpoints did before letting go.
    if (c->refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete c;
  }

 private:
  std::atomic<int> refs_{2};  // the first sender and the receiver
};

// How a parked sender's wait ended.
enum class SendOutcome : std::uint32_t {
  waiting,  // still in the list
  sent,     // the receiver moved the message into the queue
  closed,   // the channel closed; the message is still the sender's
  room,     // (spsc) there is room: the sender pushes it itself
};

template <class T>
struct SendWaiter {
  T* message = nullptr;
  Waker waker;          // a task's; inert for a blocked thread
  bool thread = false;  // a plain thread blocked on `outcome`
  std::atomic<SendOutcome> outcome{SendOutcome::waiting};
  SendWaiter* prev = nullptr;
  SendWaiter* next = nullptr;
  bool linked = false;
};

// A FIFO of parked senders. Guarded by the channel that owns it.
template <class T>
class SendWaiterList {
 public:
  bool empty() const noexcept { return head_ == nullptr; }
  SendWaiter<T>* front() const noexcept { return head_; }

  // SAFETY (list integrity): nodes are linked only while their owner is
  // suspended or blocked in the send that linked them, and every owner
  // unlinks its node (under the guard) before the node's storage goes, so
  // the list never reaches a destroyed node.
  void push_back(SendWaiter<T>& w) noexcept {
    w.prev = tail_;
    w.next = nullptr;
    w.linked = true;
    (tail_ != nullptr ? tail_->next : head_) = &w;
    tail_ = &w;
    ++size_;
  }
  void unlink(SendWaiter<T>& w) noexcept {
    if (!w.linked) return;
    (w.prev != nullptr ? w.prev->next : head_) = w.next;
    (w.next != nullptr ? w.next->prev : tail_) = w.prev;
    w.prev = w.next = nullptr;
    w.linked = false;
    --size_;
  }
  std::size_t size() const noexcept { return size_; }

 private:
  SendWaiter<T>* head_ = nullptr;
  SendWaiter<T>* tail_ = nullptr;
  std::size_t size_ = 0;
};

// Ends a parked sender's wait with `outcome`, under the list's guard: for
// a task, wakes it; for a blocked thread, stores the outcome and notifies
// it (the thread re-takes the guard before it returns, so the node lives
// until this returns).
template <class T>
void finish_send_wait(SendWaiter<T>& w, SendOutcome outcome) noexcept {
  w.outcome.store(outcome, std::memory_order_release);
  if (w.thread) {
    w.outcome.notify_all();
  } else {
    w.waker.wake();
  }
}

}  // namespace keel::async::internal

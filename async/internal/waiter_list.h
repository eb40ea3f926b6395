// WaiterList: the tasks suspended on one thing (a cancellation token), as
// an intrusive doubly-linked list of Waiter nodes. A Waiter is a member of
// the awaiter object, which lives in the suspended coroutine's frame: no
// allocation per wait, and unlinking is O(1) from either end of the wait —
// the thing completing (wake_all) or the frame going away (remove, from the
// awaiter's destructor).
//
//   internal::Waiter waiter;                       // a member of the awaiter
//   waiter.waker = Waker::for_current_task(h);     // in await_suspend
//   list.push_back(waiter);
//   ... list.wake_all();                           // the event: unlinks and wakes each
//   ... if (waiter.linked()) list.remove(waiter);  // the awaiter's destructor
//
// Not for user code, and loop thread only: the list and its waiters are
// touched by the thread that runs their tasks (a Waker crosses threads;
// this list does not).
#pragma once

#include <cassert>

#include "async/waker.h"

namespace keel::async::internal {

struct Waiter {
  Waker waker;
  Waiter* prev = nullptr;
  Waiter* next = nullptr;
  bool in_list = false;

  bool linked() const noexcept { return in_list; }
};

class WaiterList {
 public:
  WaiterList() noexcept = default;
  WaiterList(const WaiterList&) = delete;
  WaiterList& operator=(const WaiterList&) = delete;
  // Every waiter must have left: each holds its list's owner alive.
  ~WaiterList() { assert(empty()); }

  bool empty() const noexcept { return head_ == nullptr; }

  void push_back(Waiter& waiter) noexcept {
    assert(!waiter.in_list);
    // SAFETY: the waiter is a member of an awaiter in a suspended frame; the
    // awaiter's destructor removes it (below) before its storage goes, and
    // wake_all() unlinks it before the task can resume. So every node
    // reachable from head_ is a live Waiter, for as long as it is linked.
    waiter.prev = tail_;
    waiter.next = nullptr;
    waiter.in_list = true;
    if (tail_ != nullptr) {
      tail_->next = &waiter;
    } else {
      head_ = &waiter;
    }
    tail_ = &waiter;
  }

  // `waiter` must be linked in this list.
  void remove(Waiter& waiter) noexcept {
    assert(waiter.in_list);
    // SAFETY: a linked waiter's neighbours are linked waiters of this list
    // (see push_back), so both links name live nodes or are null at the ends.
    if (waiter.prev != nullptr) {
      waiter.prev->next = waiter.next;
    } else {
      head_ = waiter.next;
    }
    if (waiter.next != nullptr) {
      waiter.next->prev = waiter.prev;
    } else {
      tail_ = waiter.prev;
    }
    waiter.prev = waiter.next = nullptr;
    waiter.in_list = false;
  }

  // Unlinks every waiter and wakes its task, in the order they began to
  // wait. Each is unlinked before its wake, so the list is consistent
  // whatever a wake leads to; waiters linked meanwhile are woken too.
  void wake_all() noexcept {
    while (head_ != nullptr) {
      const Waker waker = head_->waker;
      remove(*head_);
      waker.wake();  // queues the task; it resumes at the runtime's next turn
    }
  }

 private:
  Waiter* head_ = nullptr;
  Waiter* tail_ = nullptr;
};

}  // namespace keel::async::internal

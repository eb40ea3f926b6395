// CancellationToken: a flag that tasks wait on, arranged in a tree. One
// piece of code cancels; every task holding the token — or a token made
// from it with child() — sees is_cancelled() and wakes from
// co_await token.cancelled().
//
//   keel::async::CancellationToken session;                 // a root
//   keel::async::CancellationToken feed = session.child();  // cancelled with the session, or alone
//   keel::async::spawn(read_feed(feed)).detach();           // read_feed: co_await feed.cancelled(); ...
//   feed.cancel();                                          // the feed only
//   session.cancel();                                       // everything under the session
//
// Cancelling a token cancels all its descendants (children, grandchildren,
// ...) and wakes their waiters; it leaves its parent and siblings alone. A
// child of a cancelled token starts cancelled. Cancellation is for good:
// nothing uncancels a token. Tokens are copyable handles to shared state
// (a copy is the same token); a token lives while any handle to it or to a
// descendant does, and one dropped before its parent leaves nothing in it.
//
// How it differs from JoinHandle::abort(): abort destroys a task wherever
// it waits; a token asks, and the task decides where to stop (between two
// orders, after a flush) and what to clean up.
//
// Not for: other threads (the token is the loop thread's: cancel, copy and
// drop it there; tell another thread through a channel), or a deadline
// (timeout(), async/timer.h). See docs/cancellation.md.
#pragma once

#include <coroutine>
#include <utility>

#include "async/internal/cancel_tree.h"
#include "async/internal/waiter_list.h"
#include "async/waker.h"

namespace keel::async {

class WaitForCancellation;

class CancellationToken {
 public:
  // A root token, not cancelled. Allocates its node.
  CancellationToken() : node_(internal::CancelNode::make_root()) {}
  // The same token: cancelling either cancels both. There is no move that
  // empties a token: a move copies, so a token always names its node.
  CancellationToken(const CancellationToken& other) noexcept : node_(other.node_) { node_->retain(); }
  CancellationToken& operator=(const CancellationToken& other) noexcept {
    other.node_->retain();
    internal::CancelNode::release(std::exchange(node_, other.node_));
    return *this;
  }
  ~CancellationToken() { internal::CancelNode::release(node_); }

  // A token cancelled when this one is (or on its own). Allocates its node.
  [[nodiscard]] CancellationToken child() const { return CancellationToken(internal::CancelNode::make_child(*node_)); }

  // Cancels this token and its descendants and wakes their waiters (they
  // resume at the runtime's next turn). No effect when already cancelled.
  void cancel() const noexcept { node_->cancel(); }

  bool is_cancelled() const noexcept { return node_->cancelled(); }

  // co_await token.cancelled(): resumes once the token is cancelled (at
  // once if it is). Destroying the waiting task before that — abort, a
  // timeout — unlinks its wait.
  [[nodiscard]] WaitForCancellation cancelled() const noexcept;

  // True when both name the same token (copies of one another).
  friend bool operator==(const CancellationToken& a, const CancellationToken& b) noexcept {
    return a.node_ == b.node_;
  }

 private:
  friend class WaitForCancellation;
  explicit CancellationToken(internal::CancelNode* node) noexcept : node_(node) {}

  internal::CancelNode* node_;
};

// The awaitable of CancellationToken::cancelled(). It holds the token, so
// the wait keeps it alive. Awaited once; not copyable or movable (the
// token's list names it while it waits).
class [[nodiscard]] WaitForCancellation {
 public:
  explicit WaitForCancellation(CancellationToken token) noexcept : token_(std::move(token)) {}
  WaitForCancellation(const WaitForCancellation&) = delete;
  WaitForCancellation& operator=(const WaitForCancellation&) = delete;
  ~WaitForCancellation() { token_.node_->stop_waiting(waiter_); }

  bool await_ready() const noexcept { return token_.is_cancelled(); }
  // Throws std::logic_error outside a task of a keel::async::Runtime.
  void await_suspend(std::coroutine_handle<> awaiting) {
    waiter_.waker = Waker::for_current_task(awaiting, "CancellationToken::cancelled()");
    token_.node_->wait(waiter_);
  }
  void await_resume() const noexcept {}

 private:
  CancellationToken token_;
  internal::Waiter waiter_;
};

inline WaitForCancellation CancellationToken::cancelled() const noexcept { return WaitForCancellation(*this); }

}  // namespace keel::async

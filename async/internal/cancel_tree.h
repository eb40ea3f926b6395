// CancelNode: the shared state behind keel::async::CancellationToken — one
// node per token (copies share it), in a tree: a node knows its parent and
// its children, and holds the tasks waiting for it in a WaiterList.
//
// Lifetimes are counted by hand: a node is held by each token naming it
// and by each of its children (so a child can always reach its parent, and
// a grandchild stays linked to its grandparent through a child whose
// tokens are gone). The parent does not hold its children: the last hold
// on a child unlinks it from its parent and frees it, so a token dropped
// before its parent leaves nothing behind. cancel() walks the subtree
// without recursion (a chain of a million children does not grow the
// stack) and skips subtrees already cancelled.
//
//   CancelNode* root = CancelNode::make_root();
//   CancelNode* child = CancelNode::make_child(*root);   // holds root
//   root->cancel();                                      // both, and their waiters
//   CancelNode::release(child);  CancelNode::release(root);
//
// Not for user code, and loop thread only (the counts are plain integers).
#pragma once

#include <cstddef>

#include "async/internal/waiter_list.h"

namespace keel::async::internal {

class CancelNode {
 public:
  CancelNode(const CancelNode&) = delete;
  CancelNode& operator=(const CancelNode&) = delete;

  // A root, not cancelled, held once.
  static CancelNode* make_root();
  // A child of `parent`, held once; it holds `parent`. Cancelled from the
  // start when `parent` is.
  static CancelNode* make_child(CancelNode& parent);

  void retain() noexcept { ++holds_; }
  // Drops one hold. The last one frees the node — unlinked from its parent
  // first — and drops the hold it had on its parent, and so on up.
  static void release(CancelNode* node) noexcept;

  bool cancelled() const noexcept { return cancelled_; }
  // Cancels this node and every descendant not yet cancelled, waking their
  // waiters: this node's first, then its descendants', depth first, children
  // in the order they were made. Queues tasks only; runs no user code.
  void cancel() noexcept;

  // `waiter` waits until the node is cancelled (it must not be yet).
  void wait(Waiter& waiter) noexcept { waiters_.push_back(waiter); }
  // A waiter that is still linked leaves (its awaiter is going away).
  void stop_waiting(Waiter& waiter) noexcept {
    if (waiter.linked()) waiters_.remove(waiter);
  }

  // Nodes alive on this thread: what tests check to see that dropped
  // tokens leave nothing behind.
  static std::size_t live_on_this_thread() noexcept { return live_; }

 private:
  CancelNode() noexcept { ++live_; }
  ~CancelNode() { --live_; }

  // The first of `node` and its later siblings that is not cancelled, or null.
  static CancelNode* first_uncancelled(CancelNode* node) noexcept;

  static inline thread_local std::size_t live_ = 0;

  CancelNode* parent_ = nullptr;
  CancelNode* first_child_ = nullptr;
  CancelNode* last_child_ = nullptr;
  CancelNode* prev_sibling_ = nullptr;
  CancelNode* next_sibling_ = nullptr;
  WaiterList waiters_;
  std::size_t holds_ = 1;
  bool cancelled_ = false;
};

}  // namespace keel::async::internal

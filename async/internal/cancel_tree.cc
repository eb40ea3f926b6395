#include "async/internal/cancel_tree.h"

namespace keel::async::internal {

CancelNode* CancelNode::first_uncancelled(CancelNode* node) noexcept {
  while (node != nullptr && node->cancelled_) node = node->next_sibling_;
  return node;
}

CancelNode* CancelNode::make_root() { return new CancelNode(); }

CancelNode* CancelNode::make_child(CancelNode& parent) {
  CancelNode* child = new CancelNode();
  // SAFETY (tree links): a node is linked into its parent's child list
  // exactly while it lives, and holds its parent for as long: so every
  // parent_ names a live node, and every child link names a live node
  // whose parent_ is the list's owner. The list is unlinked by release()
  // alone, which runs when the child's last hold goes.
  child->parent_ = &parent;
  child->cancelled_ = parent.cancelled_;
  child->prev_sibling_ = parent.last_child_;
  if (parent.last_child_ != nullptr) {
    parent.last_child_->next_sibling_ = child;
  } else {
    parent.first_child_ = child;
  }
  parent.last_child_ = child;
  parent.retain();
  return child;
}

void CancelNode::release(CancelNode* node) noexcept {
  while (node != nullptr && --node->holds_ == 0) {
    // SAFETY (tree links): with no hold left the node has no children (each
    // would hold it) and no waiters (each awaiter holds a token on it), so
    // unlinking it from its parent and deleting it leaves no link to it.
    // Its parent is alive: this node held it, and the loop drops that hold
    // next, freeing the parent too if it was the last.
    CancelNode* parent = node->parent_;
    if (parent != nullptr) {
      if (node->prev_sibling_ != nullptr) {
        node->prev_sibling_->next_sibling_ = node->next_sibling_;
      } else {
        parent->first_child_ = node->next_sibling_;
      }
      if (node->next_sibling_ != nullptr) {
        node->next_sibling_->prev_sibling_ = node->prev_sibling_;
      } else {
        parent->last_child_ = node->prev_sibling_;
      }
    }
    delete node;
    node = parent;
  }
}

void CancelNode::cancel() noexcept {
  if (cancelled_) return;
  // Depth first over the subtree, by the links (no stack). A cancelled
  // node's descendants are all cancelled (cancel() marks whole subtrees,
  // and a child of a cancelled node starts cancelled), so cancelled
  // subtrees are skipped whole. Waking queues tasks and runs no code, so
  // the tree does not change during the walk.
  CancelNode* node = this;
  while (true) {
    node->cancelled_ = true;
    node->waiters_.wake_all();
    CancelNode* next = first_uncancelled(node->first_child_);
    while (next == nullptr && node != this) {
      next = first_uncancelled(node->next_sibling_);
      if (next == nullptr) node = node->parent_;
    }
    if (next == nullptr) return;
    node = next;
  }
}

}  // namespace keel::async::internal

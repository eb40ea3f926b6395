#include "async/internal/buffer_storage.h"

#include <cstdint>
#include <limits>
#include <memory>

#include "async/internal/channel_fence.h"

namespace keel::internal {

namespace {

// Slots start on cache lines, so buffers used on different threads share
// none; the bytes start on a page, for O_DIRECT and memory registration.
constexpr std::size_t kSlotAlignment = 64;
constexpr std::size_t kBaseAlignment = 4096;

// a + b, or false on overflow.
bool add(std::size_t a, std::size_t b, std::size_t& out) noexcept { return !__builtin_add_overflow(a, b, &out); }
bool multiply(std::size_t a, std::size_t b, std::size_t& out) noexcept { return !__builtin_mul_overflow(a, b, &out); }
bool round_up(std::size_t n, std::size_t to, std::size_t& out) noexcept {
  if (!add(n, to - 1, out)) return false;
  out &= ~(to - 1);
  return true;
}

std::atomic<std::uint64_t> next_thread_id{1};

}  // namespace

std::uint64_t PoolStorage::assign_thread_id() noexcept {
  // SAFETY: relaxed: the ids only need to differ, and a thread reads its
  // own. Unlike a thread_local's address, an id is never reused, so a
  // thread started after the owner exited is never taken for it.
  return next_thread_id.fetch_add(1, std::memory_order_relaxed);
}

PoolStorage* PoolStorage::create(std::size_t buffer_size, std::size_t count) {
  if (buffer_size == 0 || count == 0 || count > std::numeric_limits<std::uint32_t>::max()) {
    throw std::length_error("keel: a BufferPool holds 1 to 2^32 - 1 buffers of at least one byte");
  }
  std::size_t stride = 0;
  std::size_t headers = 0;
  std::size_t front = 0;
  std::size_t slots = 0;
  std::size_t total = 0;
  if (!round_up(buffer_size, kSlotAlignment, stride) || !multiply(count, sizeof(BlockHeader), headers) ||
      !add(sizeof(PoolStorage), headers, front) || !round_up(front, kBaseAlignment, front) ||
      !multiply(count, stride, slots) || !add(front, slots, total)) {
    throw std::length_error("keel: a BufferPool of this many buffers of this size does not fit in memory");
  }
  void* memory = ::operator new(total, std::align_val_t{kBaseAlignment});
  // SAFETY: `memory` holds `total` bytes aligned to 4096: the PoolStorage
  // at its start (alignment 64), `count` headers right after it (its size
  // is a multiple of 64, so they are aligned for BlockHeader), then from
  // `front`, a multiple of 4096, `count` slots of `stride` bytes. The
  // slots' bytes stay uninitialised until a Buffer writes them.
  auto* pool = ::new (memory) PoolStorage;
  auto* raw = static_cast<std::byte*>(memory);
  pool->base_ = raw + front;
  pool->stride_ = stride;
  pool->count_ = count;
  pool->buffer_size_ = buffer_size;
  pool->allocation_bytes_ = total;
  pool->blocks_ = reinterpret_cast<BlockHeader*>(raw + sizeof(PoolStorage));
  pool->owner_ = this_thread_id();
  // Pushed last to first, so the first take is slot 0.
  for (std::size_t i = count; i-- > 0;) {
    auto* block = ::new (static_cast<void*>(pool->blocks_ + i)) BlockHeader;
    block->data = pool->base_ + i * stride;
    block->capacity = buffer_size;
    block->pool = pool;
    block->index = static_cast<std::uint32_t>(i);
    pool->push_free(block);
  }
  return pool;
}

void PoolStorage::destroy() noexcept {
  const std::size_t bytes = allocation_bytes_;
  void* memory = this;
  // SAFETY: the last hold is gone: the BufferPool closed, every block came
  // back (none is named by a Buffer, Bytes, slice or waiter), and no other
  // thread is between its push and its wake. The waiter list is empty and
  // the wake slot disarmed (close()). Headers and storage are trivially
  // destructible apart from their atomics, which need no destructor call.
  for (std::size_t i = 0; i < count_; ++i) blocks_[i].~BlockHeader();
  this->~PoolStorage();
  ::operator delete(memory, bytes, std::align_val_t{kBaseAlignment});
}

void PoolStorage::drop_holds(std::size_t n) noexcept {
  // SAFETY: acq_rel: whoever frees the storage sees every other holder's
  // last use of it (their decrements are releases).
  if (holds_.fetch_sub(n, std::memory_order_acq_rel) == n) destroy();
}

bool PoolStorage::refill() noexcept {
  // A plain load first: an empty stack costs no locked instruction.
  if (returned_.load(std::memory_order_relaxed) == nullptr) return free_ != nullptr;
  take_returned();
  if (waiters_head_ != nullptr) serve_waiters();
  return free_ != nullptr;
}

void PoolStorage::take_returned() noexcept {
  // SAFETY: acquire pairs with each pusher's release: what the blocks'
  // last owners did (their reads, the writes into `next`) happened before
  // the blocks are reused here.
  BlockHeader* block = returned_.exchange(nullptr, std::memory_order_acquire);
  while (block != nullptr) {
    BlockHeader* next = block->next;
    push_free(block);
    block = next;
  }
}

void PoolStorage::serve_waiters() noexcept {
  for (;;) {
    while (free_ != nullptr && waiters_head_ != nullptr) {
      BufferWaiter* w = waiters_head_;
      remove_waiter(*w);
      w->handed = pop_free();
      w->waker.wake();  // queues the task; its awaiter takes the block when it resumes
    }
    if (waiters_head_ == armed_for_) return;
    arm_for_first_waiter();
    // SAFETY: the wait handshake with give_back_from_another_thread(): the
    // arming above, a full fence, then this read of the stack; there, the
    // push, a full fence, then the read of the slot. One of the two sees
    // the other: a block pushed while the slot was not armed for the new
    // first waiter is found here.
    async::internal::full_fence();
    if (waiters_head_ == nullptr || returned_.load(std::memory_order_relaxed) == nullptr) return;
    take_returned();
  }
}

void PoolStorage::arm_for_first_waiter() noexcept {
  // disarm() waits out a wake another thread may be in the middle of, so
  // the slot is empty before it is armed again.
  wake_slot_.disarm();
  armed_for_ = waiters_head_;
  if (armed_for_ != nullptr) wake_slot_.arm(armed_for_->waker);
}

bool PoolStorage::park(BufferWaiter& w) noexcept {
  push_waiter(w);
  // Not first in line: the slot is armed for the first waiter, or its wake
  // is on its way, and it serves the others when it runs.
  if (waiters_head_ != &w) return true;
  arm_for_first_waiter();
  // SAFETY: the handshake of serve_waiters(): a block pushed back before
  // the arming was visible to its pusher is seen here.
  async::internal::full_fence();
  if (returned_.load(std::memory_order_relaxed) == nullptr) return true;
  // A block came back while `w` was arming: `w`, alone in line, takes it
  // without suspending (a wake now would wake the running task).
  remove_waiter(w);
  arm_for_first_waiter();
  take_returned();
  w.handed = pop_free();
  return false;
}

void PoolStorage::unpark(BufferWaiter& w) noexcept {
  remove_waiter(w);
  if (armed_for_ == &w) serve_waiters();  // re-arm for the next in line, who may be owed a block
}

void PoolStorage::settle_after_wake([[maybe_unused]] BufferWaiter& w) noexcept {
  assert(w.linked && waiters_head_ == &w);
  // The waking thread saw a block on the stack after the slot was armed
  // for `w`, which is first in line: the block is still there, or a take
  // since served `w` (it would not be linked). Either way `w` leaves with
  // a block.
  take_returned();
  serve_waiters();
  assert(w.handed != nullptr);
}

void PoolStorage::close() noexcept {
  assert(on_owner_thread());
  wake_slot_.disarm();
  armed_for_ = nullptr;
  while (BufferWaiter* w = waiters_head_) {
    remove_waiter(*w);
    w->pool_gone = true;
    w->waker.wake();
  }
  orphaned_ = true;
  // Each block still out holds the storage from now on. The count goes up
  // before the stack closes, so a pusher that finds it closed and drops
  // its block's hold cannot bring it to zero early.
  holds_.fetch_add(count_ - available_, std::memory_order_relaxed);
  // SAFETY: acq_rel: blocks pushed before the close are taken here (they
  // were not out after all); pushers after it see the close (acquire) and
  // the count above.
  BlockHeader* back = returned_.exchange(&closed_, std::memory_order_acq_rel);
  std::size_t came_back = 0;
  for (; back != nullptr; back = back->next) ++came_back;
  holds_.fetch_sub(came_back, std::memory_order_relaxed);  // the BufferPool's hold keeps it above zero
  drop_holds(1);                                          // the BufferPool's hold
}

void PoolStorage::give_back_from_another_thread(BlockHeader* block) noexcept {
  // SAFETY: relaxed: the caller owns an unreturned block, which keeps the
  // storage alive (through the BufferPool's hold, or its own once the pool
  // closed) until this increment; the hold then covers the wake below,
  // which touches the slot after the block is no longer the caller's.
  holds_.fetch_add(1, std::memory_order_relaxed);
  BlockHeader* head = returned_.load(std::memory_order_acquire);
  do {
    if (head == &closed_) {
      drop_holds(2);  // the pool is gone: this block's hold and this call's
      return;
    }
    block->next = head;
    // SAFETY: release publishes `next` and the block's last use to the
    // owner's acquire exchange. A multi-producer push with one consumer
    // that takes the whole stack cannot suffer ABA: nothing is popped one
    // at a time.
  } while (!returned_.compare_exchange_weak(head, block, std::memory_order_release, std::memory_order_acquire));
  // SAFETY: the other half of the handshake in serve_waiters() and park().
  async::internal::full_fence();
  // Only while something is on the stack: the owner may have taken this
  // block already (into a take that served the waiters of the time) and
  // armed the slot since for a wait this block cannot serve. Read after
  // the arming is seen (acquire), a non-empty stack is one the woken
  // waiter — first in line until it is served — finds, or that a take
  // serving it first finds.
  wake_slot_.wake_if([this] { return returned_.load(std::memory_order_acquire) != nullptr; });
  drop_holds(1);
}

void PoolStorage::push_waiter(BufferWaiter& w) noexcept {
  // SAFETY (list integrity): a waiter is linked only while its awaiter is
  // suspended in acquire() (or about to be); the awaiter unlinks it in its
  // destructor, and the pool unlinks it before handing it a block or
  // waking it at close(). So every linked node is a live BufferWaiter.
  w.prev = waiters_tail_;
  w.next = nullptr;
  w.linked = true;
  (waiters_tail_ != nullptr ? waiters_tail_->next : waiters_head_) = &w;
  waiters_tail_ = &w;
}

void PoolStorage::remove_waiter(BufferWaiter& w) noexcept {
  assert(w.linked);
  (w.prev != nullptr ? w.prev->next : waiters_head_) = w.next;
  (w.next != nullptr ? w.next->prev : waiters_tail_) = w.prev;
  w.prev = w.next = nullptr;
  w.linked = false;
}

}  // namespace keel::internal

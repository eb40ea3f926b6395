// Buffer storage: the memory behind keel::Buffer, keel::Bytes and
// keel::BufferPool — blocks (a header and the bytes it describes), their
// reference counts, and a pool's slots, free list and waiting tasks.
//
// A heap block is one allocation, its BlockHeader followed by its bytes. A
// pool is one allocation too: its PoolStorage, one BlockHeader per slot,
// then every slot's bytes at a fixed stride from a page-aligned base (the
// shape io_uring registers as fixed buffers or a provided-buffer ring).
// The header carries the reference count from the start, so a Buffer
// frozen into Bytes keeps its block: no allocation, no copy.
//
//   BlockHeader* b = allocate_heap_block(4096);   // refs 1: a Buffer's
//   retain(b);                                    // a second Bytes
//   release_shared(b);  release_shared(b);        // the last frees it
//
// Ownership. `refs` counts the owners: one Buffer (which alone may write),
// or any number of Bytes and slices (which only read). At zero a heap
// block is freed; a pool block goes back to its pool.
//
// Pools and threads. A pool belongs to the thread that built it (its
// owner): takes, waits and the free list are the owner's, with no atomic
// instruction. A block whose last owner lets go on the owner thread goes
// straight onto the free list, or to the first waiting task. On another
// thread it is pushed onto a lock-free stack (`returned_`) that the owner
// drains when its free list is empty; if a task waits, the pushing thread
// wakes the first one through a WaiterSlot armed with its waker
// (async/internal/waiter.h), and that task drains the stack when it runs.
//
// A pool may go before its blocks. Its storage is counted (`holds_`):
// the BufferPool's hold, then, once it is gone, one per block still out,
// and one per other thread in the middle of a push. The last one frees
// the allocation. Tasks still waiting when the pool goes are woken with
// `pool_gone` and never touch the storage again.
//
// Not for user code: async/buffer.h and async/buffer_pool.h use it.
#pragma once

#include <atomic>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string_view>

#include "async/internal/waiter.h"
#include "async/waker.h"

namespace keel::internal {

class PoolStorage;

// The front of every block. Its bytes are `capacity` bytes at `data`.
struct alignas(16) BlockHeader {
  std::atomic<std::size_t> refs{1};
  std::byte* data = nullptr;
  std::size_t capacity = 0;
  PoolStorage* pool = nullptr;  // null: a heap block, freed at refs 0
  BlockHeader* next = nullptr;  // a pool block off duty: the free list or the return stack
  std::uint32_t index = 0;      // a pool block's slot
};

// The largest heap block: the size computation cannot overflow below it.
inline constexpr std::size_t kMaxBlockCapacity = std::size_t{1} << 48;

// One allocation holding a header and `capacity` uninitialised bytes.
// Throws std::length_error above kMaxBlockCapacity, std::bad_alloc.
inline BlockHeader* allocate_heap_block(std::size_t capacity) {
  if (capacity > kMaxBlockCapacity) {
    throw std::length_error("keel: a Buffer holds at most 2^48 bytes");
  }
  void* memory = ::operator new(sizeof(BlockHeader) + capacity);
  // SAFETY: the allocation holds a header and `capacity` bytes; operator
  // new aligns it for any fundamental type, BlockHeader's 16 included. The
  // bytes start right after the header (sizeof is a multiple of 16) and
  // stay uninitialised: std::byte is an implicit-lifetime type, and
  // nothing reads a byte before the Buffer that owns it wrote it (see
  // async/buffer.h: reads stop at the committed length).
  auto* block = ::new (memory) BlockHeader;
  block->data = reinterpret_cast<std::byte*>(block + 1);
  block->capacity = capacity;
  return block;
}

inline void free_heap_block(BlockHeader* block) noexcept {
  const std::size_t bytes = sizeof(BlockHeader) + block->capacity;
  // SAFETY: refs reached zero: no Buffer, Bytes or slice names the block,
  // and nothing else holds its address (a heap block is on no list).
  block->~BlockHeader();
  ::operator delete(static_cast<void*>(block), bytes);
}

// The bytes [data, data + size) as characters. They are initialised: the
// callers pass a committed length.
inline std::string_view as_chars(const std::byte* data, std::size_t size) noexcept {
  // SAFETY: char may alias any object's bytes; the range lies inside one
  // block and was written before (committed, or filled by a read).
  return size == 0 ? std::string_view() : std::string_view(reinterpret_cast<const char*>(data), size);
}
inline void copy_chars(std::byte* to, std::string_view from) noexcept {
  if (!from.empty()) std::memcpy(to, from.data(), from.size());
}
// n initialised bytes from `from` to `to`, within one block; the ranges may overlap.
inline void move_bytes(std::byte* to, const std::byte* from, std::size_t n) noexcept {
  if (n != 0) std::memmove(to, from, n);
}

// A task waiting in BufferPool::acquire(): a member of the awaiter, in
// the suspended coroutine's frame, linked in its pool's FIFO.
struct BufferWaiter {
  async::Waker waker;
  BufferWaiter* prev = nullptr;
  BufferWaiter* next = nullptr;
  BlockHeader* handed = nullptr;  // the block this wait was given (refs 1), not yet taken
  bool linked = false;
  bool pool_gone = false;  // the pool was destroyed during the wait
};

class alignas(64) PoolStorage {
 public:
  // A pool of `count` slots of `buffer_size` bytes, all free, owned by
  // this thread. Throws std::length_error for a size or count of 0, a
  // count above 2^32 - 1 or a total that does not fit; std::bad_alloc.
  static PoolStorage* create(std::size_t buffer_size, std::size_t count);

  PoolStorage(const PoolStorage&) = delete;
  PoolStorage& operator=(const PoolStorage&) = delete;

  // The layout, fixed at creation.
  std::byte* base() const noexcept { return base_; }
  std::size_t stride() const noexcept { return stride_; }
  std::size_t count() const noexcept { return count_; }
  std::size_t buffer_size() const noexcept { return buffer_size_; }
  bool owns(const BlockHeader* block) const noexcept { return block != nullptr && block->pool == this; }

  // True on the thread that created the pool. Everything below, up to
  // close(), runs on that thread only.
  bool on_owner_thread() const noexcept { return this_thread_id() == owner_; }

  // A free block (refs 1), or null. Never one a waiting task is owed:
  // while tasks wait, the free list is empty.
  BlockHeader* try_take() noexcept {
    if (free_ == nullptr && !refill()) [[unlikely]] return nullptr;
    return pop_free();
  }
  // Blocks free now, those pushed back by other threads included.
  std::size_t available() noexcept {
    refill();
    return available_;
  }
  // Queues `w` (its waker set), whose try_take() found nothing. False when
  // a block came back meanwhile and `w` holds it now: do not suspend.
  bool park(BufferWaiter& w) noexcept;
  // `w` leaves the queue (its awaiter goes: the task was aborted).
  void unpark(BufferWaiter& w) noexcept;
  // `w` woke still queued: another thread pushed a block back and woke the
  // first waiter. Drains the stack, which serves `w` first.
  void settle_after_wake(BufferWaiter& w) noexcept;
  // The BufferPool goes: wakes every waiter with pool_gone, and the storage
  // lives on until its last block comes back.
  void close() noexcept;

  // Any thread: the last owner of one of this pool's blocks let go.
  void give_back(BlockHeader* block) noexcept {
    if (!on_owner_thread()) [[unlikely]] {
      give_back_from_another_thread(block);
    } else if (orphaned_) [[unlikely]] {
      drop_holds(1);
    } else if (waiters_head_ != nullptr) [[unlikely]] {
      push_free(block);
      serve_waiters();
    } else {
      push_free(block);
    }
  }

 private:
  PoolStorage() = default;
  ~PoolStorage() = default;

  static std::uint64_t this_thread_id() noexcept {
    if (thread_id_ == 0) [[unlikely]] thread_id_ = assign_thread_id();
    return thread_id_;
  }
  static std::uint64_t assign_thread_id() noexcept;

  void push_free(BlockHeader* block) noexcept {
    block->next = free_;
    free_ = block;
    ++available_;
  }
  BlockHeader* pop_free() noexcept {
    BlockHeader* block = free_;
    free_ = block->next;
    --available_;
    // SAFETY: a free block has no owner; the first one is the caller. The
    // count's earlier writes (the last owner's decrement, or a push from
    // another thread and the acquire that drained it) happened before.
    block->refs.store(1, std::memory_order_relaxed);
    return block;
  }
  // Moves blocks other threads pushed back onto the free list and serves
  // the waiting tasks; true when a block is left free.
  bool refill() noexcept;
  // Owner thread: blocks on the free list go to the waiting tasks, first
  // come first served, then the wake slot is armed for the new first one.
  void serve_waiters() noexcept;
  void take_returned() noexcept;
  void arm_for_first_waiter() noexcept;
  void push_waiter(BufferWaiter& w) noexcept;
  void remove_waiter(BufferWaiter& w) noexcept;
  void give_back_from_another_thread(BlockHeader* block) noexcept;
  void drop_holds(std::size_t n) noexcept;
  void destroy() noexcept;

  // Pushed on `returned_` by close(): the pool is gone, push no more.
  static constinit inline BlockHeader closed_{};
  static inline thread_local std::uint64_t thread_id_ = 0;

  // Fixed at creation.
  std::byte* base_ = nullptr;
  std::size_t stride_ = 0;
  std::size_t count_ = 0;
  std::size_t buffer_size_ = 0;
  std::size_t allocation_bytes_ = 0;
  BlockHeader* blocks_ = nullptr;
  std::uint64_t owner_ = 0;

  // The owner thread's.
  BlockHeader* free_ = nullptr;  // LIFO: the block used last is warm in cache
  std::size_t available_ = 0;
  BufferWaiter* waiters_head_ = nullptr;
  BufferWaiter* waiters_tail_ = nullptr;
  BufferWaiter* armed_for_ = nullptr;  // whose waker wake_slot_ holds (or held, until it woke)
  bool orphaned_ = false;              // close() ran

  // Shared with other threads.
  alignas(64) std::atomic<BlockHeader*> returned_{nullptr};
  std::atomic<std::size_t> holds_{1};
  async::internal::WaiterSlot wake_slot_;
};

// refs reached zero: the block goes back where it came from.
inline void return_block(BlockHeader* block) noexcept {
  if (block->pool == nullptr) {
    free_heap_block(block);
  } else {
    block->pool->give_back(block);
  }
}

// One more owner (a Bytes copy or slice).
inline void retain(BlockHeader* block) noexcept {
  // SAFETY: relaxed: the caller is an owner, so the block lives and no
  // decrement can reach zero before this increment.
  block->refs.fetch_add(1, std::memory_order_relaxed);
}
// How many owners a block has; a snapshot when some are on other threads.
inline std::size_t owners(const BlockHeader* block) noexcept {
  return block == nullptr ? 0 : block->refs.load(std::memory_order_relaxed);
}
// A Buffer lets go: it is the only owner, so no atomic read-modify-write.
inline void release_exclusive(BlockHeader* block) noexcept {
  assert(block->refs.load(std::memory_order_relaxed) == 1);
  return_block(block);
}
// A Bytes lets go.
inline void release_shared(BlockHeader* block) noexcept {
  // SAFETY: acquire on the load, acq_rel on the decrement: whoever returns
  // the block sees every other owner's reads done (their decrements are
  // releases) before the bytes are freed or handed to a writer. Seeing 1,
  // the caller is the only owner: no one can add one, so it skips the
  // decrement.
  if (block->refs.load(std::memory_order_acquire) == 1 ||
      block->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    return_block(block);
  }
}

}  // namespace keel::internal

// BufferPool: a fixed set of equal Buffers in one allocation, taken and
// given back without allocating. A task that finds the pool empty waits in
// `co_await pool.acquire()` until a buffer comes back: backpressure on
// reads when consumers fall behind, instead of memory that grows.
//
//   keel::BufferPool pool(/*buffer_size=*/2048, /*count=*/64);
//   keel::Buffer buf = co_await pool.acquire();             // waits while all 64 are out
//   keel::Bytes msg = std::move(buf).freeze();              // its slot returns with the last Bytes
//   std::optional<keel::Buffer> now = pool.try_acquire();   // never waits
//
// A pooled Buffer is an ordinary keel::Buffer (async/buffer.h); its slot is
// reused only once every Buffer, Bytes and slice naming it is gone. Waiting
// tasks are served first come, first served, ahead of try_acquire().
//
// Threads: the pool belongs to the thread that built it (acquire,
// try_acquire, available and the destructor run there). Its buffers may go
// anywhere; one given back on another thread goes onto a lock-free stack
// that the pool's thread takes when it runs out, waking a waiting task.
// Lifetime: the pool may go first; its storage lives until its last
// buffer goes, and tasks still waiting resume with std::logic_error.
//
// Not for: buffers of many sizes (keel::Buffer(capacity), one allocation
// each), or one pool for tasks of several threads (give each its own).
#pragma once

#include <coroutine>
#include <cstddef>
#include <optional>
#include <stdexcept>
#include <utility>

#include "async/buffer.h"
#include "async/internal/buffer_storage.h"
#include "async/waker.h"

namespace keel {

class BufferPool;

namespace internal {

inline void check_pool_thread(const PoolStorage& pool) {
  if (!pool.on_owner_thread()) [[unlikely]] {
    throw std::logic_error("keel: a BufferPool is used on the thread that built it");
  }
}

// co_await pool.acquire(): a Buffer, waiting while none is free.
class [[nodiscard]] AcquireBuffer {
 public:
  explicit AcquireBuffer(PoolStorage* pool) noexcept : pool_(pool) {}
  AcquireBuffer(const AcquireBuffer&) = delete;
  AcquireBuffer& operator=(const AcquireBuffer&) = delete;
  // A task destroyed while it waits (aborted, timed out) leaves the line;
  // one destroyed after it was handed a buffer, before it resumed, passes
  // the buffer on.
  ~AcquireBuffer() {
    if (waiter_.linked) {
      pool_->unpark(waiter_);
    } else if (waiter_.handed != nullptr) {
      release_exclusive(std::exchange(waiter_.handed, nullptr));
    }
  }

  bool await_ready() {
    check_pool_thread(*pool_);
    waiter_.handed = pool_->try_take();
    return waiter_.handed != nullptr;
  }
  bool await_suspend(std::coroutine_handle<> awaiting) {
    waiter_.waker = async::Waker::for_current_task(awaiting, "BufferPool::acquire()");
    return pool_->park(waiter_);
  }
  Buffer await_resume() {
    if (waiter_.pool_gone) [[unlikely]] {
      throw std::logic_error("keel: the BufferPool was destroyed while a task waited in acquire()");
    }
    if (waiter_.handed == nullptr) pool_->settle_after_wake(waiter_);
    return BufferAccess::adopt(std::exchange(waiter_.handed, nullptr));
  }

 private:
  PoolStorage* pool_;
  BufferWaiter waiter_;
};

// For the IO layer, not for user code: the pool's memory, to register
// with io_uring (fixed buffers, a provided-buffer ring), and which slot a
// buffer occupies.
struct PoolAccess {
  struct Region {
    std::byte* base;          // slot 0's bytes; page-aligned
    std::size_t stride;       // from one slot's bytes to the next (a multiple of 64)
    std::size_t count;        // slots
    std::size_t buffer_size;  // usable bytes per slot (<= stride)
  };
  static Region region(const BufferPool& pool) noexcept;
  // The slot of a Buffer or Bytes from this pool; nullopt for any other.
  static std::optional<std::size_t> index_of(const BufferPool& pool, const Buffer& buffer) noexcept;
  static std::optional<std::size_t> index_of(const BufferPool& pool, const Bytes& bytes) noexcept;
};

}  // namespace internal

class BufferPool {
 public:
  // `count` buffers of `buffer_size` bytes, in one allocation. Throws
  // std::length_error for a size or count of 0, or a count above
  // 2^32 - 1; std::bad_alloc.
  BufferPool(std::size_t buffer_size, std::size_t count)
      : storage_(internal::PoolStorage::create(buffer_size, count)) {}
  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;
  // The pool (its buffers and waiting tasks with it) changes hands; the
  // source is left empty: destroying or assigning it is all it allows.
  BufferPool(BufferPool&& other) noexcept : storage_(std::exchange(other.storage_, nullptr)) {}
  BufferPool& operator=(BufferPool&& other) noexcept {
    if (this != &other) {
      close();
      storage_ = std::exchange(other.storage_, nullptr);
    }
    return *this;
  }
  // On the pool's thread. Buffers still out keep the storage alive; tasks
  // waiting in acquire() resume with std::logic_error.
  ~BufferPool() { close(); }

  // A free buffer (size 0), or nullopt when none is — also while tasks
  // wait in acquire(): they come first. Never waits, never allocates.
  // Throws std::logic_error off the pool's thread.
  std::optional<Buffer> try_acquire() {
    internal::check_pool_thread(*storage_);
    if (internal::BlockHeader* block = storage_->try_take()) return internal::BufferAccess::adopt(block);
    return std::nullopt;
  }
  // co_await pool.acquire(): a free buffer (size 0), waiting while none is,
  // behind the tasks that waited first. Destroying the waiting task leaves
  // the line. Throws std::logic_error outside a task of this thread's
  // runtime (when it would wait), and when the pool is destroyed during
  // the wait.
  [[nodiscard]] internal::AcquireBuffer acquire() noexcept { return internal::AcquireBuffer(storage_); }

  // Buffers free now (given back on other threads included). Throws
  // std::logic_error off the pool's thread.
  std::size_t available() const {
    internal::check_pool_thread(*storage_);
    return storage_->available();
  }
  // How many buffers the pool holds.
  std::size_t size() const noexcept { return storage_->count(); }
  // Each buffer's capacity.
  std::size_t buffer_size() const noexcept { return storage_->buffer_size(); }

 private:
  friend struct internal::PoolAccess;
  void close() noexcept {
    if (storage_ != nullptr) std::exchange(storage_, nullptr)->close();
  }

  internal::PoolStorage* storage_;
};

namespace internal {

inline PoolAccess::Region PoolAccess::region(const BufferPool& pool) noexcept {
  const PoolStorage& s = *pool.storage_;
  return {s.base(), s.stride(), s.count(), s.buffer_size()};
}
inline std::optional<std::size_t> PoolAccess::index_of(const BufferPool& pool, const Buffer& buffer) noexcept {
  const BlockHeader* block = BufferAccess::block_of(buffer);
  if (!pool.storage_->owns(block)) return std::nullopt;
  return block->index;
}
inline std::optional<std::size_t> PoolAccess::index_of(const BufferPool& pool, const Bytes& bytes) noexcept {
  const BlockHeader* block = BufferAccess::block_of(bytes);
  if (!pool.storage_->owns(block)) return std::nullopt;
  return block->index;
}

}  // namespace internal

}  // namespace keel

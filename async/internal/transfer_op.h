// TransferOp: the awaitable of the operations that move bytes through one
// Buffer or Bytes on a stream or a file — recv, send, send_all, read_at,
// write_at. It carries only what those need (the kind, the source, the
// buffer, an offset), so that building, moving and awaiting one costs
// little next to the system call; operations with an address, a path or
// an fd to hand over use IoOp (io_op.h).
//
// Awaiting moves the buffer into a driver slot and suspends until the slot
// is done; the result is {bytes or the error, the buffer}, the buffer on
// error too. Destroying it while the task is suspended abandons the slot,
// which the driver keeps until the kernel is done with it.
//
//   co_await TransferOp<Buffer>(driver, OpKind::kRecv, source, std::move(buffer));
//
// Not for user code.
#pragma once

#include <cerrno>
#include <coroutine>
#include <cstdint>
#include <expected>
#include <system_error>
#include <type_traits>
#include <utility>

#include "async/buffer.h"
#include "async/internal/io_driver.h"
#include "async/io_result.h"
#include "async/waker.h"

namespace keel::async::internal {

inline std::error_code errno_code(int error) noexcept { return {error, std::system_category()}; }

template <class B>
class [[nodiscard]] TransferOp {
  static_assert(std::is_same_v<B, keel::Buffer> || std::is_same_v<B, keel::Bytes>);

 public:
  // `whole`: a send that goes on until every byte from `offset` is sent
  // (send_all); the count is then all of them.
  TransferOp(IoDriver& driver, OpKind kind, IoSource* source, B data, std::uint64_t offset = 0,
             bool whole = false) noexcept
      : driver_(&driver), source_(source), data_(std::move(data)), offset_(offset), kind_(kind), whole_(whole) {}
  TransferOp(TransferOp&& other) noexcept
      : driver_(other.driver_),
        slot_(std::exchange(other.slot_, nullptr)),
        source_(other.source_),
        data_(std::move(other.data_)),
        offset_(other.offset_),
        kind_(other.kind_),
        whole_(other.whole_),
        error_(other.error_) {}
  TransferOp(const TransferOp&) = delete;
  TransferOp& operator=(const TransferOp&) = delete;
  TransferOp& operator=(TransferOp&&) = delete;
  ~TransferOp() {
    // SAFETY: abandon() keeps the slot, and what it owns, until the kernel
    // is done with it; only this awaiter's claim on the result ends.
    if (slot_ != nullptr) driver_->abandon(slot_);
  }

  bool await_ready() const noexcept { return false; }

  bool await_suspend(std::coroutine_handle<> h) {
    // The wait is named before the operation can complete; an operation that
    // ends at once just does not suspend.
    Waker waker = Waker::for_current_task(h, "an IO operation");
    OpSlot* slot = driver_->acquire();
    if (slot == nullptr) {
      error_ = ENOBUFS;  // every slot is in use: the buffer comes back with the error
      return false;
    }
    slot->kind = kind_;
    slot->whole = whole_;
    slot->source = source_;
    IoDriver::ref(source_);
    if constexpr (std::is_same_v<B, keel::Buffer>) {
      slot->buffer = std::move(data_);
    } else {
      slot->bytes = std::move(data_);
    }
    slot->offset = offset_;
    slot_ = slot;
    if (!driver_->start_transfer(slot)) return false;
    slot->waiter = waker;
    return true;
  }

  IoResult<B> await_resume() {
    if (slot_ == nullptr) return {std::unexpected(errno_code(error_)), std::move(data_)};
    OpSlot* slot = std::exchange(slot_, nullptr);
    const std::int32_t rc = slot->result;
    // send_all's count is every byte sent, which an int32 result may not hold.
    const std::size_t count = slot->whole ? slot->offset : static_cast<std::size_t>(rc);
    IoResult<B> r{std::size_t{0}, take(slot)};
    driver_->finish(slot);
    if (rc < 0) {
      r.result = std::unexpected(errno_code(-rc));
    } else {
      r.result = count;
    }
    return r;
  }

 private:
  static B take(OpSlot* slot) noexcept {
    if constexpr (std::is_same_v<B, keel::Buffer>) {
      return std::move(slot->buffer);
    } else {
      return IoDriver::take_bytes(slot);
    }
  }

  IoDriver* driver_;
  OpSlot* slot_ = nullptr;
  IoSource* source_;  // not owned: the slot takes its own reference
  B data_;
  std::uint64_t offset_;
  OpKind kind_;
  bool whole_;
  int error_ = 0;
};

}  // namespace keel::async::internal

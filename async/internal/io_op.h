// IoOp: the awaitable every IO operation of async/io.h is — it holds the
// operation's inputs until it is awaited, then moves them into a driver
// slot (async/internal/io_driver.h) and suspends until the slot is done.
// Destroying it while the task is suspended abandons the slot, which the
// driver keeps until the kernel is done with it.
//
// A Finish policy turns the done slot (or, when no slot was free, the
// inputs and ENOBUFS) into the operation's result:
//
//   struct Finish { using Result = IoResult<Buffer>;
//                   static Result finish(IoDriver&, OpInput& in, std::int32_t rc); };
//   co_await IoOp<Finish>(driver, std::move(input));
//
// Not for user code.
#pragma once

#include <cerrno>
#include <coroutine>
#include <cstring>
#include <cstdint>
#include <string>
#include <utility>

#include "async/buffer.h"
#include "async/internal/io_driver.h"
#include "async/socket_addr.h"
#include "async/waker.h"

namespace keel::async::internal {

// An operation's inputs, and after it its outputs: the buffer comes back
// through here.
struct OpInput {
  OpKind kind = OpKind::kRecv;
  IoSource* source = nullptr;  // not owned: the slot takes its own reference
  keel::Buffer buffer;
  keel::Bytes bytes;
  std::uint64_t offset = 0;
  SocketAddr addr;
  std::string path;
  int open_flags = 0;
  unsigned open_mode = 0;
  bool owns_source = false;  // connect: the socket's only owner until the stream takes it
  int error = 0;             // non-zero: fail with this errno without starting
};

template <class Finish>
class [[nodiscard]] IoOp {
 public:
  IoOp(IoDriver& driver, OpInput input) noexcept : driver_(&driver), input_(std::move(input)) {}
  IoOp(IoOp&& other) noexcept
      : driver_(other.driver_), slot_(std::exchange(other.slot_, nullptr)), input_(std::move(other.input_)) {
    other.input_.owns_source = false;  // the source goes with the move: closed once, by the op it moved to
  }
  IoOp(const IoOp&) = delete;
  IoOp& operator=(const IoOp&) = delete;
  IoOp& operator=(IoOp&&) = delete;
  ~IoOp() {
    // SAFETY: abandon() keeps the slot, and what it owns, until the kernel
    // is done with it; only this awaiter's claim on the result ends.
    if (slot_ != nullptr) driver_->abandon(slot_);
    if (input_.owns_source) IoDriver::close_source(std::exchange(input_.source, nullptr));
  }

  bool await_ready() const noexcept { return false; }

  bool await_suspend(std::coroutine_handle<> h) {
    // The wait is named before the operation can complete; an operation that
    // ends at once just does not suspend.
    Waker waker = Waker::for_current_task(h, "an IO operation");
    if (input_.error != 0) return false;
    OpSlot* slot = driver_->acquire();
    if (slot == nullptr) {
      input_.error = ENOBUFS;  // every slot is in use: the buffer comes back with the error
      return false;
    }
    slot->kind = input_.kind;
    if (input_.source != nullptr) {
      slot->source = input_.source;
      ++input_.source->refs;
    }
    slot->buffer = std::move(input_.buffer);
    slot->bytes = std::move(input_.bytes);
    slot->offset = input_.offset;
    if (input_.addr.native_size() > 0) slot->addr_len = input_.addr.bytes().copy_to(slot->addr);
    slot->path = std::move(input_.path);
    slot->open_flags = input_.open_flags;
    slot->open_mode = input_.open_mode;
    slot_ = slot;
    if (!driver_->start(slot)) return false;
    slot->waiter = waker;
    return true;
  }

  typename Finish::Result await_resume() {
    if (slot_ == nullptr) return Finish::finish(*driver_, input_, -input_.error);
    OpSlot* slot = std::exchange(slot_, nullptr);
    input_.buffer = std::move(slot->buffer);
    input_.bytes = IoDriver::take_bytes(slot);
    // SAFETY: addr holds addr_len bytes of an address the kernel (or the caller) wrote.
    if (slot->addr_len > 0) input_.addr.bytes().assign(slot->addr, slot->addr_len);
    const std::int32_t rc = slot->result;
    driver_->finish(slot);
    return Finish::finish(*driver_, input_, rc);
  }

 private:
  IoDriver* driver_;
  OpSlot* slot_ = nullptr;
  OpInput input_;
};

}  // namespace keel::async::internal

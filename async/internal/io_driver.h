// IoDriver: the runtime's completion-based IO — a bounded table of
// operation slots, each owning what the kernel may touch (the buffer, the
// address, the message header) until the operation's final completion, and
// the per-fd state (IoSource) its IO objects share with their operations.
//
// On io_uring an operation is an SQE whose user_data names its slot by
// index and generation (rt's CompletionKind::kOperation), so a completion
// can never be taken for a later operation in the same slot. On epoll the
// same slot waits on its fd's readiness and the driver performs the
// non-blocking system call itself when the fd is ready; the awaiting task
// sees the same thing either way: its slot becomes done, and it is woken.
//
// Abandoning (the awaiting task was destroyed) never frees what the kernel
// may still write: an in-flight slot is marked orphaned, an async cancel
// is submitted, and the slot is settled when the final completion comes —
// bytes received go to the IoSource's leftovers (the next read on the fd
// gets them first), an accepted or opened fd is closed, a connecting
// socket is closed. Reads on an fd wait while an orphaned read is in
// flight, so leftovers always come before later bytes.
//
//   IoDriver driver(uring, 4096);
//   OpSlot* slot = driver.acquire();      // nullptr: the table is full
//   slot->kind = OpKind::kRecv; ...       // fill in, then:
//   if (driver.start(slot)) { slot->waiter = Waker::for_current_task(h); /* suspend */ }
//   driver.finish(slot);                  // after taking the result; or abandon(slot)
//
// Not for user code: async/io.h builds on it. Loop thread only.
#pragma once

#include <liburing.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "async/buffer.h"
#include "async/buffer_pool.h"
#include "async/socket_addr.h"
#include "async/waker.h"
#include "rt/internal/slab.h"
#include "rt/internal/uring_operations.h"
#include "rt/uring.h"

namespace keel::async::internal {

enum class OpKind : std::uint8_t {
  kRecv,          // into buffer's spare capacity
  kSend,          // buffer's bytes
  kSendBytes,     // bytes
  kAccept,        // result: the new fd; addr: the peer
  kConnect,       // the source's socket to addr
  kRecvFrom,      // a datagram into buffer; addr: its sender
  kSendTo,        // buffer to addr
  kSendBytesTo,   // bytes to addr
  kReadAt,        // pread into buffer at offset
  kWriteAt,       // pwrite buffer at offset
  kWriteBytesAt,  // pwrite bytes at offset
  kFsync,
  kOpen,          // openat(AT_FDCWD, path, flags, mode); result: the fd
  kSendZc,        // bytes, zero-copy: the kernel reads them until its notification
  kAcceptMulti,   // multishot accept: results queue in `items`
  kRecvMulti,     // multishot recv into `provided`'s buffers: results queue in `items`
};

enum class OpState : std::uint8_t {
  kFree,
  kWaiting,   // epoll: for its fd's readiness; io_uring: a read held behind an orphaned one
  kInFlight,  // io_uring: submitted, its completion not yet come
  kDone,      // result set; the awaiter has not taken it yet
  kOrphaned,  // io_uring: its awaiter is gone, its final completion not yet come
  kIdle,      // multishot: not in the kernel; armed again when its owner asks for more
};

// A result a multishot operation produced and its owner has not taken.
struct MultishotItem {
  std::int32_t result;  // an fd, bytes, or -errno
  keel::Buffer buffer;
};

struct IoSource;

// A provided-buffer ring (IORING_REGISTER_PBUF_RING) lent buffers from a
// BufferPool, for one multishot recv: the kernel picks a buffer per
// completion and names it by its id. The Buffers stay here, owned, until
// the kernel hands them back in a completion or the ring is unregistered.
struct ProvidedRing {
  keel::BufferPool* pool = nullptr;
  io_uring_buf_ring* ring = nullptr;  // shared with the kernel (mmap'd)
  std::size_t ring_bytes = 0;
  unsigned entries = 0;                // a power of two
  unsigned most_lent = 0;              // buffer ids in use: the stream's quota, at most `entries`
  std::uint16_t group = 0;
  std::vector<keel::Buffer> lent;      // by buffer id; empty when not lent
  std::vector<std::uint16_t> free_ids;
};

// The fields every operation touches come first, in the slot's first two
// cache lines (slots are cache-line aligned); what only multishot,
// datagram, connect and open operations use comes after, so a recv or a
// send on a stream leaves those lines alone.
struct alignas(64) OpSlot {
  // Set when the slot is made.
  std::uint32_t index = 0;
  std::uint32_t generation = 1;  // advanced on each release

  OpKind kind = OpKind::kRecv;
  OpState state = OpState::kFree;
  bool connect_started = false;  // epoll: connect(2) returned EINPROGRESS
  bool in_kernel = false;        // the kernel has it (a final completion is owed)
  bool notification_pending = false;  // send_zc: the kernel may still read `bytes`
  bool owner_gone = false;       // multishot / send_zc: settled at the final completion
  bool whole = false;            // kSend/kSendBytes: sends again from a short send's end (send_all)
  bool finished = false;         // multishot recv: end of stream or an error ended it
  std::int32_t result = 0;       // bytes, an fd, 0, or -errno
  std::uint32_t quota = 0;       // multishot: items queued at most before it is stopped
  socklen_t addr_len = 0;
  Waker waiter;
  IoSource* source = nullptr;  // the fd's shared state (a reference); null for File::open
  OpSlot* prev = nullptr;      // links in the source's waiting or in-flight list
  OpSlot* next = nullptr;      // ...or in the driver's free list

  // What the kernel reads or writes, owned here until the final completion.
  keel::Buffer buffer;
  keel::Bytes bytes;
  std::uint64_t offset = 0;  // files: the file offset; sends: the first byte to send (send_all: sent so far, and at the end the count)

  // Used by some kinds only.
  int open_flags = 0;
  unsigned open_mode = 0;
  std::deque<MultishotItem> items;  // multishot: produced, not yet taken
  std::unique_ptr<ProvidedRing> provided;  // kRecvMulti
  std::string path;
  sockaddr_storage addr{};
  msghdr msg{};
  iovec iov{};
};

// A doubly linked list of slots, FIFO.
class SlotList {
 public:
  bool empty() const noexcept { return head_ == nullptr; }
  OpSlot* front() const noexcept { return head_; }

  void push_back(OpSlot* s) noexcept {
    // SAFETY: slots live in the driver's chunks, which never move or go
    // before the driver; a slot is in at most one list (its state says
    // which), and is removed before it is released.
    s->prev = tail_;
    s->next = nullptr;
    if (tail_ != nullptr) {
      tail_->next = s;
    } else {
      head_ = s;
    }
    tail_ = s;
  }

  void remove(OpSlot* s) noexcept {
    // SAFETY: `s` is in this list (see push_back): its links name slots of
    // this list or are null at the ends.
    if (s->prev != nullptr) {
      s->prev->next = s->next;
    } else {
      head_ = s->next;
    }
    if (s->next != nullptr) {
      s->next->prev = s->prev;
    } else {
      tail_ = s->prev;
    }
    s->prev = s->next = nullptr;
  }

 private:
  OpSlot* head_ = nullptr;
  OpSlot* tail_ = nullptr;
};

// Bytes an abandoned read received, kept for the next read.
struct Leftover {
  keel::Buffer data;
  SocketAddr from;  // datagrams: the sender
};

class IoDriver;

// What an IO object (TcpStream, UdpSocket, ...) and its operations share:
// the fd, reads held or waiting, leftovers. Counted: the object holds one
// reference and every slot naming it another.
// What a recv or send on io_uring reads comes first, in the first two
// cache lines (sources are cache-line aligned).
struct alignas(64) IoSource {
  int fd = -1;
  unsigned refs = 1;
  bool open = true;             // the object still owns the fd
  unsigned orphaned_reads = 0;  // abandoned reads whose final completion has not come
  SlotList in_flight;           // io_uring: submitted
  std::deque<Leftover> leftovers;
  IoDriver* driver = nullptr;   // null once the runtime is gone
  SlotList readers;             // waiting to read (epoll), or held behind an orphaned read
  SlotList writers;             // waiting to write (epoll)
  std::uint32_t readiness_index = 0;  // epoll: its entry in the driver's table of watched sources
  bool watched = false;
  // epoll: whether a read (write) may find something to do. Cleared when
  // one found nothing (EAGAIN) or drained the socket (a short read or
  // write); set by the next readiness edge. A clear flag sends the next
  // operation straight to waiting, without a system call that would fail.
  bool read_ready = true;
  bool write_ready = true;
  // epoll: the peer hung up or the socket has an error; no edge may follow,
  // so every operation tries its call (which ends with 0 or the error).
  bool hung_up = false;
  IoSource* prev_live = nullptr;  // in the driver's list of sources
  IoSource* next_live = nullptr;
};

class IoDriver {
 public:
  // `max_operations`: slots in use at most; an operation beyond it fails
  // with ENOBUFS (its buffer comes back). `bytes_per_poll`: on epoll, what
  // operations that did not wait may move between two polls before one
  // is held for the next (0: no limit).
  IoDriver(Uring& uring, std::size_t max_operations, std::size_t bytes_per_poll = 0);
  ~IoDriver();
  IoDriver(const IoDriver&) = delete;
  IoDriver& operator=(const IoDriver&) = delete;

  bool completion_based() const noexcept { return ops_.completion_based(); }

  // A source for `fd`, owned by the caller (close_source when done).
  IoSource* open_source(int fd);
  // Another reference to `source`, and dropping one (the last frees it);
  // both also after the runtime is gone.
  static void ref(IoSource* source) noexcept { ++source->refs; }
  static void unref(IoSource* source) noexcept {
    // SAFETY: refs counts every holder — the object, each slot naming the
    // source, each stream — so at 0 nothing can reach it.
    if (--source->refs == 0) free_source(source);
  }
  // The object is done with `source`: its operations are cancelled, its
  // leftovers dropped, the fd closed (after the cancels, on io_uring).
  static void close_source(IoSource* source) noexcept;

  // A free slot (kind and inputs to be filled in), or nullptr when
  // max_operations are in use.
  OpSlot* acquire() {
    if (in_use_ >= max_operations_) return nullptr;
    if (free_ == nullptr) [[unlikely]] grow_slots();
    OpSlot* slot = free_;
    free_ = slot->next;
    slot->next = nullptr;
    slot->state = OpState::kDone;  // not yet started: abandon() settles nothing
    slot->result = 0;
    ++in_use_;
    return slot;
  }
  // Starts the operation. True: pending (set slot->waiter and suspend);
  // false: done already, the result is in the slot.
  bool start(OpSlot* slot);
  // start() for a recv, send or send_all on a stream (TransferOp): on
  // io_uring, when no kept bytes or abandoned read come first, the entry
  // is filled here without start()'s general checks.
  bool start_transfer(OpSlot* slot) {
    IoSource& source = *slot->source;
    const bool plain = slot->kind == OpKind::kSend || slot->kind == OpKind::kSendBytes ||
                       (slot->kind == OpKind::kRecv && source.orphaned_reads == 0 && source.leftovers.empty() &&
                        !slot->buffer.spare_capacity().empty());
    if (!plain || !completion_based()) return start(slot);
    io_uring_sqe* sqe = ops_.sqe();
    if (sqe == nullptr) [[unlikely]] return start(slot);  // reports EBUSY
    prep_transfer(sqe, source.fd, slot);
    mark_in_flight(slot, sqe);
    return true;
  }
  // The awaiter took the result: the slot is free again (or, for a
  // zero-copy send, once the kernel's notification comes).
  void finish(OpSlot* slot) noexcept {
    if (slot->notification_pending) {
      slot->owner_gone = true;  // released when the notification comes
      return;
    }
    release(slot);
  }
  // What a finished operation gives back: the bytes themselves, or a
  // reference to them while the kernel still reads them (send_zc).
  static keel::Bytes take_bytes(OpSlot* slot) noexcept;

  // Multishot: arms `slot` when it is idle, below its quota (and, for a
  // recv, has a buffer lent to the kernel); false when no submission entry
  // was free.
  bool arm(OpSlot* slot);
  // Multishot recv: a slot whose ring lends up to `entries` buffers of
  // `pool`; nullptr with errno set when no slot is free or the kernel
  // refuses the ring.
  OpSlot* open_recv_multishot(IoSource* source, keel::BufferPool& pool, std::size_t quota);
  // Lends the ring every buffer the pool can give without waiting; how
  // many buffers the ring now holds.
  std::size_t top_up(OpSlot* slot) noexcept;
  // Lends one buffer the caller got from the pool (after waiting for it).
  void lend(OpSlot* slot, keel::Buffer buffer) noexcept;
  // Multishot: its owner goes; queued results are settled (fds closed),
  // and the slot is released now or at its final completion.
  void drop_multishot(OpSlot* slot) noexcept;
  // Whether the kernel offers zero-copy send here.
  bool send_zc_supported() const noexcept { return send_zc_; }
  // The awaiter is going without the result (its task was destroyed).
  void abandon(OpSlot* slot) noexcept;

  // How often multishot operations stopped: the kernel found no lent
  // buffer (ENOBUFS), or the queue reached its quota.
  struct Counters {
    std::uint64_t ring_ran_dry = 0;
    std::uint64_t quota_stops = 0;
  };
  const Counters& counters() const noexcept { return counters_; }

  // One unbounded wait for the runtime's operations, their completions (on
  // epoll, their fds' readiness) settled as they are read (UringOperations::
  // wait_for_operations); std::nullopt when a full poll is needed.
  std::optional<keel::internal::UringOperations::DirectWait> wait_for_completions() {
    return ops_.wait_for_operations([this](const keel::internal::Completion& c) { on_completion(this, c); });
  }

  // epoll: operations that completed at once past the bytes allowed
  // between two polls, held until the next poll; the runtime then polls
  // without waiting.
  bool holds_completed() const noexcept { return !held_.empty(); }
  // After each poll: the allowance starts again and the held operations'
  // tasks are woken.
  void polled() noexcept {
    moved_since_poll_ = 0;
    if (!held_.empty()) release_held();
  }

  // Slots in use (pending, done, or orphaned), and of those in the kernel.
  std::size_t in_use() const noexcept { return in_use_; }
  std::size_t in_kernel() const noexcept { return in_kernel_; }

  // Cancels every operation in the kernel and waits for their final
  // completions (the runtime's destructor, after its tasks are gone).
  void shutdown() noexcept;

  // Whether the calling thread's runtime has a driver; the driver or a
  // std::logic_error naming `operation`.
  static IoDriver& current(const char* operation);

 private:
  static void on_completion(void* self, const keel::internal::Completion& completion);
  void complete(OpSlot* slot, std::int32_t result) noexcept;
  // send_all, at a send's completion: submits the rest (true), or ends
  // the operation: `result` 0 with every byte sent in `offset`, or the
  // error.
  bool send_rest(OpSlot* slot, std::int32_t& result) noexcept;
  // send_all: adds `sent` bytes to the slot's count (its offset); whether
  // some are left to send. A send that took none ends it: another would
  // take none again.
  static bool count_sent(OpSlot* slot, std::int32_t sent) noexcept {
    slot->offset += static_cast<std::uint64_t>(sent);
    const std::size_t size = slot->kind == OpKind::kSend ? slot->buffer.size() : slot->bytes.size();
    return sent > 0 && slot->offset < size;
  }
  void settle_orphan(OpSlot* slot) noexcept;
  void complete_multishot(OpSlot* slot, const keel::internal::Completion& completion) noexcept;
  static void settle_item(OpSlot* slot, MultishotItem& item) noexcept;
  void close_ring(OpSlot* slot) noexcept;
  void release(OpSlot* slot) noexcept {
    // SAFETY: called only when the kernel owes the slot no completion (never
    // submitted, or its final completion came: in_kernel is false) and the
    // slot is in no list; its buffers can go. The generation moves on before
    // the slot is reusable, so a completion naming the operation that held it
    // is not taken for the next (on_completion). The source's reference goes
    // last: it may free the source, which nothing here touches afterwards.
    if (holds_extras(slot->kind)) [[unlikely]] release_extras(slot);
    IoSource* source = std::exchange(slot->source, nullptr);
    slot->buffer = keel::Buffer();
    slot->bytes = keel::Bytes();
    slot->addr_len = 0;
    slot->offset = 0;
    slot->connect_started = false;
    slot->in_kernel = slot->notification_pending = slot->owner_gone = slot->whole = false;
    slot->quota = 0;
    slot->finished = false;
    slot->waiter = Waker();
    slot->state = OpState::kFree;
    ++slot->generation;
    if ((slot->generation & keel::internal::kGenerationMask) == 0) slot->generation = 1;
    slot->prev = nullptr;
    slot->next = free_;
    free_ = slot;
    --in_use_;
    if (source != nullptr) unref(source);
  }
  // Kinds whose slot may hold more than the common fields — multishot
  // results and a provided ring, or an open's path — which release_extras
  // settles.
  static bool holds_extras(OpKind kind) noexcept {
    return kind == OpKind::kOpen || kind == OpKind::kAcceptMulti || kind == OpKind::kRecvMulti;
  }
  void release_extras(OpSlot* slot) noexcept;
  static void free_source(IoSource* source) noexcept;
  // Fills `sqe` for the slot's recv (kRecv) or send (kSend, kSendBytes).
  static void prep_transfer(io_uring_sqe* sqe, int fd, OpSlot* slot) noexcept {
    // SAFETY: the pointers given to the kernel point into the heap storage
    // of the Buffer or Bytes the slot owns; the slot is neither released nor
    // moved (chunks never move) before the operation's final completion.
    if (slot->kind == OpKind::kRecv) {
      std::span<std::byte> room = slot->buffer.spare_capacity();
      io_uring_prep_recv(sqe, fd, room.data(), room.size(), 0);
      return;
    }
    const std::string_view v = (slot->kind == OpKind::kSend ? slot->buffer.view() : slot->bytes.view()).substr(slot->offset);
    io_uring_prep_send(sqe, fd, v.data(), v.size(), MSG_NOSIGNAL);
  }
  // The slot's entry is filled: it is the kernel's until its final completion.
  void mark_in_flight(OpSlot* slot, io_uring_sqe* sqe) noexcept {
    io_uring_sqe_set_data64(sqe, user_data(slot));
    slot->state = OpState::kInFlight;
    slot->in_kernel = true;
    ++in_kernel_;
    if (slot->source != nullptr) slot->source->in_flight.push_back(slot);
  }
  void grow_slots();
  bool submit(OpSlot* slot);
  void submit_cancel(OpSlot* slot) noexcept;
  bool take_leftover(OpSlot* slot) noexcept;
  void resume_held_readers(IoSource* source) noexcept;
  // epoll
  static std::int32_t perform(OpSlot* slot) noexcept;
  // perform() on a socket, keeping its source's readiness flags.
  static std::int32_t attempt(OpSlot* slot) noexcept;
  static bool may_progress(const OpSlot* slot) noexcept {
    const IoSource& s = *slot->source;
    return s.hung_up || (reads(slot->kind) ? s.read_ready : s.write_ready);
  }
  static bool on_socket(OpKind kind) noexcept {
    return kind != OpKind::kReadAt && kind != OpKind::kWriteAt && kind != OpKind::kWriteBytesAt &&
           kind != OpKind::kFsync && kind != OpKind::kOpen;
  }
  bool watch(IoSource* source);
  void unwatch(IoSource* source) noexcept;
  // A readiness completion (epoll): the watched source it names, or
  // nullptr when that watch has ended since (its entry freed or reused).
  IoSource* watched_source(const keel::internal::Completion& completion) const noexcept {
    const std::uint32_t index = keel::internal::user_data_index(completion.user_data);
    if (!watched_.current(index, keel::internal::user_data_generation(completion.user_data))) return nullptr;
    return watched_[index].source;
  }
  void on_ready(IoSource* source, std::uint32_t events) noexcept;
  void run_waiting(SlotList& list) noexcept;
  static bool reads(OpKind kind) noexcept { return kind == OpKind::kRecv || kind == OpKind::kRecvFrom || kind == OpKind::kAccept; }
  OpSlot* slot_at(std::uint32_t index) noexcept { return &chunks_[index / kChunk][index % kChunk]; }
  static std::uint64_t user_data(const OpSlot* slot) noexcept {
    return keel::internal::encode_user_data(keel::internal::CompletionKind::kOperation, slot->index, slot->generation);
  }
  // epoll: the name of a watched source's readiness, its table entry and
  // the entry's generation (watched_source reads it back).
  static std::uint64_t readiness_user_data(std::uint32_t index, std::uint32_t generation) noexcept {
    return keel::internal::encode_user_data(keel::internal::CompletionKind::kOperation, index, generation);
  }

  static constexpr std::size_t kChunk = 64;

  keel::Uring* uring_;
  keel::internal::UringOperations ops_;
  std::size_t max_operations_;
  std::vector<std::unique_ptr<OpSlot[]>> chunks_;  // never move: the kernel holds pointers into slots
  OpSlot* free_ = nullptr;
  std::size_t made_ = 0;
  std::size_t in_use_ = 0;
  std::size_t in_kernel_ = 0;
  IoSource* live_ = nullptr;  // sources not yet released
  // A completed operation whose task wakes after the next poll; the slot
  // is named with its generation, as in user_data, because an abandoned
  // one is released and may be reused before then.
  struct Held {
    OpSlot* slot;
    std::uint32_t generation;
  };
  // Counts an operation that completed without waiting; whether it is held.
  bool hold_after(OpSlot* slot, std::uint64_t moved);
  void release_held() noexcept;
  std::vector<Held> held_;
  std::size_t moved_since_poll_ = 0;  // epoll: bytes moved by operations that did not wait
  std::size_t bytes_per_poll_;
  bool send_zc_ = false;
  Counters counters_;
  std::vector<std::uint16_t> free_groups_;  // buffer group ids to reuse
  std::uint16_t next_group_ = 1;
  // epoll: the watched sources, by the index their readiness completions
  // carry, with the generation that tells a current watch from an ended
  // one; ended entries are reused.
  struct WatchedEntry {
    IoSource* source = nullptr;
    std::uint32_t generation = 1;
    std::uint32_t next_free = keel::internal::kNoIndex;
  };
  keel::internal::GenerationalSlots<WatchedEntry, keel::internal::kGenerationMask> watched_;
};

}  // namespace keel::async::internal

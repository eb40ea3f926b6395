#include "async/internal/io_driver.h"

#include <fcntl.h>
#include <liburing.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <string>

#include "async/runtime.h"

namespace keel::async::internal {

using keel::internal::CompletionKind;
using keel::internal::encode_user_data;
using keel::internal::kIgnoredUserData;

// --- driver --------------------------------------------------------------------

IoDriver::IoDriver(Uring& uring, std::size_t max_operations, std::size_t bytes_per_poll)
    : uring_(&uring),
      ops_(uring),
      max_operations_(std::max<std::size_t>(max_operations, 1)),
      bytes_per_poll_(bytes_per_poll) {
  ops_.set_sink(&IoDriver::on_completion, this);
  if (completion_based()) {
    if (io_uring_probe* probe = io_uring_get_probe_ring(&ops_.ring())) {
      send_zc_ = io_uring_opcode_supported(probe, IORING_OP_SEND_ZC) != 0;
      io_uring_free_probe(probe);
    }
  }
}

IoDriver::~IoDriver() {
  shutdown();
  ops_.set_sink(nullptr, nullptr);
  // Objects that outlive the runtime close their fds themselves. Their
  // epoll watches go now: the handlers name this driver, and a watch left
  // behind would keep the fd's number from being watched again once closed.
  // SAFETY: live_ lists exactly the sources not yet freed (unref unlinks a
  // source while its driver is set); once their driver is null nothing
  // walks these links again, and each source is freed by its last holder.
  for (IoSource* s = live_; s != nullptr; s = s->next_live) {
    unwatch(s);
    s->driver = nullptr;
  }
}

IoDriver& IoDriver::current(const char* operation) {
  Runtime* rt = Runtime::current();
  if (rt == nullptr) {
    throw std::logic_error(std::string("keel: ") + operation +
                           " was used on a thread without a keel::async::Runtime");
  }
  return rt->io_driver();
}

IoSource* IoDriver::open_source(int fd) {
  auto* source = new IoSource;
  source->fd = fd;
  source->driver = this;
  source->next_live = live_;
  if (live_ != nullptr) live_->prev_live = source;
  live_ = source;
  return source;
}

void IoDriver::close_source(IoSource* source) noexcept {
  if (source == nullptr) return;
  source->open = false;
  source->leftovers.clear();
  IoDriver* driver = source->driver;
  if (driver == nullptr) {
    // The runtime is gone, and with it every operation.
    // SAFETY: no slot names the source any more (shutdown released them,
    // or leaked them with their references when the kernel never
    // answered), so only streams and this object hold it.
    if (source->fd >= 0) ::close(source->fd);
    source->fd = -1;
    unref(source);
    return;
  }
  driver->unwatch(source);
  // Operations still waiting (awaited through another handle to the
  // object's state) end now: nothing will wake them otherwise.
  for (SlotList* list : {&source->readers, &source->writers}) {
    while (!list->empty()) {
      OpSlot* s = list->front();
      list->remove(s);
      s->result = -ECANCELED;
      s->state = OpState::kDone;
      s->waiter.wake();
    }
  }
  // In-flight operations are cancelled by user_data, then the fd closed by
  // the ring after them: the fd number cannot be reused by the process
  // before the cancels have found their operations.
  bool closed_by_ring = false;
  // SAFETY: submit_cancel only queues an SQE (a full SQ is submitted, and
  // what that harvests waits for the next poll's dispatch), so no slot
  // leaves the in-flight list while it is walked.
  for (OpSlot* s = source->in_flight.front(); s != nullptr; s = s->next) driver->submit_cancel(s);
  if (!source->in_flight.empty()) {
    if (io_uring_sqe* sqe = driver->ops_.sqe()) {
      // SAFETY: an SQE just reserved for us; filled completely here.
      io_uring_prep_close(sqe, source->fd);
      io_uring_sqe_set_data64(sqe, kIgnoredUserData);
      closed_by_ring = true;
    }
  }
  if (!closed_by_ring) ::close(source->fd);
  source->fd = -1;
  unref(source);
}

void IoDriver::free_source(IoSource* source) noexcept {
  // SAFETY: no holder is left (unref); it is on the driver's live list
  // exactly while its driver is set.
  if (IoDriver* driver = source->driver) {
    if (source->prev_live != nullptr) {
      source->prev_live->next_live = source->next_live;
    } else {
      driver->live_ = source->next_live;
    }
    if (source->next_live != nullptr) source->next_live->prev_live = source->prev_live;
  }
  delete source;
}

void IoDriver::grow_slots() {
  // SAFETY: a chunk is a heap array that lives as long as the driver;
  // growing chunks_ moves the unique_ptrs, never the slots, so the
  // addresses the kernel, IoOps, streams and lists hold stay valid.
  auto chunk = std::make_unique<OpSlot[]>(kChunk);
  for (std::size_t i = kChunk; i-- > 0;) {
    chunk[i].index = static_cast<std::uint32_t>(made_ + i);
    chunk[i].next = free_;
    free_ = &chunk[i];
  }
  made_ += kChunk;
  chunks_.push_back(std::move(chunk));
}

void IoDriver::release_extras(OpSlot* slot) noexcept {
  while (!slot->items.empty()) {
    settle_item(slot, slot->items.front());
    slot->items.pop_front();
  }
  if (slot->provided) close_ring(slot);
  slot->path.clear();
}

bool IoDriver::take_leftover(OpSlot* slot) noexcept {
  IoSource* source = slot->source;
  if (source == nullptr || source->leftovers.empty()) return false;
  Leftover& first = source->leftovers.front();
  const std::string_view have = first.data.view();
  std::span<std::byte> room = slot->buffer.spare_capacity();
  const std::size_t n = std::min(have.size(), room.size());
  // SAFETY: n fits both the leftover and the buffer's spare capacity.
  std::memcpy(room.data(), have.data(), n);
  slot->buffer.commit(n);
  if (slot->kind == OpKind::kRecvFrom) slot->addr_len = first.from.bytes().copy_to(slot->addr);
  // A datagram is delivered whole or cut, as recvfrom would; a stream's
  // bytes are kept until taken.
  if (n == have.size() || slot->kind == OpKind::kRecvFrom) {
    source->leftovers.pop_front();
  } else {
    keel::Buffer rest = keel::Buffer::copy_of(have.substr(n));
    first.data = std::move(rest);
  }
  slot->result = static_cast<std::int32_t>(n);
  slot->state = OpState::kDone;
  return true;
}

bool IoDriver::start(OpSlot* slot) {
  IoSource* source = slot->source;
  if (source != nullptr && (slot->kind == OpKind::kRecv || slot->kind == OpKind::kRecvFrom)) {
    if (slot->buffer.spare_capacity().empty()) {
      // A full buffer would read zero bytes, which means end of stream.
      slot->result = -ENOBUFS;
      slot->state = OpState::kDone;
      return false;
    }
    if (!source->leftovers.empty() && take_leftover(slot)) return false;
    if (source->orphaned_reads > 0) {
      slot->state = OpState::kWaiting;
      source->readers.push_back(slot);
      return true;
    }
  }
  if (completion_based()) return submit(slot);

  const bool socket = source != nullptr && on_socket(slot->kind);
  const std::uint64_t sent_before = slot->offset;  // send_all counts in it
  const std::int32_t rc = !socket ? perform(slot) : may_progress(slot) ? attempt(slot) : -EAGAIN;
  if (rc != -EAGAIN || !socket) {
    slot->result = rc;
    slot->state = OpState::kDone;
    return socket && rc >= 0 && hold_after(slot, slot->whole ? slot->offset - sent_before : static_cast<std::uint64_t>(rc));
  }
  if (!source->watched && !watch(source)) {
    slot->result = -errno;
    slot->state = OpState::kDone;
    return false;
  }
  slot->state = OpState::kWaiting;
  (reads(slot->kind) ? source->readers : source->writers).push_back(slot);
  return true;
}

bool IoDriver::hold_after(OpSlot* slot, std::uint64_t moved) {
  if (bytes_per_poll_ == 0 || moved == 0) return false;
  if (slot->kind != OpKind::kRecv && slot->kind != OpKind::kSend && slot->kind != OpKind::kSendBytes) return false;
  moved_since_poll_ += static_cast<std::size_t>(moved);
  if (moved_since_poll_ <= bytes_per_poll_) return false;
  // The result stays in the slot, done: an abort meanwhile settles it as
  // it settles any completion its task did not take (a recv's bytes are
  // kept for the next recv).
  held_.push_back({slot, slot->generation});
  return true;
}

void IoDriver::release_held() noexcept {
  // SAFETY: slots live as long as the driver (chunks never move); one
  // released since it was held has another generation, and its new
  // operation is not this one.
  for (const Held& h : held_) {
    if (h.slot->generation == h.generation && h.slot->state == OpState::kDone) h.slot->waiter.wake();
  }
  held_.clear();
}

bool IoDriver::submit(OpSlot* slot) {
  io_uring_sqe* sqe = ops_.sqe();
  if (sqe == nullptr) {
    slot->result = -EBUSY;
    slot->state = OpState::kDone;
    return false;
  }
  const int fd = slot->source != nullptr ? slot->source->fd : -1;
  // SAFETY: every pointer given to the kernel points into the slot (addr,
  // msg, iov, path) or into the heap storage of the Buffer/Bytes the slot
  // owns; the slot is neither released nor moved (chunks never move) before
  // the operation's final completion (see settle_orphan and shutdown).
  switch (slot->kind) {
    case OpKind::kRecv:
    case OpKind::kSend:
    case OpKind::kSendBytes:
      prep_transfer(sqe, fd, slot);
      break;
    case OpKind::kAccept:
      slot->addr_len = sizeof slot->addr;
      io_uring_prep_accept(sqe, fd, reinterpret_cast<sockaddr*>(&slot->addr), &slot->addr_len, SOCK_CLOEXEC);
      break;
    case OpKind::kConnect:
      io_uring_prep_connect(sqe, fd, reinterpret_cast<const sockaddr*>(&slot->addr), slot->addr_len);
      break;
    case OpKind::kRecvFrom: {
      std::span<std::byte> room = slot->buffer.spare_capacity();
      slot->iov = {room.data(), room.size()};
      slot->msg = {};
      slot->msg.msg_name = &slot->addr;
      slot->msg.msg_namelen = sizeof slot->addr;
      slot->msg.msg_iov = &slot->iov;
      slot->msg.msg_iovlen = 1;
      io_uring_prep_recvmsg(sqe, fd, &slot->msg, 0);
      break;
    }
    case OpKind::kSendTo:
    case OpKind::kSendBytesTo: {
      const std::string_view v = slot->kind == OpKind::kSendTo ? slot->buffer.view() : slot->bytes.view();
      slot->iov = {const_cast<char*>(v.data()), v.size()};
      slot->msg = {};
      slot->msg.msg_name = &slot->addr;
      slot->msg.msg_namelen = slot->addr_len;
      slot->msg.msg_iov = &slot->iov;
      slot->msg.msg_iovlen = 1;
      io_uring_prep_sendmsg(sqe, fd, &slot->msg, MSG_NOSIGNAL);
      break;
    }
    case OpKind::kReadAt: {
      std::span<std::byte> room = slot->buffer.spare_capacity();
      io_uring_prep_read(sqe, fd, room.data(), static_cast<unsigned>(room.size()), slot->offset);
      break;
    }
    case OpKind::kWriteAt: {
      const std::string_view v = slot->buffer.view();
      io_uring_prep_write(sqe, fd, v.data(), static_cast<unsigned>(v.size()), slot->offset);
      break;
    }
    case OpKind::kWriteBytesAt: {
      const std::string_view v = slot->bytes.view();
      io_uring_prep_write(sqe, fd, v.data(), static_cast<unsigned>(v.size()), slot->offset);
      break;
    }
    case OpKind::kFsync:
      io_uring_prep_fsync(sqe, fd, 0);
      break;
    case OpKind::kOpen:
      io_uring_prep_openat(sqe, AT_FDCWD, slot->path.c_str(), slot->open_flags, slot->open_mode);
      break;
    case OpKind::kSendZc: {
      const std::string_view v = slot->bytes.view().substr(slot->offset);
      io_uring_prep_send_zc(sqe, fd, v.data(), v.size(), MSG_NOSIGNAL, 0);
      break;
    }
    case OpKind::kAcceptMulti:
      // Peers' addresses are not asked for: one slot serves many accepts.
      io_uring_prep_multishot_accept(sqe, fd, nullptr, nullptr, SOCK_CLOEXEC);
      break;
    case OpKind::kRecvMulti:
      io_uring_prep_recv_multishot(sqe, fd, nullptr, 0, 0);
      sqe->flags |= IOSQE_BUFFER_SELECT;
      sqe->buf_group = slot->provided->group;
      break;
  }
  mark_in_flight(slot, sqe);
  return true;
}

void IoDriver::submit_cancel(OpSlot* slot) noexcept {
  io_uring_sqe* sqe = ops_.sqe();
  // No room even after a submit: the operation ends on its own (or at shutdown).
  if (sqe == nullptr) return;
  // SAFETY: an SQE just reserved for us; filled completely here.
  io_uring_prep_cancel64(sqe, user_data(slot), 0);
  io_uring_sqe_set_data64(sqe, kIgnoredUserData);
}

keel::Bytes IoDriver::take_bytes(OpSlot* slot) noexcept {
  // SAFETY: while the kernel may read the bytes (send_zc before its
  // notification), the slot keeps a reference of its own, released with
  // the slot when the notification comes.
  if (slot->notification_pending) return slot->bytes;  // a reference: the slot keeps its own
  return std::move(slot->bytes);
}

void IoDriver::settle_item(OpSlot* slot, MultishotItem& item) noexcept {
  if (slot->kind == OpKind::kAcceptMulti && item.result >= 0) ::close(item.result);
  // Received bytes nobody will take from this stream go to the next read
  // on its fd.
  IoSource* source = slot->source;
  if (slot->kind == OpKind::kRecvMulti && item.result > 0 && source != nullptr && source->open) {
    source->leftovers.push_back(Leftover{std::move(item.buffer), SocketAddr()});
  }
}

bool IoDriver::arm(OpSlot* slot) {
  if (slot->in_kernel || slot->finished || slot->items.size() >= slot->quota) return true;
  if (slot->provided && slot->provided->free_ids.size() == slot->provided->most_lent) return true;  // nothing lent
  return submit(slot);
}

OpSlot* IoDriver::open_recv_multishot(IoSource* source, keel::BufferPool& pool, std::size_t quota) {
  OpSlot* slot = acquire();
  if (slot == nullptr) {
    errno = ENOBUFS;
    return nullptr;
  }
  auto ring = std::make_unique<ProvidedRing>();
  ring->pool = &pool;
  ring->entries = 1;
  // Lends at most `quota` buffers: with as many filled ones queued, a
  // stream holds at most twice its quota, and streams can share a pool.
  const std::size_t want = std::min<std::size_t>(std::max<std::size_t>(quota, 1), 32768);
  while (ring->entries < want) ring->entries *= 2;
  ring->ring_bytes = ring->entries * sizeof(io_uring_buf);
  void* memory = ::mmap(nullptr, ring->ring_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  if (memory == MAP_FAILED) {
    const int error = errno;
    release(slot);
    errno = error;
    return nullptr;
  }
  ring->ring = static_cast<io_uring_buf_ring*>(memory);
  // SAFETY: the ring's memory is shared with the kernel from registration
  // until close_ring() unregisters it; we write only entries past the
  // kernel's head (io_uring_buf_ring_add) and publish them with a release
  // store of the tail (io_uring_buf_ring_advance).
  io_uring_buf_ring_init(ring->ring);
  if (!free_groups_.empty()) {
    ring->group = free_groups_.back();
    free_groups_.pop_back();
  } else {
    ring->group = next_group_++;
  }
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<std::uintptr_t>(ring->ring);
  reg.ring_entries = ring->entries;
  reg.bgid = ring->group;
  if (const int rc = io_uring_register_buf_ring(&ops_.ring(), &reg, 0); rc < 0) {
    ::munmap(memory, ring->ring_bytes);
    free_groups_.push_back(ring->group);
    release(slot);
    errno = -rc;
    return nullptr;
  }
  ring->lent.resize(ring->entries);
  ring->most_lent = static_cast<unsigned>(want);
  for (unsigned id = ring->most_lent; id-- > 0;) ring->free_ids.push_back(static_cast<std::uint16_t>(id));
  slot->kind = OpKind::kRecvMulti;
  slot->state = OpState::kIdle;
  slot->quota = static_cast<std::uint32_t>(std::max<std::size_t>(quota, 1));
  slot->source = source;
  ++source->refs;
  slot->provided = std::move(ring);
  return slot;
}

void IoDriver::lend(OpSlot* slot, keel::Buffer buffer) noexcept {
  ProvidedRing& r = *slot->provided;
  if (r.free_ids.empty()) return;  // the ring is full: the buffer goes back to the pool
  // SAFETY: a free id is in no ring entry the kernel may read, so the entry
  // written is past the kernel's head, published by the release store of
  // the tail (io_uring_buf_ring_advance). Only the Buffer's handle moves into
  // `lent`; its bytes stay where the kernel was told they are, and the
  // Buffer stays there until a completion names its id or close_ring().
  buffer.clear();
  const std::uint16_t id = r.free_ids.back();
  r.free_ids.pop_back();
  std::span<std::byte> room = buffer.spare_capacity();
  const unsigned len = static_cast<unsigned>(std::min<std::size_t>(room.size(), 1u << 31));
  io_uring_buf_ring_add(r.ring, room.data(), len, id, io_uring_buf_ring_mask(r.entries), 0);
  io_uring_buf_ring_advance(r.ring, 1);
  r.lent[id] = std::move(buffer);  // moves the handle, not the bytes the kernel was given
}

std::size_t IoDriver::top_up(OpSlot* slot) noexcept {
  ProvidedRing& r = *slot->provided;
  while (!r.free_ids.empty()) {
    std::optional<keel::Buffer> b = r.pool->try_acquire();
    if (!b) break;
    lend(slot, std::move(*b));
  }
  return r.most_lent - r.free_ids.size();
}

void IoDriver::close_ring(OpSlot* slot) noexcept {
  // SAFETY: only from release(), when the multishot is out of the kernel.
  // Once unregistered, the kernel neither reads the ring nor picks its
  // buffers: the ring is unmapped, then the lent Buffers given back.
  ProvidedRing& r = *slot->provided;
  io_uring_unregister_buf_ring(&ops_.ring(), r.group);
  ::munmap(r.ring, r.ring_bytes);
  free_groups_.push_back(r.group);
  slot->provided.reset();  // the lent Buffers go back to their pool
}

void IoDriver::complete_multishot(OpSlot* slot, const keel::internal::Completion& completion) noexcept {
  const bool more = (completion.flags & keel::internal::kCompletionMore) != 0;
  MultishotItem item{completion.result, keel::Buffer()};
  if (slot->provided && (completion.cqe_flags & IORING_CQE_F_BUFFER) != 0) {
    // The kernel filled this lent buffer: it is ours again.
    // SAFETY: the id is the kernel's word; it is taken only when it names an
    // entry of this ring that holds a lent Buffer, which the kernel no
    // longer touches once it reported it.
    const auto id = static_cast<std::uint16_t>(completion.cqe_flags >> IORING_CQE_BUFFER_SHIFT);
    ProvidedRing& r = *slot->provided;
    if (id < r.entries && r.lent[id].capacity() > 0) {
      item.buffer = std::move(r.lent[id]);
      r.free_ids.push_back(id);
      if (completion.result > 0) item.buffer.commit(static_cast<std::size_t>(completion.result));
    }
  }
  if (slot->kind == OpKind::kRecvMulti && !more && (completion.result == 0 || (completion.result < 0 &&
      completion.result != -ECANCELED && completion.result != -ENOBUFS))) {
    slot->finished = true;  // end of stream, or an error: not armed again
    slot->result = completion.result;
  }
  if (completion.result == -ENOBUFS) ++counters_.ring_ran_dry;
  if (slot->owner_gone) {
    settle_item(slot, item);
  } else if (completion.result != -ECANCELED && completion.result != -ENOBUFS) {
    // ENOBUFS: the ring ran dry; next() lends more and arms again.
    slot->items.push_back(std::move(item));
    if (slot->provided) top_up(slot);
    // At the quota: stopped until its owner takes some (backpressure).
    if (more && slot->items.size() >= slot->quota && slot->state != OpState::kOrphaned) {
      ++counters_.quota_stops;
      slot->state = OpState::kOrphaned;  // a cancel is on its way; not re-armed by it
      submit_cancel(slot);
    }
  }
  if (!more) {
    slot->in_kernel = false;
    --in_kernel_;
    IoSource* source = slot->source;
    if (source != nullptr) source->in_flight.remove(slot);
    if (slot->owner_gone) {
      const bool read = slot->kind == OpKind::kRecvMulti && source != nullptr;
      if (read) {
        ++source->refs;
        --source->orphaned_reads;
      }
      release(slot);
      if (read) {
        if (source->orphaned_reads == 0) resume_held_readers(source);
        unref(source);
      }
      return;
    }
    slot->state = OpState::kIdle;
  }
  slot->waiter.wake();
}

void IoDriver::drop_multishot(OpSlot* slot) noexcept {
  while (!slot->items.empty()) {
    settle_item(slot, slot->items.front());
    slot->items.pop_front();
  }
  if (!slot->in_kernel) {
    release(slot);
    return;
  }
  // SAFETY: as for abandon(): the slot, its ring and its lent buffers stay
  // until the final completion, which releases the slot.
  slot->owner_gone = true;
  // Reads on the fd wait for its last completion, whose bytes come first.
  if (slot->kind == OpKind::kRecvMulti && slot->source != nullptr) ++slot->source->orphaned_reads;
  submit_cancel(slot);
}

void IoDriver::abandon(OpSlot* slot) noexcept {
  if (slot->notification_pending) {
    slot->owner_gone = true;  // a send_zc whose result came: the bytes stay until the notification
    return;
  }
  switch (slot->state) {
    case OpState::kInFlight:
      // SAFETY: the slot, and the memory it owns, stays until the final
      // completion settles it; only the task's claim on the result ends.
      slot->state = OpState::kOrphaned;
      if (slot->source != nullptr && reads(slot->kind)) ++slot->source->orphaned_reads;
      submit_cancel(slot);
      return;
    case OpState::kWaiting: {
      IoSource* source = slot->source;
      (reads(slot->kind) ? source->readers : source->writers).remove(slot);
      release(slot);
      return;
    }
    case OpState::kDone:
      // Completed, but its task went before taking the result.
      settle_orphan(slot);
      return;
    case OpState::kOrphaned:
    case OpState::kIdle:
    case OpState::kFree:
      return;
  }
}

void IoDriver::on_completion(void* self, const keel::internal::Completion& completion) {
  // SAFETY: `self` is the driver set_sink() was given; its destructor takes
  // the sink back. A completion is this slot's only when its index is one
  // of the slots made, its generation the slot's, and the kernel still has
  // the slot: a completion for a released slot (reused or not) is dropped.
  auto* driver = static_cast<IoDriver*>(self);
  if (!driver->completion_based()) {
    // epoll: the readiness of a watched source's fd.
    if (IoSource* source = driver->watched_source(completion)) {
      driver->on_ready(source, static_cast<std::uint32_t>(completion.result));
    }
    return;
  }
  const std::uint32_t index = keel::internal::user_data_index(completion.user_data);
  if (index >= driver->made_) return;
  OpSlot* slot = driver->slot_at(index);
  if (slot->generation != keel::internal::user_data_generation(completion.user_data)) return;
  if (!slot->in_kernel) return;
  if (slot->kind == OpKind::kAcceptMulti || slot->kind == OpKind::kRecvMulti) {
    driver->complete_multishot(slot, completion);
    return;
  }
  if (slot->kind == OpKind::kSendZc) {
    if ((completion.cqe_flags & IORING_CQE_F_NOTIF) != 0) {
      // The kernel is done reading the bytes.
      slot->notification_pending = false;
      slot->in_kernel = false;
      --driver->in_kernel_;
      if (slot->owner_gone) driver->release(slot);
      return;
    }
    if ((completion.cqe_flags & IORING_CQE_F_MORE) != 0) {
      // The send's result; the notification follows.
      slot->notification_pending = true;
      if (slot->source != nullptr) slot->source->in_flight.remove(slot);
      const bool orphaned = slot->state == OpState::kOrphaned;
      slot->result = completion.result;
      slot->state = OpState::kDone;
      if (orphaned) {
        slot->owner_gone = true;
      } else {
        slot->waiter.wake();
      }
      return;
    }
  }
  if (slot->state != OpState::kInFlight && slot->state != OpState::kOrphaned) return;
  std::int32_t result = completion.result;
  if (slot->whole && slot->state == OpState::kInFlight) [[unlikely]] {
    if (driver->send_rest(slot, result)) return;
  }
  slot->in_kernel = false;
  --driver->in_kernel_;
  if (slot->source != nullptr) slot->source->in_flight.remove(slot);
  const bool orphaned = slot->state == OpState::kOrphaned;
  driver->complete(slot, result);
  if (!orphaned) {
    slot->waiter.wake();
    return;
  }
  IoSource* source = slot->source;
  if (source != nullptr && reads(slot->kind)) --source->orphaned_reads;
  driver->settle_orphan(slot);
}

bool IoDriver::send_rest(OpSlot* slot, std::int32_t& result) noexcept {
  if (result < 0) return false;
  // The count is in `offset`, which may pass what an int32 result holds.
  if (!count_sent(slot, result)) {
    result = 0;
    return false;
  }
  // The stream is closing: its fd may be gone, and a send must not reach
  // whatever file takes its number.
  if (!slot->source->open) {
    result = -ECANCELED;
    return false;
  }
  io_uring_sqe* sqe = ops_.sqe();
  if (sqe == nullptr) {
    result = -EBUSY;
    return false;
  }
  // SAFETY: the slot stays in the kernel (in_kernel, in its source's
  // in-flight list) under the same user_data, whose earlier completion has
  // just been consumed; prep_transfer sends from the slot's own bytes.
  prep_transfer(sqe, slot->source->fd, slot);
  io_uring_sqe_set_data64(sqe, user_data(slot));
  return true;
}

void IoDriver::complete(OpSlot* slot, std::int32_t result) noexcept {
  slot->result = result;
  slot->state = OpState::kDone;
  if (result > 0 && (slot->kind == OpKind::kRecv || slot->kind == OpKind::kRecvFrom || slot->kind == OpKind::kReadAt)) {
    slot->buffer.commit(static_cast<std::size_t>(result));
  }
  if (slot->kind == OpKind::kRecvFrom) slot->addr_len = slot->msg.msg_namelen;
}

void IoDriver::settle_orphan(OpSlot* slot) noexcept {
  // Nobody takes this result: keep what succeeded, close what was opened.
  IoSource* source = slot->source;
  const std::int32_t result = slot->result;
  switch (slot->kind) {
    case OpKind::kRecv:
    case OpKind::kRecvFrom:
      if (result > 0 && source != nullptr && source->open) {
        Leftover kept{std::move(slot->buffer), SocketAddr()};
        // SAFETY: addr holds the sender the kernel wrote, addr_len bytes of it.
        if (slot->kind == OpKind::kRecvFrom) {
          kept.from.bytes().assign(slot->addr, slot->addr_len);
        }
        source->leftovers.push_back(std::move(kept));
      }
      break;
    case OpKind::kAccept:
    case OpKind::kOpen:
      if (result >= 0) ::close(result);
      break;
    default:
      break;  // sends and writes moved their bytes; a connect's socket closes with its source
  }
  // Keep the source alive across release(), which drops the slot's reference.
  if (source != nullptr) ++source->refs;
  release(slot);
  if (source != nullptr) {
    if (source->orphaned_reads == 0) resume_held_readers(source);
    unref(source);
  }
}

void IoDriver::resume_held_readers(IoSource* source) noexcept {
  if (!completion_based()) return;
  while (!source->readers.empty() && source->orphaned_reads == 0) {
    OpSlot* slot = source->readers.front();
    source->readers.remove(slot);
    if (!source->open) {
      slot->result = -ECANCELED;
      slot->state = OpState::kDone;
    } else if (!take_leftover(slot) && submit(slot)) {
      continue;  // in flight now; its completion wakes it
    }
    slot->waiter.wake();
  }
}

void IoDriver::shutdown() noexcept {
  if (!completion_based()) return;
  for (const auto& chunk : chunks_) {
    for (std::size_t i = 0; i < kChunk; ++i) {
      OpSlot* slot = &chunk[i];
      const bool multishot = slot->kind == OpKind::kAcceptMulti || slot->kind == OpKind::kRecvMulti;
      if (slot->state == OpState::kInFlight && !multishot) {
        abandon(slot);
      } else if (multishot && slot->in_kernel && !slot->owner_gone) {
        drop_multishot(slot);  // its queued results settled now, the rest at its final completion
      }
    }
  }
  // Until the last completion: the slots own memory the kernel may write.
  // A kernel that never answers leaves the slots allocated (leaked), never
  // freed under it.
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (in_kernel_ > 0 && std::chrono::steady_clock::now() < give_up) {
    if (ops_.reap(std::chrono::milliseconds(100)) < 0) break;
  }
  // Multishot slots out of the kernel belong to streams that outlive the
  // runtime: settled now (queued fds closed, rings unregistered and unmapped).
  for (const auto& chunk : chunks_) {
    for (std::size_t i = 0; i < kChunk; ++i) if (chunk[i].state == OpState::kIdle) release(&chunk[i]);
  }
  if (in_kernel_ > 0) {
    // SAFETY: the kernel may still write into these slots' buffers: leaked,
    // never freed (with the sources their slots hold).
    for (auto& chunk : chunks_) static_cast<void>(chunk.release());
  }
}

// --- epoll: readiness and non-blocking calls ---------------------------------

bool IoDriver::watch(IoSource* source) {
  const std::uint32_t index = watched_.acquire();
  WatchedEntry& entry = watched_[index];
  const std::uint64_t name = readiness_user_data(index, entry.generation);
  if (const int error = ops_.watch_readiness(source->fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP, name)) {
    watched_.free(index);
    errno = error;
    return false;
  }
  // SAFETY: the entry names the source until unwatch(), which runs before
  // the source can go (close_source before it drops the object's
  // reference, ~IoDriver for sources that outlive it). A readiness
  // completion collected before that carries the old generation and finds
  // no source (watched_source).
  entry.source = source;
  source->readiness_index = index;
  source->watched = true;
  return true;
}

void IoDriver::unwatch(IoSource* source) noexcept {
  if (!std::exchange(source->watched, false)) return;
  WatchedEntry& entry = watched_[source->readiness_index];
  ops_.unwatch_readiness(source->fd, readiness_user_data(source->readiness_index, entry.generation));
  entry.source = nullptr;
  watched_.free(source->readiness_index);  // a new generation: readiness collected before is stale
}

void IoDriver::on_ready(IoSource* source, std::uint32_t events) noexcept {
  // Hold the source: a woken operation's release may drop the last reference.
  ++source->refs;
  // An error or a hangup: no edge may follow, so every operation tries its call.
  const bool any = (events & (EPOLLERR | EPOLLHUP | EPOLLRDHUP)) != 0;
  if (any) source->hung_up = true;
  if (any || (events & EPOLLIN) != 0) {
    source->read_ready = true;
    run_waiting(source->readers);
  }
  if (any || (events & EPOLLOUT) != 0) {
    source->write_ready = true;
    run_waiting(source->writers);
  }
  unref(source);
}

std::int32_t IoDriver::attempt(OpSlot* slot) noexcept {
  std::size_t asked = 0;
  if (slot->kind == OpKind::kRecv) asked = slot->buffer.spare_capacity().size();
  if (slot->kind == OpKind::kSend) asked = slot->buffer.size() - slot->offset;
  if (slot->kind == OpKind::kSendBytes || slot->kind == OpKind::kSendZc) asked = slot->bytes.size() - slot->offset;
  const std::int32_t rc = perform(slot);
  // Edge-triggered: a short transfer emptied (filled) the socket, so the
  // next edge is what says there is more.
  if (rc == -EAGAIN || (rc > 0 && static_cast<std::size_t>(rc) < asked)) {
    (reads(slot->kind) ? slot->source->read_ready : slot->source->write_ready) = false;
  }
  // send_all: the rest goes when the socket takes more; the count, every
  // byte sent, is in `offset` (as in send_rest).
  if (slot->whole && rc >= 0) return count_sent(slot, rc) ? -EAGAIN : 0;
  return rc;
}

void IoDriver::run_waiting(SlotList& list) noexcept {
  while (!list.empty()) {
    OpSlot* slot = list.front();
    if (!may_progress(slot)) return;  // drained by the one before: the next edge runs it
    const std::int32_t rc = attempt(slot);
    if (rc == -EAGAIN) return;  // the next edge runs it
    list.remove(slot);
    slot->result = rc;
    slot->state = OpState::kDone;
    slot->waiter.wake();
  }
}

std::int32_t IoDriver::perform(OpSlot* slot) noexcept {
  // SAFETY: the buffers and addresses passed are the slot's own, used by
  // calls that return before this does; addr is a sockaddr_storage, large
  // enough for any address the kernel writes (addr_len says how much).
  const int fd = slot->source != nullptr ? slot->source->fd : -1;
  auto rc = [](long n) -> std::int32_t {
    if (n >= 0) return static_cast<std::int32_t>(n);
    return errno == EWOULDBLOCK ? -EAGAIN : -errno;
  };
  switch (slot->kind) {
    case OpKind::kRecv: {
      std::span<std::byte> room = slot->buffer.spare_capacity();
      const std::int32_t n = rc(::recv(fd, room.data(), room.size(), MSG_DONTWAIT));
      if (n > 0) slot->buffer.commit(static_cast<std::size_t>(n));
      return n;
    }
    case OpKind::kAcceptMulti:
    case OpKind::kRecvMulti:
      return -EINVAL;  // multishot runs only on io_uring
    case OpKind::kSend:
    case OpKind::kSendBytes:
    case OpKind::kSendZc: {
      const std::string_view v =
          (slot->kind == OpKind::kSend ? slot->buffer.view() : slot->bytes.view()).substr(slot->offset);
      return rc(::send(fd, v.data(), v.size(), MSG_DONTWAIT | MSG_NOSIGNAL));
    }
    case OpKind::kAccept: {
      slot->addr_len = sizeof slot->addr;
      return rc(::accept4(fd, reinterpret_cast<sockaddr*>(&slot->addr), &slot->addr_len, SOCK_NONBLOCK | SOCK_CLOEXEC));
    }
    case OpKind::kConnect: {
      if (!slot->connect_started) {
        const int r = ::connect(fd, reinterpret_cast<const sockaddr*>(&slot->addr), slot->addr_len);
        if (r == 0) return 0;
        if (errno != EINPROGRESS) return -errno;
        slot->connect_started = true;
        return -EAGAIN;
      }
      int error = 0;
      socklen_t len = sizeof error;
      if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) != 0) return -errno;
      return -error;
    }
    case OpKind::kRecvFrom: {
      std::span<std::byte> room = slot->buffer.spare_capacity();
      slot->addr_len = sizeof slot->addr;
      const std::int32_t n = rc(::recvfrom(fd, room.data(), room.size(), MSG_DONTWAIT,
                                           reinterpret_cast<sockaddr*>(&slot->addr), &slot->addr_len));
      if (n > 0) slot->buffer.commit(static_cast<std::size_t>(n));
      return n;
    }
    case OpKind::kSendTo:
    case OpKind::kSendBytesTo: {
      const std::string_view v = slot->kind == OpKind::kSendTo ? slot->buffer.view() : slot->bytes.view();
      return rc(::sendto(fd, v.data(), v.size(), MSG_DONTWAIT | MSG_NOSIGNAL,
                         reinterpret_cast<const sockaddr*>(&slot->addr), slot->addr_len));
    }
    case OpKind::kReadAt: {
      std::span<std::byte> room = slot->buffer.spare_capacity();
      const std::int32_t n = rc(::pread(fd, room.data(), room.size(), static_cast<off_t>(slot->offset)));
      if (n > 0) slot->buffer.commit(static_cast<std::size_t>(n));
      return n;
    }
    case OpKind::kWriteAt:
    case OpKind::kWriteBytesAt: {
      const std::string_view v = slot->kind == OpKind::kWriteAt ? slot->buffer.view() : slot->bytes.view();
      return rc(::pwrite(fd, v.data(), v.size(), static_cast<off_t>(slot->offset)));
    }
    case OpKind::kFsync:
      return rc(::fsync(fd));
    case OpKind::kOpen:
      return rc(::open(slot->path.c_str(), slot->open_flags, slot->open_mode));
  }
  return -EINVAL;
}

}  // namespace keel::async::internal

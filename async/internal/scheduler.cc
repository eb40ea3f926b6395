#include "async/internal/scheduler.h"

#include <stdexcept>
#include <string>

namespace keel::async::internal {

namespace {
constexpr std::size_t kChunkRecords = 256;
constexpr std::size_t kInitialQueue = 256;
}  // namespace

Scheduler::Scheduler(std::function<void()> interrupt, std::function<void(std::exception_ptr)> on_error)
    : queue_(std::make_unique<Entry[]>(kInitialQueue)),
      mask_(kInitialQueue - 1),
      interrupt_(std::move(interrupt)), on_error_(std::move(on_error)) {}

Scheduler::~Scheduler() { destroy_all(); }

TaskRecord* Scheduler::grow() {
  auto chunk = std::make_unique<TaskRecord[]>(kChunkRecords);
  for (std::size_t i = 0; i < kChunkRecords; ++i) chunk[i].scheduler = this;
  // Records 1.. go on the free list; record 0 is the one asked for.
  for (std::size_t i = kChunkRecords - 1; i > 0; --i) {
    chunk[i].next_free = free_;
    free_ = &chunk[i];
  }
  TaskRecord* first = &chunk[0];
  chunks_.push_back(std::move(chunk));
  return first;
}

void Scheduler::grow_queue() {
  const std::size_t size = mask_ + 1;
  auto bigger = std::make_unique<Entry[]>(size * 2);
  const std::size_t count = tail_ - head_;
  for (std::size_t i = 0; i < count; ++i) bigger[i] = queue_[(head_ + i) & mask_];
  queue_ = std::move(bigger);
  mask_ = size * 2 - 1;
  head_ = 0;
  tail_ = count;
}

std::size_t Scheduler::run_ready(std::size_t budget) {
  TaskRecord* const outer = running_;
  Trampoline::Turns turns;
  std::size_t ran = 0;
  while (ran < budget && head_ != tail_) {
    const Entry e = queue_[head_++ & mask_];
    TaskRecord* const task = e.task;
    if (task->epoch != e.epoch) continue;  // aborted, or woken again meanwhile
    running_ = task;
    task->running = task->started = true;
    direct_joins_left_ = kDirectJoins;
    turns.run(task->resume_at);
    // The task whose chain ran last: this one, or a child it handed its turn to.
    TaskRecord* const last = running_;
    last->running = false;
    if (last->root.done()) {
      running_ = outer;
      if (last->detached && !last->promise->failed()) {
        // A detached task that ended cleanly, the common end of a spawn:
        // done here, without the calls of finish().
        ++last->epoch;
        std::exchange(last->root, {}).destroy();
        free_record(last);
      } else {
        finish(last);
      }
    } else if (last->abort_requested) [[unlikely]] {
      running_ = outer;  // aborted while it ran: destroyed now that it suspended
      destroy_root(last);
      if (last->detached) free_record(last);
    }
    ++ran;
  }
  running_ = outer;
  return ran;
}

void Scheduler::joined_directly(void* child_record) noexcept {
  TaskRecord* const child = static_cast<TaskRecord*>(child_record);
  TaskRecord* const joiner = std::exchange(child->joiner, {}).task;
  ++child->epoch;
  child->finished = true;
  child->running = false;
  // The joiner's wait is this join: accepting it is what wake() would do.
  ++joiner->epoch;
  joiner->running = true;
  running_ = joiner;
}

void Scheduler::finish(TaskRecord* task) noexcept {
  ++task->epoch;
  task->finished = true;
  if (task->detached) {
    report(task);
    task->root.destroy();
    task->root = {};
    free_record(task);
  } else if (task->joiner.task != nullptr) {
    wake_from_anywhere(std::exchange(task->joiner, {}));
  }
}

void Scheduler::destroy_root(TaskRecord* task) noexcept {
  ++task->epoch;
  task->aborted = true;
  task->abort_requested = false;
  // Destroying the frame runs the task's destructors, which may abort or
  // wake other tasks: the record is consistent before that starts.
  std::exchange(task->root, {}).destroy();
  if (task->joiner.task != nullptr) wake_from_anywhere(std::exchange(task->joiner, {}));
}

void Scheduler::report(TaskRecord* task) noexcept {
  if (!task->promise->failed()) return;
  if (std::exception_ptr error = task->promise->take_exception()) {
    if (on_error_) on_error_(std::move(error));
  }
}


void Scheduler::detach_ended_or_joined(TaskRecord* task) noexcept {
  if (task->root && !task->finished) task->promise->forget_continuation();
  // A task awaiting this join (through a reference to the handle) is woken:
  // the handle it awaits is empty now.
  if (task->joiner.task != nullptr) wake_from_anywhere(std::exchange(task->joiner, {}));
  if (task->finished) {
    report(task);
    std::exchange(task->root, {}).destroy();
    free_record(task);
  } else if (task->aborted) {
    free_record(task);
  } else {
    task->detached = true;
  }
}

void Scheduler::abort(TaskRecord* task) noexcept {
  if (task->finished || task->aborted) return;
  if (task->running) {
    task->abort_requested = true;
  } else {
    destroy_root(task);
  }
}

void Scheduler::release(TaskRecord* task) noexcept {
  // The handle goes, and with it any joiner (the handle lives in its
  // frame): the task must not continue into it.
  if (task->root && !task->finished) task->promise->forget_continuation();
  task->joiner = {};
  if (task->running) {
    // The task drops its own handle: it ends when it next suspends.
    task->abort_requested = true;
    task->detached = true;
    return;
  }
  if (!task->finished && !task->aborted) destroy_root(task);
  if (task->finished && task->root) {
    report(task);
    std::exchange(task->root, {}).destroy();
  }
  free_record(task);
}

void Scheduler::destroy_all() noexcept {
  // Destroying a frame may spawn or abort other tasks; repeat until every
  // frame is gone.
  bool destroyed = true;
  while (destroyed) {
    destroyed = false;
    for (auto& chunk : chunks_) {
      for (std::size_t i = 0; i < kChunkRecords; ++i) {
        TaskRecord* task = &chunk[i];
        if (!task->root) continue;
        destroyed = true;
        if (task->finished) {
          std::exchange(task->root, {}).destroy();
        } else {
          destroy_root(task);
        }
        if (task->detached) free_record(task);
      }
    }
  }
  head_ = tail_ = 0;
}

void Scheduler::throw_outside_task(const char* awaitable) {
  throw std::logic_error(std::string("keel: ") + awaitable +
                         " was awaited outside a task of a keel::async::Runtime: spawn the coroutine on a Runtime (or "
                         "block_on it), on the runtime's thread");
}

void Scheduler::wake_remote(WakeRef ref) noexcept {
  TaskRecord* task = ref.task;
  // SAFETY: remote_epoch is the record's only field other threads write.
  // Raising it to the max of the pending wakes keeps the newest; its 0→n
  // transition (the CAS that saw 0) decides who links the record into the
  // queue, so a record is linked at most once until the loop collects it
  // by exchanging the field back to 0. The CAS is acquire: when it reads
  // the 0 of the loop's exchange, the loop's last read of remote_next
  // happens before this thread writes it again. It is release too: a wake
  // that only raises the epoch of a record already linked (by an earlier
  // wake) publishes nothing else, so the loop's exchange must be what
  // makes this thread's writes before wake() visible to the woken task.
  // Records are never freed while the scheduler lives, so a stale wake
  // touches a valid record and is discarded by the epoch check on the
  // loop thread.
  std::uint64_t seen = task->remote_epoch.load(std::memory_order_relaxed);
  while (seen < ref.epoch && !task->remote_epoch.compare_exchange_weak(seen, ref.epoch, std::memory_order_acq_rel,
                                                                        std::memory_order_relaxed)) {
  }
  if (seen != 0) return;  // already queued (its collection reads the raised epoch), or a newer wake is
  // SAFETY: Treiber push. remote_next is written before the release CAS
  // that publishes the record; the loop's acquire exchange of the head
  // sees it. Only the loop pops, and it takes the whole list at once, so
  // there is no ABA.
  TaskRecord* head = remote_head_.load(std::memory_order_relaxed);
  do {
    task->remote_next = head;
  } while (!remote_head_.compare_exchange_weak(head, task, std::memory_order_release, std::memory_order_relaxed));
  if (head == nullptr && interrupt_) interrupt_();
}

std::size_t Scheduler::collect_queued_remote_wakes() noexcept {
  TaskRecord* list = remote_head_.exchange(nullptr, std::memory_order_acquire);
  if (list == nullptr) return 0;
  // The stack holds the newest first; reverse it so tasks run in wake order.
  TaskRecord* ordered = nullptr;
  while (list != nullptr) {
    TaskRecord* next = list->remote_next;
    list->remote_next = ordered;
    ordered = list;
    list = next;
  }
  std::size_t collected = 0;
  while (ordered != nullptr) {
    // Read the link before clearing remote_epoch: from then on another
    // thread may link the record again.
    TaskRecord* next = ordered->remote_next;
    const std::uint64_t epoch = ordered->remote_epoch.exchange(0, std::memory_order_acq_rel);
    wake({ordered, epoch});
    ++collected;
    ordered = next;
  }
  return collected;
}

}  // namespace keel::async::internal

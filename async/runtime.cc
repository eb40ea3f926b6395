#include "async/runtime.h"

#include <cstdio>
#include <exception>

#include "async/spawner.h"
#include "rt/error.h"

namespace keel::async {

namespace {

void print_task_error(std::exception_ptr error) {
  try {
    std::rethrow_exception(std::move(error));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "keel: a detached task ended with an exception: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "keel: a detached task ended with an exception that is not a std::exception\n");
  }
}

}  // namespace

Runtime::Runtime(World& world, RuntimeOptions options)
    : world_(&world),
      options_(std::move(options)),
      outer_(current_),
      arena_(options_.arena),
      arena_scope_(arena_),
      own_ring_(world.try_resource<Uring>() == nullptr ? std::make_unique<Uring>(options_.own_ring, world.registry())
                                                      : nullptr),
      ring_(own_ring_ ? own_ring_.get() : world.try_resource<Uring>()),
      io_(*ring_, options_.max_io_operations, options_.epoll_bytes_per_poll),
      interrupt_(ring_->waker()),
      world_timers_(world.try_resource<TimerWheel>()),
      timers_(world.registry(), options_.timer_resolution, options_.timer_capacity),
      scheduler_([waker = interrupt_] { waker.wake(); },
                 options_.on_task_error ? options_.on_task_error : std::function<void(std::exception_ptr)>(print_task_error)),
      this_thread_(scheduler_) {
  if (options_.tasks_per_turn == 0) {
    throw ConfigError("keel: RuntimeOptions::tasks_per_turn must be at least 1 (tasks resumed in one turn of the loop)");
  }
  if (options_.ring_poll_interval.count() < 0) {
    throw ConfigError("keel: RuntimeOptions::ring_poll_interval must not be negative");
  }
  if (Spawner* spawner = world.try_resource<Spawner>()) {
    if (spawner->runtime_ != nullptr) {
      throw ConfigError("keel: the World's keel::async::Spawner is already bound to another Runtime");
    }
    spawner->runtime_ = this;
  }
  current_ = this;
}

Runtime::~Runtime() {
  // Tasks first: their destructors may cancel timers and wake others,
  // which needs the wheel and the scheduler.
  scheduler_.destroy_all();
  if (Spawner* spawner = world_->try_resource<Spawner>(); spawner != nullptr && spawner->runtime_ == this) {
    spawner->runtime_ = nullptr;
  }
  current_ = outer_;
}

void Runtime::check_not_inside(const char* what) const {
  if (internal::Scheduler::current() != nullptr) {
    throw std::logic_error(std::string("keel: Runtime::") + what +
                           " was called from inside a task; co_await the task (or spawn it) instead");
  }
  if (turning_) {
    throw std::logic_error(std::string("keel: Runtime::") + what +
                           " was called from a handler the runtime is running; spawn a task instead");
  }
}

std::size_t Runtime::fire_due_timers() {
  std::size_t fired = 0;
  const Instant at = last_now_ = now();
  now_fresh_ = true;
  fired += TimerPoller(timers_).poll(*world_, at);
  if (world_timers_ != nullptr) fired += TimerPoller(*world_timers_).poll(*world_, at);
  return fired;
}

std::size_t Runtime::poll_ring(std::chrono::nanoseconds max_wait) {
  std::chrono::nanoseconds wait =
      scheduler_.has_ready() || io_.holds_completed() ? std::chrono::nanoseconds(0) : max_wait;
  if (wait.count() > 0) {
    // The World's wheel bounds the ring's wait by itself; the runtime's does here.
    if (std::optional<Instant> next = timers_.next_deadline()) {
      const auto until = std::chrono::ceil<std::chrono::nanoseconds>(*next - now());
      wait = std::max(std::chrono::nanoseconds(0), std::min(wait, until));
    }
  }
  std::size_t work = 0;
  // Nothing but the runtime's operations to wait for (no timer of the
  // runtime's or the World's pending): the ring is waited on directly and
  // each operation's completion settled as it is read, without the
  // World's collect-and-dispatch pass, which then runs only for the
  // completions of others (readiness, wakes).
  const auto direct = wait == keel::internal::kNoTimeout && world_timers_idle() ? io_.wait_for_completions()
                                                                                : std::nullopt;
  if (direct) {
    work = direct->delivered;
    if (direct->others_queued) work += UringPoller(*ring_).poll(*world_, std::chrono::nanoseconds(0));
  } else {
    work = UringPoller(*ring_).poll(*world_, wait);
  }
  io_.polled();
  scheduler_.collect_remote_wakes();
  work += fire_timers();
  // The poll's time: the clock fire_timers() read right after it, or,
  // when it read none, whenever ring_due() next needs it.
  ring_poll_stamped_ = now_fresh_;
  if (now_fresh_) last_ring_poll_ = last_now_;
  return work;
}

}  // namespace keel::async

#include "rt/timer.h"

#include <algorithm>
#include <bit>
#include <cassert>
#include <limits>

namespace keel {
namespace {

using State = internal::TimerMeta::State;
constexpr std::uint32_t kNoIndex = internal::TimerMeta::kNoIndex;
constexpr std::uint16_t kNoBucket = internal::TimerMeta::kNoBucket;

// The deadline a periodic timer that fired for `fired_at` re-arms at when
// its handler returns, in a poll at `now`. One function for finish() and
// deadline(), so that what deadline() reports is what the wheel does.
Instant next_period(Instant fired_at, std::int64_t period_ns, bool skip_missed, Instant now) noexcept {
  const std::chrono::nanoseconds period(period_ns);
  Instant next = fired_at + period;
  if (skip_missed && next <= now) next += ((now - next) / period + 1) * period;
  return next;
}

}  // namespace

TimerPoller TimerInstaller::install(WorldBuilder& builder) && {
  if (resolution.count() <= 0) throw ConfigError("keel: TimerInstaller::resolution must be positive");
  TimerWheel& wheel = builder.emplace<TimerWheel>(builder.registry(), resolution, capacity);
  return TimerPoller(wheel);
}

TimerWheel::TimerWheel(const Registry& registry, std::chrono::nanoseconds resolution, std::size_t capacity)
    : registry_(&registry),
      resolution_ns_(resolution.count() > 0 ? static_cast<std::uint64_t>(resolution.count()) : 1) {
  slot_min_.fill(Instant::max());
  slab_.reserve(capacity);
}

TimerWheel::~TimerWheel() {
  // Handler destructors may call back (cancel a sibling, even schedule):
  // with destroying_ set, unlink() touches no list, and the slab frees each
  // slot before destroying its handler.
  destroying_ = true;
  buckets_ = {};
  occupied_ = {};
  overflow_ = {};
  near_ = {};
  due_ = {};
  slab_.clear();
}

void TimerWheel::check_period(std::chrono::nanoseconds period) {
  if (period.count() <= 0) throw ConfigError("keel: TimerWheel::schedule_periodic needs a positive period");
}

TimerToken TimerWheel::arm(Instant deadline, std::int64_t period_ns, MissedTicks missed, TimerHandler&& handler) {
  const std::uint32_t index = slab_.allocate(std::move(handler));  // may throw: nothing has changed yet
  Meta& m = slab_.meta(index);
  m.deadline = deadline;
  m.seq = next_seq_++;
  m.period_ns = period_ns;
  m.skip_missed = missed == MissedTicks::kSkip;
  link(index);
  ++live_;
  return TimerToken(index, m.generation);
}

bool TimerWheel::cancel(TimerToken token) noexcept {
  if (!slab_.allocated(token.index_, token.generation_)) return false;
  Meta& m = slab_.meta(token.index_);
  if (m.state == State::kFiring) {
    // The handler is running (this is a call from inside it, or from a
    // handler it called): it is released when it returns, unless re-armed.
    if (!m.rearm && m.period_ns == 0) return false;  // a one-shot that is firing has fired
    m.rearm = false;
    m.period_ns = 0;
    m.cancelled = true;  // its token is inert from now on, reschedule() included
    --live_;
    return true;
  }
  unlink(token.index_);
  --live_;
  slab_.release(token.index_);  // last: runs the handler's destructor
  return true;
}

bool TimerWheel::reschedule(TimerToken token, Instant deadline) noexcept {
  if (!slab_.allocated(token.index_, token.generation_)) return false;
  Meta& m = slab_.meta(token.index_);
  if (m.state == State::kFiring) {
    if (m.cancelled) return false;
    if (!m.rearm && m.period_ns == 0) ++live_;  // a firing one-shot counts again
    m.rearm = true;
    m.deadline = deadline;
    return true;
  }
  unlink(token.index_);
  m.deadline = deadline;
  m.seq = next_seq_++;
  link(token.index_);
  return true;
}

bool TimerWheel::contains(TimerToken token) const noexcept {
  if (!slab_.allocated(token.index_, token.generation_)) return false;
  const Meta& m = slab_.meta(token.index_);
  return m.state == State::kArmed || m.rearm || m.period_ns > 0;
}

std::optional<Instant> TimerWheel::deadline(TimerToken token) const noexcept {
  if (!contains(token)) return std::nullopt;
  const Meta& m = slab_.meta(token.index_);
  // A periodic timer firing without a reschedule: what finish() will arm.
  if (m.state == State::kFiring && !m.rearm) return next_period(m.deadline, m.period_ns, m.skip_missed, poll_now_);
  return m.deadline;
}

// --- filing timers into the wheel ------------------------------------------------

std::uint64_t TimerWheel::tick_of(Instant t) const noexcept {
  const std::int64_t ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  return ns <= 0 ? 0 : static_cast<std::uint64_t>(ns) / resolution_ns_;
}

void TimerWheel::link(std::uint32_t index, bool bulk) noexcept {
  const Meta& m = slab_.meta(index);
  const std::uint64_t tick = tick_of(m.deadline);
  if (tick <= elapsed_) {
    // The current tick, or a deadline already behind the wheel: due at the
    // next poll that reaches it, in firing order with the rest of the tick.
    if (bulk) {
      slab_.push_front(near_, index, kNearBucket);
    } else {
      slab_.insert_sorted(near_, index, kNearBucket);
    }
    return;
  }
  if (!bucket_min_stale_ && m.deadline < bucket_min_) bucket_min_ = m.deadline;
  // The level is that of the highest kSlotBits-bit digit in which tick and elapsed_
  // differ; tick > elapsed_, so its digit there is the larger.
  const std::uint64_t differ = tick ^ elapsed_;
  const int level = (63 - std::countl_zero(differ)) / kSlotBits;
  if (level >= kLevels) {
    slab_.push_front(overflow_, index, kOverflowBucket);
    slot_min_[kOverflowBucket] = std::min(slot_min_[kOverflowBucket], m.deadline);
    return;
  }
  const std::uint32_t slot = static_cast<std::uint32_t>((tick >> (level * kSlotBits)) & kSlotMask);
  const auto bucket = static_cast<std::uint16_t>(static_cast<std::uint32_t>(level) * kSlots + slot);
  slab_.push_front(buckets_[bucket], index, bucket);
  slot_min_[bucket] = std::min(slot_min_[bucket], m.deadline);
  set_bit(occupied_, bucket);
}

std::uint32_t TimerWheel::detach_bucket(std::uint32_t bucket) noexcept {
  slot_min_[bucket] = Instant::max();
  clear_bit(slot_min_stale_, bucket);
  if (bucket == kOverflowBucket) return slab_.detach(overflow_);
  clear_bit(occupied_, bucket);
  return slab_.detach(buckets_[bucket]);
}

std::uint32_t TimerWheel::first_bucket() const noexcept {
  for (std::size_t w = 0; w + 1 < kWords; ++w) {
    if (occupied_[w] != 0)
      return static_cast<std::uint32_t>(w * 64 + static_cast<std::size_t>(std::countr_zero(occupied_[w])));
  }
  return kBuckets;
}

void TimerWheel::unlink(std::uint32_t index) noexcept {
  Meta& m = slab_.meta(index);
  const std::uint16_t bucket = m.bucket;
  if (bucket == kNoBucket) return;
  if (destroying_) {
    // SAFETY (list integrity): the destructor has reset every list head; the
    // links left in slots are never followed again, only overwritten.
    m.bucket = kNoBucket;
    return;
  }
  if (bucket == kNearBucket) {
    slab_.unlink(near_, index);
    return;
  }
  if (bucket == kDueBucket) {
    slab_.unlink(due_, index);
    return;
  }
  if (m.deadline <= bucket_min_) bucket_min_stale_ = true;
  if (m.deadline <= slot_min_[bucket]) set_bit(slot_min_stale_, bucket);
  if (bucket == kOverflowBucket) {
    slab_.unlink(overflow_, index);
    return;
  }
  slab_.unlink(buckets_[bucket], index);
  if (buckets_[bucket].empty()) clear_bit(occupied_, bucket);
}

void TimerWheel::refile_overflow() noexcept {
  for (std::uint32_t i = detach_bucket(kOverflowBucket); i != kNoIndex;) {
    const std::uint32_t next = slab_.detached_next(i);
    link(i);
    i = next;
  }
}

void TimerWheel::recompute_bucket_min() const noexcept {
  // Every timer of the first occupied bucket of the lowest occupied level is
  // due before every timer elsewhere in the wheel; the overflow list after
  // all. That bucket's earliest is cached; it is rescanned only when the
  // timer that was its earliest has left.
  const std::uint32_t bucket = first_bucket();  // kBuckets is the overflow list
  if (test_bit(slot_min_stale_, bucket)) {
    const internal::TimerList& list = bucket == kOverflowBucket ? overflow_ : buckets_[bucket];
    Instant best = Instant::max();
    for (std::uint32_t i = list.head; i != kNoIndex; i = slab_.meta(i).next)
      best = std::min(best, slab_.meta(i).deadline);
    slot_min_[bucket] = best;
    clear_bit(slot_min_stale_, bucket);
  }
  bucket_min_ = slot_min_[bucket];
  bucket_min_stale_ = false;
}

// --- polling -----------------------------------------------------------------------

std::size_t TimerWheel::fire_due(World& world, Instant now) {
  if (polling_) [[unlikely]] {
    throw ConfigError(
        "keel: TimerPoller::poll() was called from inside a timer handler; polls cannot nest. Schedule a "
        "timer instead: it fires in the next poll");
  }
  // The handlers were built against registry_: any other World would run
  // them on resources they do not belong to. A wheel the World does not
  // own as a resource (an async Runtime's) is polled with that World too.
  if (&world.registry() != registry_) [[unlikely]] {
    throw ConfigError(
        "keel: TimerPoller::poll() was given a World other than the one this TimerWheel was built for; poll "
        "each World with the poller its own WorldBuilder::install_driver returned");
  }
  collect(now);
  poll_now_ = now;
  polling_ = true;
  std::size_t fired = 0;
  try {
    while (!due_.empty()) {
      const std::uint32_t index = slab_.pop_front(due_);
      ++fired;
      fire(world, index, now);
    }
  } catch (...) {
    // The timers not fired yet go back to the current tick, where they are
    // still due, in order, for the next poll.
    slab_.merge_into(near_, due_, kNearBucket);
    polling_ = false;
    throw;
  }
  polling_ = false;
  return fired;
}

void TimerWheel::collect(Instant now) noexcept {
  const std::uint64_t now_tick = std::max(tick_of(now), elapsed_);
  const std::uint64_t block = elapsed_ >> (kLevels * kSlotBits);
  for (;;) {
    // The current tick first: its due prefix, in order.
    while (!near_.empty() && slab_.meta(near_.head).deadline <= now) {
      const std::uint32_t index = slab_.pop_front(near_);
      slab_.insert_sorted(due_, index, kDueBucket);  // appends: near_ is sorted and ticks only grow
    }
    // Timers left in it are due later in this tick, and no bucket starts
    // before the next tick.
    if (!near_.empty()) break;

    const std::uint32_t bucket = first_bucket();
    if (bucket == kBuckets) {
      // The levels are empty: jump to the earliest overflow timer, if it is
      // due, and re-file the overflow list around it.
      if (overflow_.empty()) break;
      std::uint64_t first = std::numeric_limits<std::uint64_t>::max();
      for (std::uint32_t i = overflow_.head; i != kNoIndex; i = slab_.meta(i).next) {
        first = std::min(first, tick_of(slab_.meta(i).deadline));
      }
      if (first > now_tick) break;
      elapsed_ = first;
      bucket_min_stale_ = true;
      refile_overflow();
      continue;
    }
    const int level = static_cast<int>(bucket / kSlots);
    const std::uint32_t slot = bucket % kSlots;
    const int shift = level * kSlotBits;
    const std::uint64_t start =
        ((elapsed_ >> (shift + kSlotBits)) << (shift + kSlotBits)) | (std::uint64_t{slot} << shift);
    assert(start > elapsed_);
    if (start > now_tick) break;
    // Advance to the bucket's first tick. near_ is empty here, so it becomes
    // exactly the timers of that tick; the rest of a higher-level bucket
    // re-files into lower levels.
    elapsed_ = start;
    bucket_min_stale_ = true;
    for (std::uint32_t i = detach_bucket(bucket); i != kNoIndex;) {
      const std::uint32_t next = slab_.detached_next(i);
      link(i, /*bulk=*/true);
      i = next;
    }
    slab_.sort(near_);
  }
  // No bucket starts at or before now_tick any more, so every bucket is
  // still correctly placed relative to it, and near_ (if not empty) is
  // already the tick of now_tick.
  if (elapsed_ < now_tick) {
    elapsed_ = now_tick;
    // Overflow timers are placed relative to elapsed_'s top-level block;
    // when that changes, some may now fit in the levels.
    if ((elapsed_ >> (kLevels * kSlotBits)) != block && !overflow_.empty()) {
      bucket_min_stale_ = true;
      refile_overflow();
    }
  }
}

void TimerWheel::fire(World& world, std::uint32_t index, Instant now) {
  Meta& m = slab_.meta(index);
  const Instant at = m.deadline;
  if (m.period_ns == 0) --live_;  // a one-shot has fired once it starts
  TimerHandler handler = slab_.take(index);
  firing_ = TimerToken(index, m.generation);
  world.next_sequence();
  try {
    handler.run(world, at);
  } catch (...) {
    finish(index, std::move(handler), at, now);
    throw;
  }
  finish(index, std::move(handler), at, now);
}

void TimerWheel::finish(std::uint32_t index, TimerHandler&& handler, Instant fired_at, Instant now) noexcept {
  firing_ = TimerToken{};
  // Re-indexed: the handler may have grown the slab.
  Meta& m = slab_.meta(index);
  if (m.rearm) {
    m.rearm = false;  // reschedule() set the deadline
  } else if (m.period_ns > 0) {
    m.deadline = next_period(fired_at, m.period_ns, m.skip_missed, now);
  } else {
    // Fired (or cancelled while firing). The handler, still in the caller's
    // local, is destroyed after the slot is free.
    slab_.release(index);
    return;
  }
  m.seq = next_seq_++;
  slab_.put_back(index, std::move(handler));
  link(index);
}

}  // namespace keel

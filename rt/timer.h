// Timers: a hierarchical timer wheel resource (keel::TimerWheel) and the
// driver that fires it (keel::TimerInstaller → keel::TimerPoller).
//
// Schedule and cancel are O(1); poll(world, now) fires every timer whose
// deadline is at or before `now`, in deadline order (ties in schedule
// order), each as one event with a fresh sequence number. A timer's handler
// is any keel handler or callback whose event is keel::Instant (by value or
// const&); it receives the timer's deadline.
//
//   auto timers = wb.install_driver(keel::TimerInstaller{});
//   keel::World world = std::move(wb).build();
//   auto& wheel = world.resource<keel::TimerWheel>();
//   keel::TimerToken t = wheel.schedule(now + 50ms, keel::handler(world.registry(), on_timeout));
//   wheel.schedule_periodic(now + 1s, 1s, [](keel::Res<Stats> s, keel::Instant at) { print(*s, at); });
//   wheel.cancel(t);                          // false once it has fired or was cancelled
//   timers.poll(world, steady_clock::now());  // fires what is due; returns how many fired
//   wheel.next_deadline();                    // for the poll source's timeout
//
// Not for: sub-microsecond scheduling or timers on other threads (the wheel
// is the loop thread's). Tests drive it with keel::testing::VirtualClock.
// See docs/timers.md.
//
// Implementation overview: 5 levels of 256 buckets; level L's buckets are
// 256^L ticks wide (a tick is TimerInstaller::resolution). A timer sits in
// the level of the highest 8-bit digit in which its tick differs from the
// wheel's current tick, so every level-0 timer is due before every level-1
// timer, and so on; deadlines beyond 256^5 ticks (3.5 years at 100 µs) wait
// in an overflow list. poll() finds occupied buckets through a bitmap (idle
// time costs nothing) and re-files a higher-level bucket into lower levels
// when its time comes. The current tick's timers sit in one list sorted by
// (deadline, schedule order), so the earliest deadline is its head and a
// poll with nothing due is one compare; a poll moves the due prefix to a due
// list and fires it. All lists are intrusive: no allocation but the slab's
// growth, and cancel is an unlink. Handlers live in an
// internal::TimerSlab (rt/internal/timer_slab.h) and are moved out of it
// while they run, so they may schedule, cancel and reschedule freely.
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <source_location>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "rt/handler.h"
#include "rt/internal/erase_handler.h"
#include "rt/internal/handle.h"
#include "rt/internal/timer_slab.h"
#include "rt/registry.h"
#include "rt/world.h"

namespace keel {

// A point on the monotonic clock. Timers take deadlines and hand handlers
// the deadline they fired for.
using Instant = std::chrono::steady_clock::time_point;

class TimerWheel;
class TimerPoller;

// Configures the timer driver; wb.install_driver(keel::TimerInstaller{})
// registers the TimerWheel resource and returns its TimerPoller.
struct TimerInstaller {
  // Tick width. Ordering is exact whatever it is (the current tick's timers
  // are kept sorted by deadline); finer ticks re-file timers more often on
  // their way down the levels, coarser ones sort more timers per tick.
  // 100 µs suits trading loops whose timers run from ~1 ms (order timeouts)
  // to minutes (sessions). Must be positive.
  std::chrono::nanoseconds resolution = std::chrono::microseconds(100);
  // Timer slots reserved up front, so the first `capacity` concurrent timers
  // allocate nothing.
  std::size_t capacity = 1024;

  TimerPoller install(WorldBuilder& builder) &&;
};

namespace internal {
struct TimerTokenTag {
  using Owner = TimerWheel;
};
}  // namespace internal

// Names one scheduled timer, for cancel() and reschedule(). Trivially
// copyable (index + generation); a token of a timer that has fired (one-shot)
// or was cancelled is inert. Default-constructed: no timer.
using TimerToken = internal::Handle<internal::TimerTokenTag>;

// What a periodic timer does when a poll comes later than one or more of its
// periods (the loop stalled, or a test advanced the clock by many periods).
enum class MissedTicks : std::uint8_t {
  // Fire once, then re-arm at the first period boundary after `now`
  // (phase kept, missed periods dropped). The default: a heartbeat or a
  // status line should not burst after a stall.
  kSkip,
  // Re-arm at deadline + period even if that is already past: every period
  // fires, one per poll, until the timer has caught up.
  kBurst,
};

namespace internal {

// What schedule() and schedule_periodic() take, and how they store it
// (rt/internal/erase_handler.h): handlers of Instant, a handler of `const
// Instant&` passed the deadline by reference; functions built with
// keel::handler().
struct TimerSlot {
  using Stored = Instant;
  using Rejections = ScheduleRejections;
  static constexpr std::string_view kApi = "TimerWheel::schedule()";
  static constexpr bool kAdaptsSpelling = true;
  static constexpr bool kBuildsFunctions = true;
};

}  // namespace internal

// The timer wheel: a resource registered by TimerInstaller. Reach it as
// world.resource<keel::TimerWheel>() or, from handlers, ResMut<TimerWheel>.
// Everything here may be called from inside a firing timer handler.
class TimerWheel {
 public:
  // Inline bytes per timer handler: a handler up to this size (and
  // nothrow-movable) costs no allocation; a bigger one is boxed (one
  // allocation at schedule time). stores_inline<H> tells which.
  static constexpr std::size_t kInlineBytes = 64;
  static constexpr int kLevels = 5;
  static constexpr int kSlotBits = 8;
  static constexpr std::uint32_t kSlots = 1u << kSlotBits;
  static_assert(kSlots % 64 == 0 && kLevels * kSlotBits < 64);

  using TimerHandler = InlineHandler<Instant, kInlineBytes>;

  template <class H>
  static constexpr bool stores_inline =
      internal::InlineStorage<kInlineBytes>::template fits<internal::SlotHandler<internal::TimerSlot, H>>;

  // Built by TimerInstaller::install; `registry` is the World's (it builds
  // handlers from plain functions passed to schedule()).
  TimerWheel(const Registry& registry, std::chrono::nanoseconds resolution, std::size_t capacity);
  TimerWheel(const TimerWheel&) = delete;
  TimerWheel& operator=(const TimerWheel&) = delete;
  ~TimerWheel();

  // Schedules `handler` to fire once, at the first poll whose `now` is at or
  // after `deadline`; a deadline already past fires on the next poll. Takes
  // a handler of Instant (or const Instant&): a keel handler or callback, a
  // value of a type of your own (event_type, run, name() const), a
  // std::unique_ptr<D> for a class D derived from Handler<Instant> (moved
  // in; an empty one throws ConfigError), or a plain function/lambda, built
  // with keel::handler(registry, fn) here. Anything else is a static_assert
  // saying what to pass. O(1); allocates only when
  // the slab grows past its capacity or the handler is bigger than
  // kInlineBytes. During a poll, the new timer fires in a later poll at the
  // earliest, so a poll always ends.
  template <class H>
  TimerToken schedule(Instant deadline, H&& handler, std::source_location site = std::source_location::current()) {
    return arm(deadline, 0, MissedTicks::kSkip, erase(std::forward<H>(handler), site));
  }

  // Schedules `handler` at `first`, then every `period` after it until
  // cancelled; each firing receives its own scheduled instant. A re-arm counts
  // as a new schedule for tie-breaking. `missed` says what a late poll does.
  // Throws ConfigError when period is not positive.
  template <class H>
  TimerToken schedule_periodic(Instant first, std::chrono::nanoseconds period, H&& handler,
                               MissedTicks missed = MissedTicks::kSkip,
                               std::source_location site = std::source_location::current()) {
    check_period(period);
    return arm(first, period.count(), missed, erase(std::forward<H>(handler), site));
  }

  // Cancels a pending timer and destroys its handler: true when it was
  // pending. False (and nothing happens) for a one-shot that has fired or is
  // firing, a cancelled timer, or an empty token. A timer cancelled while it
  // fires (a periodic one, or a one-shot that had re-armed itself) fires no
  // more, and its token is inert like any cancelled one's: reschedule()
  // returns false. O(1).
  bool cancel(TimerToken token) noexcept;

  // Moves a pending timer to `deadline`, keeping its handler; true when it
  // was pending. Called on the firing timer (a one-shot re-arming itself, or
  // a periodic moving its next firing), it arms it again at `deadline` after
  // the handler returns; a periodic then continues every period from there.
  // Counts as a new schedule for tie-breaking. O(1), except into the current
  // tick, which is kept sorted (a walk from its latest timer).
  bool reschedule(TimerToken token, Instant deadline) noexcept;

  // The token of the timer whose handler is running (inside a poll), or an
  // empty token. Lets a handler re-arm or cancel itself without keeping its
  // own token: wheel->reschedule(wheel->firing(), at + 1s).
  TimerToken firing() const noexcept { return firing_; }

  // True while the token's timer will still fire (pending, or periodic).
  bool contains(TimerToken token) const noexcept;
  // The token's next deadline, or nullopt when it will not fire again. For
  // a periodic timer asked while it fires, the deadline it re-arms at when
  // its handler returns (under kSkip, the first period boundary after the
  // poll's `now`).
  std::optional<Instant> deadline(TimerToken token) const noexcept;

  // The earliest deadline among pending timers, or nullopt when there are
  // none (a timer at Instant::max() counts as none: it never fires): how
  // long the poll source may sleep. O(1) while timers of the current tick
  // are pending; otherwise cached, and recomputed from one bucket after the
  // earliest timer fired or was cancelled.
  std::optional<Instant> next_deadline() const noexcept {
    Instant next = earliest();
    if (!due_.empty()) next = std::min(next, slab_.meta(due_.head).deadline);  // inside a poll
    if (next == Instant::max()) return std::nullopt;
    return next;
  }

  // Timers that will still fire: pending ones, and periodic ones.
  std::size_t size() const noexcept { return live_; }
  bool empty() const noexcept { return live_ == 0; }
  std::chrono::nanoseconds resolution() const noexcept { return std::chrono::nanoseconds(resolution_ns_); }
  // True while poll() is firing timers.
  bool polling() const noexcept { return polling_; }

 private:
  friend class TimerPoller;
  std::size_t poll(World& world, Instant now);
  using Slab = internal::TimerSlab<TimerHandler>;
  using Meta = internal::TimerMeta;

  static constexpr std::uint64_t kSlotMask = kSlots - 1;
  static constexpr std::uint32_t kBuckets = kLevels * kSlots;
  // Bitmaps over buckets (kBuckets bits, then one for the overflow list).
  static constexpr std::size_t kWords = kBuckets / 64 + 1;
  using Bits = std::array<std::uint64_t, kWords>;
  static void set_bit(Bits& bits, std::uint32_t bucket) noexcept {
    bits[bucket / 64] |= std::uint64_t{1} << (bucket % 64);
  }
  static void clear_bit(Bits& bits, std::uint32_t bucket) noexcept {
    bits[bucket / 64] &= ~(std::uint64_t{1} << (bucket % 64));
  }
  static bool test_bit(const Bits& bits, std::uint32_t bucket) noexcept {
    return (bits[bucket / 64] >> (bucket % 64)) & 1;
  }
  // Bucket numbers recorded in TimerMeta::bucket: level * kSlots + slot, then these.
  static constexpr std::uint16_t kOverflowBucket = kBuckets;
  static constexpr std::uint16_t kNearBucket = kOverflowBucket + 1;
  static constexpr std::uint16_t kDueBucket = kOverflowBucket + 2;

  template <class H>
  TimerHandler erase(H&& handler, const std::source_location& site) {
    return internal::erase_inline<internal::TimerSlot, kInlineBytes>(std::forward<H>(handler), registry_, site);
  }

  static void check_period(std::chrono::nanoseconds period);

  TimerToken arm(Instant deadline, std::int64_t period_ns, MissedTicks missed, TimerHandler&& handler);
  std::size_t fire_due(World& world, Instant now);
  void collect(Instant now) noexcept;
  void fire(World& world, std::uint32_t index, Instant now);
  void finish(std::uint32_t index, TimerHandler&& handler, Instant fired_at, Instant now) noexcept;

  std::uint64_t tick_of(Instant t) const noexcept;
  // Files an unlisted timer by its deadline: into near_ (sorted) when its
  // tick is the current one or earlier, else a bucket or the overflow list.
  // With `bulk`, near_ timers go to its front unsorted; the caller sorts.
  void link(std::uint32_t index, bool bulk = false) noexcept;
  void unlink(std::uint32_t index) noexcept;
  void refile_overflow() noexcept;
  // Empties bucket `bucket` (or the overflow list) and returns its first index.
  std::uint32_t detach_bucket(std::uint32_t bucket) noexcept;
  // The first occupied bucket (the lowest level's first), or kBuckets when
  // the levels are empty.
  std::uint32_t first_bucket() const noexcept;

  // The earliest deadline outside the due list (Instant::max() when none).
  Instant earliest() const noexcept {
    if (!near_.empty()) return slab_.meta(near_.head).deadline;
    if (bucket_min_stale_) [[unlikely]]
      recompute_bucket_min();
    return bucket_min_;
  }
  void recompute_bucket_min() const noexcept;

  const Registry* registry_;
  std::uint64_t resolution_ns_;
  // The wheel's current tick. Timers whose tick is <= it are in near_;
  // every bucket holds later ticks only.
  std::uint64_t elapsed_ = 0;
  std::uint64_t next_seq_ = 1;
  std::size_t live_ = 0;
  // The earliest deadline in the buckets and the overflow list, cached; and
  // per bucket (the overflow list last), the earliest deadline it holds, or
  // a lower bound of it when its stale bit is set (its earliest was removed).
  mutable Instant bucket_min_ = Instant::max();
  mutable bool bucket_min_stale_ = false;
  mutable std::array<Instant, kBuckets + 1> slot_min_;
  mutable Bits slot_min_stale_{};
  TimerToken firing_;
  // The `now` of the running poll: deadline() of a firing periodic timer
  // computes from it the re-arm that finish() will make.
  Instant poll_now_{};
  bool polling_ = false;
  bool destroying_ = false;
  // Which buckets hold timers. In bit order, buckets go level by level and
  // slot by slot: the first set bit is the bucket that is due first.
  Bits occupied_{};
  std::array<internal::TimerList, kBuckets> buckets_{};
  internal::TimerList overflow_;
  internal::TimerList near_;  // the current tick (and clamped past deadlines), sorted by firing order
  internal::TimerList due_;   // what the running poll fires, in order
  Slab slab_;
};

// Fires a World's timers; returned by wb.install_driver(TimerInstaller{}).
// Cheap to copy (one pointer).
class TimerPoller {
 public:
  // Fires every timer due at `now`, in deadline order (ties in schedule
  // order), each after world.next_sequence() and with its deadline as the
  // event; returns how many fired. When nothing is due it costs a compare.
  // Timers scheduled by the handlers it runs fire in a later poll. If a
  // handler throws, the exception propagates; the timers not fired yet stay
  // due and fire first in the next poll. Throws ConfigError when called from
  // inside a timer handler or with another World.
  std::size_t poll(World& world, Instant now) { return wheel_->poll(world, now); }

  // The earliest pending deadline, or nullopt: TimerWheel::next_deadline().
  std::optional<Instant> next_deadline() const noexcept { return wheel_->next_deadline(); }
  TimerWheel& wheel() const noexcept { return *wheel_; }

  // A poller for a wheel reached some other way (an async Runtime fires
  // the World's wheel and its own through one).
  explicit TimerPoller(TimerWheel& wheel) noexcept : wheel_(&wheel) {}

 private:
  TimerWheel* wheel_;
};

inline std::size_t TimerWheel::poll(World& world, Instant now) {
  if (now < earliest() && !polling_) [[likely]]
    return 0;
  return fire_due(world, now);
}

}  // namespace keel

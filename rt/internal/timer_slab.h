// TimerSlab: the index-addressed storage behind keel::TimerWheel — one slot
// per timer, holding its erased handler and its bookkeeping, with intrusive
// doubly-linked lists (by index) that thread the slots into wheel buckets
// and sorted lists.
//
// A Slab (rt/internal/slab.h): slots live in two parallel vectors, the
// TimerMeta (deadline, links, generation; what scheduling and cascading
// touch) and the erased handlers (touched only to store, fire and destroy).
// Freed slots are reused through a free list and carry a generation so that
// a stale TimerToken never reaches a newer timer.
//
// The lists: each slot has one pair of links, so it is in at most one list
// at a time (a wheel bucket, the overflow list, the current tick, the due
// list), and TimerMeta::bucket says which. Links are indices, so they stay
// valid when the vectors grow.
//
// The difficulty is that a firing handler may reach this very slab through
// ResMut<TimerWheel>: schedule (both vectors grow and every handler is
// relocated), cancel or reschedule itself or others. So the wheel fires a
// timer by moving its handler out of its slot into a local (take()), running
// it, and then either moving it back by index (put_back(), never through a
// reference taken before the call) or dropping it with the slot (release()).
// A released slot is emptied and freed before its handler's destructor runs,
// so a destructor that calls back into the slab finds it consistent.
#pragma once

#include <cassert>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <utility>

#include "rt/internal/slab.h"

namespace keel::internal {

// What the wheel records per timer. Hot (scheduling, cascading): deadline,
// links, bucket. Plain data: the vector may move it freely.
struct TimerMeta {
  enum class State : std::uint8_t {
    kFree,    // on the free list
    kArmed,   // pending: in a wheel bucket, the overflow list, or the due list
    kFiring,  // its handler is out of the slot, running
  };
  static constexpr State kHeld = State::kArmed;
  static constexpr State kTaken = State::kFiring;
  static constexpr std::uint32_t kNoIndex = internal::kNoIndex;
  static constexpr std::uint16_t kNoBucket = 0xFFFF;

  std::chrono::steady_clock::time_point deadline{};
  std::uint64_t seq = 0;          // schedule order: unique per arming, the tie-break
  std::int64_t period_ns = 0;     // > 0: periodic
  std::uint32_t next = kNoIndex;  // list links
  std::uint32_t prev = kNoIndex;
  std::uint32_t generation = 1;  // bumped on release; 0 is never handed out
  std::uint32_t next_free = kNoIndex;
  std::uint16_t bucket = kNoBucket;
  State state = State::kFree;
  bool skip_missed = true;  // periodic: skip periods missed by a late poll
  bool rearm = false;       // kFiring: arm again at `deadline` after the handler returns
  bool cancelled = false;   // kFiring: cancelled while its handler runs, so reschedule() refuses it
};

// Ends of one intrusive list threaded through TimerMeta::next/prev.
struct TimerList {
  std::uint32_t head = TimerMeta::kNoIndex;
  std::uint32_t tail = TimerMeta::kNoIndex;
  bool empty() const noexcept { return head == TimerMeta::kNoIndex; }
};

// Firing order: (deadline, seq). seq is unique, so this is a strict total order.
inline bool fires_before(const TimerMeta& a, const TimerMeta& b) noexcept {
  return a.deadline != b.deadline ? a.deadline < b.deadline : a.seq < b.seq;
}

// `Handler` is a move-only, nothrow-movable erased handler with a default
// (empty) state and reset(): keel::InlineHandler<Instant, N>. The storage is
// a Slab (rt/internal/slab.h): allocate, take (kArmed -> kFiring), put_back,
// release, allocated, clear.
//
// SAFETY (put_back): the wheel puts a fired handler back without asking
// taken(): a kFiring slot is released only by the wheel's firing code
// (cancel() only clears its re-arm flag and marks it cancelled), so it is
// still allocated, in no list, and empty.
template <class Handler>
class TimerSlab : public Slab<TimerMeta, Handler> {
  using Base = Slab<TimerMeta, Handler>;

 public:
  // Stores a handler in a free slot and returns its index; the slot is
  // kArmed with default bookkeeping and no bucket. If growing throws,
  // nothing has changed.
  std::uint32_t allocate(Handler&& handler) {
    const std::uint32_t index = Base::allocate(std::move(handler));
    TimerMeta& m = meta_[index];
    m.next = kNoIndex;
    m.prev = kNoIndex;
    m.bucket = TimerMeta::kNoBucket;
    m.period_ns = 0;
    m.rearm = false;
    m.cancelled = false;
    return index;
  }

  // Frees a slot (armed or firing), which the caller has unlinked; see
  // Slab::release.
  void release(std::uint32_t index) noexcept {
    assert(meta_[index].bucket == TimerMeta::kNoBucket);
    Base::release(index);
  }

  // --- intrusive lists ---------------------------------------------------------
  //
  // A slot is in at most one list at a time, and `bucket` says which (the
  // owner's numbering; kNoBucket: none). Every operation below keeps three
  // facts true, which is what makes the index links sound: a listed slot's
  // next/prev name slots of the same list (or kNoIndex at its ends), the
  // list's head and tail are its ends, and an unlisted slot is reachable
  // from no list. None allocates; all are noexcept.

  // Links an unlisted slot at the front of `list`.
  void push_front(TimerList& list, std::uint32_t index, std::uint16_t bucket) noexcept {
    TimerMeta& m = meta_[index];
    assert(m.bucket == TimerMeta::kNoBucket);
    // SAFETY (list integrity): `index` is in no list (bucket == kNoBucket),
    // so linking it cannot create a cycle or orphan another slot.
    m.prev = kNoIndex;
    m.next = list.head;
    if (list.head != kNoIndex) {
      meta_[list.head].prev = index;
    } else {
      list.tail = index;
    }
    list.head = index;
    m.bucket = bucket;
  }

  // Links an unlisted slot into a list sorted by fires_before(), keeping it
  // sorted. Walks from the back: O(1) when the slot fires last, the usual
  // case (a new schedule has the newest seq).
  void insert_sorted(TimerList& list, std::uint32_t index, std::uint16_t bucket) noexcept {
    TimerMeta& m = meta_[index];
    assert(m.bucket == TimerMeta::kNoBucket);
    std::uint32_t after = list.tail;
    while (after != kNoIndex && fires_before(m, meta_[after])) after = meta_[after].prev;
    // SAFETY (list integrity): `after` is a member of `list` or kNoIndex
    // (insert at the front); `index` is in no list.
    m.prev = after;
    m.next = after == kNoIndex ? list.head : meta_[after].next;
    if (m.next != kNoIndex) {
      meta_[m.next].prev = index;
    } else {
      list.tail = index;
    }
    if (after != kNoIndex) {
      meta_[after].next = index;
    } else {
      list.head = index;
    }
    m.bucket = bucket;
  }

  // Unlinks a slot from `list`, the list its `bucket` names.
  void unlink(TimerList& list, std::uint32_t index) noexcept {
    TimerMeta& m = meta_[index];
    assert(m.bucket != TimerMeta::kNoBucket);
    // SAFETY (list integrity): the caller passes the list that `m.bucket`
    // names, and next/prev of a listed slot point at slots of that list.
    if (m.prev != kNoIndex) {
      meta_[m.prev].next = m.next;
    } else {
      list.head = m.next;
    }
    if (m.next != kNoIndex) {
      meta_[m.next].prev = m.prev;
    } else {
      list.tail = m.prev;
    }
    m.next = kNoIndex;
    m.prev = kNoIndex;
    m.bucket = TimerMeta::kNoBucket;
  }

  // Unlinks and returns the first slot. Precondition: not empty.
  std::uint32_t pop_front(TimerList& list) noexcept {
    const std::uint32_t index = list.head;
    unlink(list, index);
    return index;
  }

  // Detaches a whole list and returns its first index; walk it with
  // detached_next(), which unthreads each slot as it goes. The slots are in
  // no list afterwards (bucket == kNoBucket) and may be linked elsewhere.
  std::uint32_t detach(TimerList& list) noexcept {
    // SAFETY (list integrity): the chain's slots keep their links only until
    // detached_next() reaches them; the caller walks the whole chain.
    const std::uint32_t first = list.head;
    list = TimerList{};
    return first;
  }
  std::uint32_t detached_next(std::uint32_t index) noexcept {
    TimerMeta& m = meta_[index];
    const std::uint32_t next = m.next;
    m.next = kNoIndex;
    m.prev = kNoIndex;
    m.bucket = TimerMeta::kNoBucket;
    return next;
  }

  // Sorts `list` by fires_before(): short lists (the usual bucket) through a
  // key array on the stack, longer ones by merge sort. No allocation.
  void sort(TimerList& list) noexcept {
    struct Key {
      std::chrono::steady_clock::time_point deadline;
      std::uint64_t seq;
      std::uint32_t index;
    };
    constexpr std::size_t kShort = 32;
    Key keys[kShort];
    std::size_t n = 0;
    for (std::uint32_t i = list.head; i != kNoIndex && n <= kShort; i = meta_[i].next) {
      if (n < kShort) keys[n] = Key{meta_[i].deadline, meta_[i].seq, i};
      ++n;
    }
    // SAFETY (list integrity): both branches permute the same slots along
    // `next` (each exactly once); relink_backwards() then rebuilds `prev`
    // and the tail from that chain.
    if (n > kShort) {
      list.head = merge_sort(list.head);
    } else {
      // Insertion sort: a bucket's timers are few, and often nearly ordered.
      for (std::size_t k = 1; k < n; ++k) {
        const Key key = keys[k];
        std::size_t j = k;
        for (; j > 0 &&
               (key.deadline != keys[j - 1].deadline ? key.deadline < keys[j - 1].deadline : key.seq < keys[j - 1].seq);
             --j) {
          keys[j] = keys[j - 1];
        }
        keys[j] = key;
      }
      list.head = n == 0 ? kNoIndex : keys[0].index;
      for (std::size_t k = 0; k < n; ++k) meta_[keys[k].index].next = k + 1 < n ? keys[k + 1].index : kNoIndex;
    }
    relink_backwards(list);
  }

  // Moves every slot of sorted `from` into sorted `into`, keeping it sorted
  // and relabelling the moved slots `bucket`. O(size of both).
  void merge_into(TimerList& into, TimerList& from, std::uint16_t bucket) noexcept {
    // SAFETY (list integrity): the two lists are disjoint; merge() threads
    // every slot of both onto one `next` chain exactly once, `from` is
    // emptied, and relink_backwards() rebuilds `prev` and the tail.
    for (std::uint32_t i = from.head; i != kNoIndex; i = meta_[i].next) meta_[i].bucket = bucket;
    into.head = merge(into.head, from.head);
    from = TimerList{};
    relink_backwards(into);
  }

 private:
  // Merges two next-linked sorted chains; prev links are fixed by the caller.
  std::uint32_t merge(std::uint32_t a, std::uint32_t b) noexcept {
    std::uint32_t head = kNoIndex;
    std::uint32_t* link = &head;
    while (a != kNoIndex && b != kNoIndex) {
      std::uint32_t& smaller = fires_before(meta_[b], meta_[a]) ? b : a;
      *link = smaller;
      link = &meta_[smaller].next;
      smaller = meta_[smaller].next;
    }
    *link = a != kNoIndex ? a : b;
    return head;
  }
  std::uint32_t merge_sort(std::uint32_t head) noexcept {
    if (head == kNoIndex || meta_[head].next == kNoIndex) return head;
    // Split after the middle (slow/fast walk), sort the halves, merge.
    std::uint32_t slow = head;
    std::uint32_t fast = meta_[head].next;
    while (fast != kNoIndex && meta_[fast].next != kNoIndex) {
      slow = meta_[slow].next;
      fast = meta_[meta_[fast].next].next;
    }
    const std::uint32_t second = meta_[slow].next;
    meta_[slow].next = kNoIndex;
    return merge(merge_sort(head), merge_sort(second));
  }
  // Rebuilds prev links and the tail from the next chain starting at head.
  void relink_backwards(TimerList& list) noexcept {
    std::uint32_t prev = kNoIndex;
    for (std::uint32_t i = list.head; i != kNoIndex; i = meta_[i].next) {
      meta_[i].prev = prev;
      prev = i;
    }
    list.tail = prev;
  }

  using Base::meta_;
};

}  // namespace keel::internal

// ReactorSlab: the erased, index-addressed storage behind keel::ReactorNotify.
//
// Each reactor is a heap object behind the virtual ErasedReactor (one
// std::unique_ptr per slot); slots are reused through a free list and carry
// a generation so that a stale ReactorToken never reaches a newer reactor
// (GenerationalSlots, rt/internal/slab.h).
//
// The difficulty is that a running reactor may mutate this very slab through
// ResMut<ReactorNotify>: spawn (the slot vector grows and moves), remove
// itself or another reactor. So run() takes the reactor out of its slot (the
// calling frame owns it for the call), runs it, and puts it back by index
// (never through a reference taken before the call). Removal during a pass
// is deferred:
// retire() marks the slot and end_pass() destroys it after the pass, so a
// reactor is never destroyed while it (or the dispatch loop above it) runs,
// and a retired reactor that has not run yet is skipped. Outside a pass,
// retire() destroys at once. Destruction always happens after the slot has
// been emptied and freed, so a destructor that calls back into the slab
// (a context owning an RAII handle) sees a consistent slab.
#pragma once

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <utility>
#include <vector>

#include "rt/internal/slab.h"
#include "rt/internal/type_index.h"

namespace keel {
class World;
}  // namespace keel

namespace keel::internal {

// The erased reactor: a context, resolved parameters and a function, run
// through one virtual call.
class ErasedReactor {
 public:
  ErasedReactor(const ErasedReactor&) = delete;
  ErasedReactor& operator=(const ErasedReactor&) = delete;
  virtual ~ErasedReactor() = default;

  virtual void run(World& world) = 0;
  // The context if its type is the one `key` names, else nullptr. Cold path.
  virtual void* context(TypeKey key) noexcept = 0;

  std::string_view name() const noexcept { return name_; }

 protected:
  explicit ErasedReactor(std::string_view name) noexcept : name_(name) {}

 private:
  std::string_view name_;
};

// A reactor's context as the type the caller names, or nullptr when that is
// not its context type.
template <class Ctx>
Ctx* context_cast(ErasedReactor* reactor) noexcept {
  // SAFETY: ErasedReactor::context(key) returns non-null only when `key` is
  // the TypeKey of the reactor's own context type (internal::Reactor
  // compares it with TypeKey::of<Context>()), so the pointer is the address
  // of a live Ctx, which lives as long as the reactor.
  return static_cast<Ctx*>(reactor->context(TypeKey::of<Ctx>()));
}

class ReactorSlab {
 public:
  static constexpr std::uint32_t kNoIndex = internal::kNoIndex;

  ReactorSlab() = default;
  ReactorSlab(const ReactorSlab&) = delete;
  ReactorSlab& operator=(const ReactorSlab&) = delete;

  ~ReactorSlab() { clear(); }

  // Destroys every reactor, in index order. Each slot is emptied and freed
  // before its reactor's destructor runs, so a destructor that removes other
  // reactors (or spawns) finds a consistent slab; reactors it spawns are
  // destroyed too, by a further pass if they took a slot already passed.
  void clear() noexcept {
    in_pass_ = false;
    retired_.clear();
    slots_.release_all([this](std::uint32_t index) {
      if (slots_[index].state == State::kLive) --live_;
      destroy(index);
    });
  }

  // Stores a reactor; returns its index. Its generation is generation(index).
  // Reuses a freed slot when there is one. Allowed during a pass.
  std::uint32_t insert(std::unique_ptr<ErasedReactor> reactor) {
    const std::uint32_t index = slots_.acquire();  // may throw: nothing has changed yet
    Slot& slot = slots_[index];
    slot.reactor = std::move(reactor);
    slot.state = State::kLive;
    slot.woken_pass = 0;
    ++live_;
    return index;
  }

  std::uint32_t generation(std::uint32_t index) const noexcept { return slots_[index].generation; }

  // True when the slot holds a reactor that has not been retired.
  bool is_live(std::uint32_t index) const noexcept {
    return index < slots_.size() && slots_[index].state == State::kLive;
  }

  // True when (index, generation) names a reactor that is stored and not retired.
  bool live(std::uint32_t index, std::uint32_t generation) const noexcept {
    return slots_.current(index, generation) && slots_[index].state == State::kLive;
  }

  // The reactor at a live index, also while it runs (moved out). Cold path.
  ErasedReactor* get(std::uint32_t index) noexcept {
    ErasedReactor* stored = slots_[index].reactor.get();
    // Only the running reactor leaves its slot, so an empty occupied slot is it.
    return stored != nullptr ? stored : running_;
  }

  // Stamps a live reactor as woken in `pass`; false when it already was.
  // Hot path of a pass that reads several sources.
  bool wake(std::uint32_t index, std::uint64_t pass) noexcept {
    Slot& slot = slots_[index];
    if (slot.woken_pass == pass) return false;
    slot.woken_pass = pass;
    return true;
  }

  // Runs the reactor at `index` unless it was retired; returns whether it
  // ran. Only between begin_pass() and end_pass(). The reactor may spawn,
  // mark and remove (itself included) while it runs; if it throws, it is
  // back in its slot before the exception leaves.
  bool run(std::uint32_t index, World& world) {
    assert(in_pass_ && "ReactorSlab::run outside a pass: a retire() would destroy the running reactor");
    if (slots_[index].state != State::kLive) return false;
    // SAFETY: the reactor leaves its slot for the duration of the call, so
    // neither slot-vector growth (spawn) nor a retire() (deferred while
    // in_pass_) can destroy or move the object being run. Between release()
    // and put_back() this frame owns it, and both ways out (return,
    // exception) put it back. Only the index survives the call: `slots_` is
    // re-indexed afterwards, never through a reference taken before it.
    ErasedReactor* const reactor = slots_[index].reactor.release();
    running_ = reactor;
    try {
      reactor->run(world);
    } catch (...) {
      put_back(index, reactor);
      throw;
    }
    put_back(index, reactor);
    return true;
  }

  // Removes the reactor at a live index. Outside a pass it is destroyed now;
  // during a pass it is skipped if it has not run yet and destroyed by
  // end_pass(). The caller checks live() first.
  void retire(std::uint32_t index) {
    if (in_pass_) {
      retired_.push_back(index);  // may throw; nothing has changed yet
      slots_[index].state = State::kRetired;
      --live_;
      return;
    }
    --live_;
    destroy(index);
  }

  void begin_pass() noexcept { in_pass_ = true; }

  // Ends a pass: destroys the reactors retired during it and frees their slots.
  void end_pass() noexcept {
    in_pass_ = false;
    if (retired_.empty()) [[likely]]
      return;
    // A destructor may retire more reactors; with in_pass_ false those are
    // destroyed at once, so the list we walk does not grow under us.
    std::vector<std::uint32_t> retired = std::move(retired_);
    retired_.clear();
    for (const std::uint32_t index : retired) destroy(index);
    retired.clear();
    if (retired_.empty()) retired_ = std::move(retired);  // keep the capacity
  }

  bool in_pass() const noexcept { return in_pass_; }
  // True when the running pass has retired reactors for end_pass() to destroy.
  bool has_retired() const noexcept { return !retired_.empty(); }

  // Live (not retired) reactors.
  std::size_t size() const noexcept { return live_; }
  // Slots ever allocated: an upper bound on any index.
  std::size_t capacity() const noexcept { return slots_.size(); }

 private:
  struct Slot {
    enum class State : std::uint8_t { kFree, kLive, kRetired };
    std::unique_ptr<ErasedReactor> reactor;
    std::uint64_t woken_pass = 0;
    std::uint32_t generation = 1;
    std::uint32_t next_free = kNoIndex;
    State state = State::kFree;
  };
  using State = Slot::State;

  void put_back(std::uint32_t index, ErasedReactor* reactor) noexcept {
    // SAFETY: the slot is still ours and empty: a slot is freed only by
    // destroy(), which retire() defers while in_pass_ (and run() is only
    // called inside a pass, asserted above), so it is Live or Retired and
    // nothing was put in it while its reactor was out. Hence no reactor is overwritten, and
    // `reactor` (released by run()) has exactly one owner again.
    slots_[index].reactor.reset(reactor);
  }

  void destroy(std::uint32_t index) noexcept {
    Slot& slot = slots_[index];
    std::unique_ptr<ErasedReactor> doomed = std::move(slot.reactor);
    slot.state = State::kFree;
    slots_.free(index);  // bumps the generation: stale tokens miss
    // SAFETY: `slot` is not used past this point: the destructor may call
    // back into the slab (insert grows slots_), and the slab is consistent
    // (the slot is free and empty) before it runs.
    doomed.reset();
  }

  GenerationalSlots<Slot> slots_;
  std::vector<std::uint32_t> retired_;
  // The reactor run() last moved out; get() consults it only for an empty
  // occupied slot, which exists only while that reactor runs.
  ErasedReactor* running_ = nullptr;
  std::size_t live_ = 0;
  bool in_pass_ = false;
};

}  // namespace keel::internal

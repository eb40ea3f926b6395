#include "rt/reactor.h"

#include <algorithm>
#include <string>

namespace keel {
namespace {

// Removes the first `value` from `list`, keeping the order of the rest.
template <class List>
bool erase_value(List& list, std::uint32_t value) noexcept {
  const auto it = std::find(list.begin(), list.end(), value);
  if (it == list.end()) return false;
  list.erase(it);
  return true;
}

}  // namespace

std::size_t World::dispatch_reactors() {
  if (reactors_ == nullptr) [[unlikely]]
    throw_moved_from();
  return reactors_->dispatch(*this);
}

ReactorNotify::~ReactorNotify() {
  // Destroy the reactors while the graph they may call into from their
  // destructors (remove, unsubscribe) is still whole.
  slab_.clear();
}

DataSource ReactorNotify::register_source() {
  const std::uint32_t index = sources_.acquire();  // may throw: nothing has changed yet
  SourceSlot& slot = sources_[index];
  slot.marked_epoch = 0;
  ++source_count_;
  return DataSource(index, slot.generation);
}

void ReactorNotify::remove_source(DataSource src) noexcept {
  if (!contains(src)) return;
  SourceSlot& slot = sources_[src.index_];
  for (const std::uint32_t reactor : slot.subscribers) erase_value(reactor_sources_[reactor], src.index_);
  slot.subscribers.clear();
  slot.marked_epoch = 0;
  sources_.free(src.index_);  // bumps the generation: stale handles miss
  --source_count_;
}

void ReactorNotify::check_registry(const Registry& registry, std::string_view name) const {
  if (&registry == registry_) [[likely]]
    return;
  std::string message = "keel: reactor '";
  message += name;
  message += "' was spawned with another World's registry; pass the registry() of the World that owns this "
             "ReactorNotify";
  throw ConfigError(message);
}

ReactorToken ReactorNotify::insert(std::unique_ptr<internal::ErasedReactor> reactor) {
  // Grow the per-reactor lists first: if that throws, nothing has changed.
  if (reactor_sources_.size() <= slab_.capacity()) reactor_sources_.resize(slab_.capacity() + 1);
  if (sent_epoch_.size() <= slab_.capacity()) sent_epoch_.resize(slab_.capacity() + 1);
  const std::uint32_t index = slab_.insert(std::move(reactor));
  reactor_sources_[index].clear();
  // A reactor removed from this slot may be on the wake list (with its own
  // generation, so it will not run); this one is not, whatever the stamp.
  sent_epoch_[index] = 0;
  return ReactorToken(index, slab_.generation(index));
}

void ReactorNotify::grow_wake_list() { dirty_.reserve(std::max<std::size_t>(16, 2 * dirty_.capacity())); }

void ReactorNotify::wake_after_failed_drain(ReactorToken token) noexcept {
  if (!contains(token)) return;
  try {
    make_room_to_wake(token.index_);
    wake_reactor(token.index_, token.generation_);
  } catch (...) {
    // Out of memory: the events wait for the reactor's next wake.
  }
}

void ReactorNotify::throw_not_the_context(std::string_view context, ReactorToken token) {
  std::string message = "keel: address() asked reactor '";
  message += name(token);
  message += "' for an inbox in a ";
  message += context;
  message += ", but that is not the reactor's context type; name a member of the context it was spawned with";
  throw ConfigError(message);
}

void ReactorNotify::throw_null_member() {
  throw ConfigError("keel: address() or publish() was given a null pointer to an inbox member");
}

bool ReactorNotify::subscribe(ReactorToken token, DataSource src) {
  if (!contains(token) || !contains(src)) return false;
  auto& mine = reactor_sources_[token.index_];
  if (std::find(mine.begin(), mine.end(), src.index_) != mine.end()) return false;
  auto& subscribers = sources_[src.index_].subscribers;
  subscribers.push_back(token.index_);
  try {
    mine.push_back(src.index_);
  } catch (...) {
    subscribers.pop_back();
    throw;
  }
  return true;
}

bool ReactorNotify::unsubscribe(ReactorToken token, DataSource src) noexcept {
  if (!contains(token) || !contains(src)) return false;
  if (!erase_value(reactor_sources_[token.index_], src.index_)) return false;
  erase_value(sources_[src.index_].subscribers, token.index_);
  return true;
}

bool ReactorNotify::remove(ReactorToken token) {
  if (!contains(token)) return false;
  // Unsubscribe now, even during a pass: no subscriber list is walked while
  // reactors run (the pass collected its run queue before the first one).
  auto& mine = reactor_sources_[token.index_];
  for (const std::uint32_t source : mine) erase_value(sources_[source].subscribers, token.index_);
  mine.clear();
  // Last: outside a pass this runs the reactor's destructor, which may call
  // back into this object.
  slab_.retire(token.index_);
  return true;
}

void ReactorNotify::collect_many() {
  for (const ReactorToken token : carried_) {
    if (contains(token) && slab_.wake(token.index_, pass_number_)) queue_.push_back(token.index_);
  }
  for (const Wake& wake : dirty_) {
    if (wake.kind == Wake::kReactor) {
      // Removed after the send: not run (its generation no longer matches).
      if (slab_.live(wake.index, wake.generation) && slab_.wake(wake.index, pass_number_)) {
        queue_.push_back(wake.index);
      }
      continue;
    }
    if (!sources_.current(wake.index, wake.generation)) continue;  // removed after it was marked
    for (const std::uint32_t reactor : sources_[wake.index].subscribers) {
      if (slab_.wake(reactor, pass_number_)) queue_.push_back(reactor);
    }
  }
  carried_.clear();
}

std::size_t ReactorNotify::dispatch(World& world) {
  if (slab_.in_pass()) [[unlikely]]
    throw_nested_dispatch();
  // Collect the whole run queue before any reactor runs: no subscriber list
  // is walked while user code can change it.
  queue_.clear();
  if (dirty_.size() == 1 && carried_.empty()) [[likely]] {
    // One reactor sent to, or one source: a subscriber list has no
    // duplicates, so no stamping. A copy, because the reactors about to run
    // may change that list.
    const Wake wake = dirty_.front();
    if (wake.kind == Wake::kReactor) {
      if (slab_.live(wake.index, wake.generation)) queue_.push_back(wake.index);  // may throw: the send is kept
    } else if (sources_.current(wake.index, wake.generation)) {
      const auto& subscribers = sources_[wake.index].subscribers;
      if (subscribers.size() <= 4) {  // a short list: cheaper than memmove
        queue_.reserve(subscribers.size());  // may throw: the mark is kept
        for (const std::uint32_t reactor : subscribers) queue_.push_back(reactor);
      } else {
        queue_.assign(subscribers.begin(), subscribers.end());  // may throw: the mark is kept
      }
    }
  } else if (dirty_.empty() && carried_.empty()) {
    return 0;
  } else {
    ++pass_number_;
    try {
      collect_many();
    } catch (...) {  // out of memory: the marks are kept for the next call
      queue_.clear();
      throw;
    }
  }
  // The marks and sends made so far are consumed; those made from now on (by
  // the reactors about to run) start a new wake list, for the next pass.
  dirty_.clear();
  ++epoch_;

  slab_.begin_pass();
  // Nothing a reactor can call touches queue_ (spawn, mark, send, publish,
  // subscribe and remove do not; a nested dispatch throws first), so its
  // bounds stay in registers across the calls.
  const std::uint32_t* const queue = queue_.data();
  const std::size_t size = queue_.size();
  std::size_t ran = 0;
  std::size_t next = 0;
  try {
    while (next < size) ran += slab_.run(queue[next++], world) ? 1 : 0;
  } catch (...) {
    finish_pass(next);
    throw;
  }
  if (slab_.has_retired()) [[unlikely]] {
    finish_pass(next);
  } else {
    slab_.end_pass();
  }
  return ran;
}

void ReactorNotify::finish_pass(std::size_t next) noexcept {
  if (next < queue_.size()) [[unlikely]] {
    // A reactor threw: the woken reactors that have not run yet run first in
    // the next pass (unless removed by then).
    try {
      for (std::size_t i = next; i < queue_.size(); ++i) {
        const std::uint32_t index = queue_[i];
        if (slab_.is_live(index)) carried_.push_back(ReactorToken(index, slab_.generation(index)));
      }
    } catch (...) {
      // Out of memory: those reactors wait for their next mark.
    }
  }
  // Destroys the reactors removed during the pass; their destructors may
  // call back into this object, which is consistent again by now.
  slab_.end_pass();
}

void ReactorNotify::throw_nested_dispatch() {
  throw ConfigError(
      "keel: dispatch_reactors() was called from inside a running reactor; a pass cannot nest. Mark "
      "sources instead: the marks wake their reactors in the next pass");
}

}  // namespace keel

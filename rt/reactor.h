// Reactors: many-to-many wake-ups that change at run time (one reactor per
// instrument, per session), run in passes after the events that marked them.
//
// A reactor is a context plus a function of that context and keel
// parameters, `fn(Ctx&, params...)` (no event). It subscribes to data
// sources; handlers mark sources as they change them; World::dispatch_reactors()
// then runs each woken reactor once, however many of its sources were marked
// and however often.
//
//   auto& rx = world.resource<keel::ReactorNotify>();     // registered by build()
//   keel::DataSource btc = rx.register_source();
//   keel::ReactorToken t = rx.spawn(QuoteCtx{.instrument = BTC}, world.registry(), requote)
//                              .subscribe(btc).token();
//   rx.mark(btc);                  // from any handler taking ResMut<ReactorNotify>; O(1)
//   world.dispatch_reactors();     // requote runs once; returns 1
//   rx.remove(t);                  // also from inside a reactor: applied after the pass
//
// Use reactors when who-depends-on-what changes while the program runs; for
// a fixed graph use a pipeline, a DAG or the scheduler, which cost less. To
// hand events to one reactor (not just wake it), give its context a
// keel::Inbox<E> and send through rt/mailbox.h.
//
// Implementation overview: ReactorNotify owns the subscription graph (per
// source, the indices of its subscribers; per reactor, its sources) and an
// internal::ReactorSlab that stores the erased reactors. mark() appends the
// source to a wake list once per pass; a send to a reactor's inbox
// (rt/mailbox.h) appends the reactor itself, once per pass, to the same
// list, so marks and sends wake in the order they were made. A pass first
// collects the woken reactors into a run queue (stamping each with the pass
// number, so it is queued once) and clears the wake list, so marks and
// sends made while the queue runs wait for the next pass; only then does it
// run the queue. No subscriber list is walked while user code runs, so
// reactors may subscribe, unsubscribe, spawn and remove freely. See rt/internal/reactor_slab.h for
// the storage.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <source_location>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "absl/hash/hash.h"
#include "rt/error.h"
#include "rt/internal/callable_name.h"
#include "rt/internal/handle.h"
#include "rt/internal/reactor_slab.h"
#include "rt/internal/signature.h"
#include "rt/internal/type_index.h"
#include "rt/param.h"
#include "rt/registry.h"
#include "rt/world.h"

namespace keel {

class ReactorNotify;
// The mailbox (rt/mailbox.h): ReactorNotify::address(), send() and publish()
// are declared below and defined there.
template <class E>
class Inbox;
template <class E>
class Address;
enum class [[nodiscard]] Delivery : std::uint8_t;

namespace internal {
struct DataSourceTag {
  using Owner = ReactorNotify;
  static constexpr bool kAbslHash = true;
};
struct ReactorTokenTag {
  using Owner = ReactorNotify;
  static constexpr bool kAbslHash = true;
};
}  // namespace internal

// A source of change that reactors subscribe to. A small, trivially copyable
// handle (index + generation); a handle to a removed source is inert: marking
// it or subscribing to it does nothing. Default-constructed: no source.
using DataSource = internal::Handle<internal::DataSourceTag>;

// Names one spawned reactor, for remove() and unsubscribe(). Trivially
// copyable; a token of a removed reactor is inert. Default-constructed: none.
using ReactorToken = internal::Handle<internal::ReactorTokenTag>;

// What spawn() returns: subscribe the new reactor, then take its token.
//   ReactorToken t = rx.spawn(ctx, reg, fn).subscribe(a).subscribe(b).token();
// The reactor exists from spawn() on; dropping the builder keeps it.
class ReactorBuilder {
 public:
  // Subscribes to `src` (a removed source, or one already subscribed, is a
  // no-op). Chainable.
  ReactorBuilder& subscribe(DataSource src);
  ReactorToken token() const noexcept { return token_; }
  operator ReactorToken() const noexcept { return token_; }

 private:
  friend class ReactorNotify;
  ReactorBuilder(ReactorNotify& notify, ReactorToken token) noexcept : notify_(&notify), token_(token) {}
  ReactorNotify* notify_;
  ReactorToken token_;
};

namespace internal {

// Stands in for the event in CheckHandlerParams: a reactor has none, so any
// non-parameter is reported as NotAKeelParameter.
struct ReactorHasNoEvent {};

// A handler (a type with event_type, or a pointer to one) given to spawn():
// reactors have no event, so the usual "cannot read" message would mislead.
template <class F>
struct LooksLikeHandler : std::bool_constant<requires { typename F::event_type; }> {};
template <class F>
struct LooksLikeHandler<F*> : LooksLikeHandler<F> {};
template <class F, class D>
struct LooksLikeHandler<std::unique_ptr<F, D>> : LooksLikeHandler<F> {};

template <class F>
struct ReactorShape {
  using Sig = Signature<std::remove_cvref_t<F>>;
  static constexpr bool is_handler = LooksLikeHandler<std::remove_cvref_t<F>>::value;
  static_assert(!is_handler,
                "keel: spawn() takes a reactor function, fn(Context&, keel parameters...), not a handler: a reactor "
                "has no event. To hand events to a reactor, give its context a keel::Inbox<E> and send to it "
                "(ReactorNotify::send, rt/mailbox.h).");
  static_assert(Sig::known || is_handler,
                "keel: cannot read this reactor's parameter list (a generic lambda with auto parameters?); "
                "spell out its parameter types.");
  using Args = typename std::conditional_t<Sig::known, Sig, SignatureOf<void, int&>>::Args;
  static_assert(Args::size >= 1,
                "keel: a reactor function takes (Context&, keel parameters...): at least its context.");
  using ContextArg = typename First<std::conditional_t<(Args::size >= 1), Args, TypeList<int&>>>::type;
  static_assert(std::is_lvalue_reference_v<ContextArg> && !std::is_const_v<std::remove_reference_t<ContextArg>>,
                "keel: a reactor's first parameter is its context, taken by non-const reference (Context&).");
  using Context = std::remove_cvref_t<ContextArg>;
  using Params = typename First<std::conditional_t<(Args::size >= 1), Args, TypeList<int&>>>::rest;
  // The function has a readable first parameter, so Context means something.
  static constexpr bool has_context = Sig::known && Args::size >= 1;
  // Position numbers in NotAKeelParameter count from the first parameter after the context.
  static constexpr bool ok = has_context && CheckHandlerParams<Params, ReactorHasNoEvent>::value;
  using ParamSet = typename ParamSetFor<Params>::type;
};

template <class Context, class F, class Params>
class Reactor final : public ErasedReactor {
 public:
  Reactor(Context context, Params params, F fn, std::string_view name)
      : ErasedReactor(name), params_(std::move(params)), context_(std::move(context)), fn_(std::move(fn)) {}

  void run(World& world) override {
    // A reactor's result is ignored, [[nodiscard]] types included.
    static_cast<void>(params_.call_with_front(fn_, context_, world));
  }

  void* context(TypeKey key) noexcept override { return key == TypeKey::of<Context>() ? &context_ : nullptr; }

 private:
  Params params_;
  Context context_;
  [[no_unique_address]] F fn_;
};

}  // namespace internal

// The World's reactors and data sources. Registered by WorldBuilder::build();
// handlers and reactors reach it as ResMut<ReactorNotify>. Everything here is
// allowed while reactors run, from inside one; see each member for when it
// takes effect.
class ReactorNotify {
 public:
  // Built by WorldBuilder::build(); `registry` is the World's.
  explicit ReactorNotify(const Registry& registry) noexcept : registry_(&registry) {}
  ReactorNotify(const ReactorNotify&) = delete;
  ReactorNotify& operator=(const ReactorNotify&) = delete;
  ~ReactorNotify();

  // --- sources ---------------------------------------------------------------

  // A new source, with no subscribers. Cold path (may allocate).
  DataSource register_source();

  // Removes a source and its subscriptions. A removed or unknown source is a
  // no-op. During a pass, reactors already woken by it still run.
  void remove_source(DataSource src) noexcept;

  // True while `src` names a registered source.
  bool contains(DataSource src) const noexcept { return sources_.current(src.index_, src.generation_); }

  // Wakes the subscribers of `src` in the next pass. O(1) amortized: the
  // first mark of a source in a pass appends it to the wake list, later ones
  // only compare a stamp. A removed or unknown source is a no-op. Marks made
  // while a pass runs (by reactors) wake reactors in the NEXT pass, so a
  // reactor that marks its own source does not loop inside one pass.
  void mark(DataSource src) {
    if (src.index_ >= sources_.size()) return;
    SourceSlot& slot = sources_[src.index_];
    if (slot.generation != src.generation_ || slot.marked_epoch == epoch_) return;
    dirty_.push_back(Wake{src.index_, src.generation_, Wake::kSource});  // may throw: not stamped yet
    slot.marked_epoch = epoch_;
  }

  // --- reactors --------------------------------------------------------------

  // Spawns a reactor: `fn(Ctx&, params...)` owning `context`. Parameters are
  // resolved now, against `registry` (the World's own); a missing resource
  // throws ConfigError naming the resource and the reactor, and nothing is
  // spawned. Allowed during a pass: the new reactor runs from the next pass.
  template <class Ctx, class F>
  [[nodiscard]] ReactorBuilder spawn(Ctx&& context, const Registry& registry, F&& fn,
                                     std::source_location site = std::source_location::current()) {
    using Shape = internal::ReactorShape<F>;
    constexpr bool context_fits = !Shape::has_context || std::is_constructible_v<typename Shape::Context, Ctx&&>;
    static_assert(context_fits,
                  "keel: the context given to spawn() cannot initialise the reactor function's first parameter.");
    if constexpr (!Shape::ok || !context_fits) {
      return ReactorBuilder(*this, ReactorToken{});  // a static_assert has explained the problem
    } else {
      const std::string_view name = internal::callable_name(fn, site);
      check_registry(registry, name);
      using Impl = internal::Reactor<typename Shape::Context, std::decay_t<F>, typename Shape::ParamSet>;
      auto reactor = std::make_unique<Impl>(typename Shape::Context(std::forward<Ctx>(context)),
                                            Shape::ParamSet::resolve(registry, name), std::forward<F>(fn), name);
      return ReactorBuilder(*this, insert(std::move(reactor)));
    }
  }

  // Subscribes a reactor to a source; true when a subscription was added
  // (false: either is gone, or already subscribed). During a pass it counts
  // from the next pass.
  bool subscribe(ReactorToken token, DataSource src);

  // Ends one subscription; true when there was one. During a pass, a reactor
  // already woken through it still runs in this pass.
  bool unsubscribe(ReactorToken token, DataSource src) noexcept;

  // Removes a reactor and its subscriptions; true when it was alive. Outside
  // a pass it is destroyed now. During a pass (from inside a reactor,
  // itself included) it stops being woken at once, does not run if it has
  // not run yet in this pass, and is destroyed when the pass ends. Removing
  // twice, or an unknown token, is a no-op.
  bool remove(ReactorToken token);

  // True while `token` names a spawned reactor that has not been removed.
  bool contains(ReactorToken token) const noexcept { return slab_.live(token.index_, token.generation_); }

  // The reactor's context, or nullptr when the token is stale or Ctx is not
  // its context type. Cold path. Valid until the reactor is removed.
  template <class Ctx>
  Ctx* context(ReactorToken token) noexcept {
    if (!contains(token)) return nullptr;
    return internal::context_cast<Ctx>(slab_.get(token.index_));  // checks the type
  }

  // The reactor's name ("requote", "lambda at file.cc:12"), or "" when stale.
  std::string_view name(ReactorToken token) noexcept {
    return contains(token) ? slab_.get(token.index_)->name() : std::string_view{};
  }

  // --- mailboxes (defined in rt/mailbox.h) ----------------------------------

  // The address of the inbox `member` in the reactor's context, for send().
  // Cold path: a virtual call to check the context type; do it once and
  // keep the Address. A stale token gives an empty Address; a live reactor
  // whose context is not a Ctx throws ConfigError naming Ctx and the
  // reactor.
  template <class Ctx, class E>
  Address<E> address(ReactorToken token, Inbox<E> Ctx::*member);

  // Queues `event` in the addressed inbox and wakes its reactor for the next
  // pass (also when it subscribes to nothing, also from inside a pass, the
  // reactor itself included). Hot path: O(1), no allocation in steady state.
  //   delivered: queued; the reactor runs in the next pass.
  //   full:      the inbox is at capacity: refused, counted in its dropped();
  //              nothing is woken.
  //   gone:      the reactor was removed (also during the running pass), or
  //              the Address is empty.
  // The event is copied (const&) or moved (&&) only when it is delivered: on
  // full or gone an rvalue is left as it was, so the caller still has it.
  template <class E>
  [[nodiscard]] Delivery send(Address<E> to, const std::type_identity_t<E>& event);
  template <class E>
  [[nodiscard]] Delivery send(Address<E> to, std::type_identity_t<E>&& event);

  // A copy of `event` to the inbox `member` of every subscriber of `src`
  // whose context is a Ctx, in subscription order; marks `src`, so the
  // other subscribers wake too, as with mark(). Each reactor that took a
  // copy is also woken itself, so it runs in the next pass even if it
  // unsubscribes before then. Returns how many took a copy (full inboxes
  // refuse theirs). A removed or unknown source: 0, nothing marked. A virtual
  // call per subscriber; no allocation in steady state.
  template <class Ctx, class E>
  std::size_t publish(DataSource src, Inbox<E> Ctx::*member, const std::type_identity_t<E>& event);

  // --- passes ----------------------------------------------------------------

  // Runs one pass: each reactor woken by the marks and sends made before the
  // call runs exactly once, in the order it was first woken (marks and sends
  // in the order they were made, each marked source's subscribers in
  // subscription order). Returns how many ran. World::dispatch_reactors() calls this. If a
  // reactor throws, the exception propagates; removals made so far are
  // applied, and the woken reactors that had not run yet run first in the
  // next pass. Calling it from inside a reactor throws ConfigError.
  std::size_t dispatch(World& world);

  // True when marks or sends (or reactors carried over from a pass that
  // threw) wait for the next pass.
  //   while (rx.pending()) world.dispatch_reactors();
  // runs passes until quiet (forever if reactors keep re-marking or sending
  // to each other).
  bool pending() const noexcept { return !dirty_.empty() || !carried_.empty(); }
  // True while a pass runs.
  bool dispatching() const noexcept { return slab_.in_pass(); }

  std::size_t source_count() const noexcept { return source_count_; }
  std::size_t reactor_count() const noexcept { return slab_.size(); }
  // Subscribers of `src` (0 when it is gone).
  std::size_t subscriber_count(DataSource src) const noexcept {
    return contains(src) ? sources_[src.index_].subscribers.size() : 0;
  }

 private:
  template <class E>
  friend class Inbox;

  // An entry of the wake list: a marked source, or a reactor sent to.
  struct Wake {
    enum Kind : std::uint8_t { kSource, kReactor };
    std::uint32_t index;
    std::uint32_t generation;
    Kind kind;
  };

  struct SourceSlot {
    absl::InlinedVector<std::uint32_t, 4> subscribers;  // reactor indices, in subscription order, no duplicates
    std::uint64_t marked_epoch = 0;
    // Bumped when the source is removed, so a free slot's generation has not
    // been handed out yet and stale handles never match it.
    std::uint32_t generation = 1;
    std::uint32_t next_free = internal::kNoIndex;
  };

  ReactorToken insert(std::unique_ptr<internal::ErasedReactor> reactor);
  void check_registry(const Registry& registry, std::string_view name) const;

  // Both send() overloads: checks the address, then delivers. Defined in
  // rt/mailbox.h.
  template <class E, class Arg>
  Delivery send_to(Address<E> to, Arg&& event);
  // Queues an event in the inbox of the live reactor `index` and, the first
  // time in a pass, puts the reactor on the wake list; false when the inbox
  // is full. Defined in rt/mailbox.h.
  template <class E, class Arg>
  bool deliver(Inbox<E>& inbox, std::uint32_t index, std::uint32_t generation, Arg&& event);
  // Puts a live reactor on the wake list, once per pass. After
  // make_room_to_wake(index) the append does not allocate.
  void wake_reactor(std::uint32_t index, std::uint32_t generation) {
    if (sent_epoch_[index] == epoch_) return;
    sent_epoch_[index] = epoch_;
    dirty_.push_back(Wake{index, generation, Wake::kReactor});
  }
  // Makes sure wake_reactor(index, ...) will not allocate. May throw; then
  // nothing has changed.
  void make_room_to_wake(std::uint32_t index) {
    if (sent_epoch_[index] != epoch_ && dirty_.size() == dirty_.capacity()) [[unlikely]]
      grow_wake_list();
  }
  void grow_wake_list();
  // After a drain() whose function threw left events queued: wakes the
  // reactor for the next pass, so they do not wait for another send.
  void wake_after_failed_drain(ReactorToken token) noexcept;
  [[noreturn, gnu::cold]] void throw_not_the_context(std::string_view context, ReactorToken token);
  [[noreturn, gnu::cold]] static void throw_null_member();

  void collect_many();
  void finish_pass(std::size_t next) noexcept;
  [[noreturn, gnu::cold]] static void throw_nested_dispatch();

  const Registry* registry_;
  internal::ReactorSlab slab_;
  // Per reactor index: the source indices it subscribes to.
  std::vector<absl::InlinedVector<std::uint32_t, 4>> reactor_sources_;
  internal::GenerationalSlots<SourceSlot> sources_;
  std::size_t source_count_ = 0;
  // Per reactor index: the epoch_ in which it was last put on the wake list.
  std::vector<std::uint64_t> sent_epoch_;
  std::vector<Wake> dirty_;            // marked or sent to since the last pass collected its queue
  std::vector<std::uint32_t> queue_;   // the running pass's woken reactors, in run order
  std::vector<ReactorToken> carried_;  // woken but not run when a reactor threw
  // Wake stamp: a source is on the wake list iff its marked_epoch == epoch_,
  // a reactor iff its sent_epoch_ == epoch_.
  std::uint64_t epoch_ = 1;
  std::uint64_t pass_number_ = 0;      // wake stamp, see ReactorSlab::wake
};

inline ReactorBuilder& ReactorBuilder::subscribe(DataSource src) {
  notify_->subscribe(token_, src);
  return *this;
}

namespace internal {

// Transparent hashing for std::string keys, so that lookups by
// std::string_view or const char* build no string. (Debian's Abseil is
// built with its own string_view, so its default string hash does not take
// std::string_view.)
struct SourceKeyStringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view key) const noexcept { return absl::Hash<std::string_view>{}(key); }
};
struct SourceKeyStringEq {
  using is_transparent = void;
  bool operator()(std::string_view a, std::string_view b) const noexcept { return a == b; }
};

template <class Key>
struct SourceKeyMap {
  using type = absl::flat_hash_map<Key, DataSource>;
};
template <>
struct SourceKeyMap<std::string> {
  using type = absl::flat_hash_map<std::string, DataSource, SourceKeyStringHash, SourceKeyStringEq>;
};

}  // namespace internal

// Maps domain keys (instrument ids, symbols) to data sources. Holds handles
// only: removing a key does not remove the source (remove() returns it so
// that the caller can). Cold path: a hash lookup per call.
//
//   keel::SourceRegistry<std::string> by_symbol;
//   by_symbol.insert("BTC", rx.register_source());
//   if (auto src = by_symbol.get("BTC")) rx.mark(*src);
template <class Key>
class SourceRegistry {
 public:
  // Maps `key` to `src`, replacing an earlier mapping; true when `key` is new.
  bool insert(Key key, DataSource src) { return map_.insert_or_assign(std::move(key), src).second; }

  // The source mapped to `key`, if any. Takes any type the map can hash
  // against Key (std::string_view for std::string keys).
  template <class K>
  std::optional<DataSource> get(const K& key) const {
    const auto it = map_.find(key);
    if (it == map_.end()) return std::nullopt;
    return it->second;
  }

  // Unmaps `key`; returns the source it mapped to, if any.
  template <class K>
  std::optional<DataSource> remove(const K& key) {
    const auto it = map_.find(key);
    if (it == map_.end()) return std::nullopt;
    const DataSource src = it->second;
    map_.erase(it);
    return src;
  }

  template <class K>
  bool contains(const K& key) const {
    return map_.contains(key);
  }
  std::size_t size() const noexcept { return map_.size(); }
  bool empty() const noexcept { return map_.empty(); }

 private:
  typename internal::SourceKeyMap<Key>::type map_;
};

}  // namespace keel

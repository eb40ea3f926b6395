// keel::World — the single-threaded home of an application's state.
//
// A World holds singleton resources keyed by type. A WorldBuilder registers
// them (plus plugins and drivers); build() freezes the set. Handlers resolve
// the resources they need once, against the Registry, and then reach them
// with one load per event. Use a World for state the event loop owns; do not
// share one across threads (only Shutdown::request() is thread-safe).
//
//   keel::WorldBuilder wb;
//   wb.emplace<OrderBook>(/*ctor args*/);
//   wb.insert(RiskLimits{.max_qty = 100});
//   keel::World world = std::move(wb).build();
//   world.run([&](keel::World& w) { io.poll(w, 10ms); });   // until shutdown
//
// Implementation overview: the builder owns a heap-allocated WorldStorage
// (ResourceArena + Registry) that moves into the World on build(), so every
// resource address and the Registry's address stay valid from registration
// to destruction. The World adds a dense table indexed by
// internal::type_index<T>() for resource<T>(), and caches the Registry and
// Shutdown addresses so the loop and handler checks are single loads.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "rt/error.h"
#include "rt/internal/resource_arena.h"
#include "rt/internal/type_index.h"
#include "rt/internal/type_name.h"
#include "rt/registry.h"

namespace keel {

class ReactorNotify;  // rt/reactor.h

// Asks the loop to stop. Registered by WorldBuilder::build(); handlers take
// Res<Shutdown> and call request(). The flag is the World's one piece of
// interior mutability, and the one member safe to call from other threads.
class Shutdown {
 public:
  // SAFETY: the flag is atomic (sequentially consistent) because other
  // threads may call request(); it publishes no other data.
  void request() const noexcept { requested_.store(true); }
  bool requested() const noexcept { return requested_.load(); }
  // Clears a request, e.g. to run the loop again after it stopped.
  void reset() noexcept { requested_.store(false); }

 private:
  mutable std::atomic<bool> requested_{false};
};

namespace internal {

struct WorldStorage {
  // Declared first, so destroyed last: a resource's destructor may still
  // resolve parameters against it (a reactor context that spawns, a timer
  // handler that schedules a plain function).
  Registry registry;
  ResourceArena arena;
};

template <class T>
constexpr void check_resource_type() {
  static_assert(std::is_same_v<T, std::remove_cvref_t<T>> && std::is_object_v<T>,
                "keel: a resource type must be a plain object type (no reference, const or volatile).");
  static_assert(!std::is_array_v<T>, "keel: a resource cannot be a C array; wrap it in std::array or a struct.");
}

// Defined in rt/param.h: invokes `fn` with its parameters resolved and fetched.
template <class F>
decltype(auto) run_with_params(World& world, F& fn, std::string_view owner);

}  // namespace internal

class WorldBuilder {
 public:
  WorldBuilder();
  WorldBuilder(WorldBuilder&&) noexcept;
  WorldBuilder& operator=(WorldBuilder&&) noexcept;
  ~WorldBuilder();

  // Constructs a T in place from args and registers it. A second
  // registration of the same type throws ConfigError naming the type (the
  // first one is kept). Returns the resource, whose address is stable.
  template <class T, class... Args>
  T& emplace(Args&&... args) {
    internal::check_resource_type<T>();
    reject_duplicate<T>();
    T* object = storage().arena.template emplace<T>(std::forward<Args>(args)...);
    storage().registry.add(object);
    return *object;
  }

  // Registers a value by moving or copying it in.
  template <class T>
  std::remove_cvref_t<T>& insert(T&& value) {
    return emplace<std::remove_cvref_t<T>>(std::forward<T>(value));
  }

  // A plugin is any type with `void build(WorldBuilder&) &&`: a bundle of
  // registrations (resources, drivers) that travels as one value.
  template <class Plugin>
  WorldBuilder& install(Plugin&& plugin) {
    static_assert(requires(std::remove_cvref_t<Plugin>&& p, WorldBuilder& wb) { std::move(p).build(wb); },
                  "keel: install() takes a plugin, a type with `void build(keel::WorldBuilder&) &&`.");
    std::remove_cvref_t<Plugin> owned(std::forward<Plugin>(plugin));
    std::move(owned).build(*this);
    return *this;
  }

  // A driver installer is any type with `Poller install(WorldBuilder&) &&`;
  // it registers its resources and returns the poller the loop calls.
  template <class Installer>
  auto install_driver(Installer&& installer) {
    static_assert(requires(std::remove_cvref_t<Installer>&& i, WorldBuilder& wb) { std::move(i).install(wb); },
                  "keel: install_driver() takes an installer, a type with `Poller install(keel::WorldBuilder&) &&`.");
    std::remove_cvref_t<Installer> owned(std::forward<Installer>(installer));
    return std::move(owned).install(*this);
  }

  // What is registered so far. The same object becomes World::registry(),
  // so handlers resolved against it stay valid after build().
  const Registry& registry() const { return live_storage().registry; }

  template <class T>
  bool contains() const {
    return registry().contains<T>();
  }

  // A registered resource, during building (for plugins that configure what
  // an earlier plugin registered). Throws ConfigError when missing.
  template <class T>
  T& resource() {
    return registry().resolve<T>();
  }

  // Registers Shutdown (and the other built-in resources) and freezes the
  // set. The builder is empty afterwards.
  World build() &&;

 private:
  internal::WorldStorage& storage() { return live_storage(); }
  // The storage, or ConfigError when build() has already consumed it.
  internal::WorldStorage& live_storage() const {
    if (!storage_) [[unlikely]]
      throw_spent();
    return *storage_;
  }
  [[noreturn]] static void throw_spent();
  template <class T>
  void reject_duplicate() const {
    if (registry().contains<T>()) throw_duplicate(internal::type_name<T>());
  }
  [[noreturn]] static void throw_duplicate(std::string_view type);

  std::unique_ptr<internal::WorldStorage> storage_;
};

class World {
 public:
  // Moving a World moves everything it owns: handlers built before the move
  // run on the destination. The moved-from World owns nothing and is meant
  // to be destroyed or assigned to. It is safe to use, not useful: it has
  // serial 0 (so a handler run on it fails the wrong-World check), an empty
  // registry(), a shutdown that is already requested, and resource<T>() and
  // dispatch_reactors() throw ConfigError.
  World(World&& other) noexcept;
  World& operator=(World&& other) noexcept;
  ~World();

  // T by type. One array index on the dense type table; throws ConfigError
  // naming T when T is not registered. Handlers should take Res<T> instead,
  // which resolves once.
  template <class T>
  T& resource() {
    if (T* found = try_resource<T>()) [[likely]]
      return *found;
    throw_missing(internal::type_name<T>(), storage_ == nullptr);
  }

  // T, or nullptr when T is not registered.
  template <class T>
  T* try_resource() noexcept {
    const std::size_t index = internal::type_index<T>();
    if (index < dense_.size()) [[likely]]
      return internal::resource_cast<T>(dense_[index]);
    return nullptr;
  }

  const Registry& registry() const noexcept { return *registry_; }

  // The World's identity (its Registry's serial): never reused in the
  // process, and 0 for a moved-from World. Handlers compare it on every run
  // to catch a wrong World.
  std::uint64_t serial() const noexcept { return serial_; }

  // The current event's sequence number; drivers advance it once per event.
  std::uint64_t sequence() const noexcept { return sequence_; }
  // Advances the sequence and returns the new value.
  std::uint64_t next_sequence() noexcept { return ++sequence_; }

  // Runs `fn` once with its parameters (Res<T>, ResMut<T>, Local<T>, ...)
  // injected, e.g. to seed resources before the loop. Returns what fn
  // returns. Throws ConfigError when a parameter cannot be resolved.
  template <class F>
  decltype(auto) run_startup(F&& fn) {
    return internal::run_with_params(*this, fn, "startup function");
  }

  // Calls `step(world)` until shutdown is requested. The step polls drivers.
  template <class Step>
  void run(Step&& step) {
    while (!shutdown_->requested()) step(*this);
  }

  const Shutdown& shutdown_handle() const noexcept { return *shutdown_; }

  // Runs one reactor pass (rt/reactor.h): each reactor woken by the marks
  // made before the call runs once. Returns how many ran. Marks made by the
  // running reactors wake reactors in the next pass. Defined in reactor.cc.
  std::size_t dispatch_reactors();

 private:
  friend class WorldBuilder;
  explicit World(std::unique_ptr<internal::WorldStorage> storage);
  [[noreturn]] static void throw_missing(std::string_view type, bool moved_from);
  [[noreturn]] static void throw_moved_from();
  // Takes everything `other` owns and leaves it vacant (see the move constructor).
  void take(World& other) noexcept;

  const Registry* registry_ = nullptr;
  std::uint64_t serial_ = 0;
  std::vector<void*> dense_;
  const Shutdown* shutdown_ = nullptr;
  ReactorNotify* reactors_ = nullptr;
  std::uint64_t sequence_ = 0;
  std::unique_ptr<internal::WorldStorage> storage_;
};

}  // namespace keel

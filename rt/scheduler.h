// The scheduler: runs systems (rt/system.h) in dependency order, skipping
// the ones whose inputs did not change.
//
// A keel::SchedulerInstaller collects systems and "runs after" edges; it is
// a driver installer, so wb.install_driver(std::move(sched)) resolves every
// system's parameters against what is registered so far and returns the
// keel::Scheduler that the loop calls. Use it for derived state recomputed
// once per loop iteration (books → mids → fair values → quotes) where most
// iterations change only some inputs.
//
//   keel::SchedulerInstaller sched;
//   auto mid  = sched.add(update_mid);              // bool: "my outputs changed"
//   auto fair = sched.add(update_fair);
//   auto send = sched.add(publish_quotes);           // void: always "changed"
//   sched.after(fair, mid).after(send, fair);        // fair runs after mid, send after fair
//   keel::Scheduler systems = wb.install_driver(std::move(sched));
//   keel::World world = std::move(wb).build();
//   world.run([&](keel::World& w) { io.poll(w, 1ms); systems.run(w); });
//
// The skip rule: within one run(), a system with no upstream (a root)
// always runs; any other system runs only when at least one of its
// upstreams ran in this pass and reported a change. A skipped system counts
// as "not changed" for the systems after it.
//
// Implementation overview: install() orders the systems once (Kahn's
// algorithm, ties in add order), stores them in that order behind a small
// virtual interface, and keeps each system's upstreams as positions in the
// order (one flat index array). run() is a single forward pass that reads
// the upstreams' "changed" flags, written earlier in the same pass.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <source_location>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "rt/error.h"
#include "rt/internal/callable_name.h"
#include "rt/registry.h"
#include "rt/system.h"
#include "rt/world.h"

namespace keel {

class SchedulerInstaller;
class Scheduler;

// Names a system added to a SchedulerInstaller, for after() edges and for
// the Scheduler's queries. Trivially copyable. A default-constructed id, or
// one from another installer, is "unknown": using it is a ConfigError.
class SystemId {
 public:
  constexpr SystemId() noexcept = default;
  // The system's position in add order (0 for the first add()).
  std::size_t index() const noexcept { return index_; }
  friend bool operator==(SystemId, SystemId) = default;

 private:
  friend class SchedulerInstaller;
  friend class Scheduler;
  constexpr SystemId(std::uint64_t owner, std::size_t index) noexcept : owner_(owner), index_(index) {}
  std::uint64_t owner_ = 0;
  std::size_t index_ = 0;
};

namespace internal {

// A resolved system behind one virtual call.
class ErasedSystem {
 public:
  virtual ~ErasedSystem() = default;
  virtual bool run(World& world) = 0;
  virtual std::string_view name() const noexcept = 0;
};

template <class F>
class ErasedSystemOf final : public ErasedSystem {
 public:
  explicit ErasedSystemOf(System<F> system) : system_(std::move(system)) {}
  bool run(World& world) override { return system_.run(world); }
  std::string_view name() const noexcept override { return system_.name(); }

 private:
  System<F> system_;
};

// A system's function, kept until install() resolves its parameters.
class PendingSystem {
 public:
  explicit PendingSystem(std::string_view name) noexcept : name_(name) {}
  virtual ~PendingSystem() = default;
  // Called once, by install(); consumes the function.
  virtual std::unique_ptr<ErasedSystem> resolve(const Registry& registry) = 0;
  std::string_view name() const noexcept { return name_; }

 private:
  std::string_view name_;
};

template <class F>
class PendingSystemOf final : public PendingSystem {
 public:
  PendingSystemOf(F fn, std::string_view name) : PendingSystem(name), fn_(std::move(fn)) {}
  std::unique_ptr<ErasedSystem> resolve(const Registry& registry) override {
    return std::make_unique<ErasedSystemOf<F>>(System<F>(registry, std::move(fn_), name()));
  }

 private:
  F fn_;
};

}  // namespace internal

// The systems of one SchedulerInstaller, resolved and ordered. Returned by
// WorldBuilder::install_driver(); movable, not copyable.
class Scheduler {
 public:
  Scheduler() = default;
  Scheduler(Scheduler&&) noexcept;
  Scheduler& operator=(Scheduler&&) noexcept;
  ~Scheduler();

  // One pass over every system, in topological order (ties in add order):
  // roots always run; any other system runs only when one of its upstreams
  // ran in this pass and returned true (or returns void). Returns how many
  // systems ran. Hot path: one virtual call per system that runs, a few
  // loads per upstream. An exception from a system ends the pass there and
  // propagates; the next run() starts afresh. ran() and changed() then
  // describe the pass that threw, as far as it went (see below). A system
  // that calls run() on the scheduler running it gets a ConfigError: a pass
  // cannot nest.
  std::size_t run(World& world);

  // How many systems the scheduler holds.
  std::size_t size() const noexcept { return systems_.size(); }

  // The systems' names in the order run() visits them (cold path).
  std::vector<std::string_view> order() const;

  // About one system (ids from the installer this scheduler came from;
  // another id throws ConfigError). name() is its function's name; ran()
  // and changed() describe the last run(), and are false before the first.
  // When the last run() threw, the systems before the one that threw report
  // what they did in it; the one that threw and every system after it in
  // run order report false (they did not run in that pass).
  std::string_view name(SystemId id) const;
  bool ran(SystemId id) const;
  bool changed(SystemId id) const;

 private:
  friend class SchedulerInstaller;
  static constexpr std::uint8_t kRan = 1;
  static constexpr std::uint8_t kChanged = 2;

  std::size_t position(SystemId id) const;
  [[noreturn]] static void throw_nested_run();

  std::uint64_t owner_ = 0;
  bool running_ = false;
  // In run order.
  std::vector<std::unique_ptr<internal::ErasedSystem>> systems_;
  // Upstreams of the system at position p, as positions (all < p):
  // upstreams_[upstream_begin_[p] .. upstream_begin_[p + 1]).
  std::vector<std::size_t> upstream_begin_;
  std::vector<std::size_t> upstreams_;
  // kRan | kChanged for each position, written by the last run().
  std::vector<std::uint8_t> state_;
  // Add index -> position in run order.
  std::vector<std::size_t> position_;
};

// Collects systems and their ordering; consumed by
// WorldBuilder::install_driver(), which returns the Scheduler. Cold path
// throughout. Movable, not copyable.
class SchedulerInstaller {
 public:
  SchedulerInstaller();
  SchedulerInstaller(SchedulerInstaller&& other) noexcept;
  SchedulerInstaller& operator=(SchedulerInstaller&& other) noexcept;
  ~SchedulerInstaller();

  // Adds a system: a function of keel parameters returning bool or void
  // (see rt/system.h; the same compile-time checks apply). Its parameters
  // are resolved later, by install_driver(). Returns its id.
  template <class F>
  SystemId add(F&& fn, std::source_location site = std::source_location::current()) {
    using Shape = internal::SystemShape<F>;
    if constexpr (!Shape::ok) {
      return SystemId();  // a static_assert has explained the problem
    } else {
      const std::string_view name = internal::callable_name(fn, site);
      pending_.push_back(std::make_unique<internal::PendingSystemOf<std::decay_t<F>>>(std::forward<F>(fn), name));
      return SystemId(owner_, pending_.size() - 1);
    }
  }

  // `downstream` runs after `upstream`, and only when some upstream of it
  // changed. Repeating an edge is harmless. An id this installer did not
  // return throws ConfigError now; a cycle is reported by install().
  SchedulerInstaller& after(SystemId downstream, SystemId upstream);
  // `downstream` runs after each of `upstreams`.
  SchedulerInstaller& after(SystemId downstream, std::initializer_list<SystemId> upstreams);

  // How many systems were added.
  std::size_t size() const noexcept { return pending_.size(); }

  // Called by WorldBuilder::install_driver(). Orders the systems (a cycle
  // throws ConfigError naming the systems in it), then resolves each
  // system's parameters against what `builder` has registered so far (a
  // missing resource throws ConfigError naming it and the system).
  Scheduler install(WorldBuilder& builder) &&;

 private:
  void check_known(SystemId id, std::string_view role) const;

  std::uint64_t owner_;
  std::vector<std::unique_ptr<internal::PendingSystem>> pending_;
  // (downstream, upstream) add indices.
  std::vector<std::pair<std::size_t, std::size_t>> edges_;
};

}  // namespace keel

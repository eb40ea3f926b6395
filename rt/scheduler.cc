#include "rt/scheduler.h"

#include <algorithm>
#include <functional>
#include <queue>
#include <string>

#include "rt/internal/serial.h"

namespace keel {

// --- Scheduler ----------------------------------------------------------------

Scheduler::Scheduler(Scheduler&&) noexcept = default;
Scheduler& Scheduler::operator=(Scheduler&&) noexcept = default;
Scheduler::~Scheduler() = default;

std::size_t Scheduler::run(World& world) {
  if (running_) [[unlikely]]
    throw_nested_run();
  running_ = true;
  const std::size_t count = systems_.size();
  std::size_t ran = 0;
  std::size_t p = 0;
  try {
    for (; p < count; ++p) {
      const std::size_t begin = upstream_begin_[p];
      const std::size_t end = upstream_begin_[p + 1];
      bool due = begin == end;  // a root always runs
      for (std::size_t u = begin; u < end && !due; ++u) due = (state_[upstreams_[u]] & kChanged) != 0;
      state_[p] = 0;
      if (!due) continue;
      const bool changed = systems_[p]->run(world);
      state_[p] = static_cast<std::uint8_t>(kRan | (changed ? kChanged : 0));
      ++ran;
    }
  } catch (...) {
    // The pass ends here: the system that threw and the ones it never
    // reached did not run in it, so none of them may report the pass before.
    std::fill(state_.begin() + static_cast<std::ptrdiff_t>(p), state_.end(), std::uint8_t{0});
    running_ = false;
    throw;
  }
  running_ = false;
  return ran;
}

void Scheduler::throw_nested_run() {
  throw ConfigError(
      "keel: Scheduler::run() was called from inside one of its own systems; a pass cannot nest. Let the "
      "system return true instead: its downstream systems run later in the same pass");
}

std::vector<std::string_view> Scheduler::order() const {
  std::vector<std::string_view> names;
  names.reserve(systems_.size());
  for (const auto& system : systems_) names.push_back(system->name());
  return names;
}

std::size_t Scheduler::position(SystemId id) const {
  if (id.owner_ != owner_ || owner_ == 0 || id.index_ >= position_.size()) {
    throw ConfigError(
        "keel: this SystemId does not belong to this Scheduler (a default-constructed id, or one from "
        "another SchedulerInstaller); ask the scheduler built from the installer whose add() returned it");
  }
  return position_[id.index_];
}

std::string_view Scheduler::name(SystemId id) const { return systems_[position(id)]->name(); }
bool Scheduler::ran(SystemId id) const { return (state_[position(id)] & kRan) != 0; }
bool Scheduler::changed(SystemId id) const { return (state_[position(id)] & kChanged) != 0; }

// --- SchedulerInstaller ---------------------------------------------------------

SchedulerInstaller::SchedulerInstaller() : owner_(internal::next_serial()) {}

// The moved-from installer gets a fresh identity, so that ids handed out
// before the move are unknown to it (and known to the destination).
SchedulerInstaller::SchedulerInstaller(SchedulerInstaller&& other) noexcept
    : owner_(std::exchange(other.owner_, internal::next_serial())),
      pending_(std::move(other.pending_)),
      edges_(std::move(other.edges_)) {
  other.pending_.clear();
  other.edges_.clear();
}

SchedulerInstaller& SchedulerInstaller::operator=(SchedulerInstaller&& other) noexcept {
  if (this != &other) {
    owner_ = std::exchange(other.owner_, internal::next_serial());
    pending_ = std::move(other.pending_);
    edges_ = std::move(other.edges_);
    other.pending_.clear();
    other.edges_.clear();
  }
  return *this;
}

SchedulerInstaller::~SchedulerInstaller() = default;

void SchedulerInstaller::check_known(SystemId id, std::string_view role) const {
  if (id.owner_ == owner_ && id.index_ < pending_.size()) return;
  std::string message = "keel: SchedulerInstaller::after() was given an unknown ";
  message += role;
  message += " SystemId (a default-constructed id, or one returned by another SchedulerInstaller's add()); "
             "use the id that this installer's add() returned";
  throw ConfigError(message);
}

SchedulerInstaller& SchedulerInstaller::after(SystemId downstream, SystemId upstream) {
  check_known(downstream, "downstream");
  check_known(upstream, "upstream");
  edges_.emplace_back(downstream.index_, upstream.index_);
  return *this;
}

SchedulerInstaller& SchedulerInstaller::after(SystemId downstream, std::initializer_list<SystemId> upstreams) {
  check_known(downstream, "downstream");
  for (const SystemId upstream : upstreams) check_known(upstream, "upstream");
  for (const SystemId upstream : upstreams) edges_.emplace_back(downstream.index_, upstream.index_);
  return *this;
}

namespace {

// Names one cycle among the systems Kahn's algorithm could not order. Every
// such system has an unordered upstream (its remaining in-degree is > 0), so
// walking upstream from any of them must revisit a system; the walk from the
// first repeat back to it is a cycle.
[[noreturn]] void throw_cycle(const std::vector<std::unique_ptr<internal::PendingSystem>>& pending,
                              const std::vector<std::vector<std::size_t>>& upstreams,
                              const std::vector<std::size_t>& remaining_in_degree) {
  const std::size_t count = pending.size();
  constexpr std::size_t kUnseen = static_cast<std::size_t>(-1);
  std::vector<std::size_t> step_of(count, kUnseen);
  std::vector<std::size_t> walk;
  std::size_t current = 0;
  while (remaining_in_degree[current] == 0) ++current;
  while (step_of[current] == kUnseen) {
    step_of[current] = walk.size();
    walk.push_back(current);
    for (const std::size_t up : upstreams[current]) {  // sorted: the lowest unordered upstream
      if (remaining_in_degree[up] > 0) {
        current = up;
        break;
      }
    }
  }
  // walk[step_of[current]..] goes upstream; reverse it into running order and
  // start at the system added first, so the message does not depend on the walk.
  std::vector<std::size_t> cycle(walk.begin() + static_cast<std::ptrdiff_t>(step_of[current]), walk.end());
  std::reverse(cycle.begin(), cycle.end());
  std::rotate(cycle.begin(), std::min_element(cycle.begin(), cycle.end()), cycle.end());

  std::string message = "keel: the scheduler's systems form a cycle, so no order can run them: ";
  for (const std::size_t i : cycle) {
    message += '\'';
    message += pending[i]->name();
    message += "' -> ";
  }
  message += '\'';
  message += pending[cycle.front()]->name();
  message += "' (each runs after the one before it); remove one of these after() edges";
  throw ConfigError(message);
}

}  // namespace

Scheduler SchedulerInstaller::install(WorldBuilder& builder) && {
  const std::size_t count = pending_.size();

  // Adjacency by add index, duplicates removed.
  std::sort(edges_.begin(), edges_.end());
  edges_.erase(std::unique(edges_.begin(), edges_.end()), edges_.end());
  std::vector<std::vector<std::size_t>> upstreams(count);
  std::vector<std::vector<std::size_t>> downstreams(count);
  for (const auto& [down, up] : edges_) {
    upstreams[down].push_back(up);  // sorted, since edges_ is
    downstreams[up].push_back(down);
  }

  // Kahn's algorithm; among the systems ready to run, the one added first.
  std::vector<std::size_t> in_degree(count);
  std::priority_queue<std::size_t, std::vector<std::size_t>, std::greater<>> ready;
  for (std::size_t i = 0; i < count; ++i) {
    in_degree[i] = upstreams[i].size();
    if (in_degree[i] == 0) ready.push(i);
  }
  std::vector<std::size_t> order;
  order.reserve(count);
  while (!ready.empty()) {
    const std::size_t next = ready.top();
    ready.pop();
    order.push_back(next);
    for (const std::size_t down : downstreams[next])
      if (--in_degree[down] == 0) ready.push(down);
  }
  if (order.size() != count) throw_cycle(pending_, upstreams, in_degree);

  // Resolve in add order, so that the first system added reports first.
  std::vector<std::unique_ptr<internal::ErasedSystem>> resolved(count);
  for (std::size_t i = 0; i < count; ++i) {
    try {
      resolved[i] = pending_[i]->resolve(builder.registry());
    } catch (const ConfigError& error) {
      std::string message = error.what();
      message += " (a scheduler resolves its systems when install_driver() is called: register the "
                 "resources they use before installing it)";
      throw ConfigError(message);
    }
  }

  Scheduler scheduler;
  scheduler.owner_ = owner_;
  scheduler.position_.resize(count);
  for (std::size_t p = 0; p < count; ++p) scheduler.position_[order[p]] = p;
  scheduler.systems_.reserve(count);
  scheduler.upstream_begin_.reserve(count + 1);
  scheduler.upstreams_.reserve(edges_.size());
  scheduler.upstream_begin_.push_back(0);
  for (std::size_t p = 0; p < count; ++p) {
    const std::size_t i = order[p];
    scheduler.systems_.push_back(std::move(resolved[i]));
    const std::size_t first = scheduler.upstreams_.size();
    for (const std::size_t up : upstreams[i]) scheduler.upstreams_.push_back(scheduler.position_[up]);
    std::sort(scheduler.upstreams_.begin() + static_cast<std::ptrdiff_t>(first), scheduler.upstreams_.end());
    scheduler.upstream_begin_.push_back(scheduler.upstreams_.size());
  }
  scheduler.state_.assign(count, 0);
  pending_.clear();
  edges_.clear();
  return scheduler;
}

}  // namespace keel

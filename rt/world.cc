#include "rt/world.h"

#include <string>
#include <utility>

#include "rt/reactor.h"

namespace keel {

std::string Registry::missing_message(std::string_view type) {
  std::string message = "keel: resource '";
  message += type;
  message += "' is not registered in this World; register it with WorldBuilder::emplace<";
  message += type;
  message += ">() or insert()";
  return message;
}

WorldBuilder::WorldBuilder() : storage_(std::make_unique<internal::WorldStorage>()) {}
WorldBuilder::WorldBuilder(WorldBuilder&&) noexcept = default;
WorldBuilder& WorldBuilder::operator=(WorldBuilder&&) noexcept = default;
WorldBuilder::~WorldBuilder() = default;

void WorldBuilder::throw_duplicate(std::string_view type) {
  std::string message = "keel: resource '";
  message += type;
  message += "' is registered twice; a World holds one resource per type";
  throw ConfigError(message);
}

void WorldBuilder::throw_spent() {
  throw ConfigError("keel: this WorldBuilder has already built its World (or was moved from); use the World, or a new builder");
}

World WorldBuilder::build() && {
  if (!storage_) throw ConfigError("keel: WorldBuilder::build() called twice; a builder builds one World");
  emplace<Shutdown>();
  emplace<ReactorNotify>(registry());
  return World(std::move(storage_));
}

World::World(std::unique_ptr<internal::WorldStorage> storage)
    : registry_(&storage->registry), serial_(storage->registry.serial()), storage_(std::move(storage)) {
  std::size_t size = 0;
  for (const auto& [key, entry] : storage_->registry.entries_) size = std::max(size, entry.dense_index + 1);
  dense_.assign(size, nullptr);
  for (const auto& [key, entry] : storage_->registry.entries_) dense_[entry.dense_index] = entry.address;
  shutdown_ = &storage_->registry.resolve<Shutdown>();
  reactors_ = &storage_->registry.resolve<ReactorNotify>();
}

namespace {

// What a moved-from World points at instead of the storage it gave away:
// an empty Registry (so registry() is never a dangling reference and
// resolving against it names the missing type) and a Shutdown that is
// already requested (so run() on it returns at once).
const Registry& vacant_registry() noexcept {
  static const Registry registry;
  return registry;
}
const Shutdown& vacant_shutdown() noexcept {
  static const Shutdown* const shutdown = [] {
    static Shutdown requested;
    requested.request();
    return &requested;
  }();
  return *shutdown;
}

}  // namespace

World::World(World&& other) noexcept { take(other); }

World& World::operator=(World&& other) noexcept {
  if (this == &other) return *this;
  storage_.reset();  // our resources go first, in reverse registration order
  take(other);
  return *this;
}

void World::take(World& other) noexcept {
  registry_ = std::exchange(other.registry_, &vacant_registry());
  serial_ = std::exchange(other.serial_, 0);
  dense_ = std::exchange(other.dense_, {});
  shutdown_ = std::exchange(other.shutdown_, &vacant_shutdown());
  reactors_ = std::exchange(other.reactors_, nullptr);
  sequence_ = std::exchange(other.sequence_, 0);
  storage_ = std::move(other.storage_);
}

World::~World() = default;

void World::throw_missing(std::string_view type, bool moved_from) {
  if (moved_from) throw_moved_from();
  throw ConfigError(Registry::missing_message(type));
}

void World::throw_moved_from() {
  throw ConfigError(
      "keel: this World was moved from and owns no resources; use the World it was moved to, or assign a "
      "World to this one");
}

}  // namespace keel

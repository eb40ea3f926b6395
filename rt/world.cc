#include "rt/world.h"

#include <string>

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

World::World(World&&) noexcept = default;
World& World::operator=(World&&) noexcept = default;
World::~World() = default;

void World::throw_missing(std::string_view type) { throw ConfigError(Registry::missing_message(type)); }

}  // namespace keel

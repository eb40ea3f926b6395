// keel::Registry — what a World holds, by type, for build-time resolution.
//
// Handlers, systems and drivers resolve their parameters against a Registry
// once, when they are built; dispatch then uses the resolved addresses and
// never looks anything up. A Registry is reached through
// WorldBuilder::registry() while building and World::registry() after; both
// are the same object, so handlers built during installation keep working.
//
//   const keel::Registry& reg = world.registry();
//   if (reg.contains<OrderBook>()) {
//     OrderBook& book = reg.resolve<OrderBook>();  // cold path: a hash lookup
//     keel::ResourceId id = reg.id<OrderBook>();    // the resource's address
//   }
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "rt/error.h"
#include "rt/internal/resource_arena.h"
#include "rt/internal/serial.h"
#include "rt/internal/type_index.h"
#include "rt/internal/type_name.h"

namespace keel {

class WorldBuilder;
class World;

// The identity of a registered resource: its address, stable for the life of
// the World. Pointer-sized and trivially copyable.
class ResourceId {
 public:
  constexpr ResourceId() noexcept = default;
  const void* address() const noexcept { return address_; }
  explicit operator bool() const noexcept { return address_ != nullptr; }
  friend bool operator==(ResourceId, ResourceId) = default;

 private:
  friend class Registry;
  explicit ResourceId(void* address) noexcept : address_(address) {}
  void* address_ = nullptr;
};

class Registry {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // The registered T. Cold path (hash lookup): resolve once, keep the
  // reference. Throws ConfigError naming T when T is not registered.
  template <class T>
  T& resolve() const {
    if (T* found = try_resolve<T>()) return *found;
    throw ConfigError(missing_message(internal::type_name<T>()));
  }

  // The registered T, or nullptr.
  template <class T>
  T* try_resolve() const noexcept {
    const auto it = entries_.find(internal::TypeKey::of<T>());
    if (it == entries_.end()) return nullptr;
    return internal::resource_cast<T>(it->second.address);
  }

  // T's ResourceId; throws ConfigError naming T when T is not registered.
  template <class T>
  ResourceId id() const {
    return ResourceId(&resolve<T>());
  }

  template <class T>
  bool contains() const noexcept {
    return entries_.contains(internal::TypeKey::of<T>());
  }

  // This Registry's identity, never reused in the process (addresses are:
  // a World destroyed and another built may land at the same address).
  std::uint64_t serial() const noexcept { return serial_; }

  // How many resources are registered.
  std::size_t size() const noexcept { return names_.size(); }

  // Type names of the registered resources, in registration order.
  const std::vector<std::string_view>& type_names() const noexcept { return names_; }

  // The message a missing resource produces; used by parameters that resolve
  // through other means and want the same wording.
  static std::string missing_message(std::string_view type);

 private:
  friend class WorldBuilder;
  friend class World;

  struct Entry {
    void* address;
    std::size_t dense_index;
  };

  template <class T>
  void add(T* object) {
    entries_.emplace(internal::TypeKey::of<T>(), Entry{object, internal::type_index<T>()});
    names_.push_back(internal::type_name<T>());
  }

  std::uint64_t serial_ = internal::next_serial();
  absl::flat_hash_map<internal::TypeKey, Entry> entries_;
  std::vector<std::string_view> names_;
};

}  // namespace keel

// Forward declarations of Keel's rt types, for headers that only name them
// (keeps compile times down; include the concept's header to use one).
//
//   #include "rt/fwd.h"
//   void install_feed(keel::WorldBuilder& wb);
//   struct Session { keel::ResourceId book; };
#pragma once

#include <cstddef>

namespace keel {

class ConfigError;
class Registry;
class ResourceId;
class Shutdown;
class World;
class WorldBuilder;
template <class E>
class Handler;
template <class E, std::size_t Bytes>
class InlineHandler;
template <class T>
class Res;
template <class T>
class ResMut;
template <class P>
class Opt;
template <class T>
class Local;
class Seq;
class RegistryRef;

namespace testing {
class TestHarness;
}

}  // namespace keel

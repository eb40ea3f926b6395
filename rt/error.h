// keel::ConfigError — the one exception Keel throws for mistakes in how a
// World or a handler is put together (a missing resource, a type registered
// twice, a handler run on the wrong World). It is thrown on the cold path:
// while building, or on a misuse check; never for IO (those return
// std::error_code).
//
//   try {
//     auto h = keel::handler(world.registry(), on_quote);
//   } catch (const keel::ConfigError& e) {
//     std::cerr << e.what();   // names the resource type and the handler
//   }
#pragma once

#include <stdexcept>
#include <string>

namespace keel {

class ConfigError : public std::runtime_error {
 public:
  explicit ConfigError(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace keel

#include "rt/handler.h"

#include <cstdio>
#include <string>

namespace keel::internal {

void rethrow_for_owner(const ConfigError& error, std::string_view owner) {
  std::string_view reason = error.what();
  if (reason.starts_with("keel: ")) reason.remove_prefix(6);
  std::string message = "keel: cannot build '";
  message += owner;
  message += "': ";
  message += reason;
  throw ConfigError(message);
}

void throw_wrong_world(const std::string_view* handler, std::uint64_t built, std::uint64_t run) {
  std::string message = "keel: handler '";
  message += *handler;
  message += "' was built for another World and cannot run on this one; build it from this World's "
             "registry() (built for World #";
  message += std::to_string(built);
  message += ", run on World #";
  message += std::to_string(run);
  message += ")";
  throw ConfigError(message);
}

}  // namespace keel::internal

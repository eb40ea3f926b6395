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

void throw_wrong_world(const std::string_view* handler, const Registry* built, const Registry* run) {
  char addresses[96];
  std::snprintf(addresses, sizeof addresses, " (built against registry %p, run on %p)",
                static_cast<const void*>(built), static_cast<const void*>(run));
  std::string message = "keel: handler '";
  message += *handler;
  message += "' was built against another World's registry and cannot run on this World; build it from "
             "this World's registry()";
  message += addresses;
  throw ConfigError(message);
}

}  // namespace keel::internal

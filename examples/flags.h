// Command lines for the examples: Abseil flags, parsed here so that every
// example answers a bad command line the same way.
//
//   ABSL_FLAG(double, seconds, 5, "how long to run, above 0 and up to 3600");
//
//   int main(int argc, char** argv) {
//     examples::parse_flags(argc, argv, "Runs the thing.");
//     const double seconds = examples::checked_flag(
//         FLAGS_seconds, [](double s) { return s > 0 && s <= 3600; }, "must be above 0 and up to 3600");
//
// `--seconds=1` and `--seconds 1` both work. --help lists the example's
// flags, one line each, and exits with status 0 (--helpfull adds Abseil's
// own). A bad command line prints the reason on stderr and exits with
// status 2: a value that does not parse, an unknown flag, an argument that
// is not a flag, or (checked_flag, backend_flag) a value out of range.
#pragma once

#include <string>
#include <string_view>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/flag.h"
#include "async/socket_addr.h"
#include "rt/uring.h"

namespace examples {

// Parses every flag on the command line into its ABSL_FLAG, or exits (see
// above). `usage` is the one-line description --help prints first.
void parse_flags(int argc, char** argv, const char* usage);

// Prints "ERROR: Illegal value '<value>' specified for flag '<name>'; <reason>"
// (Abseil's own wording for a value it refuses) and exits with status 2.
[[noreturn]] void exit_bad_flag(const absl::CommandLineFlag& flag, std::string_view reason);

// The flag's value, if `valid` accepts it; else exit_bad_flag with `reason`.
template <class T, class Valid>
T checked_flag(const absl::Flag<T>& flag, Valid valid, std::string_view reason) {
  T value = absl::GetFlag(flag);
  if (!valid(value)) exit_bad_flag(absl::GetFlagReflectionHandle(flag), reason);
  return value;
}

// A --backend flag's value: "auto", "io_uring" or "epoll" (keel::to_string's
// names), else exit_bad_flag.
keel::Backend backend_flag(const absl::Flag<std::string>& flag);

// The address a server listens on, from a --bind flag (a numeric IPv4 or
// IPv6 address, brackets optional) and a port; else exit_bad_flag.
keel::async::SocketAddr listen_address_flag(const absl::Flag<std::string>& bind, int port);

}  // namespace examples

#include "examples/flags.h"

#include <cstdio>
#include <cstdlib>
#include <vector>

#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"

namespace {

// absl::ParseCommandLine prints what is wrong with the command line and then
// calls std::exit(1); after --help it calls std::exit(1) too. Abseil 20220623
// has no parse call that returns instead (no ParseAbseilFlagsOnly), so while
// it runs, an atexit handler picks the status the examples promise: 2 if
// Abseil reported an error (through the hook below), else 0 (--help,
// --version).
bool parsing = false;
bool error_reported = false;

void exit_with_parse_status() {
  if (!parsing) return;
  std::fflush(nullptr);  // _Exit does not flush, and the help text is in stdout's buffer
  std::_Exit(error_reported ? 2 : 0);
}

}  // namespace

// Abseil calls this for each error that will end the parse, after printing
// it (absl/flags/usage_config.h declares it; Abseil's own definition is weak
// and does nothing).
extern "C" void ABSL_INTERNAL_C_SYMBOL(AbslInternalReportFatalUsageError)(absl::string_view) {
  error_reported = true;
}

namespace examples {

void parse_flags(int argc, char** argv, const char* usage) {
  absl::SetProgramUsageMessage(usage);
  // By default --help lists only flags defined in <program>.cc or
  // <program>_main.cc, which misses the market maker's main.cc.
  const auto in_examples = [](absl::string_view file) { return absl::StartsWith(file, "examples/"); };
  absl::FlagsUsageConfig config;
  config.contains_help_flags = in_examples;
  config.contains_helpshort_flags = in_examples;
  config.contains_helppackage_flags = in_examples;
  absl::SetFlagsUsageConfig(config);

  static const bool registered = std::atexit(exit_with_parse_status) == 0;
  parsing = registered;
  const std::vector<char*> rest = absl::ParseCommandLine(argc, argv);
  parsing = false;
  if (rest.size() > 1) {
    std::fprintf(stderr, "ERROR: Unexpected argument '%s'; this program takes only flags (see --help)\n", rest[1]);
    std::exit(2);
  }
}

void exit_bad_flag(const absl::CommandLineFlag& flag, std::string_view reason) {
  std::fprintf(stderr, "ERROR: Illegal value '%s' specified for flag '%.*s'; %.*s\n", flag.CurrentValue().c_str(),
               static_cast<int>(flag.Name().size()), flag.Name().data(), static_cast<int>(reason.size()),
               reason.data());
  std::exit(2);
}

keel::Backend backend_flag(const absl::Flag<std::string>& flag) {
  const std::string name = absl::GetFlag(flag);
  for (keel::Backend backend : {keel::Backend::Auto, keel::Backend::IoUring, keel::Backend::Epoll}) {
    if (keel::to_string(backend) == name) return backend;
  }
  exit_bad_flag(absl::GetFlagReflectionHandle(flag), "must be auto, io_uring or epoll");
}

keel::async::SocketAddr listen_address_flag(const absl::Flag<std::string>& bind, int port) {
  const std::string host = absl::GetFlag(bind);
  const bool bare_v6 = host.find(':') != std::string::npos && !host.starts_with('[');
  std::string text = bare_v6 ? "[" + host + "]" : host;
  text.append(":").append(std::to_string(port));
  auto parsed = keel::async::SocketAddr::parse(text);
  if (!parsed) {
    exit_bad_flag(absl::GetFlagReflectionHandle(bind), "must be a numeric IPv4 or IPv6 address, e.g. 127.0.0.1 or ::1");
  }
  return *parsed;
}

}  // namespace examples

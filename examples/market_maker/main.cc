// The market maker: Keel's main job, a complete small trading loop.
//
//   bazel run //examples:market_maker
//   bazel run //examples:market_maker -- --rate=50000 --seconds=2 --instruments=4 --backend=epoll
//
// A feed thread sends synthetic quotes over UDP on 127.0.0.1; the Keel loop
// reads them through the io_uring poll source, decodes and validates them in
// a pipeline, keeps a book per instrument, re-quotes in one reactor per
// strategy instance, checks orders in a risk DAG and records tick-to-order
// latency. It prints a status line every second and a summary at the end;
// Ctrl-C ends it early, cleanly. See docs/market-maker.md.
#include <cstdio>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

#include "examples/market_maker/market_maker.h"

int main(int argc, char** argv) {
  const std::string_view program = argc > 0 ? argv[0] : "market_maker";
  std::vector<std::string_view> args(argv + (argc > 0 ? 1 : 0), argv + argc);
  for (std::string_view a : args) {
    if (a == "--help" || a == "-h") {
      std::fputs(mm::usage(program).c_str(), stdout);
      return 0;
    }
  }
  const auto options = mm::parse_options(args);
  if (!options) {
    std::fprintf(stderr, "%s: %s\n%s", std::string(program).c_str(), options.error().c_str(),
                 mm::usage(program).c_str());
    return 2;
  }
  try {
    std::printf("market maker: feed at %.0f msgs/s for %g s, %d instruments, backend %s\n", options->rate,
                options->seconds, options->instruments, std::string(keel::to_string(options->backend)).c_str());
    std::fflush(stdout);
    const mm::Summary summary = mm::run_market_maker(*options);
    mm::print_summary(stdout, summary);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "market maker: %s\n", e.what());
    return 1;
  }
}

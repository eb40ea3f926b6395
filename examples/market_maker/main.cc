// The market maker: Keel's main job, a complete small trading loop.
//
//   bazel run //examples:market_maker
//   bazel run //examples:market_maker -- --rate=50000 --seconds=2 --instruments=4 --backend=epoll
//   bazel run //examples:market_maker -- --help
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

#include "absl/flags/flag.h"
#include "examples/flags.h"
#include "examples/market_maker/market_maker.h"

ABSL_FLAG(double, rate, mm::Options{}.rate, "quotes per second the feed sends, 1 to 2000000");
ABSL_FLAG(double, seconds, mm::Options{}.seconds, "how long the feed sends, above 0 and up to 3600");
ABSL_FLAG(int, instruments, mm::Options{}.instruments, "instruments, one book each, 1 to 1000");
ABSL_FLAG(std::string, backend, "auto", "the poll source: auto, io_uring or epoll");

namespace {

mm::Options options_from_flags() {
  mm::Options o;
  o.rate = examples::checked_flag(
      FLAGS_rate, [](double r) { return r >= 1 && r <= 2'000'000; }, "must be from 1 to 2000000");
  o.seconds = examples::checked_flag(
      FLAGS_seconds, [](double s) { return s > 0 && s <= 3600; }, "must be above 0 and up to 3600");
  o.instruments = examples::checked_flag(
      FLAGS_instruments, [](int k) { return k >= 1 && k <= 1000; }, "must be from 1 to 1000");
  o.backend = examples::backend_flag(FLAGS_backend);
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  examples::parse_flags(argc, argv,
                        "a feed thread sends quotes over UDP on 127.0.0.1; one Keel thread keeps the books, "
                        "re-quotes, checks risk and prints tick-to-order latency (docs/market-maker.md)");
  const mm::Options options = options_from_flags();
  try {
    std::printf("market maker: feed at %.0f msgs/s for %g s, %d instruments, backend %s\n", options.rate,
                options.seconds, options.instruments, std::string(keel::to_string(options.backend)).c_str());
    std::fflush(stdout);
    const mm::Summary summary = mm::run_market_maker(options);
    mm::print_summary(stdout, summary);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "market maker: %s\n", e.what());
    return 1;
  }
}

// The echo benchmark's Asio-on-io_uring rows, in a binary of their own
// because Asio's backend is fixed when its headers are compiled (echo.cc
// says why, and runs this binary as its child; run on its own, it prints
// its own table).
#include "bench/echo_asio.h"
#include "bench/echo_keel.h"
#include "bench/echo_measure.h"

int main(int argc, char** argv) {
  using namespace keel::bench::echo;
  register_echo_benchmarks(asio_backend(), make_asio_pair);
  // Keel against Asio's io_uring backend in the same stretch of time; only
  // this binary has that backend.
  register_interleaved_round_trips("keel_uring", make_keel_uring_pair, asio_backend(), make_asio_pair);
  register_interleaved_streams("keel_uring", make_keel_uring_pair, asio_backend(), make_asio_pair);
  return echo_main(argc, argv, nullptr);
}

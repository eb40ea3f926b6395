// TCP echo over 127.0.0.1: a 64-byte round trip (p50 and p99 latency) and
// a 64 KiB-chunk stream (echoed bytes per second), each on one thread
// (client and server sockets on one loop: the loop's own cost per round
// trip) and on two (server loop on one thread, client loop on another,
// pinned to different CPUs). The baselines: a hand-written raw liburing
// loop, a hand-written raw epoll loop, the smallest coroutine echo on raw
// liburing (echo_raw.h), and standalone Asio 1.22 on its epoll backend and
// on its io_uring backend (echo_asio.h). Every row is an EchoPair timed by
// the same code (echo_measure.h); Keel's rows (echo_keel.h) run keel::async
// tasks on io_uring and on epoll. The echo_ab cases run two pairs
// interleaved in blocks, for a ratio that the VM's drift between rows does
// not move: Keel against each hand-written loop, and the raw coroutines
// against the raw loop (what awaiting costs by itself) and against Keel
// (what Keel's runtime adds to that), Keel entering its loop (block_on)
// once per round trip against once per run, and raw liburing and Keel each
// against itself reading 24 more cache lines per round trip (what state
// costs, echo_cold_lines.h).
//
// Asio's backend is chosen by macros when its headers are compiled
// (ASIO_HAS_IO_URING plus ASIO_DISABLE_EPOLL for io_uring), and Asio is
// header-only: two configurations in one binary would be two different
// definitions of the same inline functions and class templates (scheduler,
// basic_socket, ...), an ODR violation the linker resolves silently by
// keeping one of each. So the io_uring configuration is a second binary,
// //bench:echo_asio_uring (echo_asio_uring.cc), and this binary, after its
// own cases, runs it as a child process with the same arguments: its
// console output follows this one's, its rows come back through a pipe,
// and one table lists them all (echo_measure.h). A child process rather
// than a driving script keeps "bazel run //bench:echo" the one command,
// keeps the table code in C++ beside the counters it reads, and runs the
// two binaries strictly one after the other, never at the same time.
//
// That Asio's io_uring rows really run on io_uring: the io_context is
// checked for Asio's io_uring_service when each pair is built
// (echo_asio.cc); the ring_sqes counter (SQEs consumed by the process's
// rings, from /proc/self/fdinfo) is 4 per round trip on those rows (a
// sendmsg and a recvmsg SQE on each side, as raw liburing's send and recv)
// and 0 on Asio's epoll rows; the smoke test checks that the pair adds an
// io_uring instance and no epoll instance to /proc/self/fd, and that its
// ring consumes those SQEs.
//
//   bazel run --config=bench //bench:echo -- --benchmark_repetitions=5
#include "bench/echo_asio.h"
#include "bench/echo_cold_lines.h"
#include "bench/echo_keel.h"
#include "bench/echo_measure.h"
#include "bench/echo_raw.h"

int main(int argc, char** argv) {
  using namespace keel::bench::echo;
  register_echo_benchmarks("keel_uring", make_keel_uring_pair);
  register_echo_benchmarks("raw_uring", make_raw_uring_pair);
  register_echo_benchmarks("keel_epoll", make_keel_epoll_pair);
  register_echo_benchmarks("raw_epoll", make_raw_epoll_pair);
  register_echo_benchmarks("raw_coro", make_raw_coro_pair);
  register_echo_benchmarks(asio_backend(), make_asio_pair);
  // Keel against the hand-written loops in the same stretch of time.
  register_interleaved_round_trips("keel_uring", make_keel_uring_pair, "raw_uring", make_raw_uring_pair);
  register_interleaved_round_trips("keel_epoll", make_keel_epoll_pair, "raw_epoll", make_raw_epoll_pair);
  // What coroutines cost by themselves, and Keel beside them.
  register_interleaved_round_trips("raw_coro", make_raw_coro_pair, "raw_uring", make_raw_uring_pair);
  register_interleaved_round_trips("keel_uring", make_keel_uring_pair, "raw_coro", make_raw_coro_pair);
  // What a block_on per round trip adds to a client task's loop.
  register_interleaved_round_trips("keel_uring_block_on", make_entered_per_round_trip<make_keel_uring_pair>,
                                   "keel_uring", make_keel_uring_pair);
  // What kColdLines more cache lines of state per round trip cost, on a
  // raw loop and on Keel.
  register_interleaved_round_trips("raw_uring_cold_lines", make_with_cold_lines<make_raw_uring_pair>, "raw_uring",
                                   make_raw_uring_pair);
  register_interleaved_round_trips("keel_uring_cold_lines", make_with_cold_lines<make_keel_uring_pair>, "keel_uring",
                                   make_keel_uring_pair);
  register_interleaved_streams("keel_uring", make_keel_uring_pair, "raw_uring", make_raw_uring_pair);
  register_interleaved_streams("keel_epoll", make_keel_epoll_pair, "asio_epoll", make_asio_pair);
  register_interleaved_streams("keel_epoll", make_keel_epoll_pair, "raw_epoll", make_raw_epoll_pair);
  return echo_main(argc, argv, "echo_asio_uring");
}

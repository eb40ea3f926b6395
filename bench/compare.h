// Benchmark helper: times a candidate and its hand-written baseline with the
// same loop in the same run, and reports ns/op plus their ratio as counters.
//
//   static void BM_Handler(benchmark::State& s) {
//     keel::bench::compare(s, [&](std::int64_t i) { h.run(world, quote(i)); },
//                             [&](std::int64_t i) { book.apply(quote(i)); });
//   }
#pragma once

#include <chrono>
#include <cstdint>

#include "benchmark/benchmark.h"

namespace keel::bench {

template <class Body>
[[gnu::noinline]] double time_loop(std::int64_t iterations, Body& body) {
  const auto start = std::chrono::steady_clock::now();
  for (std::int64_t i = 0; i < iterations; ++i) {
    body(i);
    benchmark::ClobberMemory();
  }
  const auto stop = std::chrono::steady_clock::now();
  return std::chrono::duration<double, std::nano>(stop - start).count() / static_cast<double>(iterations);
}

// `value`, which the optimizer can no longer see through (a count an IO
// layer would learn at run time). Not benchmark::DoNotOptimize(variable):
// with Debian's Google Benchmark and g++ 12 at -O3, a local passed to it
// and then read through a lambda's reference capture did not hold its
// value afterwards (a count of 100 read back far too small in one build
// and far too large in another, which overran a stack buffer). Its "+m,r"
// in-out constraint is the suspect (google/benchmark#1340, PR #1424).
template <class T>
T opaque(T value) {
  asm volatile("" : "+r"(value));
  return value;
}

// The framework's timed loop runs the candidate (its time is the reported
// ns/op). Afterwards, untimed, the baseline and the candidate run again in
// identical loops, alternating; the ratio is candidate/baseline of those.
template <class Candidate, class Baseline>
void compare(benchmark::State& state, Candidate candidate, Baseline baseline) {
  std::int64_t i = 0;
  for (auto _ : state) {
    candidate(i++);
    benchmark::ClobberMemory();
  }
  // As many iterations as the framework chose for the candidate (about
  // half a second of it), so slow operations do not take minutes.
  const std::int64_t n = state.iterations() < 1000 ? 1000 : state.iterations();
  double candidate_ns = 0;
  double baseline_ns = 0;
  for (int round = 0; round < 3; ++round) {
    baseline_ns += time_loop(n, baseline);
    candidate_ns += time_loop(n, candidate);
  }
  state.counters["baseline_ns"] = baseline_ns / 3;
  state.counters["candidate_ns"] = candidate_ns / 3;
  state.counters["ratio"] = candidate_ns / baseline_ns;
}

}  // namespace keel::bench

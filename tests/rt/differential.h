// The plumbing the seeded differential tests share (tests/rt/*_differential_test.cc):
// which seeds to run, a random source per seed, and a report of the first
// mismatch between the component and its model that names the seed, the step
// and the operation.
//
// Each test runs its own default number of seeds (1..N), small enough for
// `bazel test //...`. Two environment variables override it:
//
//   KEEL_DIFFERENTIAL_SEEDS=20000   run seeds 1..20000
//   KEEL_DIFFERENTIAL_SEED=1234     run seed 1234 alone (to reproduce a failure)
//
// Bazel passes them to tests with --test_env:
//
//   bazel test //tests/rt:timer_differential_test --test_env=KEEL_DIFFERENTIAL_SEEDS=20000
//
// A test's body takes a Differential, numbers its top-level operations with
// step(), and compares with expect_eq(); the first mismatch is kept (later
// ones follow from it) and ends the seed loop with a gtest failure:
//
//   keel_test::run_seeds(300, [](keel_test::Differential& d) {
//     for (int i = 0; i < 100 && !d.failed(); ++i) {
//       d.step("cancel");
//       d.expect_eq(wheel.cancel(token), model.cancel(id), "cancel's result");
//     }
//   });
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>

namespace keel_test {

// A seeded random source with the few draws the differential tests make.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : engine_(seed) {}

  // Uniform in [0, n); n > 0.
  std::uint64_t below(std::uint64_t n) { return std::uniform_int_distribution<std::uint64_t>(0, n - 1)(engine_); }
  // Uniform in [lo, hi].
  std::int64_t between(std::int64_t lo, std::int64_t hi) {
    return std::uniform_int_distribution<std::int64_t>(lo, hi)(engine_);
  }
  // True with probability percent / 100.
  bool percent(int percent) { return below(100) < static_cast<std::uint64_t>(percent); }
  template <class It>
  void shuffle(It first, It last) {
    std::shuffle(first, last, engine_);
  }

 private:
  std::mt19937_64 engine_;
};

// One seed's run: its random source, the operation it is at, and the first
// mismatch it found.
class Differential {
 public:
  explicit Differential(std::uint64_t seed) : rng_(seed) {}
  Differential(const Differential&) = delete;
  Differential& operator=(const Differential&) = delete;

  Rng& rng() noexcept { return rng_; }

  // Starts the next top-level operation; `op` names it in a mismatch report
  // (a literal: it is kept by pointer).
  void step(const char* op) noexcept {
    ++step_;
    op_ = op;
  }

  // Records a mismatch unless real == model; returns whether they matched.
  // `what` (streamed together, only on a mismatch) says what was compared.
  template <class Real, class Model, class... What>
  bool expect_eq(const Real& real, const Model& model, const What&... what) {
    if (real == model) return true;
    std::ostringstream message;
    (message << ... << what) << ": component " << ::testing::PrintToString(real) << ", model "
                             << ::testing::PrintToString(model);
    fail(message.str());
    return false;
  }
  // Records a mismatch described by `what` unless `ok`.
  template <class... What>
  bool expect(bool ok, const What&... what) {
    if (ok) return true;
    std::ostringstream message;
    (message << ... << what);
    fail(message.str());
    return false;
  }
  void fail(std::string what) {
    if (failed()) return;
    failure_ = "step " + std::to_string(step_) + " (" + op_ + "): " + std::move(what);
  }
  bool failed() const noexcept { return !failure_.empty(); }
  const std::string& failure() const noexcept { return failure_; }

 private:
  Rng rng_;
  int step_ = 0;
  const char* op_ = "setup";
  std::string failure_;
};

namespace internal {

inline std::optional<std::uint64_t> seed_variable(const char* name) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return std::nullopt;
  const std::string_view view(text);
  std::uint64_t value = 0;
  const auto [end, error] = std::from_chars(view.data(), view.data() + view.size(), value);
  if (error != std::errc() || end != view.data() + view.size()) {
    ADD_FAILURE() << name << "=" << view << " is not a number";
    return std::nullopt;
  }
  return value;
}

}  // namespace internal

// Runs body(differential) for seeds 1..default_seeds, or as the environment
// variables above say, and stops at the first seed with a mismatch (or a
// gtest failure), reporting the seed, the step and how to rerun it alone.
template <class Body>
void run_seeds(std::uint64_t default_seeds, Body&& body) {
  std::uint64_t first = 1;
  std::uint64_t last = internal::seed_variable("KEEL_DIFFERENTIAL_SEEDS").value_or(default_seeds);
  if (const auto only = internal::seed_variable("KEEL_DIFFERENTIAL_SEED")) first = last = *only;
  if (::testing::Test::HasFailure()) return;
  for (std::uint64_t seed = first; seed <= last; ++seed) {
    Differential differential(seed);
    body(differential);
    if (differential.failed() || ::testing::Test::HasFailure()) {
      ADD_FAILURE() << "seed " << seed << ", " << (differential.failed() ? differential.failure() : "see above")
                    << "\n  rerun this seed alone with --test_env=KEEL_DIFFERENTIAL_SEED=" << seed;
      return;
    }
  }
}

}  // namespace keel_test

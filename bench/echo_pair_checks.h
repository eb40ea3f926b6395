// What every EchoPair must do, as parameterised tests: a test binary
// includes this header once and instantiates EchoPairChecks with its
// implementations (Keel's rows included), in both modes:
//
//   INSTANTIATE_TEST_SUITE_P(Raw, EchoPairChecks,
//                            ::testing::Combine(::testing::Values(EchoImplementation{"raw_epoll", make_raw_epoll_pair}),
//                                               ::testing::Values(Mode::OneThread, Mode::TwoThreads)),
//                            echo_case_name);
//
// Each check is a handful of round trips or a few chunks, compared byte
// for byte here, not by the measurement code under test.
#pragma once

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <system_error>
#include <tuple>
#include <vector>

#include "bench/echo_measure.h"
#include "bench/echo_pair.h"
#include "gtest/gtest.h"

namespace keel::bench::echo {

struct EchoImplementation {
  const char* name;
  MakeEchoPair make;
};

using EchoCase = std::tuple<EchoImplementation, Mode>;

inline std::string echo_case_name(const ::testing::TestParamInfo<EchoCase>& info) {
  return std::string(std::get<0>(info.param).name) +
         (std::get<1>(info.param) == Mode::OneThread ? "_OneThread" : "_TwoThreads");
}

// The pair, or nullptr where the kernel refuses io_uring (ENOSYS, EPERM
// under a seccomp filter): the caller skips.
inline std::unique_ptr<EchoPair> make_unless_refused(const EchoCase& echo_case) {
  try {
    return std::get<0>(echo_case).make(std::get<1>(echo_case));
  } catch (const std::system_error& e) {
    if (e.code() == std::errc::function_not_supported || e.code() == std::errc::operation_not_permitted) return nullptr;
    throw;
  }
}

class EchoPairChecks : public ::testing::TestWithParam<EchoCase> {
 protected:
  void SetUp() override {
    pair_ = make_unless_refused(GetParam());
    if (pair_ == nullptr) GTEST_SKIP() << "the kernel refused io_uring";
  }

  // Sends a message of `size` bytes, distinct for each `round`, and
  // returns what came back.
  std::vector<std::byte> echo(std::size_t size, std::size_t round) {
    std::vector<std::byte> message(size);
    for (std::size_t k = 0; k < size; ++k) message[k] = static_cast<std::byte>(round * 31 + k * 7);
    std::vector<std::byte> reply(size, std::byte{0xee});
    pair_->round_trip(message, reply);
    EXPECT_EQ(reply, message) << "round " << round << ", " << size << " bytes";
    return reply;
  }

  std::unique_ptr<EchoPair> pair_;
};

TEST_P(EchoPairChecks, EchoesEachMessageOfARoundTrip) {
  for (std::size_t round = 0; round < 16; ++round) echo(kMessageBytes, round);
}

// The interface promises any size: a message smaller than the benchmark's
// and one that may come back in several receives.
TEST_P(EchoPairChecks, EchoesMessagesOfOtherSizes) {
  echo(1, 1);
  echo(4000, 2);
  echo(kMessageBytes, 3);
}

TEST_P(EchoPairChecks, StreamsBackEveryByteInOrder) {
  const std::vector<std::byte> chunk = pattern_chunk();
  StreamCheck check(kCheckAll);
  pair_->stream(chunk, 32, check);
  EXPECT_EQ(check.received_bytes(), 32 * kChunkBytes);
  EXPECT_EQ(check.mismatches(), 0u);
}

// A stream ends with nothing of it left in flight on either side: round
// trips after it, and a second stream, see only their own bytes.
TEST_P(EchoPairChecks, LeavesNothingInFlightAfterAStream) {
  const std::vector<std::byte> chunk = pattern_chunk();
  StreamCheck first(kCheckAll);
  pair_->stream(chunk, 8, first);
  EXPECT_EQ(first.received_bytes(), 8 * kChunkBytes);
  for (std::size_t round = 0; round < 4; ++round) echo(kMessageBytes, round);
  StreamCheck second(kCheckAll);
  pair_->stream(chunk, 3, second);
  EXPECT_EQ(second.received_bytes(), 3 * kChunkBytes);
  EXPECT_EQ(second.mismatches(), 0u);
}

TEST_P(EchoPairChecks, TimesAndChecksRoundTripsThroughTheMeasurement) {
  RoundTrips trips;
  for (int i = 0; i < 3; ++i) EXPECT_GT(trips.run(*pair_), 0);
  // A run of several, from the client's own loop where the pair has one.
  std::vector<std::int64_t> samples;
  trips.run(*pair_, 20, samples);
  EXPECT_EQ(samples.size(), 20u);
  for (std::int64_t ns : samples) EXPECT_GT(ns, 0);
  EXPECT_EQ(trips.rounds(), 23u);
  EXPECT_EQ(trips.mismatches(), 0u);
}

}  // namespace keel::bench::echo

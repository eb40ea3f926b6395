// The echo benchmark's measurement code and its baselines in the default
// Asio configuration (raw liburing, raw epoll, Asio on epoll); Asio on
// io_uring is echo_asio_uring_test.cc, a binary of its own (echo.cc says
// why).
#include <fcntl.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "bench/echo_asio.h"
#include "bench/echo_cold_lines.h"
#include "bench/echo_keel.h"
#include "bench/echo_measure.h"
#include "bench/echo_pair_checks.h"
#include "bench/echo_raw.h"
#include "bench/echo_support.h"
#include "gtest/gtest.h"

namespace keel::bench::echo {
namespace {

INSTANTIATE_TEST_SUITE_P(Baselines, EchoPairChecks,
                         ::testing::Combine(::testing::Values(EchoImplementation{"raw_uring", make_raw_uring_pair},
                                                              EchoImplementation{"raw_epoll", make_raw_epoll_pair},
                                                              EchoImplementation{"raw_coro", make_raw_coro_pair},
                                                              EchoImplementation{"raw_uring_cold_lines",
                                                                                 make_with_cold_lines<make_raw_uring_pair>},
                                                              EchoImplementation{"asio_epoll", make_asio_pair}),
                                            ::testing::Values(Mode::OneThread, Mode::TwoThreads)),
                         echo_case_name);

INSTANTIATE_TEST_SUITE_P(Keel, EchoPairChecks,
                         ::testing::Combine(::testing::Values(EchoImplementation{"keel_uring", make_keel_uring_pair},
                                                              EchoImplementation{
                                                                  "keel_uring_block_on",
                                                                  make_entered_per_round_trip<make_keel_uring_pair>},
                                                              EchoImplementation{"keel_epoll", make_keel_epoll_pair},
                                                              EchoImplementation{"keel_uring_cold_lines",
                                                                                 make_with_cold_lines<make_keel_uring_pair>}),
                                            ::testing::Values(Mode::OneThread, Mode::TwoThreads)),
                         echo_case_name);

TEST(Percentile, IsTheSmallestSampleWithTheFractionAtOrBelowIt) {
  std::vector<std::int64_t> samples(100);
  std::iota(samples.begin(), samples.end(), 1);
  std::shuffle(samples.begin(), samples.end(), std::mt19937(7));
  EXPECT_EQ(percentile(samples, 0.50), 50);
  EXPECT_EQ(percentile(samples, 0.99), 99);
  EXPECT_EQ(percentile(samples, 1.0), 100);
  EXPECT_EQ(percentile(samples, 0.001), 1);

  std::vector<std::int64_t> one{42};
  EXPECT_EQ(percentile(one, 0.99), 42);
  // 1,000 samples: p99 is the 990th smallest, not the 991st.
  std::vector<std::int64_t> thousand(1000);
  std::iota(thousand.begin(), thousand.end(), 0);
  std::reverse(thousand.begin(), thousand.end());
  EXPECT_EQ(percentile(thousand, 0.99), 989);
}

TEST(StreamCheck, CountsEveryByteAndFindsAPieceOutOfPlace) {
  const std::vector<std::byte> chunk = pattern_chunk();
  const std::span<const std::byte> bytes(chunk);

  StreamCheck in_order(kCheckAll);
  in_order.received(bytes.first(1000));
  in_order.received(bytes.subspan(1000));
  in_order.received(bytes.first(10));  // the next chunk starts the pattern again
  EXPECT_EQ(in_order.received_bytes(), kChunkBytes + 10);
  EXPECT_EQ(in_order.mismatches(), 0u);

  StreamCheck one_lost(kCheckAll);
  one_lost.received(bytes.first(1000));
  one_lost.received(bytes.subspan(1001, 100));
  EXPECT_GT(one_lost.mismatches(), 0u);
}

TEST(StreamCheck, ComparesOnlyTheSampleAtTheStartOfEachPiece) {
  std::vector<std::byte> piece = pattern_chunk();
  piece[100] ^= std::byte{1};
  StreamCheck sampled(64);
  sampled.received(piece);
  EXPECT_EQ(sampled.mismatches(), 0u);
  EXPECT_EQ(sampled.received_bytes(), kChunkBytes);
  StreamCheck all(kCheckAll);
  all.received(piece);
  EXPECT_EQ(all.mismatches(), 1u);
}

// An EchoPair whose server flips one byte of every `every`-th reply.
class CorruptingPair final : public EchoPair {
 public:
  explicit CorruptingPair(int every) : every_(every) {}
  void round_trip(std::span<const std::byte> message, std::span<std::byte> reply) override {
    std::memcpy(reply.data(), message.data(), message.size());
    if (++rounds_ % every_ == 0) reply[message.size() - 1] ^= std::byte{0x80};
  }
  void stream(std::span<const std::byte>, std::size_t, StreamCheck&) override {}

 private:
  int every_;
  int rounds_ = 0;
};

TEST(RoundTrips, CountsEachReplyThatDiffersFromItsMessage) {
  CorruptingPair pair(3);
  RoundTrips trips;
  for (int i = 0; i < 9; ++i) trips.run(pair);
  EXPECT_EQ(trips.rounds(), 9u);
  EXPECT_EQ(trips.mismatches(), 3u);
}

// An EchoPair whose round_trips() stops after `limit` round trips, or
// echoes the run's messages in its own loop.
class LoopingPair final : public EchoPair {
 public:
  explicit LoopingPair(std::size_t limit) : limit_(limit) {}
  void round_trip(std::span<const std::byte>, std::span<std::byte>) override { ADD_FAILURE() << "not the loop"; }
  void round_trips(RoundTripRun& run) override {
    std::span<const std::byte> message;
    std::span<std::byte> reply;
    for (std::size_t i = 0; i < limit_ && run.next(message, reply); ++i) {
      std::memcpy(reply.data(), message.data(), message.size());
      run.done();
    }
  }
  void stream(std::span<const std::byte>, std::size_t, StreamCheck&) override {}

 private:
  std::size_t limit_;
};

TEST(RoundTrips, TimesEachRoundTripOfARunMadeInThePairsOwnLoop) {
  LoopingPair pair(~std::size_t{0});
  RoundTrips trips;
  std::vector<std::int64_t> samples;
  trips.run(pair, 5, samples);
  trips.run(pair, 2, samples);
  EXPECT_EQ(samples.size(), 7u);
  EXPECT_EQ(trips.rounds(), 7u);
  EXPECT_EQ(trips.mismatches(), 0u);
}

TEST(RoundTrips, RefusesARunThatThePairEndedEarly) {
  LoopingPair pair(3);
  RoundTrips trips;
  std::vector<std::int64_t> samples;
  EXPECT_THROW(trips.run(pair, 5, samples), std::logic_error);
  EXPECT_EQ(samples.size(), 3u);
}

// An EchoPair that echoes faithfully and writes its name to a shared log
// on every round trip.
class LoggingPair final : public EchoPair {
 public:
  LoggingPair(char name, std::string& log) : name_(name), log_(log) {}
  void round_trip(std::span<const std::byte> message, std::span<std::byte> reply) override {
    std::memcpy(reply.data(), message.data(), message.size());
    log_ += name_;
  }
  void stream(std::span<const std::byte>, std::size_t, StreamCheck&) override {}

 private:
  char name_;
  std::string& log_;
};

TEST(InterleavedRoundTrips, RunsABlockOfEachAndAlternatesWhichGoesFirst) {
  std::string log;
  LoggingPair a('a', log);
  LoggingPair b('b', log);
  InterleavedRoundTrips trips(a, b, 2);
  for (int i = 0; i < 3; ++i) trips.run_blocks();
  EXPECT_EQ(log, "aabb" "bbaa" "aabb");
  EXPECT_EQ(trips.samples_a().size(), 6u);
  EXPECT_EQ(trips.samples_b().size(), 6u);
  EXPECT_EQ(trips.mismatches(), 0u);
}

TEST(InterleavedRoundTrips, CountsTheMismatchesOfBothPairs) {
  CorruptingPair a(2);
  CorruptingPair b(3);
  InterleavedRoundTrips trips(a, b, 6);
  trips.run_blocks();
  EXPECT_EQ(trips.mismatches(), 3u + 2u);
}

TEST(ServerThread, ShutsTheSocketDownAndKeepsTheMessageWhenTheServerThrows) {
  LoopbackPair sockets = connect_loopback();
  ServerThread server(sockets.server.get(), [](int) { throw std::runtime_error("server broke"); });
  char byte;
  // The end of the stream, not a client waiting forever.
  EXPECT_EQ(::recv(sockets.client.get(), &byte, 1, 0), 0);
  server.join();
  EXPECT_EQ(server.error(), "server broke");
}

TEST(ServerThread, GivesTheCallerItsCpusBackWhenJoined) {
  cpu_set_t before{};
  ASSERT_EQ(::sched_getaffinity(0, sizeof before, &before), 0);
  LoopbackPair sockets = connect_loopback();
  {
    ServerThread server(sockets.server.get(), [](int) {});
  }
  cpu_set_t after{};
  ASSERT_EQ(::sched_getaffinity(0, sizeof after, &after), 0);
  EXPECT_TRUE(CPU_EQUAL(&before, &after));
}

TEST(AsioEpoll, RunsOnAnEpollReactorAndNoRing) {
  EXPECT_STREQ(asio_backend(), "asio_epoll");
  const int epolls = count_fds_linked_to("anon_inode:[eventpoll]");
  const int rings = count_fds_linked_to("anon_inode:[io_uring]");
  std::unique_ptr<EchoPair> pair = make_asio_pair(Mode::OneThread);
  EXPECT_GT(count_fds_linked_to("anon_inode:[eventpoll]"), epolls);
  EXPECT_EQ(count_fds_linked_to("anon_inode:[io_uring]"), rings);
  RoundTrips trips;
  for (int i = 0; i < 4; ++i) trips.run(*pair);
  EXPECT_EQ(trips.mismatches(), 0u);
}

TEST(RawUring, ConsumesSqesOnItsRingForEachRoundTrip) {
  std::unique_ptr<EchoPair> pair = make_unless_refused({{"raw_uring", make_raw_uring_pair}, Mode::OneThread});
  if (pair == nullptr) GTEST_SKIP() << "the kernel refused io_uring";
  RoundTrips trips;
  trips.run(*pair);
  const std::uint32_t before = io_uring_sqes_consumed();
  for (int i = 0; i < 8; ++i) trips.run(*pair);
  // The client's send and recv, the server's recv and send.
  EXPECT_EQ(io_uring_sqes_consumed() - before, 8u * 4u);
}

TEST(UniqueFd, ClosesWhatItOwnsAndNothingReleased) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  { UniqueFd owned(fds[0]); }
  EXPECT_EQ(::fcntl(fds[0], F_GETFD), -1);
  int kept;
  {
    UniqueFd released(fds[1]);
    kept = released.release();
  }
  EXPECT_NE(::fcntl(kept, F_GETFD), -1);
  ::close(kept);
}

}  // namespace
}  // namespace keel::bench::echo

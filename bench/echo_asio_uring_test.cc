// Asio on io_uring through the EchoPair checks, and that it really runs on
// io_uring: a binary of its own, because Asio's backend is fixed when its
// headers are compiled (echo.cc says why).
#include <cstdint>
#include <memory>

#include "bench/echo_asio.h"
#include "bench/echo_measure.h"
#include "bench/echo_pair_checks.h"
#include "bench/echo_support.h"
#include "gtest/gtest.h"

namespace keel::bench::echo {
namespace {

INSTANTIATE_TEST_SUITE_P(Asio, EchoPairChecks,
                         ::testing::Combine(::testing::Values(EchoImplementation{"asio_uring", make_asio_pair}),
                                            ::testing::Values(Mode::OneThread, Mode::TwoThreads)),
                         echo_case_name);

// The kernel's view, not Asio's: building the pair adds an io_uring
// instance and no epoll instance to the process, and every round trip
// makes that ring consume SQEs: Asio 1.22 submits each send and receive on
// a socket it has not switched to non-blocking as a sendmsg or recvmsg SQE,
// four per round trip.
TEST(AsioUring, RunsItsSocketsOnAnIoUringInstance) {
  EXPECT_STREQ(asio_backend(), "asio_uring");
  const int rings = count_fds_linked_to("anon_inode:[io_uring]");
  const int epolls = count_fds_linked_to("anon_inode:[eventpoll]");
  std::unique_ptr<EchoPair> pair = make_unless_refused({{"asio_uring", make_asio_pair}, Mode::OneThread});
  if (pair == nullptr) GTEST_SKIP() << "the kernel refused io_uring";
  EXPECT_EQ(count_fds_linked_to("anon_inode:[io_uring]"), rings + 1);
  EXPECT_EQ(count_fds_linked_to("anon_inode:[eventpoll]"), epolls);

  RoundTrips trips;
  trips.run(*pair);
  const std::uint32_t before = io_uring_sqes_consumed();
  for (int i = 0; i < 8; ++i) trips.run(*pair);
  EXPECT_EQ(trips.mismatches(), 0u);
  EXPECT_GE(io_uring_sqes_consumed() - before, 8u * 4u);
}

}  // namespace
}  // namespace keel::bench::echo

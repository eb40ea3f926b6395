// The order gateway's pieces under keel::testing::TestHarness: no socket
// loop, no timers — datagrams go straight into the ingest pipeline, and a
// reactor pass books what the risk DAG accepted. The last test drives the
// readiness handler itself from a socket pair.
//
//   bazel test //examples/order_gateway:gateway_test
#include "examples/order_gateway/gateway.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <string_view>

#include "rt/testing.h"

namespace {

using gateway::GatewayStats;
using gateway::Reject;

// A harness with the gateway's resources and its books open.
keel::testing::TestHarness gateway_harness(gateway::Limits limits = {}) {
  keel::testing::TestHarness harness(gateway::gateway_world(limits));
  harness.world().run_startup(gateway::open_books);
  return harness;
}

std::uint64_t rejected(keel::World& world, Reject reason) {
  return world.resource<GatewayStats>().rejected[static_cast<std::size_t>(reason)];
}

const gateway::Book& book(keel::World& world, gateway::Instrument instrument) {
  const auto& books = world.resource<gateway::Books>();
  return *world.resource<keel::ReactorNotify>().context<gateway::Book>(
      books.token[static_cast<std::size_t>(instrument)]);
}

TEST(OrderGateway, AnAcceptedOrderIsBookedByItsInstrumentsReactorInTheNextPass) {
  auto harness = gateway_harness();
  auto ingest = gateway::make_ingest(harness.registry());
  harness.dispatch(ingest, std::string_view("1 ETH B 10 2200"));
  harness.dispatch(ingest, std::string_view("2 ETH S 4 2201"));

  keel::World& world = harness.world();
  EXPECT_EQ(world.resource<GatewayStats>().accepted, 2u);
  EXPECT_EQ(book(world, gateway::Instrument::ETH).orders, 0u) << "books run in the reactor pass, not per datagram";
  EXPECT_EQ(world.dispatch_reactors(), 1u) << "one book received orders, so one reactor runs";
  EXPECT_EQ(book(world, gateway::Instrument::ETH).orders, 2u);
  EXPECT_EQ(book(world, gateway::Instrument::ETH).position, 6);
  EXPECT_EQ(book(world, gateway::Instrument::BTC).orders, 0u);
  EXPECT_EQ(world.resource<GatewayStats>().booked, 2u);
  EXPECT_EQ(world.resource<gateway::Exposure>().qty[1], 6);
}

TEST(OrderGateway, EachMistakeIsCountedUnderItsReasonAndGoesNoFurther) {
  auto harness = gateway_harness();
  auto ingest = gateway::make_ingest(harness.registry());
  for (std::string_view datagram : {"not an order", "1 BTC X 10 42000", "2 DOGE B 1 100", "3 BTC B 0 42000",
                                    "4 BTC B 101 42000", "5 BTC B 10 44000", "6 BTC B 10 42000 extra"}) {
    harness.dispatch(ingest, datagram);
  }
  keel::World& world = harness.world();
  EXPECT_EQ(rejected(world, Reject::malformed), 3u);
  EXPECT_EQ(rejected(world, Reject::unknown_symbol), 1u);
  EXPECT_EQ(rejected(world, Reject::bad_quantity), 2u);
  EXPECT_EQ(rejected(world, Reject::price_band), 1u);
  EXPECT_EQ(world.resource<GatewayStats>().datagrams, 7u);
  EXPECT_EQ(world.resource<GatewayStats>().accepted, 0u);
  EXPECT_EQ(world.dispatch_reactors(), 0u) << "nothing reached a book";
}

TEST(OrderGateway, ThePositionLimitCountsOnlyAcceptedOrders) {
  auto harness = gateway_harness(gateway::Limits{.max_qty = 100, .max_position = 250});
  auto ingest = gateway::make_ingest(harness.registry());
  for (int id = 1; id <= 4; ++id) {
    harness.dispatch(ingest, std::string_view(std::to_string(id) + " SOL B 100 150"));
  }
  harness.dispatch(ingest, std::string_view("5 SOL B 100 1000"));  // out of band and over the limit: one reason
  harness.dispatch(ingest, std::string_view("6 SOL S 100 150"));

  keel::World& world = harness.world();
  EXPECT_EQ(world.resource<GatewayStats>().accepted, 3u);
  EXPECT_EQ(rejected(world, Reject::position_limit), 3u);
  EXPECT_EQ(rejected(world, Reject::price_band), 0u) << "decide() reports the first failed check only";
  EXPECT_EQ(world.resource<gateway::Exposure>().qty[2], 100);
  world.dispatch_reactors();
  EXPECT_EQ(book(world, gateway::Instrument::SOL).position, 100);
}

TEST(OrderGateway, AFullBookRefusesTheOrderAndTheRiskExposureIsGivenBack) {
  auto harness = gateway_harness(gateway::Limits{.max_qty = 100, .max_position = 1'000'000});
  auto ingest = gateway::make_ingest(harness.registry());
  keel::World& world = harness.world();
  const std::size_t capacity = book(world, gateway::Instrument::BTC).inbox.capacity();
  for (std::size_t id = 1; id <= capacity + 2; ++id) {
    harness.dispatch(ingest, std::string_view(std::to_string(id) + " BTC B 1 42000"));
  }
  EXPECT_EQ(rejected(world, Reject::book_full), 2u);
  EXPECT_EQ(world.resource<gateway::Exposure>().qty[0], static_cast<std::int64_t>(capacity));
  world.dispatch_reactors();
  EXPECT_EQ(world.resource<GatewayStats>().booked, capacity);
  harness.dispatch(ingest, std::string_view("9999 BTC B 1 42000"));
  EXPECT_EQ(rejected(world, Reject::book_full), 2u) << "a drained book takes orders again";
}

TEST(OrderGateway, TheReadinessHandlerRunsThePipelineOncePerDatagramEachWithItsOwnSequenceNumber) {
  auto harness = gateway_harness();
  int ends[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, ends), 0);
  for (std::string_view datagram : {"1 BTC B 5 42000", "garbage", "3 SOL S 7 150"}) {
    ASSERT_EQ(::send(ends[1], datagram.data(), datagram.size(), 0), static_cast<ssize_t>(datagram.size()));
  }
  auto reader = keel::handler(harness.registry(), gateway::datagram_reader(gateway::make_ingest(harness.registry())));
  keel::Readiness ready;
  ready.fd = ends[0];
  ready.events = keel::Readable;
  harness.dispatch(reader, ready);

  keel::World& world = harness.world();
  EXPECT_EQ(world.sequence(), 4u) << "one for the readiness event, one per datagram";
  EXPECT_EQ(world.resource<GatewayStats>().datagrams, 3u);
  EXPECT_EQ(world.resource<GatewayStats>().accepted, 2u);
  EXPECT_EQ(rejected(world, Reject::malformed), 1u);
  EXPECT_EQ(world.dispatch_reactors(), 2u);
  ::close(ends[0]);
  ::close(ends[1]);
}

}  // namespace

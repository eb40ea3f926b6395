#include "fills.h"

#include <gtest/gtest.h>

#include "rt/error.h"
#include "rt/handler.h"
#include "rt/world.h"

namespace {

keel::World make_world(long max_qty) {
  keel::WorldBuilder wb;
  downstream::install(wb, max_qty);
  return std::move(wb).build();
}

TEST(Downstream, FillsUpToTheLimitAndCountsRejections) {
  keel::World world = make_world(50);
  for (long qty : {20, 20, 20}) downstream::apply(world, downstream::Fill{qty});
  EXPECT_EQ(world.resource<downstream::Position>().qty, 40);
  EXPECT_EQ(world.resource<downstream::Position>().rejected, 1);
}

TEST(Downstream, HandlerInAnonymousNamespaceIsNamedAfterItsFunction) {
  keel::World world = make_world(10);
  EXPECT_EQ(downstream::apply(world, downstream::Fill{1}), "downstream::{anonymous}::on_fill");
}

TEST(Downstream, MissingResourceIsAConfigErrorNamingIt) {
  keel::World world = keel::WorldBuilder{}.build();
  try {
    downstream::apply(world, downstream::Fill{1});
    FAIL() << "expected keel::ConfigError";
  } catch (const keel::ConfigError& error) {
    EXPECT_NE(std::string(error.what()).find("Position"), std::string::npos) << error.what();
  }
}

}  // namespace

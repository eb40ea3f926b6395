#include "gtest/gtest.h"
#include "rt/handler.h"

struct Book { int n = 0; };
void on_quote(keel::ResMut<Book> b, const int& q) { b->n += q; }

TEST(Smoke, HandlerRuns) {
  keel::WorldBuilder wb;
  wb.emplace<Book>();
  keel::World w = std::move(wb).build();
  auto h = keel::handler(w.registry(), on_quote);
  h.run(w, 3);
  EXPECT_EQ(w.resource<Book>().n, 3);
  EXPECT_EQ(h.name(), "on_quote");
}

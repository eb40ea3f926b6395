// Sanitizer test for handler type erasure: keel::boxed (a heap-allocated
// BoxedHandler<H> reached and destroyed through the virtual Handler<E>),
// catch_exceptions around boxed handlers that throw, and the function-pointer
// to object-pointer cast that names handlers (rt/internal/callable_name.h).
// Run under --config=asan: deleting through a base without a virtual
// destructor is a new-delete size mismatch, a capture destroyed twice is a
// double free, an exception_ptr kept past its handler is a use-after-free if
// the exception lived in the handler.
#include <gtest/gtest.h>

#include <cstddef>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rt/handler.h"
#include "rt/handler_adapters.h"
#include "rt/world.h"

// A named namespace, so that the name callable_name reads from the binary's
// symbol table is the plain qualified one the test expects.
namespace keel_sanitizer_test {

struct Journal {
  std::vector<std::string> lines;
  std::size_t total = 0;
};
struct Quote {
  std::string symbol;
  int price = 0;
};

void on_quote(keel::ResMut<Journal> journal, const Quote& q) {
  journal->lines.push_back(q.symbol);
  journal->total += static_cast<std::size_t>(q.price);
}

}  // namespace keel_sanitizer_test

namespace {

using keel_sanitizer_test::Journal;
using keel_sanitizer_test::Quote;

// Counts live copies of a capture; each owns heap memory.
struct Witness {
  static inline int live = 0;
  explicit Witness(std::string text_) : text(std::make_unique<std::string>(std::move(text_))) { ++live; }
  Witness(Witness&& other) noexcept : text(std::move(other.text)) { ++live; }
  Witness(const Witness& other) : text(std::make_unique<std::string>(*other.text)) { ++live; }
  Witness& operator=(const Witness&) = delete;
  ~Witness() { --live; }
  std::unique_ptr<std::string> text;
};

keel::World make_world() {
  keel::WorldBuilder wb;
  wb.insert(Journal{});
  return std::move(wb).build();
}

Quote quote(int price) { return Quote{"SYMBOL-" + std::to_string(price) + std::string(40, '.'), price}; }

TEST(BoxedHandler, RunsThroughTheBaseAndDestroysItsCapturesExactlyOnce) {
  Witness::live = 0;
  keel::World world = make_world();
  {
    Witness witness("captured by value" + std::string(64, '*'));
    std::unique_ptr<keel::Handler<const Quote&>> boxed = keel::boxed(keel::handler(
        world.registry(), [w = std::move(witness)](keel::ResMut<Journal> journal, const Quote& q) {
          journal->lines.push_back(*w.text + q.symbol);
        }));
    EXPECT_EQ(Witness::live, 2);  // the moved-from local and the one in the box
    for (int i = 0; i < 100; ++i) boxed->run(world, quote(i));
    EXPECT_EQ(world.resource<Journal>().lines.size(), 100u);
    boxed.reset();  // deleting through Handler<const Quote&>*
    EXPECT_EQ(Witness::live, 1);
  }
  EXPECT_EQ(Witness::live, 0);
}

TEST(BoxedHandler, HeterogeneousHandlersOfDifferentSizesLiveAndDieInOneList) {
  Witness::live = 0;
  keel::World world = make_world();
  {
    std::vector<std::unique_ptr<keel::Handler<const Quote&>>> list;
    for (int i = 0; i < 300; ++i) {
      switch (i % 3) {
        case 0:
          list.push_back(keel::boxed(keel::handler(world.registry(), keel_sanitizer_test::on_quote)));
          break;
        case 1: {
          std::vector<Witness> many;
          for (int k = 0; k < 8; ++k) many.emplace_back("witness " + std::to_string(k) + std::string(30, '-'));
          list.push_back(keel::boxed(keel::handler(
              world.registry(), [many = std::move(many)](keel::ResMut<Journal> journal, const Quote&) {
                journal->total += many.size();
              })));
          break;
        }
        default:
          list.push_back(keel::boxed(keel::handler(world.registry(), [](keel::Res<Journal>, const Quote&) {})));
      }
    }
    EXPECT_EQ(Witness::live, 100 * 8);
    for (auto& h : list) h->run(world, quote(1));
    EXPECT_EQ(world.resource<Journal>().total, 100u * 1u + 100u * 8u);
    list.erase(list.begin(), list.begin() + 150);
    EXPECT_EQ(Witness::live, 50 * 8);
  }
  EXPECT_EQ(Witness::live, 0);
}

TEST(BoxedHandler, RvalueEventIsMovedIntoItsDestinationThroughTheBox) {
  keel::World world = make_world();
  std::unique_ptr<keel::Handler<std::string&&>> boxed = keel::boxed(keel::handler(
      world.registry(),
      [](keel::ResMut<Journal> journal, std::string&& line) { journal->lines.push_back(std::move(line)); }));
  for (int i = 0; i < 100; ++i) {
    std::string line = "line " + std::to_string(i) + std::string(50, '~');
    boxed->run(world, std::move(line));
  }
  ASSERT_EQ(world.resource<Journal>().lines.size(), 100u);
  EXPECT_EQ(world.resource<Journal>().lines[99], "line 99" + std::string(50, '~'));
}

TEST(CatchExceptions, BoxedHandlerThatThrowsIsReportedAndRunsAgain) {
  keel::World world = make_world();
  std::vector<std::exception_ptr> errors;
  std::unique_ptr<keel::Handler<const Quote&>> inner =
      keel::boxed(keel::handler(world.registry(), [](keel::ResMut<Journal> journal, const Quote& q) {
        if (q.price % 2 == 1) throw std::runtime_error("odd price rejected: " + q.symbol);
        journal->lines.push_back(q.symbol);
      }));
  auto safe = keel::catch_exceptions(std::move(inner), [&](std::exception_ptr e) { errors.push_back(e); });
  for (int i = 0; i < 200; ++i) safe.run(world, quote(i));
  EXPECT_EQ(world.resource<Journal>().lines.size(), 100u);
  ASSERT_EQ(errors.size(), 100u);

  // The exceptions outlive the handler that threw them.
  { auto dropped = std::move(safe); }
  for (std::size_t i = 0; i < errors.size(); ++i) {
    try {
      std::rethrow_exception(errors[i]);
    } catch (const std::runtime_error& e) {
      EXPECT_EQ(std::string(e.what()), "odd price rejected: " + quote(static_cast<int>(2 * i + 1)).symbol);
    }
  }
}

// Thrown by value; owns heap memory so a leaked or twice-freed exception object shows.
struct Rejected {
  std::vector<std::string> reasons;
};

TEST(CatchExceptions, CatchingHandlerBoxedAgainReportsNonStandardExceptions) {
  Witness::live = 0;
  keel::World world = make_world();
  int reported = 0;
  int non_standard = 0;
  {
    Witness witness("kept by the throwing handler");
    std::unique_ptr<keel::Handler<const Quote&>> boxed = keel::boxed(keel::catch_exceptions(
        keel::handler(world.registry(),
                      [w = std::move(witness)](keel::ResMut<Journal> journal, const Quote& q) {
                        if (q.price % 3 == 0) throw Rejected{{*w.text, q.symbol}};
                        if (q.price % 3 == 1) throw 42;
                        journal->lines.push_back(q.symbol);
                      }),
        [&](std::exception_ptr e) {
          ++reported;
          try {
            std::rethrow_exception(e);
          } catch (const Rejected& r) {
            EXPECT_EQ(r.reasons.size(), 2u);
          } catch (int) {
            ++non_standard;
          }
        }));
    for (int i = 0; i < 90; ++i) boxed->run(world, quote(i));
    EXPECT_EQ(boxed->name().find("lambda"), 0u);
  }
  EXPECT_EQ(reported, 60);
  EXPECT_EQ(non_standard, 30);
  EXPECT_EQ(world.resource<Journal>().lines.size(), 30u);
  EXPECT_EQ(Witness::live, 0);
}

TEST(Adapters, ByRefAndClonedBridgeBoxedHandlers) {
  keel::World world = make_world();
  // Handler<const Quote&> (boxed) seen as a handler of Quote, boxed again.
  std::unique_ptr<keel::Handler<Quote>> by_value =
      keel::boxed(keel::by_ref(keel::boxed(keel::handler(world.registry(), keel_sanitizer_test::on_quote))));
  // Handler<Quote> (boxed) seen as a handler of const Quote&: each event copied.
  std::unique_ptr<keel::Handler<const Quote&>> by_cref = keel::boxed(keel::cloned(std::move(by_value)));
  for (int i = 0; i < 50; ++i) {
    const Quote q = quote(i);
    by_cref->run(world, q);
  }
  EXPECT_EQ(world.resource<Journal>().lines.size(), 50u);
}

TEST(CallableName, NamedFunctionIsFoundThroughItsAddressAndSurvivesTheBox) {
  keel::World world = make_world();
  auto h = keel::handler(world.registry(), keel_sanitizer_test::on_quote);
  EXPECT_EQ(h.name(), "keel_sanitizer_test::on_quote");
  auto by_pointer = keel::handler(world.registry(), &keel_sanitizer_test::on_quote);
  EXPECT_EQ(by_pointer.name(), "keel_sanitizer_test::on_quote");
  std::unique_ptr<keel::Handler<const Quote&>> boxed = keel::boxed(std::move(h));
  EXPECT_EQ(boxed->name(), "keel_sanitizer_test::on_quote");
  // The name is interned: it outlives every handler that carried it.
  const std::string_view name = boxed->name();
  boxed.reset();
  EXPECT_EQ(name, "keel_sanitizer_test::on_quote");
}

}  // namespace

// Sanitizer test for rt/internal/inline_storage.h and rt/inline_handler.h:
// placement construction into an inline buffer, std::launder on the way out,
// relocation (move-construct, then destroy the source) and the operation
// table that remembers the stored type. Run under --config=asan: a
// relocation that leaves the source alive, destroys it twice, or reads it
// after destruction shows up as a leak, a double free or a use-after-free of
// the heap memory the handlers below own.
#include "rt/internal/inline_storage.h"

#include <gtest/gtest.h>

#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rt/handler.h"
#include "rt/inline_handler.h"
#include "rt/world.h"

namespace {

using keel::internal::InlineStorage;

// Owns heap memory of three kinds, so that a shallow copy, a missed
// destructor or a double destructor is visible to ASan.
struct Payload {
  std::string text;
  std::vector<int> numbers;
  std::unique_ptr<std::string> owned;

  static Payload make(int seed) {
    return Payload{std::string(100, static_cast<char>('a' + seed % 26)) + std::to_string(seed),
                   std::vector<int>(static_cast<std::size_t>(50 + seed % 7), seed),
                   std::make_unique<std::string>("owned " + std::to_string(seed) + std::string(40, '!'))};
  }
  bool matches(int seed) const {
    const Payload expected = make(seed);
    return text == expected.text && numbers == expected.numbers && owned && *owned == *expected.owned;
  }
};

// Counts live instances (the InstanceTracker idea): constructions minus
// destructions must return to zero when every storage is gone.
struct Tracked {
  static inline int live = 0;
  static inline int moves = 0;

  explicit Tracked(int seed_) : seed(seed_), payload(Payload::make(seed_)) { ++live; }
  Tracked(Tracked&& other) noexcept : seed(other.seed), payload(std::move(other.payload)) {
    ++live;
    ++moves;
    other.seed = -1;
  }
  Tracked(const Tracked&) = delete;
  Tracked& operator=(const Tracked&) = delete;
  ~Tracked() { --live; }

  int seed;
  Payload payload;
};

TEST(InlineStorage, ConstructGetAndDestroyRoundTripAnObjectThatOwnsHeapMemory) {
  Tracked::live = 0;
  {
    InlineStorage<256> storage;
    Tracked* placed = storage.construct<Tracked>(7);
    EXPECT_EQ(placed, storage.get<Tracked>());
    EXPECT_TRUE(storage.get<Tracked>()->payload.matches(7));
    const auto& as_const = storage;
    EXPECT_EQ(as_const.get<Tracked>()->seed, 7);
    EXPECT_EQ(Tracked::live, 1);
    storage.destroy<Tracked>();
    EXPECT_EQ(Tracked::live, 0);
    // The same bytes hold a new object of another type afterwards.
    auto* text = storage.construct<std::string>(300, 'z');
    EXPECT_EQ(text->size(), 300u);
    storage.destroy<std::string>();
  }
  EXPECT_EQ(Tracked::live, 0);
}

TEST(InlineStorage, RelocateMovesTheObjectAndEndsTheSourceExactlyOnce) {
  Tracked::live = 0;
  Tracked::moves = 0;
  InlineStorage<256> a;
  InlineStorage<256> b;
  InlineStorage<256> c;
  a.construct<Tracked>(3);
  for (int round = 0; round < 100; ++round) {
    b.relocate_from<Tracked>(a);
    c.relocate_from<Tracked>(b);
    a.relocate_from<Tracked>(c);
    ASSERT_EQ(Tracked::live, 1);
  }
  EXPECT_EQ(Tracked::moves, 300);
  EXPECT_TRUE(a.get<Tracked>()->payload.matches(3));
  a.destroy<Tracked>();
  EXPECT_EQ(Tracked::live, 0);
}

TEST(InlineStorage, FitsRejectsTypesTooBigOverAlignedOrThrowingOnMove) {
  struct ThrowingMove {
    ThrowingMove() = default;
    ThrowingMove(ThrowingMove&&) {}
  };
  struct alignas(64) OverAligned {
    char c;
  };
  EXPECT_TRUE(InlineStorage<sizeof(Tracked)>::fits<Tracked>);
  EXPECT_FALSE(InlineStorage<sizeof(Tracked) - 1>::fits<Tracked>);
  EXPECT_FALSE(InlineStorage<256>::fits<OverAligned>);
  EXPECT_FALSE(InlineStorage<256>::fits<ThrowingMove>);
}

struct Count {
  std::size_t total = 0;
  std::vector<std::string> seen;
};

// A hand-written handler (HandlerLike) that owns heap memory and tracks its
// lifetime; InlineHandler stores it, relocates it and destroys it.
struct TrackedHandler {
  using event_type = int;
  explicit TrackedHandler(int seed) : state(seed) {}
  void run(keel::World& world, int event) {
    auto& count = world.resource<Count>();
    count.total += static_cast<std::size_t>(event) + state.payload.text.size();
    count.seen.push_back(*state.payload.owned);
  }
  std::string_view name() const noexcept { return state.payload.text; }
  Tracked state;
};

keel::World make_world() {
  keel::WorldBuilder wb;
  wb.insert(Count{});
  return std::move(wb).build();
}

TEST(InlineHandler, HoldsRunsAndDestroysHandlersThatOwnStringsVectorsAndUniquePtrs) {
  Tracked::live = 0;
  keel::World world = make_world();
  {
    std::string prefix(80, 'p');
    std::vector<int> weights(64, 2);
    auto owned = std::make_unique<std::string>(std::string(90, 'u'));
    keel::InlineHandler<int, 192> by_lambda = keel::handler(
        world.registry(), [prefix, weights, owned = std::move(owned)](keel::ResMut<Count> count, int e) {
          count->total += static_cast<std::size_t>(e * weights[63]) + prefix.size() + owned->size();
        });
    keel::InlineHandler<int, 192> by_struct = TrackedHandler(11);
    EXPECT_EQ(Tracked::live, 1);

    by_lambda.run(world, 5);
    by_struct.run(world, 1);
    EXPECT_EQ(world.resource<Count>().total, 10u + 80u + 90u + 1u + Payload::make(11).text.size());
    EXPECT_EQ(by_struct.name(), Payload::make(11).text);
    EXPECT_NE(by_lambda.name().find("lambda"), std::string_view::npos);
  }
  EXPECT_EQ(Tracked::live, 0);
}

TEST(InlineHandler, MoveAssignmentChainsKeepExactlyOneLiveHandler) {
  Tracked::live = 0;
  keel::World world = make_world();
  {
    keel::InlineHandler<int, 192> a = TrackedHandler(1);
    keel::InlineHandler<int, 192> b = TrackedHandler(2);
    keel::InlineHandler<int, 192> c;
    EXPECT_EQ(Tracked::live, 2);

    c = std::move(a);  // into empty
    EXPECT_FALSE(a);
    EXPECT_EQ(a.name(), "<empty>");
    b = std::move(c);  // over a live handler: the old one is destroyed first
    EXPECT_EQ(Tracked::live, 1);
    EXPECT_FALSE(c);
    a = std::move(c);  // empty into empty
    EXPECT_FALSE(a);

    auto& alias = b;
    b = std::move(alias);  // self-move keeps the handler
    ASSERT_TRUE(b);
    EXPECT_EQ(b.name(), Payload::make(1).text);

    for (int round = 0; round < 50; ++round) {
      a = std::move(b);
      c = std::move(a);
      b = std::move(c);
      ASSERT_EQ(Tracked::live, 1);
    }
    b.run(world, 0);
    EXPECT_EQ(world.resource<Count>().seen.back(), *Payload::make(1).owned);

    keel::InlineHandler<int, 192> constructed(std::move(b));
    EXPECT_FALSE(b);
    constructed.reset();
    constructed.reset();  // reset on empty is a no-op
    EXPECT_FALSE(constructed);
    EXPECT_EQ(Tracked::live, 0);

    constructed = TrackedHandler(9);  // reusable after reset
    EXPECT_EQ(Tracked::live, 1);
  }
  EXPECT_EQ(Tracked::live, 0);
}

TEST(InlineHandler, VectorGrowthRelocatesEveryHandlerIntact) {
  Tracked::live = 0;
  keel::World world = make_world();
  {
    std::vector<keel::InlineHandler<int, 192>> table;
    constexpr int kHandlers = 1000;
    for (int i = 0; i < kHandlers; ++i) {
      if (i % 2 == 0) {
        table.emplace_back(TrackedHandler(i));
      } else {
        std::string label = "lambda handler " + std::to_string(i) + std::string(60, '#');
        table.emplace_back(keel::handler(world.registry(), [label](keel::ResMut<Count> count, int) {
          count->seen.push_back(label);
        }));
      }
    }
    EXPECT_EQ(Tracked::live, kHandlers / 2);
    for (auto& h : table) h.run(world, 0);
    const auto& seen = world.resource<Count>().seen;
    ASSERT_EQ(seen.size(), static_cast<std::size_t>(kHandlers));
    for (int i = 0; i < kHandlers; ++i) {
      const std::string expected = i % 2 == 0 ? *Payload::make(i).owned
                                              : "lambda handler " + std::to_string(i) + std::string(60, '#');
      EXPECT_EQ(seen[static_cast<std::size_t>(i)], expected) << i;
    }
    // Erasing from the front relocates every survivor by move-assignment.
    table.erase(table.begin(), table.begin() + kHandlers / 4);
    EXPECT_EQ(table.size(), static_cast<std::size_t>(kHandlers - kHandlers / 4));
    EXPECT_EQ(table.front().name(), Payload::make(kHandlers / 4).text);
  }
  EXPECT_EQ(Tracked::live, 0);
}

TEST(InlineHandler, HandlerThatThrowsLeavesItsStorageIntact) {
  keel::World world = make_world();
  {
    std::string message(120, 'x');
    keel::InlineHandler<int, 192> h = keel::handler(world.registry(), [message](keel::ResMut<Count>, int e) {
      if (e < 0) throw std::runtime_error(message);
    });
    EXPECT_THROW(h.run(world, -1), std::runtime_error);
    keel::InlineHandler<int, 192> moved(std::move(h));
    EXPECT_NO_THROW(moved.run(world, 1));
    EXPECT_THROW(moved.run(world, -1), std::runtime_error);
  }
}

}  // namespace

// Sanitizer test for pattern 21 (docs/soundness.md): FixedCapacityBuffer
// constructs items in raw storage from std::allocator, destroys them in
// place, moves the unrun tail to the front after a partial run, and lends
// spare slots for raw bytes. Items own heap memory (std::string past the
// small-string size) and count their live instances, so a slot constructed
// twice, destroyed twice, read after destruction or never destroyed shows up
// under ASan/LSan or in the count.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>

#include "rt/internal/fixed_capacity_buffer.h"

namespace {

using keel::internal::FixedCapacityBuffer;

int live = 0;

// Heap-owning item whose bytes are checked on every read.
struct Item {
  explicit Item(int v) : value(v), text(64, static_cast<char>('a' + v % 26)) { ++live; }
  Item(const Item& other) : value(other.value), text(other.text) { ++live; }
  Item(Item&& other) noexcept : value(other.value), text(std::move(other.text)) {
    ++live;
    other.value = -1;
  }
  Item& operator=(const Item&) = delete;
  ~Item() {
    --live;
    value = -2;
  }
  bool intact() const { return value >= 0 && text == std::string(64, static_cast<char>('a' + value % 26)); }
  int value;
  std::string text;
};

struct Fixture : ::testing::Test {
  void SetUp() override { live = 0; }
  void TearDown() override { EXPECT_EQ(live, 0) << "an item was leaked or destroyed twice"; }
};
using FixedCapacityBufferTest = Fixture;

TEST_F(FixedCapacityBufferTest, ItemsAreBuiltInPlaceAndDestroyedOnceWhenTheBufferDies) {
  FixedCapacityBuffer<Item> buffer(8);
  for (int v = 0; v < 8; ++v) ASSERT_TRUE(buffer.emplace_back(v));
  EXPECT_FALSE(buffer.emplace_back(99));
  EXPECT_EQ(live, 8);
  for (const Item& item : buffer.items()) EXPECT_TRUE(item.intact());
}

TEST_F(FixedCapacityBufferTest, DroppingTheFrontMovesTheRestDownIntact) {
  FixedCapacityBuffer<Item> buffer(16);
  for (int round = 0; round < 50; ++round) {
    while (buffer.emplace_back(round * 16 + static_cast<int>(buffer.size()))) {
    }
    const int first_kept = buffer.items()[static_cast<std::size_t>(round % 5)].value;
    buffer.drop_front(static_cast<std::size_t>(round % 5));
    EXPECT_EQ(live, static_cast<int>(buffer.size()));
    ASSERT_FALSE(buffer.items().empty());
    EXPECT_EQ(buffer.items()[0].value, first_kept);
    for (const Item& item : buffer.items()) EXPECT_TRUE(item.intact());
    buffer.drop_front(buffer.size() / 2 + 1);
  }
  buffer.drop_front(buffer.size());
  EXPECT_EQ(live, 0);
  EXPECT_EQ(buffer.spare(), 16u);
}

TEST_F(FixedCapacityBufferTest, AFillCutShortByAThrowKeepsExactlyTheItemsItBuilt) {
  FixedCapacityBuffer<Item> buffer(10);
  buffer.emplace_back(100);
  EXPECT_THROW(buffer.fill(6,
                           [](std::size_t k) {
                             if (k == 4) throw std::runtime_error("generator failed");
                             return Item(static_cast<int>(k));
                           }),
               std::runtime_error);
  ASSERT_EQ(buffer.size(), 5u);
  EXPECT_EQ(live, 5);
  for (const Item& item : buffer.items()) EXPECT_TRUE(item.intact());
  // The slot the throw left empty is reused cleanly.
  EXPECT_EQ(buffer.fill(100, [](std::size_t k) { return Item(static_cast<int>(k) + 50); }), 5u);
  EXPECT_EQ(buffer.items()[5].value, 50);
  EXPECT_EQ(live, 10);
}

TEST_F(FixedCapacityBufferTest, MovingTheBufferHandsOverItsItemsWithoutCopyingThem) {
  FixedCapacityBuffer<Item> first(4);
  first.emplace_back(1);
  first.emplace_back(2);
  const Item* where = first.data();
  FixedCapacityBuffer<Item> second(std::move(first));
  EXPECT_EQ(second.data(), where);
  EXPECT_EQ(live, 2);
  FixedCapacityBuffer<Item> third(3);
  third.emplace_back(7);
  third = std::move(second);  // destroys 7, takes 1 and 2
  EXPECT_EQ(live, 2);
  EXPECT_EQ(third.items()[1].value, 2);
  EXPECT_TRUE(third.items()[1].intact());
  EXPECT_EQ(first.size(), 0u);
  EXPECT_FALSE(first.emplace_back(3));  // a moved-from buffer has no slots
}

TEST_F(FixedCapacityBufferTest, BytesWrittenIntoSpareSlotsAreReadBackAsItems) {
  struct Wire {
    std::uint32_t sequence;
    char payload[28];
  };
  FixedCapacityBuffer<Wire> buffer(4);
  std::span<Wire> spare = buffer.unfilled();
  ASSERT_EQ(spare.size(), 4u);
  unsigned char bytes[3 * sizeof(Wire)];
  for (std::size_t k = 0; k < sizeof bytes; ++k) bytes[k] = static_cast<unsigned char>(k);
  std::memcpy(static_cast<void*>(spare.data()), bytes, sizeof bytes);
  buffer.commit(3);
  ASSERT_EQ(buffer.size(), 3u);
  EXPECT_EQ(std::memcmp(buffer.data(), bytes, sizeof bytes), 0);
  EXPECT_EQ(buffer.unfilled().size(), 1u);
  buffer.commit(5);  // only one slot was spare
  EXPECT_EQ(buffer.size(), 4u);
}

TEST_F(FixedCapacityBufferTest, AZeroCapacityBufferRefusesEverythingAndAllocatesNothing) {
  FixedCapacityBuffer<Item> buffer(0);
  EXPECT_EQ(buffer.data(), nullptr);
  EXPECT_FALSE(buffer.emplace_back(1));
  EXPECT_EQ(buffer.fill(3, [](std::size_t k) { return Item(static_cast<int>(k)); }), 0u);
  buffer.drop_front(1);
  EXPECT_EQ(buffer.size(), 0u);
}

}  // namespace

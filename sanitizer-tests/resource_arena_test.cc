// Sanitizer test for rt/internal/resource_arena.h: placement construction in
// arena blocks, the erased destroy function, resource_cast out of erased
// storage and aligned block allocation. Run under --config=asan (ASan+UBSan):
// an object placed past its block, misaligned, destroyed twice or never, or
// read after the arena died is reported here.
#include "rt/internal/resource_arena.h"

#include <gtest/gtest.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "rt/error.h"
#include "rt/world.h"

namespace {

using keel::internal::ResourceArena;
using keel::internal::resource_cast;

// Records constructions and destructions by id, in order.
struct Log {
  std::vector<int> constructed;
  std::vector<int> destroyed;
};

// A resource of Size bytes aligned to Align that fills its whole body with a
// pattern derived from its id, logs its lifetime and checks the pattern when
// it dies: an overlapping neighbour or a stray write shows up as a mismatch,
// an out-of-block placement as an ASan report.
template <std::size_t Size, std::size_t Align>
struct alignas(Align) Blob {
  static_assert(Size >= sizeof(int) + sizeof(Log*));

  Blob(int id_, Log* log_) : id(id_), log(log_) {
    std::memset(body.data(), pattern(), body.size());
    log->constructed.push_back(id);
  }
  Blob(const Blob&) = delete;
  Blob& operator=(const Blob&) = delete;
  ~Blob() {
    EXPECT_TRUE(intact()) << "resource " << id << " was overwritten";
    log->destroyed.push_back(id);
  }

  unsigned char pattern() const noexcept { return static_cast<unsigned char>(0x5A ^ id); }
  bool intact() const noexcept {
    for (const std::byte b : body)
      if (static_cast<unsigned char>(b) != pattern()) return false;
    return true;
  }

  int id;
  Log* log;
  std::array<std::byte, Size - sizeof(int) - sizeof(Log*)> body;
};

template <class T>
bool aligned_for(const T* p) {
  return reinterpret_cast<std::uintptr_t>(p) % alignof(T) == 0;
}

// Throws from its constructor after touching its storage, so that a rollback
// that forgot the space would hand the same bytes to two objects.
template <std::size_t Size, std::size_t Align>
struct alignas(Align) Throwing {
  explicit Throwing(int) {
    std::memset(body.data(), 0xEE, body.size());
    throw std::runtime_error("constructor failed on purpose, with a message long enough to allocate");
  }
  std::array<std::byte, Size> body;
};

TEST(ResourceArena, PlacesResourcesOfMixedSizesAndAlignmentsWithoutOverlap) {
  Log log;
  {
    ResourceArena arena;
    std::vector<Blob<16, 8>*> small;
    std::vector<Blob<24, 16>*> medium;
    std::vector<Blob<200, 64>*> cache_lines;
    std::vector<Blob<256, 128>*> over_aligned;  // above the block alignment: a block of its own
    std::vector<Blob<17 * 1024, 8>*> oversized;  // above a quarter block: a block of its own
    std::vector<Blob<70 * 1024, 16>*> larger_than_a_block;
    int id = 0;
    for (int round = 0; round < 300; ++round) {
      small.push_back(arena.emplace<Blob<16, 8>>(id++, &log));
      medium.push_back(arena.emplace<Blob<24, 16>>(id++, &log));
      cache_lines.push_back(arena.emplace<Blob<200, 64>>(id++, &log));
      if (round % 10 == 0) over_aligned.push_back(arena.emplace<Blob<256, 128>>(id++, &log));
      if (round % 25 == 0) oversized.push_back(arena.emplace<Blob<17 * 1024, 8>>(id++, &log));
      if (round % 100 == 0) larger_than_a_block.push_back(arena.emplace<Blob<70 * 1024, 16>>(id++, &log));
    }
    EXPECT_EQ(arena.size(), static_cast<std::size_t>(id));

    auto check = [](const auto& objects) {
      for (const auto* object : objects) {
        EXPECT_TRUE(aligned_for(object)) << "resource " << object->id;
        EXPECT_TRUE(object->intact()) << "resource " << object->id;
      }
    };
    check(small);
    check(medium);
    check(cache_lines);
    check(over_aligned);
    check(oversized);
    check(larger_than_a_block);
  }
  EXPECT_EQ(log.constructed.size(), log.destroyed.size());
}

TEST(ResourceArena, ThrowingConstructorLeavesTheArenaAsItWas) {
  Log log;
  ResourceArena arena;
  auto* before = arena.emplace<Blob<64, 8>>(1, &log);

  // In a shared block, in an oversized block and in an over-aligned block.
  EXPECT_THROW((arena.emplace<Throwing<48, 16>>(0)), std::runtime_error);
  EXPECT_THROW((arena.emplace<Throwing<20 * 1024, 8>>(0)), std::runtime_error);
  EXPECT_THROW((arena.emplace<Throwing<512, 256>>(0)), std::runtime_error);
  EXPECT_EQ(arena.size(), 1u);

  // The space is reused: the next resource goes where the failed one would
  // have, and nobody's bytes are shared.
  auto* after = arena.emplace<Blob<48, 16>>(2, &log);
  auto* big_after = arena.emplace<Blob<20 * 1024, 8>>(3, &log);
  EXPECT_EQ(arena.size(), 3u);
  EXPECT_TRUE(before->intact());
  EXPECT_TRUE(after->intact());
  EXPECT_TRUE(big_after->intact());

  arena.destroy_all();
  EXPECT_EQ(log.destroyed, (std::vector<int>{3, 2, 1}));
}

TEST(ResourceArena, ThrowingConstructorInTheMiddleOfManyKeepsEveryOtherResource) {
  Log log;
  {
    ResourceArena arena;
    for (int id = 0; id < 2000; ++id) {
      if (id % 7 == 3) {
        EXPECT_THROW((arena.emplace<Throwing<40, 8>>(id)), std::runtime_error);
      } else {
        arena.emplace<Blob<40, 8>>(id, &log);
      }
    }
    EXPECT_EQ(arena.size(), log.constructed.size());
  }
  std::vector<int> expected(log.constructed.rbegin(), log.constructed.rend());
  EXPECT_EQ(log.destroyed, expected);
}

// Emplaces another resource into the same arena from its constructor, then
// throws: the inner resource was placed after the failed one's space, so that
// space must not be handed out again while the inner resource lives there.
template <std::size_t Size>
struct EmplacesThenThrows {
  EmplacesThenThrows(ResourceArena& arena, Log* log) {
    arena.emplace<Blob<Size, 8>>(100, log);
    throw std::runtime_error("constructor registered a helper, then failed");
  }
  std::array<std::byte, Size> body;
};

TEST(ResourceArena, ResourceEmplacedByAThrowingConstructorStaysAliveAndUnshared) {
  Log log;
  {
    ResourceArena arena;
    arena.emplace<Blob<64, 8>>(1, &log);
    EXPECT_THROW((arena.emplace<EmplacesThenThrows<64>>(arena, &log)), std::runtime_error);
    EXPECT_THROW((arena.emplace<EmplacesThenThrows<20 * 1024>>(arena, &log)), std::runtime_error);
    EXPECT_EQ(arena.size(), 3u);  // Blob 1 and the two helpers (id 100)
    auto* next = arena.emplace<Blob<64, 8>>(2, &log);
    auto* big_next = arena.emplace<Blob<20 * 1024, 8>>(3, &log);
    EXPECT_TRUE(next->intact());
    EXPECT_TRUE(big_next->intact());
  }  // each Blob checks its own pattern as it dies
  EXPECT_EQ(log.destroyed, (std::vector<int>{3, 2, 100, 100, 1}));
}

TEST(ResourceArena, DestroysInReverseOrderExactlyOnceAndDestroyAllIsIdempotent) {
  Log log;
  {
    ResourceArena arena;
    for (int id = 0; id < 1000; ++id) {
      if (id % 3 == 0) {
        arena.emplace<Blob<32, 8>>(id, &log);
      } else if (id % 3 == 1) {
        arena.emplace<Blob<128, 128>>(id, &log);
      } else {
        arena.emplace<Blob<16 * 1024, 16>>(id, &log);
      }
    }
    arena.destroy_all();
    EXPECT_EQ(arena.size(), 0u);
    arena.destroy_all();  // nothing left to destroy
    // The arena is usable again after destroy_all.
    arena.emplace<Blob<32, 8>>(1000, &log);
  }  // ~ResourceArena destroys the last one
  ASSERT_EQ(log.destroyed.size(), 1001u);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(log.destroyed[static_cast<std::size_t>(i)], 999 - i);
  EXPECT_EQ(log.destroyed.back(), 1000);
}

TEST(ResourceArena, ResourceCastRecoversTheEmplacedObjectFromItsErasedAddress) {
  Log log;
  ResourceArena arena;
  auto* text = arena.emplace<std::string>(200, 'k');  // heap-owning resource
  auto* numbers = arena.emplace<std::vector<std::uint64_t>>(std::vector<std::uint64_t>{1, 2, 3, 5, 8});
  auto* aligned = arena.emplace<Blob<256, 128>>(7, &log);
  auto* owner = arena.emplace<std::unique_ptr<int>>(std::make_unique<int>(42));

  void* erased[] = {text, numbers, aligned, owner};
  EXPECT_EQ(*resource_cast<std::string>(erased[0]), std::string(200, 'k'));
  EXPECT_EQ(resource_cast<std::vector<std::uint64_t>>(erased[1])->at(4), 8u);
  auto* blob = resource_cast<Blob<256, 128>>(erased[2]);
  EXPECT_TRUE(aligned_for(blob));
  EXPECT_EQ(blob->id, 7);
  EXPECT_TRUE(blob->intact());
  EXPECT_EQ(**resource_cast<std::unique_ptr<int>>(erased[3]), 42);

  // Writes through the recovered pointer reach the resource.
  resource_cast<std::string>(erased[0])->append("more");
  EXPECT_EQ(text->size(), 204u);
}

// World storage: the arena lives in a heap-allocated WorldStorage that moves
// from the builder to the World, so resource addresses survive every move.
struct Book {
  explicit Book(Log* log_) : log(log_) { log->constructed.push_back(1); }
  Book(const Book&) = delete;
  ~Book() { log->destroyed.push_back(1); }
  Log* log;
  std::vector<std::string> orders{std::string(64, 'o')};
};
struct alignas(128) Limits {
  explicit Limits(Log* log_) : log(log_) { log->constructed.push_back(2); }
  Limits(const Limits&) = delete;
  ~Limits() { log->destroyed.push_back(2); }
  Log* log;
  std::int64_t max_qty = 100;
};
struct Snapshot {
  explicit Snapshot(Log* log_) : log(log_) { log->constructed.push_back(3); }
  Snapshot(const Snapshot&) = delete;
  ~Snapshot() { log->destroyed.push_back(3); }
  Log* log;
  std::array<std::byte, 32 * 1024> bytes{};
};
struct Fragile {
  explicit Fragile(int) { throw std::runtime_error("Fragile refuses to be built"); }
};

TEST(ResourceArena, WorldResourcesKeepTheirAddressesThroughBuilderAndWorldMoves) {
  Log log;
  {
    keel::WorldBuilder wb;
    Book* book = &wb.emplace<Book>(&log);
    Limits* limits = &wb.emplace<Limits>(&log);
    EXPECT_THROW(wb.emplace<Fragile>(0), std::runtime_error);
    Snapshot* snapshot = &wb.emplace<Snapshot>(&log);
    EXPECT_FALSE(wb.contains<Fragile>());
    EXPECT_THROW(wb.emplace<Book>(&log), keel::ConfigError);  // the first Book is kept

    keel::WorldBuilder moved_builder(std::move(wb));
    keel::World first = std::move(moved_builder).build();
    keel::World second(std::move(first));
    keel::WorldBuilder other;
    other.insert(std::string("replaced"));
    keel::World third = std::move(other).build();
    third = std::move(second);

    EXPECT_EQ(&third.resource<Book>(), book);
    EXPECT_EQ(&third.resource<Limits>(), limits);
    EXPECT_EQ(&third.resource<Snapshot>(), snapshot);
    EXPECT_EQ(&third.registry().resolve<Limits>(), limits);
    EXPECT_TRUE(aligned_for(&third.resource<Limits>()));
    EXPECT_EQ(third.resource<Book>().orders.front(), std::string(64, 'o'));
    EXPECT_EQ(third.try_resource<std::string>(), nullptr);  // went with the replaced World
    third.resource<Limits>().max_qty = 7;
    EXPECT_EQ(limits->max_qty, 7);
    // The duplicate Book was rejected before construction; Fragile never lived.
    EXPECT_EQ(log.constructed, (std::vector<int>{1, 2, 3}));
    EXPECT_TRUE(log.destroyed.empty());
  }
  EXPECT_EQ(log.destroyed, (std::vector<int>{3, 2, 1}));
}

}  // namespace

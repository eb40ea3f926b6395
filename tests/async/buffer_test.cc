// Tests for async/buffer.h: a Buffer's contents grow only through
// commit(), append() or a completed read and never past its capacity; its
// bytes never move; freezing consumes it into Bytes without allocating;
// Bytes copies and slices share one storage, counted atomically, which
// goes with the last of them; every error path leaves the object as it was.
#include "async/buffer.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <latch>
#include <limits>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "tests/async/allocation_counter.h"

namespace {

using keel::Buffer;
using keel::Bytes;
using keel::internal::BufferAccess;

// Writes `text` into the spare capacity and commits it, as a read would.
void write(Buffer& buf, std::string_view text) {
  std::span<std::byte> room = buf.spare_capacity();
  ASSERT_LE(text.size(), room.size());
  for (std::size_t i = 0; i < text.size(); ++i) room[i] = static_cast<std::byte>(text[i]);
  buf.commit(text.size());
}

// --- Buffer ---------------------------------------------------------------------------------

static_assert(!std::is_copy_constructible_v<Buffer> && !std::is_copy_assignable_v<Buffer>);
static_assert(std::is_nothrow_move_constructible_v<Buffer> && std::is_nothrow_move_assignable_v<Buffer>);

TEST(Buffer, DefaultIsEmptyWithNoCapacityAndNoStorage) {
  const std::size_t before = keel_test::allocations();
  Buffer buf;
  Buffer zero(0);
  const std::size_t after = keel_test::allocations();
  EXPECT_EQ(after, before);
  EXPECT_EQ(zero.capacity(), 0u);
  EXPECT_EQ(buf.size(), 0u);
  EXPECT_EQ(buf.capacity(), 0u);
  EXPECT_TRUE(buf.empty());
  EXPECT_TRUE(buf.view().empty());
  EXPECT_TRUE(buf.span().empty());
  EXPECT_TRUE(buf.spare_capacity().empty());
  EXPECT_EQ(buf.append("x"), 0u);
  buf.commit(0);
  EXPECT_THROW(buf.commit(1), std::length_error);
  EXPECT_TRUE(std::move(buf).freeze().empty());
}

TEST(Buffer, ACapacityIsOneAllocationOfUninitialisedSpareBytes) {
  const std::size_t before = keel_test::allocations();
  Buffer buf(100);
  EXPECT_EQ(keel_test::allocations(), before + 1);  // header and bytes together
  EXPECT_EQ(buf.capacity(), 100u);
  EXPECT_EQ(buf.size(), 0u);
  EXPECT_TRUE(buf.empty());
  EXPECT_EQ(buf.spare_capacity().size(), 100u);
  EXPECT_TRUE(buf.view().empty());  // nothing to read before a commit
}

TEST(Buffer, CommittedBytesJoinTheContentsAndShrinkTheSpareCapacity) {
  Buffer buf(16);
  write(buf, "hello");
  EXPECT_EQ(buf.size(), 5u);
  EXPECT_EQ(buf.view(), "hello");
  EXPECT_EQ(buf.spare_capacity().size(), 11u);
  EXPECT_EQ(buf.spare_capacity().data(), buf.span().data() + 5);
  write(buf, " world");
  EXPECT_EQ(buf.view(), "hello world");
  buf.commit(0);
  EXPECT_EQ(buf.size(), 11u);
}

TEST(Buffer, CommitPastTheCapacityThrowsAndChangesNothing) {
  Buffer buf(8);
  write(buf, "abc");
  EXPECT_THROW(buf.commit(6), std::length_error);
  EXPECT_THROW(buf.commit(std::numeric_limits<std::size_t>::max()), std::length_error);
  EXPECT_EQ(buf.view(), "abc");
  buf.commit(5);  // exactly to the capacity
  EXPECT_EQ(buf.size(), 8u);
  EXPECT_TRUE(buf.spare_capacity().empty());
  EXPECT_THROW(buf.commit(1), std::length_error);
}

TEST(Buffer, CopyOfHoldsExactlyTheBytes) {
  Buffer buf = Buffer::copy_of("quote");
  EXPECT_EQ(buf.view(), "quote");
  EXPECT_EQ(buf.capacity(), 5u);
  EXPECT_TRUE(buf.spare_capacity().empty());
  const std::size_t before = keel_test::allocations();
  Buffer none = Buffer::copy_of("");
  EXPECT_EQ(none.capacity(), 0u);
  EXPECT_EQ(keel_test::allocations(), before);
}

TEST(Buffer, AppendCopiesWhatFitsAndSaysHowMuch) {
  Buffer buf(8);
  EXPECT_EQ(buf.append("abc"), 3u);
  EXPECT_EQ(buf.append(""), 0u);
  EXPECT_EQ(buf.append("defghij"), 5u);  // 5 of 7 fit
  EXPECT_EQ(buf.view(), "abcdefgh");
  EXPECT_EQ(buf.append("k"), 0u);
  EXPECT_EQ(buf.view(), "abcdefgh");
}

TEST(Buffer, ConsumeDropsTheFrontAndKeepsTheTailInPlaceOfIt) {
  Buffer buf(16);
  write(buf, "LEN5:abcdeLEN");  // a parser took one frame and keeps a partial header
  std::byte* const front = buf.span().data();
  buf.consume(10);
  EXPECT_EQ(buf.view(), "LEN");
  EXPECT_EQ(buf.span().data(), front);  // moved to the front, not re-pointed
  EXPECT_EQ(buf.spare_capacity().size(), 13u);
  write(buf, "3:xyz");
  EXPECT_EQ(buf.view(), "LEN3:xyz");
  buf.consume(0);
  EXPECT_EQ(buf.view(), "LEN3:xyz");
  buf.consume(8);
  EXPECT_TRUE(buf.empty());
  EXPECT_EQ(buf.capacity(), 16u);
}

TEST(Buffer, ConsumingMoreThanTheContentsThrowsAndChangesNothing) {
  Buffer buf = Buffer::copy_of("abc");
  EXPECT_THROW(buf.consume(4), std::out_of_range);
  EXPECT_EQ(buf.view(), "abc");
  Buffer empty;
  EXPECT_THROW(empty.consume(1), std::out_of_range);
}

TEST(Buffer, ClearForgetsTheContentsAndKeepsTheCapacity) {
  Buffer buf = Buffer::copy_of("abcdef");
  std::byte* const front = buf.span().data();
  buf.clear();
  EXPECT_TRUE(buf.empty());
  EXPECT_EQ(buf.capacity(), 6u);
  EXPECT_EQ(buf.spare_capacity().data(), front);
  EXPECT_EQ(buf.spare_capacity().size(), 6u);
}

TEST(Buffer, SpanWritesThroughToTheContents) {
  Buffer buf = Buffer::copy_of("bid");
  buf.span()[0] = std::byte{'r'};
  EXPECT_EQ(buf.view(), "rid");
  const Buffer& reader = buf;
  static_assert(std::is_same_v<decltype(reader.span()), std::span<const std::byte>>);
  EXPECT_EQ(reader.span().size(), 3u);
}

TEST(Buffer, MovingKeepsTheBytesWhereTheyAreAndEmptiesTheSource) {
  Buffer a(32);
  write(a, "stable");
  const std::byte* const where = a.span().data();
  Buffer b = std::move(a);
  EXPECT_EQ(b.span().data(), where);
  EXPECT_EQ(b.view(), "stable");
  EXPECT_EQ(a.capacity(), 0u);  // NOLINT(bugprone-use-after-move): moved-from is empty by contract
  EXPECT_TRUE(a.empty());
  Buffer c;
  c = std::move(b);
  EXPECT_EQ(c.span().data(), where);
  EXPECT_EQ(b.capacity(), 0u);  // NOLINT(bugprone-use-after-move)
}

TEST(Buffer, AssigningOverABufferFreesItsStorage) {
  Buffer a(8);
  Buffer b(8);
  const std::size_t freed = keel_test::deallocations();
  a = std::move(b);
  EXPECT_EQ(keel_test::deallocations(), freed + 1);
  a = std::move(a);  // self-move: keeps its storage
  EXPECT_EQ(a.capacity(), 8u);
  EXPECT_EQ(keel_test::deallocations(), freed + 1);
}

// --- freeze -------------------------------------------------------------------------------

TEST(Buffer, FreezeConsumesTheBufferIntoBytesWithoutAllocating) {
  Buffer buf(64);
  write(buf, "fill 42 @ 101.5");
  const std::byte* const where = buf.span().data();
  const std::size_t allocated = keel_test::allocations();
  const std::size_t freed = keel_test::deallocations();
  Bytes bytes = std::move(buf).freeze();
  EXPECT_EQ(keel_test::allocations(), allocated);
  EXPECT_EQ(keel_test::deallocations(), freed);
  EXPECT_EQ(bytes.view(), "fill 42 @ 101.5");
  EXPECT_EQ(bytes.span().data(), where);  // the same bytes, not a copy
  EXPECT_EQ(bytes.use_count(), 1u);
  EXPECT_EQ(buf.capacity(), 0u);  // NOLINT(bugprone-use-after-move): freeze leaves it empty
}

TEST(Buffer, FreezeNKeepsTheFirstNBytes) {
  Buffer buf = Buffer::copy_of("header|body");
  Bytes head = std::move(buf).freeze(6);
  EXPECT_EQ(head.view(), "header");
  EXPECT_EQ(buf.capacity(), 0u);  // NOLINT(bugprone-use-after-move)
}

TEST(Buffer, FreezeNPastTheContentsThrowsAndLeavesTheBufferAsItWas) {
  Buffer buf(16);
  write(buf, "abc");
  EXPECT_THROW(static_cast<void>(std::move(buf).freeze(4)), std::out_of_range);
  EXPECT_EQ(buf.view(), "abc");  // NOLINT(bugprone-use-after-move): the throw consumed nothing
  EXPECT_EQ(buf.capacity(), 16u);
  EXPECT_EQ(std::move(buf).freeze(3).view(), "abc");
}

TEST(Buffer, FreezingNothingGivesEmptyBytesAndFreesTheStorage) {
  Buffer buf(32);
  const std::size_t freed = keel_test::deallocations();
  Bytes none = std::move(buf).freeze();
  EXPECT_TRUE(none.empty());
  EXPECT_EQ(none.use_count(), 0u);
  EXPECT_EQ(keel_test::deallocations(), freed + 1);
  Buffer other = Buffer::copy_of("abc");
  EXPECT_TRUE(std::move(other).freeze(0).empty());
  EXPECT_EQ(keel_test::deallocations(), freed + 2);
}

// --- Bytes --------------------------------------------------------------------------------

static_assert(std::is_nothrow_copy_constructible_v<Bytes> && std::is_nothrow_move_constructible_v<Bytes>);
// No mutable access once frozen: every accessor is const and yields const bytes.
static_assert(std::is_same_v<decltype(std::declval<Bytes&>().span()), std::span<const std::byte>>);
static_assert(std::is_same_v<decltype(BufferAccess::data(std::declval<const Bytes&>())), const std::byte*>);

TEST(Bytes, DefaultIsEmptyAndHoldsNoStorage) {
  Bytes b;
  EXPECT_EQ(b.size(), 0u);
  EXPECT_TRUE(b.empty());
  EXPECT_TRUE(b.view().empty());
  EXPECT_TRUE(b.span().empty());
  EXPECT_EQ(b.use_count(), 0u);
  Bytes copy = b;
  EXPECT_EQ(copy.use_count(), 0u);
}

TEST(Bytes, CopyOfIsOneAllocationAndNoneWhenEmpty) {
  std::size_t before = keel_test::allocations();
  Bytes b = Bytes::copy_of("ESZ5");
  EXPECT_EQ(keel_test::allocations(), before + 1);
  EXPECT_EQ(b.view(), "ESZ5");
  EXPECT_EQ(b.use_count(), 1u);
  before = keel_test::allocations();
  EXPECT_TRUE(Bytes::copy_of("").empty());
  EXPECT_EQ(keel_test::allocations(), before);
}

TEST(Bytes, CopiesShareTheStorageAndCountThemselves) {
  Bytes a = Bytes::copy_of("shared");
  const std::size_t before = keel_test::allocations();
  {
    Bytes b = a;
    EXPECT_EQ(a.use_count(), 2u);
    Bytes c;
    c = b;
    EXPECT_EQ(a.use_count(), 3u);
    EXPECT_EQ(c.span().data(), a.span().data());
    c = c;  // self-assignment keeps the count
    EXPECT_EQ(a.use_count(), 3u);
    c = Bytes::copy_of("other");  // lets go of the shared storage
    EXPECT_EQ(a.use_count(), 2u);
  }
  EXPECT_EQ(a.use_count(), 1u);
  EXPECT_EQ(keel_test::allocations(), before + 1);  // the "other" one only
}

TEST(Bytes, MovingHandsTheCountOverAndEmptiesTheSource) {
  Bytes a = Bytes::copy_of("moved");
  Bytes keep = a;
  Bytes b = std::move(a);
  EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move): moved-from is empty by contract
  EXPECT_EQ(a.use_count(), 0u);
  EXPECT_EQ(b.use_count(), 2u);
  Bytes c;
  c = std::move(b);
  EXPECT_EQ(c.view(), "moved");
  EXPECT_EQ(keep.use_count(), 2u);
}

TEST(Bytes, TheLastCopyFreesTheStorage) {
  const std::size_t freed = keel_test::deallocations();
  {
    Bytes a = Bytes::copy_of("once");
    Bytes b = a;
    Bytes c = b.slice(1, 2);
    a = Bytes();
    b = Bytes();
    EXPECT_EQ(keel_test::deallocations(), freed);
    EXPECT_EQ(c.view(), "nc");
  }
  EXPECT_EQ(keel_test::deallocations(), freed + 1);
}

TEST(Bytes, SlicesShareTheStorageAndAreBoundsChecked) {
  Bytes msg = Bytes::copy_of("8=FIX.4.2|35=D|55=ESZ5");
  const std::size_t before = keel_test::allocations();
  Bytes type = msg.slice(10, 4);
  EXPECT_EQ(type.view(), "35=D");
  EXPECT_EQ(type.span().data(), msg.span().data() + 10);
  EXPECT_EQ(msg.use_count(), 2u);
  Bytes value = type.slice(3, 1);  // a slice of a slice
  EXPECT_EQ(value.view(), "D");
  EXPECT_EQ(msg.use_count(), 3u);
  EXPECT_EQ(msg.slice(0, msg.size()).view(), msg.view());
  EXPECT_EQ(keel_test::allocations(), before);

  EXPECT_THROW(static_cast<void>(msg.slice(0, msg.size() + 1)), std::out_of_range);
  EXPECT_THROW(static_cast<void>(msg.slice(msg.size() + 1, 0)), std::out_of_range);
  EXPECT_THROW(static_cast<void>(msg.slice(5, std::numeric_limits<std::size_t>::max())), std::out_of_range);
  EXPECT_THROW(static_cast<void>(type.slice(2, 3)), std::out_of_range);
  EXPECT_THROW(static_cast<void>(Bytes().slice(0, 1)), std::out_of_range);
  EXPECT_EQ(msg.use_count(), 3u);  // the failed slices took no count
}

TEST(Bytes, AnEmptySliceHoldsNoStorage) {
  Bytes msg = Bytes::copy_of("abc");
  Bytes none = msg.slice(3, 0);
  EXPECT_TRUE(none.empty());
  EXPECT_EQ(none.use_count(), 0u);
  EXPECT_EQ(msg.use_count(), 1u);
  EXPECT_TRUE(Bytes().slice(0, 0).empty());
}

TEST(Bytes, ASliceOutlivesTheBufferItWasFrozenFrom) {
  Bytes tail;
  {
    Buffer buf(32);
    write(buf, "prefix:payload");
    Bytes whole = std::move(buf).freeze();
    tail = whole.slice(7, 7);
  }
  EXPECT_EQ(tail.view(), "payload");
  EXPECT_EQ(tail.use_count(), 1u);
}

// Copies of one Bytes dropped on several threads at once: the count is
// atomic, the storage is freed once, by whichever thread lets go last,
// after every thread's reads.
TEST(Bytes, CopiesDroppedOnManyThreadsFreeTheStorageOnce) {
  constexpr int kThreads = 4;
  constexpr int kRounds = 50;
  for (int round = 0; round < kRounds; ++round) {
    Bytes original = Bytes::copy_of("market data snapshot");
    std::latch start(kThreads);
    std::atomic<std::size_t> read_bytes{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([copy = original, &start, &read_bytes]() mutable {
        start.arrive_and_wait();
        Bytes part = copy.slice(7, 4);
        read_bytes.fetch_add(part.view() == "data" ? part.size() : 0);
      });
    }
    original = Bytes();
    for (std::thread& t : threads) t.join();
    EXPECT_EQ(read_bytes.load(), 4u * kThreads);
  }
}

// --- The IO layer's access ------------------------------------------------------------------

TEST(BufferAccess, AReadFillsFromTheStartAndSetsTheSize) {
  Buffer buf(8);
  std::byte* data = BufferAccess::data(buf);
  EXPECT_EQ(data, buf.spare_capacity().data());
  EXPECT_EQ(BufferAccess::capacity(buf), 8u);
  data[0] = std::byte{'o'};
  data[1] = std::byte{'k'};
  BufferAccess::set_size(buf, 2);  // as a completed read of 2 bytes
  EXPECT_EQ(buf.view(), "ok");
  EXPECT_THROW(BufferAccess::set_size(buf, 9), std::length_error);
  EXPECT_EQ(buf.view(), "ok");
  Bytes frozen = std::move(buf).freeze();
  EXPECT_EQ(BufferAccess::data(frozen), frozen.span().data());
  Buffer empty;
  EXPECT_EQ(BufferAccess::data(empty), nullptr);
  BufferAccess::set_size(empty, 0);
}

}  // namespace

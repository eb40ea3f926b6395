// Buffer storage under ASan (async/internal/buffer_storage.h, patterns
// 35-37 in docs/soundness.md): heap blocks with their count in the header,
// freed once by the last Buffer, Bytes or slice; pool slots at a fixed
// stride in one allocation, reused only when no one names them; a pool
// that goes before its buffers; waiters linked from coroutine frames.
//
// The memory is where ASan watches it: every byte of every slot is written
// (a slot past the allocation's end is a heap-buffer-overflow), storage
// freed early is read afterwards (heap-use-after-free), storage never
// freed is a leak at exit, and task frames come from the heap (the runtime
// gets no arena classes), so a waiter node left linked in a destroyed
// frame is a heap-use-after-free when the pool walks its line.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "async/buffer.h"
#include "async/buffer_pool.h"
#include "async/join_handle.h"
#include "async/runtime.h"
#include "async/task.h"
#include "rt/world.h"

namespace {

using keel::Buffer;
using keel::BufferPool;
using keel::Bytes;
using keel::async::JoinHandle;
using keel::async::Runtime;
using keel::async::Task;

keel::async::RuntimeOptions heap_frames() {
  keel::async::RuntimeOptions options;
  options.arena = {};  // every frame from the heap, where ASan sees it freed
  return options;
}

// Fills the whole spare capacity with `tag` and commits it: every byte of
// the slot is touched.
void fill(Buffer& b, char tag) {
  for (std::byte& x : b.spare_capacity()) x = static_cast<std::byte>(tag);
  b.commit(b.spare_capacity().size());
}

bool all_of(std::string_view bytes, char tag) { return bytes.find_first_not_of(tag) == std::string_view::npos; }

// Copies, slices, moves and assignments of heap Bytes in a random order;
// each drop may be the last. A block freed while a Bytes names it is read
// afterwards (use-after-free); one freed twice is a double free; one never
// freed leaks.
TEST(BufferStorage, HeapBlocksAreFreedOnceByTheirLastOwnerWhateverTheOrder) {
  for (std::uint32_t seed = 0; seed < 50; ++seed) {
    std::mt19937 rng(seed);
    std::vector<std::pair<Bytes, std::string>> live;
    for (int step = 0; step < 400; ++step) {
      const unsigned op = rng() % 5;
      if (op == 0 || live.empty()) {
        std::string text(1 + rng() % 64, static_cast<char>('a' + rng() % 26));
        Buffer b(text.size() + rng() % 16);
        b.append(text);
        live.emplace_back(std::move(b).freeze(), text);
      } else {
        const std::size_t i = rng() % live.size();
        if (op == 1) {
          live.push_back(live[i]);
        } else if (op == 2) {
          const std::string& text = live[i].second;
          const std::size_t offset = rng() % text.size();
          const std::size_t length = 1 + rng() % (text.size() - offset);
          live.emplace_back(live[i].first.slice(offset, length), text.substr(offset, length));
        } else if (op == 3) {
          const std::size_t j = rng() % live.size();
          live[j] = live[i];  // may drop j's last hold, or be a self-assignment
        } else {
          live.erase(live.begin() + static_cast<std::ptrdiff_t>(i));
        }
      }
      for (const auto& [bytes, text] : live) ASSERT_EQ(bytes.view(), text);
    }
  }
}

TEST(BufferStorage, ASliceKeepsItsStorageAliveAfterEveryOtherOwnerIsGone) {
  Bytes heap_slice;
  Bytes pool_slice;
  {
    Buffer b(4096);
    fill(b, 'h');
    Bytes whole = std::move(b).freeze();
    heap_slice = whole.slice(4000, 96);
  }
  std::optional<BufferPool> pool;
  pool.emplace(4096, 2);
  {
    Buffer b = *pool->try_acquire();
    fill(b, 'p');
    Bytes whole = std::move(b).freeze();
    Bytes copy = whole;
    pool_slice = copy.slice(0, 4096);
  }
  pool.reset();  // the slice holds the pool's storage now
  EXPECT_TRUE(all_of(heap_slice.view(), 'h'));
  EXPECT_TRUE(all_of(pool_slice.view(), 'p'));
}

// Every slot filled to its capacity (a slot reaching past the allocation
// is an overflow), then slots reused while slices of others are read: a
// slot handed out while named would overwrite a slice's bytes.
TEST(BufferStorage, PoolSlotsStayInsideTheAllocationAndAreNotReusedWhileNamed) {
  for (std::size_t size : {1u, 63u, 64u, 65u, 4095u, 4097u}) {
    BufferPool pool(size, 5);
    std::vector<Bytes> slices;
    for (int round = 0; round < 20; ++round) {
      std::vector<Buffer> out;
      while (std::optional<Buffer> b = pool.try_acquire()) out.push_back(std::move(*b));
      for (std::size_t i = 0; i < out.size(); ++i) fill(out[i], static_cast<char>('A' + (round + i) % 26));
      if (!out.empty() && slices.size() < 4) {
        Bytes frozen = std::move(out.back()).freeze();
        slices.push_back(frozen.slice(0, frozen.size()));
        out.pop_back();
      } else if (!slices.empty()) {
        slices.erase(slices.begin());
      }
      for (const Bytes& s : slices) ASSERT_TRUE(all_of(s.view(), s.view()[0]));
    }
    ASSERT_EQ(pool.available(), pool.size() - slices.size());
  }
}

TEST(BufferStorage, APoolDestroyedWithBuffersOutIsFreedWithTheLastOfThem) {
  for (int last = 0; last < 3; ++last) {
    auto pool = std::make_unique<BufferPool>(256, 3);
    std::vector<Buffer> buffers;
    for (int i = 0; i < 3; ++i) buffers.push_back(*pool->try_acquire());
    Bytes frozen = std::move(buffers[1]).freeze(0);  // gives slot 1 back before the pool goes
    pool.reset();
    fill(buffers[0], 'x');  // the storage is still there to write
    fill(buffers[2], 'y');
    Bytes kept = std::move(buffers[static_cast<std::size_t>(last == 1 ? 0 : 2)]).freeze();
    buffers.clear();  // one of them is still named by `kept`
    EXPECT_EQ(kept.size(), 256u);
    EXPECT_TRUE(all_of(kept.view(), kept.view()[0]));
  }  // the last Bytes frees the storage: a leak otherwise
}

Task<void> hold_one_turn(BufferPool& pool, std::unique_ptr<std::string>& seen, int id) {
  auto owned = std::make_unique<std::string>(std::to_string(id));  // frees with the frame
  Buffer b = co_await pool.acquire();
  seen = std::move(owned);
  co_await keel::async::yield_now();
}

// Tasks wait in line with frames on the heap; random subsets are aborted
// (first, middle, last, one already handed a buffer), then the buffers
// come back one at a time. A node left linked in a freed frame is touched
// by the next hand-over (heap-use-after-free).
TEST(BufferStorage, WaitersAbortedInAnyOrderLeaveNoLinkIntoTheirFrames) {
  for (std::uint32_t seed = 0; seed < 40; ++seed) {
    std::mt19937 rng(seed);
    keel::World world = keel::WorldBuilder().build();
    Runtime rt(world, heap_frames());
    BufferPool pool(64, 2);
    constexpr int kWaiters = 8;
    std::vector<std::unique_ptr<std::string>> seen(kWaiters);
    rt.block_on([](BufferPool& pool, std::vector<std::unique_ptr<std::string>>& seen, std::mt19937& rng) -> Task<void> {
      std::vector<Buffer> held;
      while (std::optional<Buffer> b = pool.try_acquire()) held.push_back(std::move(*b));
      std::vector<JoinHandle<void>> waiters;
      for (int id = 0; id < kWaiters; ++id) waiters.push_back(keel::async::spawn(hold_one_turn(pool, seen[id], id)));
      co_await keel::async::yield_now();
      held.pop_back();  // handed to the first waiter, which has not run yet
      for (JoinHandle<void>& w : waiters) {
        if (rng() % 2 == 0) w.abort();
      }
      held.clear();
      for (JoinHandle<void>& w : waiters) {
        try {
          co_await w;
        } catch (const keel::async::TaskAborted&) {
        }
      }
    }(pool, seen, rng));
    EXPECT_EQ(pool.available(), 2u);
  }
}

// The pool goes while tasks wait; then every buffer comes back, so its
// storage is freed before the waiters resume. A waiter that touched the
// pool on resuming would read freed memory.
TEST(BufferStorage, WaitersOfADestroyedPoolNeverTouchItsStorageAgain) {
  keel::World world = keel::WorldBuilder().build();
  Runtime rt(world, heap_frames());
  auto pool = std::make_unique<BufferPool>(64, 1);
  int ended_with_error = 0;
  rt.block_on([](std::unique_ptr<BufferPool>& pool, int& errors) -> Task<void> {
    Buffer held = *pool->try_acquire();
    auto wait = [](BufferPool& pool, int& errors) -> Task<void> {
      try {
        Buffer b = co_await pool.acquire();
      } catch (const std::logic_error&) {
        ++errors;
      }
    };
    JoinHandle<void> a = keel::async::spawn(wait(*pool, errors));
    JoinHandle<void> b = keel::async::spawn(wait(*pool, errors));
    co_await keel::async::yield_now();
    pool.reset();
    held = Buffer();  // the last buffer: the storage is freed here
    co_await a;
    co_await b;
  }(pool, ended_with_error));
  EXPECT_EQ(ended_with_error, 2);
}

}  // namespace

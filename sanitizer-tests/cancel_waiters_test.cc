// Patterns 32 and 33 (docs/soundness.md): the waiter list, whose nodes are
// members of awaiters in coroutine frames, and the cancellation tree,
// whose nodes are freed by hand when their last hold goes.
//
// Under ASan the waiters live in heap memory that is freed as soon as they
// leave (heap Waiter objects, and task frames taken from the heap: the
// runtime gets no arena classes), so an unlink that misses a neighbour, or
// a cancel that walks a waiter or a node already freed, is a
// heap-use-after-free; a node left behind is a leak.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "async/cancel.h"
#include "async/internal/cancel_tree.h"
#include "async/internal/waiter_list.h"
#include "async/join_handle.h"
#include "async/runtime.h"
#include "async/task.h"
#include "rt/world.h"
#include "tests/rt/tracking.h"

namespace {

using keel::async::CancellationToken;
using keel::async::JoinHandle;
using keel::async::Runtime;
using keel::async::Task;
using keel::async::internal::CancelNode;
using keel::async::internal::Waiter;
using keel::async::internal::WaiterList;

keel::async::RuntimeOptions heap_frames() {
  keel::async::RuntimeOptions options;
  options.arena = {};  // every frame from the heap, where ASan sees it freed
  return options;
}

// Waiters on the heap, removed in a random order (head, tail, middle) and
// freed at once, with others added meanwhile, then the rest woken: every
// removal must leave both ends and every link on a live waiter.
TEST(WaiterList, RemovingWaitersInAnyOrderThenWakingTheRestTouchesOnlyLiveWaiters) {
  for (unsigned seed = 0; seed < 50; ++seed) {
    std::mt19937 rng(seed);
    WaiterList list;
    std::vector<std::unique_ptr<Waiter>> waiters;
    for (int step = 0; step < 400; ++step) {
      if (waiters.empty() || rng() % 2 == 0) {
        waiters.push_back(std::make_unique<Waiter>());
        list.push_back(*waiters.back());
      } else {
        std::swap(waiters[rng() % waiters.size()], waiters.back());
        list.remove(*waiters.back());
        waiters.pop_back();  // freed at once
      }
    }
    list.wake_all();  // inert wakers: only the links are walked
    EXPECT_TRUE(list.empty());
    for (const auto& w : waiters) EXPECT_FALSE(w->linked());
  }
}

// Tasks wait on one token, each with a heap-owning local; a random subset
// is aborted (their awaiters unlink and their frames are freed) before the
// cancel; the cancel wakes exactly the rest.
TEST(CancelWaiters, WaitersAbortedBeforeTheCancelAreUnlinkedAndNeverWoken) {
  keel::World world = keel::WorldBuilder().build();
  Runtime rt(world, heap_frames());
  for (unsigned seed = 0; seed < 20; ++seed) {
    std::mt19937 rng(seed);
    CancellationToken token;
    keel_test::Counts counts;
    int woken = 0;
    auto waits = [](CancellationToken t, keel_test::Counts& c, int& w) -> Task<void> {
      keel_test::Tracked guard(c);
      std::string payload(256, 'w');
      co_await t.cancelled();
      w += payload.size() == 256;
    };
    auto main = [&]() -> Task<int> {
      std::vector<JoinHandle<void>> tasks;
      for (int i = 0; i < 40; ++i) tasks.push_back(keel::async::spawn(waits(token, counts, woken)));
      co_await keel::async::yield_now();
      int aborted = 0;
      for (JoinHandle<void>& h : tasks) {
        if (rng() % 2 == 0) {
          h.abort();
          ++aborted;
        }
      }
      token.cancel();
      for (JoinHandle<void>& h : tasks) {
        if (!h.is_finished()) co_await h;
      }
      co_return aborted;
    };
    const int aborted = rt.block_on(main());
    EXPECT_EQ(woken, 40 - aborted);
    EXPECT_EQ(counts.live, 0);
  }
}

// A waiting task holds the token it waits on: the token's other handles,
// and its parent's, may all go first; the cancel still reaches the waiter
// (through the tree), and the nodes go when the waiter does.
TEST(CancelWaiters, AWaitKeepsItsTokenAliveAfterEveryOtherHandleIsGone) {
  keel::World world = keel::WorldBuilder().build();
  Runtime rt(world, heap_frames());
  const std::size_t before = CancelNode::live_on_this_thread();
  bool woken = false;
  auto main = [&]() -> Task<void> {
    CancellationToken root;
    JoinHandle<void> waiter;
    {
      CancellationToken child = root.child();
      waiter = keel::async::spawn([](CancellationToken t, bool& w) -> Task<void> {
        co_await t.cancelled();
        w = true;
      }(child.child(), woken));
    }
    co_await keel::async::yield_now();  // the waiter holds the grandchild; nothing else does
    EXPECT_EQ(CancelNode::live_on_this_thread(), before + 3);
    root.cancel();
    co_await waiter;
  };
  rt.block_on(main());
  EXPECT_TRUE(woken);
  EXPECT_EQ(CancelNode::live_on_this_thread(), before);
}

// Trees grown and dropped at random — leaves, roots and middles dropped
// first, children made under parents whose other children are gone — with
// cancels in between: every link stays on a live node (ASan: no
// use-after-free), every node is freed once (no double free, no leak), and
// the count comes back.
TEST(CancelTree, TreesGrownAndDroppedInAnyOrderFreeEveryNodeOnce) {
  const std::size_t before = CancelNode::live_on_this_thread();
  for (unsigned seed = 0; seed < 100; ++seed) {
    std::mt19937 rng(seed);
    std::vector<CancellationToken> tokens(1);
    for (int step = 0; step < 600; ++step) {
      const unsigned op = rng() % 10;
      if (tokens.empty()) {
        tokens.emplace_back();
      } else if (op < 5) {
        tokens.push_back(tokens[rng() % tokens.size()].child());
      } else if (op < 9) {
        std::swap(tokens[rng() % tokens.size()], tokens.back());
        tokens.pop_back();
      } else {
        tokens[rng() % tokens.size()].cancel();
      }
    }
    std::shuffle(tokens.begin(), tokens.end(), rng);
    tokens.clear();
    EXPECT_EQ(CancelNode::live_on_this_thread(), before) << "seed " << seed;
  }
}

}  // namespace

// Tests for async/cancel.h: cancelling a token cancels its descendants and
// wakes their waiters, in tree order, and leaves its ancestors and siblings
// alone; children of cancelled tokens start cancelled; waits abandoned
// before the cancel (abort, timeout) are unlinked; dropped tokens leave no
// node behind, checked through the node count (also against a model, over
// random operations); a readiness handler cancels a token its World holds.
#include "async/cancel.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <expected>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "async/internal/cancel_tree.h"
#include "async/join_handle.h"
#include "async/runtime.h"
#include "async/task.h"
#include "async/timer.h"
#include "rt/handler.h"
#include "rt/uring.h"
#include "rt/world.h"
#include "tests/rt/fd.h"
#include "tests/rt/tracking.h"

namespace {

using namespace std::chrono_literals;
using keel::World;
using keel::WorldBuilder;
using keel::async::CancellationToken;
using keel::async::JoinHandle;
using keel::async::Runtime;
using keel::async::Task;
using keel_test::Counts;
using keel_test::Tracked;

std::size_t live_nodes() { return keel::async::internal::CancelNode::live_on_this_thread(); }

World empty_world() { return WorldBuilder().build(); }

// Waits for the token and records `name` once it resumes.
Task<void> wait_for(CancellationToken token, std::vector<std::string>& woke, std::string name) {
  co_await token.cancelled();
  woke.push_back(std::move(name));
}

TEST(CancellationToken, StartsUncancelledAndCancelIsForGood) {
  CancellationToken token;
  EXPECT_FALSE(token.is_cancelled());
  token.cancel();
  EXPECT_TRUE(token.is_cancelled());
  token.cancel();  // no effect
  EXPECT_TRUE(token.is_cancelled());
}

TEST(CancellationToken, CopiesAreTheSameTokenAndAMoveCopies) {
  const std::size_t before = live_nodes();
  CancellationToken token;
  CancellationToken copy = token;
  CancellationToken moved = std::move(copy);
  CancellationToken assigned;
  assigned = moved;
  EXPECT_EQ(live_nodes(), before + 1);
  EXPECT_TRUE(copy == token);  // a move copies: the source still names the token
  EXPECT_TRUE(moved == token);
  EXPECT_TRUE(assigned == token);
  EXPECT_FALSE(token.child() == token);
  moved.cancel();
  EXPECT_TRUE(token.is_cancelled());
  EXPECT_TRUE(assigned.is_cancelled());
}

// root ── a ── a1
//   │     └── a2
//   └─ b ── b1
struct Tree {
  CancellationToken root;
  CancellationToken a = root.child();
  CancellationToken a1 = a.child();
  CancellationToken a2 = a.child();
  CancellationToken b = root.child();
  CancellationToken b1 = b.child();
};

TEST(CancellationToken, CancellingTheRootWakesWaitersOnEveryLevelInTreeOrder) {
  World world = empty_world();
  Runtime rt(world);
  Tree tree;
  std::vector<std::string> woke;
  auto main = [&]() -> Task<void> {
    std::vector<JoinHandle<void>> waiters;
    // Spawned leaves first: the wake order is the tree's, not the spawn order.
    waiters.push_back(keel::async::spawn(wait_for(tree.b1, woke, "b1")));
    waiters.push_back(keel::async::spawn(wait_for(tree.a1, woke, "a1")));
    waiters.push_back(keel::async::spawn(wait_for(tree.a, woke, "a")));
    waiters.push_back(keel::async::spawn(wait_for(tree.root, woke, "root, first")));
    waiters.push_back(keel::async::spawn(wait_for(tree.root, woke, "root, second")));
    waiters.push_back(keel::async::spawn(wait_for(tree.a2, woke, "a2")));
    co_await keel::async::yield_now();
    EXPECT_TRUE(woke.empty());
    tree.root.cancel();
    for (JoinHandle<void>& h : waiters) co_await h;
  };
  rt.block_on(main());
  EXPECT_EQ(woke, (std::vector<std::string>{"root, first", "root, second", "a", "a1", "a2", "b1"}));
  for (const CancellationToken* t : {&tree.root, &tree.a, &tree.a1, &tree.a2, &tree.b, &tree.b1}) {
    EXPECT_TRUE(t->is_cancelled());
  }
}

TEST(CancellationToken, CancellingAChildLeavesItsParentAndSiblingsAlone) {
  World world = empty_world();
  Runtime rt(world);
  Tree tree;
  std::vector<std::string> woke;
  auto main = [&]() -> Task<void> {
    JoinHandle<void> on_root = keel::async::spawn(wait_for(tree.root, woke, "root"));
    JoinHandle<void> on_a1 = keel::async::spawn(wait_for(tree.a1, woke, "a1"));
    JoinHandle<void> on_b1 = keel::async::spawn(wait_for(tree.b1, woke, "b1"));
    co_await keel::async::yield_now();
    tree.a.cancel();
    co_await on_a1;
    co_await keel::async::yield_now();
    EXPECT_EQ(woke, std::vector<std::string>{"a1"});
    EXPECT_FALSE(tree.root.is_cancelled());
    EXPECT_FALSE(tree.b.is_cancelled());
    EXPECT_FALSE(tree.b1.is_cancelled());
    EXPECT_TRUE(tree.a2.is_cancelled());
    tree.root.cancel();  // a's subtree is skipped: already cancelled
    co_await on_root;
    co_await on_b1;
  };
  rt.block_on(main());
  EXPECT_EQ(woke, (std::vector<std::string>{"a1", "root", "b1"}));
}

TEST(CancellationToken, AChildOfACancelledTokenStartsCancelledAndItsWaitDoesNotSuspend) {
  World world = empty_world();
  Runtime rt(world);
  CancellationToken parent;
  parent.cancel();
  CancellationToken child = parent.child();
  EXPECT_TRUE(child.is_cancelled());
  EXPECT_TRUE(child.child().is_cancelled());
  // Outside any task: a wait on a cancelled token completes without suspending.
  auto waits = [](CancellationToken t) -> Task<int> {
    co_await t.cancelled();
    co_return 1;
  };
  EXPECT_EQ(keel::async::internal::run_to_completion(waits(child)), 1);
}

TEST(CancellationToken, AWaitOnAnUncancelledTokenOutsideARuntimeTaskThrowsLogicError) {
  const std::size_t before = live_nodes();
  {
    CancellationToken token;
    auto waits = [](CancellationToken t) -> Task<void> { co_await t.cancelled(); };
    EXPECT_THROW(keel::async::internal::run_to_completion(waits(token)), std::logic_error);
  }
  EXPECT_EQ(live_nodes(), before);
}

// A child whose every token is gone stays linked while a grandchild lives,
// so the grandchild is still cancelled with the root; the chain goes when
// the grandchild does.
TEST(CancellationToken, AGrandchildIsCancelledThroughAChildWhoseTokensAreGone) {
  const std::size_t before = live_nodes();
  CancellationToken root;
  std::vector<CancellationToken> grandchildren;
  {
    CancellationToken child = root.child();
    grandchildren.push_back(child.child());
    grandchildren.push_back(child.child());
  }
  EXPECT_EQ(live_nodes(), before + 4);
  root.cancel();
  EXPECT_TRUE(grandchildren[0].is_cancelled());
  EXPECT_TRUE(grandchildren[1].is_cancelled());
  grandchildren.pop_back();
  EXPECT_EQ(live_nodes(), before + 3);
  grandchildren.clear();
  EXPECT_EQ(live_nodes(), before + 1);
}

TEST(CancellationToken, AbortingATaskWaitingInCancelledUnlinksItsWait) {
  World world = empty_world();
  Runtime rt(world);
  CancellationToken token;
  Counts counts;
  std::vector<std::string> woke;
  auto guarded = [](CancellationToken t, Counts& c, std::vector<std::string>& out) -> Task<void> {
    Tracked guard(c);
    co_await t.cancelled();
    out.push_back("aborted task");
  };
  auto main = [&]() -> Task<void> {
    JoinHandle<void> first = keel::async::spawn(wait_for(token, woke, "first"));
    JoinHandle<void> aborted = keel::async::spawn(guarded(token, counts, woke));
    JoinHandle<void> last = keel::async::spawn(wait_for(token, woke, "last"));
    co_await keel::async::yield_now();
    aborted.abort();  // the middle of the list
    EXPECT_EQ(counts.destroyed, 1);
    token.cancel();
    co_await first;
    co_await last;
  };
  rt.block_on(main());
  EXPECT_EQ(woke, (std::vector<std::string>{"first", "last"}));
  EXPECT_EQ(rt.tasks(), 0u);
}

TEST(CancellationToken, AWaitEndedByATimeoutBeforeTheCancelIsUnlinked) {
  World world = empty_world();
  Runtime rt(world);
  CancellationToken token;
  std::vector<std::string> woke;
  auto main = [&]() -> Task<bool> {
    std::expected<void, keel::async::TimedOut> r =
        co_await keel::async::timeout(1ms, wait_for(token.child(), woke, "timed out"));
    JoinHandle<void> other = keel::async::spawn(wait_for(token, woke, "other"));
    co_await keel::async::yield_now();
    token.cancel();
    co_await other;
    co_return r.has_value();
  };
  EXPECT_FALSE(rt.block_on(main()));
  EXPECT_EQ(woke, std::vector<std::string>{"other"});
}

TEST(CancellationToken, ManyChildrenMadeAndDroppedLeaveNoNodesBehind) {
  World world = empty_world();
  Runtime rt(world);
  const std::size_t before = live_nodes();
  CancellationToken root;
  std::vector<std::string> woke;
  auto main = [&]() -> Task<void> {
    for (int i = 0; i < 10'000; ++i) {
      CancellationToken child = root.child();
      CancellationToken grandchild = child.child();
      // A waiter that is abandoned (its task aborted) with its token.
      JoinHandle<void> waiter = keel::async::spawn(wait_for(grandchild, woke, "never"));
      co_await keel::async::yield_now();
      EXPECT_EQ(live_nodes(), before + 3);
    }
    root.cancel();
    for (int i = 0; i < 10'000; ++i) (void)root.child();  // children of a cancelled token go too
  };
  rt.block_on(main());
  EXPECT_TRUE(woke.empty());
  EXPECT_EQ(live_nodes(), before + 1);
  EXPECT_EQ(rt.tasks(), 0u);
}

// A chain a million tokens deep: cancel walks it, and the last token's drop
// frees it, without recursion.
TEST(CancellationToken, AMillionDeepChainCancelsAndFreesInBoundedStack) {
  const std::size_t before = live_nodes();
  CancellationToken root;
  {
    CancellationToken leaf = root;
    for (int i = 0; i < 1'000'000; ++i) leaf = leaf.child();
    EXPECT_EQ(live_nodes(), before + 1'000'001);
    root.cancel();
    EXPECT_TRUE(leaf.is_cancelled());
  }
  EXPECT_EQ(live_nodes(), before + 1);
}

// A handler on a pipe cancels the token its World holds; the tasks waiting
// on its children wake at the runtime's next turn.
TEST(CancellationToken, CancelFromAReadinessHandlerWakesTheWaitingTasks) {
  struct Session {
    CancellationToken token;
  };
  keel_test::FdPair pipe = keel_test::make_pipe();  // outlives the World's watch on it
  WorldBuilder wb;
  wb.install_driver(keel::UringInstaller{});
  wb.emplace<Session>();
  World world = std::move(wb).build();
  world.resource<keel::Uring>().watch(pipe.a.get(), keel::Readable,
                                      keel::handler(world.registry(), [](keel::Res<Session> s, const keel::Readiness& r) {
                                        keel_test::drain(r.fd);
                                        s->token.cancel();
                                      }));
  Runtime rt(world);
  const CancellationToken& session = world.resource<Session>().token;
  std::vector<std::string> woke;
  auto main = [&]() -> Task<void> {
    JoinHandle<void> feed = keel::async::spawn(wait_for(session.child(), woke, "feed"));
    JoinHandle<void> orders = keel::async::spawn(wait_for(session.child().child(), woke, "orders"));
    co_await keel::async::yield_now();
    EXPECT_TRUE(woke.empty());
    keel_test::write_byte(pipe.b.get());
    co_await feed;
    co_await orders;
  };
  rt.block_on(main());
  EXPECT_EQ(woke, (std::vector<std::string>{"feed", "orders"}));
  EXPECT_TRUE(session.is_cancelled());
}

// Random operations on a forest of tokens — make a child, copy, drop,
// cancel, wait in a task, abort a waiting task — checked after each against
// a model: per node, its parent and whether it is cancelled. A token is
// cancelled exactly when the model says; a waiting task has resumed exactly
// when its node is cancelled; the nodes alive are those held by a token or
// a waiting task, and their ancestors. More seeds: KEEL_CANCEL_SEEDS=n.
TEST(CancellationToken, SeededOperationsMatchATreeModel) {
  struct ModelNode {
    int parent;
    bool cancelled;
  };
  struct Waiting {
    JoinHandle<void> task;
    int node;
    bool* resumed;
  };
  const char* env = std::getenv("KEEL_CANCEL_SEEDS");
  const int seeds = env != nullptr ? std::atoi(env) : 40;
  for (int seed = 0; seed < seeds; ++seed) {
    World world = empty_world();
    Runtime rt(world);
    const std::size_t before = live_nodes();
    std::mt19937 rng(static_cast<std::uint32_t>(seed));
    std::vector<ModelNode> model;
    std::vector<CancellationToken> tokens;
    std::vector<int> token_node;
    std::vector<Waiting> waiting;
    std::vector<std::unique_ptr<bool>> flags;
    auto pick = [&rng](std::size_t n) { return static_cast<std::size_t>(rng() % n); };
    auto waits = [](CancellationToken t, bool* resumed) -> Task<void> {
      co_await t.cancelled();
      *resumed = true;
    };
    for (int step = 0; step < 300; ++step) {
      const unsigned op = tokens.empty() ? 0 : rng() % 6;
      if (op == 0 && tokens.empty()) {
        tokens.emplace_back();
        token_node.push_back(static_cast<int>(model.size()));
        model.push_back({-1, false});
      } else if (op == 0) {  // a child
        const std::size_t i = pick(tokens.size());
        tokens.push_back(tokens[i].child());
        token_node.push_back(static_cast<int>(model.size()));
        model.push_back({token_node[i], model[token_node[i]].cancelled});
      } else if (op == 1) {  // a copy
        const std::size_t i = pick(tokens.size());
        tokens.push_back(tokens[i]);
        token_node.push_back(token_node[i]);
      } else if (op == 2) {  // a drop
        const std::size_t i = pick(tokens.size());
        tokens[i] = tokens.back();
        token_node[i] = token_node.back();
        tokens.pop_back();
        token_node.pop_back();
      } else if (op == 3) {  // a cancel
        const std::size_t i = pick(tokens.size());
        tokens[i].cancel();
        for (std::size_t n = 0; n < model.size(); ++n) {
          for (int up = static_cast<int>(n); up != -1; up = model[up].parent) {
            if (up == token_node[i]) model[n].cancelled = true;
          }
        }
      } else if (op == 4) {  // a waiting task
        const std::size_t i = pick(tokens.size());
        flags.push_back(std::make_unique<bool>(false));
        waiting.push_back({keel::async::spawn(waits(tokens[i], flags.back().get())), token_node[i], flags.back().get()});
      } else if (!waiting.empty()) {  // an abort
        const std::size_t i = pick(waiting.size());
        waiting[i].task.abort();
        waiting.erase(waiting.begin() + static_cast<std::ptrdiff_t>(i));
      }
      rt.tick(0ns);

      std::vector<bool> held(model.size(), false);
      for (std::size_t i = 0; i < tokens.size(); ++i) {
        ASSERT_EQ(tokens[i].is_cancelled(), model[token_node[i]].cancelled) << "seed " << seed << " step " << step;
        held[token_node[i]] = true;
      }
      for (std::size_t i = 0; i < waiting.size();) {
        ASSERT_EQ(*waiting[i].resumed, model[waiting[i].node].cancelled) << "seed " << seed << " step " << step;
        if (*waiting[i].resumed) {
          waiting.erase(waiting.begin() + static_cast<std::ptrdiff_t>(i));  // its frame, and its token, go
        } else {
          held[waiting[i++].node] = true;
        }
      }
      std::vector<bool> alive(model.size(), false);
      for (std::size_t n = 0; n < model.size(); ++n) {
        if (!held[n]) continue;
        for (int up = static_cast<int>(n); up != -1 && !alive[up]; up = model[up].parent) alive[up] = true;
      }
      std::size_t expected_live = 0;
      for (const bool a : alive) expected_live += a;
      ASSERT_EQ(live_nodes(), before + expected_live) << "seed " << seed << " step " << step;
    }
    waiting.clear();
    tokens.clear();
    ASSERT_EQ(live_nodes(), before) << "seed " << seed;
  }
}

}  // namespace

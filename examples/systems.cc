// Systems and the scheduler: derived state (mid, skew, fair value, quotes)
// recomputed once per loop iteration, and only where an input changed.
//
//   bazel run //examples:systems
//
// Explained in docs/systems.md.
#include <cstdint>
#include <iostream>
#include <string>
#include <vector>

#include "rt/scheduler.h"
#include "rt/system.h"

// Inputs, written by market-data and fill handlers (simulated in main).
struct Book {
  std::int64_t bid = 0, ask = 0;
};
struct Position {
  std::int64_t qty = 0;
};
// Derived state, written by the systems below.
struct Mid {
  std::int64_t twice = 0;  // bid + ask, to stay in integers
};
struct Skew {
  std::int64_t ticks = 0;
};
struct Fair {
  std::int64_t twice = 0;
};
struct Quotes {
  std::int64_t bid = 0, ask = 0;
  int sent = 0;
};

// A system takes keel parameters only and returns whether its outputs changed.
bool update_mid(keel::Res<Book> book, keel::ResMut<Mid> mid) {
  const std::int64_t twice = book->bid + book->ask;
  if (twice == mid->twice) return false;  // unchanged: systems after it may be skipped
  mid->twice = twice;
  return true;
}

bool update_skew(keel::Res<Position> pos, keel::ResMut<Skew> skew) {
  const std::int64_t ticks = -pos->qty / 10;  // lean against the position
  if (ticks == skew->ticks) return false;
  skew->ticks = ticks;
  return true;
}

bool update_fair(keel::Res<Mid> mid, keel::Res<Skew> skew, keel::ResMut<Fair> fair) {
  const std::int64_t twice = mid->twice + 2 * skew->ticks;
  if (twice == fair->twice) return false;
  fair->twice = twice;
  return true;
}

// A void system always counts as changed (when it runs).
void publish_quotes(keel::Res<Fair> fair, keel::ResMut<Quotes> quotes) {
  quotes->bid = fair->twice / 2 - 1;
  quotes->ask = fair->twice / 2 + 1;
  ++quotes->sent;
}

int main() {
  keel::WorldBuilder wb;
  wb.emplace<Book>();
  wb.emplace<Position>();
  wb.emplace<Mid>();
  wb.emplace<Skew>();
  wb.emplace<Fair>();
  wb.emplace<Quotes>();

  // 1. Describe the systems and their order; install after the resources.
  keel::SchedulerInstaller sched;
  auto mid = sched.add(update_mid);
  auto skew = sched.add(update_skew);
  auto fair = sched.add(update_fair);
  auto publish = sched.add(publish_quotes);
  sched.after(fair, {mid, skew}).after(publish, fair);
  keel::Scheduler systems = wb.install_driver(std::move(sched));  // resolves parameters now
  keel::World world = std::move(wb).build();

  std::cout << "order:";
  for (std::string_view name : systems.order()) std::cout << " " << name;
  std::cout << "\n";

  // 2. The loop: apply this iteration's inputs, then one scheduler pass.
  struct Tick {
    std::int64_t bid, ask, position;
    const char* what;
  };
  const std::vector<Tick> ticks = {
      {100, 102, 0, "first book"},
      {100, 102, 0, "nothing changed"},
      {100, 102, 30, "a fill moved the position"},
      {99, 103, 30, "the book widened around the same mid"},
  };
  const std::vector<keel::SystemId> ids = {mid, skew, fair, publish};
  for (std::size_t i = 0; i < ticks.size(); ++i) {
    world.resource<Book>() = Book{.bid = ticks[i].bid, .ask = ticks[i].ask};
    world.resource<Position>().qty = ticks[i].position;
    const std::size_t ran = systems.run(world);
    std::cout << "tick " << i + 1 << " (" << ticks[i].what << "): ran";
    for (keel::SystemId id : ids)
      if (systems.ran(id)) std::cout << " " << systems.name(id);
    std::cout << " (" << ran << " of " << systems.size() << ")\n";
  }
  const Quotes& q = world.resource<Quotes>();
  std::cout << "quotes " << q.bid << " / " << q.ask << ", sent " << q.sent << " times\n";

  // 3. One system on its own, without a scheduler.
  auto standalone = keel::system(world.registry(), update_mid);
  std::cout << standalone.name() << " changed: " << std::boolalpha << standalone.run(world) << "\n";

  // 4. A cycle is refused when the scheduler is installed.
  keel::WorldBuilder wb2;
  wb2.emplace<Book>();
  wb2.emplace<Mid>();
  wb2.emplace<Position>();
  wb2.emplace<Skew>();
  keel::SchedulerInstaller cyclic;
  auto a = cyclic.add(update_mid);
  auto b = cyclic.add(update_skew);
  cyclic.after(b, a).after(a, b);
  try {
    (void)wb2.install_driver(std::move(cyclic));
  } catch (const keel::ConfigError& e) {
    std::cout << e.what() << "\n";
  }
}

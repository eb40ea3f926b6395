// Must not compile: a system takes keel parameters only; here it also takes
// an event (`const Quote&`). Expected: the "a system takes keel parameters
// only" static_assert, naming the type and its position.
#include "rt/scheduler.h"

struct Book {
  int orders = 0;
};
struct Quote {
  int price = 0;
};

bool reprice(keel::ResMut<Book> book, const Quote& q) { return (book->orders += q.price) != 0; }

void build() {
  keel::SchedulerInstaller sched;
  sched.add(reprice);
}

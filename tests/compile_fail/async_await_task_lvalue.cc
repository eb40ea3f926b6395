// A Task runs once: awaiting it by name (an lvalue) is refused with the fix.
#include "async/task.h"

keel::async::Task<int> answer() { co_return 42; }

keel::async::Task<int> use() {
  keel::async::Task<int> t = answer();
  int v = co_await t;
  co_return v;
}

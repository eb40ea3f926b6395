// with_world() calls its function with keel::World&; any other parameter is refused.
#include "async/runtime.h"

keel::async::Task<void> use() {
  co_await keel::async::with_world([](int n) { return n; });
}

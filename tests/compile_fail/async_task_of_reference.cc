// Task<T> produces a value; a reference result is refused, with the alternatives.
#include "async/task.h"

int level = 0;

keel::async::Task<int&> level_ref() { co_return level; }

// Spawner: the World resource through which handlers, reactors and timer
// callbacks start tasks. AsyncPlugin registers it; the Runtime built on
// the World binds it. A handler takes it like any resource:
//
//   wb.install(keel::async::AsyncPlugin{});
//   keel::World world = std::move(wb).build();
//   keel::async::Runtime rt(world);
//   auto on_connect = [](keel::ResMut<keel::async::Spawner> tasks, const keel::Readiness& r) {
//     tasks->spawn(serve(r.fd)).detach();
//   };
//
// The task starts at the runtime's next turn, after the handler returns.
//
// Not for: code that already runs in a task (call keel::async::spawn), or
// other threads (send them a message on a channel instead).
#pragma once

#include <utility>

#include "async/join_handle.h"
#include "async/runtime.h"
#include "async/task.h"
#include "rt/error.h"
#include "rt/world.h"

namespace keel::async {

class Spawner {
 public:
  // Queues `task` on the bound runtime. Throws ConfigError when no Runtime
  // has been built on the World (or it is gone).
  template <class T>
  JoinHandle<T> spawn(Task<T> task) {
    return runtime().spawn(std::move(task));
  }

  // True while a Runtime on the World is alive.
  bool bound() const noexcept { return runtime_ != nullptr; }

  Runtime& runtime() const {
    if (runtime_ == nullptr) [[unlikely]] throw_unbound();
    return *runtime_;
  }

 private:
  friend class Runtime;
  [[noreturn]] static void throw_unbound() {
    throw ConfigError(
        "keel: keel::async::Spawner used while no keel::async::Runtime exists on its World: build the Runtime "
        "(keel::async::Runtime rt(world)) before running handlers that spawn");
  }
  Runtime* runtime_ = nullptr;
};

// Registers the Spawner resource: wb.install(keel::async::AsyncPlugin{}).
struct AsyncPlugin {
  void build(WorldBuilder& builder) && { builder.emplace<Spawner>(); }
};

}  // namespace keel::async

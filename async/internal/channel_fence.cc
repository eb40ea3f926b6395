#include "async/internal/channel_fence.h"

#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace keel::async::internal {

namespace {

long membarrier(int command) noexcept { return ::syscall(__NR_membarrier, command, 0u, 0); }

bool register_membarrier() noexcept {
  const long supported = membarrier(MEMBARRIER_CMD_QUERY);
  if (supported < 0 || (supported & MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0) return false;
  return membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0;
}

}  // namespace

void ChannelFences::enable() noexcept {
  // SAFETY: the flag goes from false to true once, before the factory
  // hands out the endpoints of the channel that asked; every thread that
  // later holds an endpoint received it through something that
  // synchronizes (a thread start, a queue), so it reads true, and both
  // sides of every handshake agree on the kind of fence.
  static const bool registered = [] {
    const bool ok = register_membarrier();
    asymmetric_.store(ok, std::memory_order_relaxed);
    return ok;
  }();
  static_cast<void>(registered);
}

void heavy_fence() noexcept {
  if (ChannelFences::asymmetric()) {
    // SAFETY: registered in enable(); the call returns after every thread
    // of the process running on another CPU has executed a full barrier,
    // and includes one on this thread, which pairs with light_fence().
    if (membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0) return;
  }
  full_fence();
}

}  // namespace keel::async::internal

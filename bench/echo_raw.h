// The hand-written echo baselines: the fastest straightforward loop on each
// kernel interface, one connection per side.
//
// - Raw liburing: one ring per loop (SINGLE_ISSUER|DEFER_TASKRUN where the
//   kernel has them, else COOP_TASKRUN, else none), a recv SQE and then a
//   send SQE per connection, io_uring_submit_and_wait(1) and a pass over
//   the CQ. The client submits its send and its recv together.
// - Raw epoll: non-blocking sockets registered once, edge-triggered for
//   input and output; epoll_wait(-1); recv until a short read or EAGAIN
//   (a short read means the socket was empty, and data arriving after it
//   raises a new edge), send until done or EAGAIN. The client sends with a
//   direct send() and waits for the reply.
// - Raw coroutines on liburing (echo_raw_coro.cc): the same ring and
//   calls, with the server and each round trip's client written as
//   coroutines whose awaiter is the SQE's user_data, resumed straight from
//   the CQ: what coroutines cost by themselves, without a runtime.
//
// All servers echo serially: receive up to kChunkBytes, send all of it,
// receive again; the same order Asio's async_read_some/async_write server
// follows, so the stream figures compare loops, not echo strategies.
#pragma once

#include <memory>

#include "bench/echo_pair.h"

namespace keel::bench::echo {

std::unique_ptr<EchoPair> make_raw_uring_pair(Mode mode);
std::unique_ptr<EchoPair> make_raw_epoll_pair(Mode mode);
std::unique_ptr<EchoPair> make_raw_coro_pair(Mode mode);

}  // namespace keel::bench::echo

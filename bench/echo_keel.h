// Keel's rows of the echo benchmark: the same EchoPair (echo_pair.h) on
// keel::async tasks — a server task echoing through one reused Buffer, a
// client task making a run's round trips one after another — on a Runtime
// over a World's io_uring poll source, or over its epoll fallback. The
// block_on row makes each round trip a block_on of a task of its own:
// beside the io_uring row, what entering the loop costs per round trip.
#pragma once

#include <memory>

#include "bench/echo_pair.h"

namespace keel::bench::echo {

std::unique_ptr<EchoPair> make_keel_uring_pair(Mode mode);
std::unique_ptr<EchoPair> make_keel_uring_block_on_pair(Mode mode);
std::unique_ptr<EchoPair> make_keel_epoll_pair(Mode mode);

}  // namespace keel::bench::echo

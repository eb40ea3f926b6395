// Keel's rows of the echo benchmark: the same EchoPair (echo_pair.h) on
// keel::async tasks — a server task echoing through one reused Buffer, a
// client task making a run's round trips one after another — on a Runtime
// over a World's io_uring poll source, or over its epoll fallback.
#pragma once

#include <memory>

#include "bench/echo_pair.h"

namespace keel::bench::echo {

std::unique_ptr<EchoPair> make_keel_uring_pair(Mode mode);
std::unique_ptr<EchoPair> make_keel_epoll_pair(Mode mode);

}  // namespace keel::bench::echo

// Standalone Asio's echo (Debian's libasio-dev 1.22, header-only): an
// io_context per loop, callbacks (async_read_some then async_write on the
// server; async_write and async_read on the client), driven by run_one().
//
// Which backend is a compile-time choice of the translation unit that
// includes <asio.hpp>: echo_asio.cc is compiled twice, once as is (the
// epoll reactor, Asio's default on Linux) and once with ASIO_HAS_IO_URING
// and ASIO_DISABLE_EPOLL (io_uring for sockets and the scheduler), into the
// libraries //bench:echo_asio_on_epoll and //bench:echo_asio_on_uring.
// Both define the functions below under the same names, so a binary given
// both links only one of the two objects (from an archive, the first that
// resolves them) or fails on duplicate definitions (as plain objects):
// never a mix of two Asios.
#pragma once

#include <memory>

#include "bench/echo_pair.h"

namespace keel::bench::echo {

// "asio_epoll" or "asio_uring": the backend this binary's Asio was built
// for (the row's name).
const char* asio_backend();

// Throws std::runtime_error if the io_context the pair built does not run
// on that backend (checked through Asio's own services, see echo_asio.cc).
std::unique_ptr<EchoPair> make_asio_pair(Mode mode);

}  // namespace keel::bench::echo

// IoResult: what an IO operation on a buffer gives back — the bytes moved
// (or the error) and the buffer itself, whatever happened, so the caller
// keeps and reuses its memory on the error path too.
//
//   auto [n, buf] = co_await stream.recv(std::move(buf));
//   if (!n) log(n.error().message());      // buf is still ours
//   else if (*n == 0) co_return;            // end of stream
//   else handle(buf.view());
//   buf.clear();
//
// Not for: operations that give back something else (accept gives a
// TcpStream, recv_from a RecvFromResult with the sender).
#pragma once

#include <cstddef>
#include <expected>
#include <system_error>

namespace keel::async {

template <class B>
struct IoResult {
  std::expected<std::size_t, std::error_code> result;
  B buffer;
};

}  // namespace keel::async

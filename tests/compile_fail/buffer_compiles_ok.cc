// The positive control for the buffer tests: Buffers filled and frozen as
// rvalues (std::move, a temporary), Bytes copied and sliced, a pool's
// buffers taken with try_acquire() and co_await acquire().
#include <optional>
#include <string_view>
#include <utility>

#include "async/buffer.h"
#include "async/buffer_pool.h"
#include "async/task.h"

keel::Bytes publish(keel::Buffer& buf) { return std::move(buf).freeze(); }
keel::Bytes header(keel::Buffer buf) { return std::move(buf).freeze(buf.size() < 16 ? buf.size() : 16); }
keel::Bytes temporary() { return keel::Buffer::copy_of("abc").freeze(); }

std::size_t shared(const keel::Bytes& b) {
  keel::Bytes copy = b;
  return copy.slice(0, copy.size()).use_count();
}

keel::async::Task<keel::Bytes> read_one(keel::BufferPool& pool) {
  keel::Buffer buf = co_await pool.acquire();
  buf.append("tick");
  co_return std::move(buf).freeze();
}

std::optional<keel::Bytes> now(keel::BufferPool& pool) {
  std::optional<keel::Buffer> buf = pool.try_acquire();
  if (!buf) return std::nullopt;
  return std::move(*buf).freeze();
}

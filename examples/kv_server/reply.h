// kv::ReplyWriter — writes RESP2 replies at the end of a keel::Buffer, the
// buffer a connection later writes to its socket.
//
// A keel::Buffer never reallocates (its bytes may be lent to the kernel),
// so when a reply does not fit, the writer swaps in a Buffer of at least
// twice the capacity holding the same contents: one copy, amortised over
// the doublings. A connection that reuses its Buffer stops allocating once
// the Buffer is as big as its largest batch of replies.
//
//   keel::Buffer out(4096);
//   kv::ReplyWriter reply(out);
//   reply.array(2);
//   reply.bulk("value");
//   reply.null_bulk();            // out.view() == "*2\r\n$5\r\nvalue\r\n$-1\r\n"
//
// Not for: RESP3 types, or checking that an array gets as many elements as
// announced (the commands write both).
#pragma once

#include <cstddef>
#include <string_view>

#include "async/buffer.h"

namespace kv {

class ReplyWriter {
 public:
  // Appends after `out`'s contents. `out` must outlive the writer; the
  // writer may replace it with a bigger Buffer (see above).
  explicit ReplyWriter(keel::Buffer& out) noexcept : out_(&out) {}

  void simple(std::string_view text);  // +text\r\n (text without line breaks)
  void error(std::string_view text);   // -text\r\n (text like "ERR syntax error")
  void integer(long long value);       // :value\r\n
  void bulk(std::string_view bytes);   // $size\r\n bytes \r\n (any bytes)
  void null_bulk();                    // $-1\r\n
  void array(std::size_t count);       // *count\r\n, then `count` replies
  void null_array();                   // *-1\r\n
  // Replies already in RESP, copied as they are: what another shard wrote.
  void raw(std::string_view resp);

  // The Buffer written to: the one passed in, whose contents may have moved
  // to a bigger allocation.
  keel::Buffer& buffer() noexcept { return *out_; }

 private:
  // Makes room for n more bytes after the contents.
  void reserve(std::size_t n);
  void line(char type, std::string_view text);
  void header(char type, long long value);

  keel::Buffer* out_;
};

}  // namespace kv

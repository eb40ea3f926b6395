#include "examples/kv_server/reply.h"

#include <algorithm>
#include <charconv>
#include <utility>

namespace kv {
namespace {

// The smallest Buffer the writer allocates when it has to grow an empty one.
constexpr std::size_t kMinimumCapacity = 256;
// A type byte, a long long's longest decimal form, "\r\n".
constexpr std::size_t kMaxHeader = 1 + 20 + 2;

}  // namespace

void ReplyWriter::reserve(std::size_t n) {
  keel::Buffer& out = *out_;
  if (out.capacity() - out.size() >= n) [[likely]]
    return;
  const std::size_t capacity = std::max({out.capacity() * 2, out.size() + n, kMinimumCapacity});
  keel::Buffer bigger(capacity);
  bigger.append(out.view());
  out = std::move(bigger);
}

void ReplyWriter::line(char type, std::string_view text) {
  reserve(text.size() + 3);
  out_->append(std::string_view(&type, 1));
  out_->append(text);
  out_->append("\r\n");
}

void ReplyWriter::header(char type, long long value) {
  char text[kMaxHeader];
  text[0] = type;
  char* end = std::to_chars(text + 1, text + sizeof(text) - 2, value).ptr;
  *end++ = '\r';
  *end++ = '\n';
  out_->append(std::string_view(text, static_cast<std::size_t>(end - text)));
}

void ReplyWriter::raw(std::string_view resp) {
  reserve(resp.size());
  out_->append(resp);
}

void ReplyWriter::simple(std::string_view text) { line('+', text); }

void ReplyWriter::error(std::string_view text) { line('-', text); }

void ReplyWriter::integer(long long value) {
  reserve(kMaxHeader);
  header(':', value);
}

void ReplyWriter::bulk(std::string_view bytes) {
  reserve(kMaxHeader + bytes.size() + 2);
  header('$', static_cast<long long>(bytes.size()));
  out_->append(bytes);
  out_->append("\r\n");
}

void ReplyWriter::null_bulk() {
  reserve(5);
  out_->append("$-1\r\n");
}

void ReplyWriter::array(std::size_t count) {
  reserve(kMaxHeader);
  header('*', static_cast<long long>(count));
}

void ReplyWriter::null_array() {
  reserve(5);
  out_->append("*-1\r\n");
}

}  // namespace kv

#include "examples/kv_server/resp.h"

#include <algorithm>
#include <climits>
#include <cstring>

namespace kv {
namespace {

// Requests announce at most this many arguments up front; more are made
// room for as they arrive, so a `*1000000` header alone costs nothing.
constexpr std::size_t kPresizedArguments = 1024;

// C's isspace in the "C" locale, which sdssplitargs uses between arguments
// and after a closing quote.
bool is_space(char c) noexcept { return c == ' ' || (c >= '\t' && c <= '\r'); }

bool is_hex_digit(char c) noexcept {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return c - 'A' + 10;
}

}  // namespace

bool parse_long_long(std::string_view text, long long& value) noexcept {
  // Redis refuses 21 characters and more outright (LONG_STR_SIZE).
  if (text.empty() || text.size() >= 21) return false;
  if (text == "0") {
    value = 0;
    return true;
  }
  std::size_t i = 0;
  const bool negative = text[0] == '-';
  if (negative && ++i == text.size()) return false;
  if (text[i] < '1' || text[i] > '9') return false;
  unsigned long long magnitude = 0;
  for (; i < text.size(); ++i) {
    const char c = text[i];
    if (c < '0' || c > '9') return false;
    const unsigned digit = static_cast<unsigned>(c - '0');
    if (magnitude > (ULLONG_MAX - digit) / 10) return false;
    magnitude = magnitude * 10 + digit;
  }
  if (negative) {
    if (magnitude > static_cast<unsigned long long>(LLONG_MAX) + 1) return false;
    value = magnitude == static_cast<unsigned long long>(LLONG_MAX) + 1 ? LLONG_MIN
                                                                       : -static_cast<long long>(magnitude);
  } else {
    if (magnitude > static_cast<unsigned long long>(LLONG_MAX)) return false;
    value = static_cast<long long>(magnitude);
  }
  return true;
}

RequestParser::RequestParser(ParserLimits limits) : limits_(limits) {}

void RequestParser::reset() noexcept {
  stage_ = Stage::kStart;
  position_ = 0;
  scanned_ = 0;
  seen_ = 0;
  bulks_left_ = 0;
  bulk_size_ = 0;
  spans_.clear();
}

ParseResult RequestParser::fail(std::string_view message) noexcept {
  reset();
  args_.clear();
  return ParseResult{.status = ParseStatus::kError, .error = message};
}

ParseResult RequestParser::complete(std::size_t consumed) noexcept {
  reset();
  return ParseResult{.status = ParseStatus::kComplete, .consumed = consumed};
}

ParseResult RequestParser::incomplete(std::size_t input_size, std::size_t wanted) noexcept {
  seen_ = input_size;
  return ParseResult{.status = ParseStatus::kIncomplete, .wanted = wanted};
}

ParseResult RequestParser::parse(std::string_view input) {
  if (input.size() < seen_) reset();  // not the input of the last call plus more: start over
  if (stage_ == Stage::kStart) {
    args_.clear();
    if (input.empty()) return incomplete(0, 0);
    // Redis decides by the first byte: anything but '*' is an inline request.
    if (input[0] != '*') return parse_inline(input);
  }
  return parse_multibulk(input);
}

ParseResult RequestParser::parse_inline(std::string_view input) {
  // Search the unsearched part of the first max_inline_bytes + 1 bytes:
  // a '\n' beyond them ends a line that is too long anyway.
  const std::size_t limit = std::min(input.size(), limits_.max_inline_bytes + 1);
  std::size_t newline = std::string_view::npos;
  if (scanned_ < limit) {
    const void* found = std::memchr(input.data() + scanned_, '\n', limit - scanned_);
    if (found != nullptr) newline = static_cast<std::size_t>(static_cast<const char*>(found) - input.data());
  }
  if (newline == std::string_view::npos) {
    if (input.size() > limits_.max_inline_bytes) return fail("ERR Protocol error: too big inline request");
    scanned_ = input.size();
    return incomplete(input.size(), 0);
  }
  if (newline > limits_.max_inline_bytes) return fail("ERR Protocol error: too big inline request");
  std::size_t line_end = newline;
  if (line_end > 0 && input[line_end - 1] == '\r') --line_end;  // "\r\n", or a lone '\n'
  if (!split_inline(input.substr(0, line_end))) return fail("ERR Protocol error: unbalanced quotes in request");
  return complete(newline + 1);
}

bool RequestParser::split_inline(std::string_view line) {
  // sdssplitargs reads the line as a C string: a NUL byte ends it.
  line = line.substr(0, std::min(line.size(), line.find('\0')));
  const std::size_t end = line.size();
  // Bytes past the end read as NUL, as they do in C.
  auto at = [&](std::size_t i) noexcept { return i < end ? line[i] : '\0'; };
  // A quoted argument is never longer than its source, so reserving the
  // line's length up front keeps earlier views into unquoted_ valid.
  unquoted_.clear();
  unquoted_.reserve(end);

  std::size_t p = 0;
  while (true) {
    while (p < end && is_space(line[p])) ++p;
    if (p >= end) return true;
    const std::size_t start = p;
    // Fast path: an argument without quotes is a view of the input.
    while (p < end) {
      const char c = line[p];
      if (c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '"' || c == '\'') break;
      ++p;
    }
    if (p == end || (line[p] != '"' && line[p] != '\'')) {
      args_.push_back(line.substr(start, p - start));
      if (p < end) ++p;  // the separator
      continue;
    }
    // The argument has quotes: its bytes are rewritten into unquoted_.
    const std::size_t out_start = unquoted_.size();
    unquoted_.append(line.substr(start, p - start));
    bool in_double = false;
    bool in_single = false;
    bool done = false;
    // A byte inside quotes that no escape took: the closing quote (which
    // must be followed by a space or the end), the end of the line before
    // it (unbalanced: false), or a byte of the argument.
    const auto quoted_byte = [&](char c, char quote, std::size_t at_p, bool& closed) {
      if (c == quote) {
        closed = true;
        return at(at_p + 1) == '\0' || is_space(at(at_p + 1));
      }
      if (c == '\0') return false;
      unquoted_.push_back(c);
      return true;
    };
    while (!done) {
      const char c = at(p);
      if (in_double) {
        if (c == '\\' && at(p + 1) == 'x' && is_hex_digit(at(p + 2)) && is_hex_digit(at(p + 3))) {
          unquoted_.push_back(static_cast<char>(hex_value(at(p + 2)) * 16 + hex_value(at(p + 3))));
          p += 3;
        } else if (c == '\\' && at(p + 1) != '\0') {
          ++p;
          char escaped = at(p);
          switch (escaped) {
            case 'n': escaped = '\n'; break;
            case 'r': escaped = '\r'; break;
            case 't': escaped = '\t'; break;
            case 'b': escaped = '\b'; break;
            case 'a': escaped = '\a'; break;
            default: break;
          }
          unquoted_.push_back(escaped);
        } else if (!quoted_byte(c, '"', p, done)) {
          return false;
        }
      } else if (in_single) {
        if (c == '\\' && at(p + 1) == '\'') {
          ++p;
          unquoted_.push_back('\'');
        } else if (!quoted_byte(c, '\'', p, done)) {
          return false;
        }
      } else {
        switch (c) {
          case ' ':
          case '\n':
          case '\r':
          case '\t':
          case '\0': done = true; break;
          case '"': in_double = true; break;
          case '\'': in_single = true; break;
          default: unquoted_.push_back(c); break;
        }
      }
      if (at(p) != '\0') ++p;
    }
    args_.push_back(std::string_view(unquoted_).substr(out_start));
  }
}

std::size_t RequestParser::find_header_end(std::string_view input, std::size_t from) {
  const std::size_t limit = std::min(input.size(), from + limits_.max_inline_bytes + 1);
  std::size_t begin = std::max(scanned_, from);
  if (begin < limit) {
    const void* found = std::memchr(input.data() + begin, '\r', limit - begin);
    if (found != nullptr) {
      scanned_ = static_cast<std::size_t>(static_cast<const char*>(found) - input.data());
      return scanned_;
    }
  }
  scanned_ = std::max(begin, limit);
  return std::string_view::npos;
}

ParseResult RequestParser::parse_multibulk(std::string_view input) {
  if (stage_ == Stage::kStart) {
    const std::size_t cr = find_header_end(input, 0);
    if (cr == std::string_view::npos) {
      if (input.size() > limits_.max_inline_bytes) return fail("ERR Protocol error: too big mbulk count string");
      return incomplete(input.size(), 0);
    }
    // Redis takes the byte after '\r' as the '\n' without looking at it.
    if (cr + 2 > input.size()) return incomplete(input.size(), cr + 2);
    long long count = 0;
    if (!parse_long_long(input.substr(1, cr - 1), count) ||
        (count > 0 && static_cast<unsigned long long>(count) > limits_.max_arguments)) {
      return fail("ERR Protocol error: invalid multibulk length");
    }
    if (count <= 0) return complete(cr + 2);
    bulks_left_ = static_cast<std::size_t>(count);
    spans_.reserve(std::min(bulks_left_, kPresizedArguments));
    position_ = cr + 2;
    scanned_ = position_;
    stage_ = Stage::kBulkHeader;
  }

  while (true) {
    if (stage_ == Stage::kBulkHeader) {
      const std::size_t cr = find_header_end(input, position_);
      if (cr == std::string_view::npos) {
        if (input.size() - position_ > limits_.max_inline_bytes) {
          return fail("ERR Protocol error: too big bulk count string");
        }
        return incomplete(input.size(), 0);
      }
      if (cr + 2 > input.size()) return incomplete(input.size(), cr + 2);
      if (input[position_] != '$') {
        // Redis turns line breaks in an error into spaces, to keep the reply one line.
        const char got = input[position_] == '\r' || input[position_] == '\n' ? ' ' : input[position_];
        constexpr std::string_view kPrefix = "ERR Protocol error: expected '$', got '";
        std::copy(kPrefix.begin(), kPrefix.end(), message_.begin());
        message_[kPrefix.size()] = got;
        message_[kPrefix.size() + 1] = '\'';
        return fail(std::string_view(message_.data(), kPrefix.size() + 2));
      }
      long long size = 0;
      if (!parse_long_long(input.substr(position_ + 1, cr - position_ - 1), size) || size < 0 ||
          static_cast<unsigned long long>(size) > limits_.max_bulk_bytes) {
        return fail("ERR Protocol error: invalid bulk length");
      }
      bulk_size_ = static_cast<std::size_t>(size);
      position_ = cr + 2;
      stage_ = Stage::kBulkBody;
    }
    // The bulk and the two bytes after it, which Redis skips unread.
    const std::size_t bulk_end = position_ + bulk_size_ + 2;
    if (input.size() < bulk_end) return incomplete(input.size(), bulk_end);
    spans_.push_back(Span{position_, bulk_size_});
    position_ = bulk_end;
    scanned_ = position_;
    if (--bulks_left_ == 0) break;
    stage_ = Stage::kBulkHeader;
  }

  args_.reserve(spans_.size());
  for (const Span& span : spans_) args_.push_back(input.substr(span.offset, span.size));
  return complete(position_);
}

}  // namespace kv

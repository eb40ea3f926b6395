// kv::RequestParser — reads Redis requests (RESP2) from the front of a
// connection's input without copying them: the arguments of a complete
// request are views into the input.
//
// Both request forms Redis accepts: multibulk (`*2\r\n$3\r\nGET\r\n$1\r\nk\r\n`,
// what every client library sends) and inline (`GET k\r\n`, what a person
// types into telnet, split with Redis's quoting rules). The parser has no
// IO: the connection reads into its buffer, calls parse(), runs the command
// on kComplete, drops `consumed` bytes and parses again.
//
//   kv::RequestParser parser;
//   kv::ParseResult r = parser.parse(buffer.view());
//   if (r.status == kv::ParseStatus::kComplete) {
//     if (!parser.args().empty()) run(parser.args());
//     buffer.consume(r.consumed);
//   } else if (r.status == kv::ParseStatus::kError) {
//     reply_error(r.error);  // then close: Redis does
//   }                        // kIncomplete: read more (at least r.wanted bytes in all), parse again
//
// Incremental: after kIncomplete the parser remembers how far it got, so a
// large bulk arriving in many reads is scanned once. Memory is bounded by
// ParserLimits whatever the input. Not for: replies (a client-side parser),
// RESP3.
#pragma once

#include <array>
#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace kv {

// The bounds Redis enforces, with its defaults. A request past one is a
// protocol error: the connection gets Redis's message and is closed.
struct ParserLimits {
  // A longer `$` length: "ERR Protocol error: invalid bulk length".
  std::size_t max_bulk_bytes = 512u << 20;
  // A line longer than this before its terminator (an inline request, or a
  // `*N` / `$N` header): "too big inline request", "too big mbulk count
  // string", "too big bulk count string".
  std::size_t max_inline_bytes = 64u << 10;
  // A larger `*N`: "ERR Protocol error: invalid multibulk length".
  std::size_t max_arguments = 1024 * 1024;
};

enum class ParseStatus { kComplete, kIncomplete, kError };

struct ParseResult {
  ParseStatus status = ParseStatus::kIncomplete;
  // kComplete: the request's bytes, including an empty request's; the
  // caller drops them from the front of its input.
  std::size_t consumed = 0;
  // kIncomplete: the least total input size that can complete the request
  // when the parser knows it (inside a bulk, or before a header's last
  // byte), else 0. A caller grows its buffer to this much for a big bulk.
  std::size_t wanted = 0;
  // kError: Redis's message without '-' and "\r\n", e.g. "ERR Protocol
  // error: invalid bulk length". Valid until the next parse() or reset().
  std::string_view error{};
};

class RequestParser {
 public:
  explicit RequestParser(ParserLimits limits = {});

  // Parses the request at the front of `input`. kComplete: args() holds its
  // arguments; a request with none (an empty inline line, "*0\r\n",
  // "*-1\r\n") is complete with args() empty and the caller skips it.
  // After kIncomplete, call again with the same bytes and more appended;
  // parsing resumes where it stopped (an input shorter than the last one
  // starts over). After kComplete or kError the next call starts fresh.
  ParseResult parse(std::string_view input);

  // The last complete request's arguments. Each views `input` — or, for an
  // inline argument whose quotes or escapes changed its bytes, the parser's
  // own storage — and is valid until `input`'s bytes change, or the next
  // parse() or reset().
  std::span<const std::string_view> args() const noexcept { return args_; }

  // Forgets a partly parsed request (the caller changed its input other
  // than by appending to it).
  void reset() noexcept;

  const ParserLimits& limits() const noexcept { return limits_; }

 private:
  enum class Stage { kStart, kBulkHeader, kBulkBody };
  struct Span {
    std::size_t offset;
    std::size_t size;
  };

  ParseResult parse_inline(std::string_view input);
  ParseResult parse_multibulk(std::string_view input);
  // Splits one inline line as Redis's sdssplitargs does; false on
  // unbalanced quotes.
  bool split_inline(std::string_view line);
  // Finds the '\r' ending the header line that starts at `from`; npos when
  // none yet. Resumes the search where the last one stopped.
  std::size_t find_header_end(std::string_view input, std::size_t from);
  ParseResult fail(std::string_view message) noexcept;
  ParseResult complete(std::size_t consumed) noexcept;
  ParseResult incomplete(std::size_t input_size, std::size_t wanted) noexcept;

  ParserLimits limits_;
  Stage stage_ = Stage::kStart;
  std::size_t position_ = 0;      // the next byte of the request to read
  std::size_t scanned_ = 0;       // bytes already searched for a line's terminator
  std::size_t seen_ = 0;          // input size at the last kIncomplete
  std::size_t bulks_left_ = 0;    // bulks the `*N` header announced and not yet read
  std::size_t bulk_size_ = 0;     // the current bulk's `$` length
  std::vector<Span> spans_;       // a multibulk request's arguments, as offsets until complete
  std::vector<std::string_view> args_;
  std::string unquoted_;          // inline arguments rewritten by quotes or escapes
  std::array<char, 48> message_{};  // "ERR Protocol error: expected '$', got 'x'"
};

// Redis's strict decimal integer syntax (its string2ll): an optional '-',
// no leading zeros, no '+', no spaces, within long long. Shared by the
// parser's length fields and the commands' integer arguments.
bool parse_long_long(std::string_view text, long long& value) noexcept;

}  // namespace kv

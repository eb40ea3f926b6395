// Tests of kv::RequestParser against Redis 7.0's request handling
// (networking.c: processMultibulkBuffer, processInlineBuffer, and
// sdssplitargs for inline quoting). Expected error texts were checked
// against a running redis-server 7.0.15.
#include "examples/kv_server/resp.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

namespace kv {
namespace {

using namespace std::string_view_literals;
using Args = std::vector<std::string>;

Args copy_args(const RequestParser& parser) {
  Args out;
  for (std::string_view a : parser.args()) out.emplace_back(a);
  return out;
}

// Parses every request of `input` in turn (skipping empty ones), as a
// connection would; stops at the first incomplete or erroneous request.
struct Outcome {
  std::vector<Args> requests;
  ParseStatus last = ParseStatus::kIncomplete;
  std::string error;
  std::size_t consumed = 0;
};

Outcome parse_all(std::string_view input, ParserLimits limits = {}) {
  RequestParser parser(limits);
  Outcome out;
  while (true) {
    const ParseResult r = parser.parse(input.substr(out.consumed));
    out.last = r.status;
    if (r.status == ParseStatus::kError) {
      out.error = std::string(r.error);
      return out;
    }
    if (r.status == ParseStatus::kIncomplete) return out;
    if (!parser.args().empty()) out.requests.push_back(copy_args(parser));
    out.consumed += r.consumed;
  }
}

// The same input fed as a connection receives it, in pieces cut at `cuts`:
// the parser sees a growing prefix, and dropped bytes leave the front.
Outcome parse_in_pieces(std::string_view input, std::vector<std::size_t> cuts) {
  RequestParser parser;
  Outcome out;
  cuts.push_back(input.size());
  std::size_t available = 0;
  for (std::size_t cut : cuts) {
    available = cut;
    while (true) {
      const ParseResult r = parser.parse(input.substr(out.consumed, available - out.consumed));
      out.last = r.status;
      if (r.status == ParseStatus::kError) {
        out.error = std::string(r.error);
        return out;
      }
      if (r.status == ParseStatus::kIncomplete) break;
      if (!parser.args().empty()) out.requests.push_back(copy_args(parser));
      out.consumed += r.consumed;
    }
  }
  return out;
}

std::string error_of(std::string_view input, ParserLimits limits = {}) {
  Outcome out = parse_all(input, limits);
  EXPECT_EQ(out.last, ParseStatus::kError) << input;
  return out.error;
}

TEST(RequestParser, ParsesAMultibulkRequest) {
  RequestParser parser;
  const std::string input = "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n";
  const ParseResult r = parser.parse(input);
  ASSERT_EQ(r.status, ParseStatus::kComplete);
  EXPECT_EQ(r.consumed, input.size());
  EXPECT_EQ(copy_args(parser), (Args{"SET", "key", "value"}));
  // The arguments view the input: no copy.
  EXPECT_EQ(parser.args()[1].data(), input.data() + 17);
}

TEST(RequestParser, BulksHoldAnyBytes) {
  const std::string input("*2\r\n$4\r\n\r\n\0*\r\n$0\r\n\r\n", 20);
  Outcome out = parse_all(input);
  ASSERT_EQ(out.requests.size(), 1u);
  EXPECT_EQ(out.requests[0], (Args{std::string("\r\n\0*", 4), ""}));
}

TEST(RequestParser, ParsesInlineRequests) {
  EXPECT_EQ(parse_all("PING\r\n").requests, (std::vector<Args>{{"PING"}}));
  EXPECT_EQ(parse_all("SET  k\t v \r\n").requests, (std::vector<Args>{{"SET", "k", "v"}}));
  // A lone '\n' ends an inline line too, and a '\r' inside it separates.
  EXPECT_EQ(parse_all("GET k\nECHO a\rb\r\n").requests, (std::vector<Args>{{"GET", "k"}, {"ECHO", "a", "b"}}));
  // Vertical tab and form feed separate arguments only where they lead.
  EXPECT_EQ(parse_all("ECHO \v\fa\vb\r\n").requests, (std::vector<Args>{{"ECHO", "a\vb"}}));
}

TEST(RequestParser, InlineQuotesFollowSdssplitargs) {
  EXPECT_EQ(parse_all("SET \"a b\" 'c d'\r\n").requests, (std::vector<Args>{{"SET", "a b", "c d"}}));
  EXPECT_EQ(parse_all("ECHO \"a\\x41\\n\\r\\t\\b\\a\\q\\\"\"\r\n").requests,
            (std::vector<Args>{{"ECHO", "aA\n\r\t\b\aq\""}}));
  EXPECT_EQ(parse_all("ECHO 'it\\'s \\n'\r\n").requests, (std::vector<Args>{{"ECHO", "it's \\n"}}));
  // A quote may open inside an argument; its bytes join that argument.
  EXPECT_EQ(parse_all("ECHO a\"b c\"\r\n").requests, (std::vector<Args>{{"ECHO", "ab c"}}));
  // \x needs two hex digits; otherwise the backslash escapes the 'x'.
  EXPECT_EQ(parse_all("ECHO \"\\x4g\"\r\n").requests, (std::vector<Args>{{"ECHO", "x4g"}}));
  EXPECT_EQ(parse_all("ECHO \"\" ''\r\n").requests, (std::vector<Args>{{"ECHO", "", ""}}));
  // A NUL byte ends the line, as it ends the C string Redis splits.
  EXPECT_EQ(parse_all(std::string_view("ECHO a\0b c\r\n", 12)).requests, (std::vector<Args>{{"ECHO", "a"}}));
}

TEST(RequestParser, UnbalancedQuotesAreAnError) {
  constexpr std::string_view kUnbalanced = "ERR Protocol error: unbalanced quotes in request";
  EXPECT_EQ(error_of("ECHO \"abc\r\n"), kUnbalanced);
  EXPECT_EQ(error_of("ECHO 'abc\r\n"), kUnbalanced);
  EXPECT_EQ(error_of("ECHO \"abc\"d\r\n"), kUnbalanced);  // a closing quote must end the argument
  EXPECT_EQ(error_of("ECHO 'abc'd\r\n"), kUnbalanced);
  EXPECT_EQ(error_of("ECHO \"ab\\\"\r\n"), kUnbalanced);
  EXPECT_EQ(error_of(std::string_view("ECHO \"a\0\"\r\n", 11)), kUnbalanced);
}

TEST(RequestParser, EmptyRequestsAreCompleteWithNoArguments) {
  for (std::string_view input : {"\r\n"sv, "\n"sv, "   \t\r\n"sv, "*0\r\n"sv, "*-1\r\n"sv, "*-7\r\n"sv}) {
    RequestParser parser;
    const ParseResult r = parser.parse(input);
    EXPECT_EQ(r.status, ParseStatus::kComplete) << input;
    EXPECT_EQ(r.consumed, input.size()) << input;
    EXPECT_TRUE(parser.args().empty()) << input;
  }
}

TEST(RequestParser, PipelinedRequestsParseOneAtATime) {
  const std::string input = "*1\r\n$4\r\nPING\r\nPING\r\n\r\n*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\n*0\r\nGET k\n";
  Outcome out = parse_all(input);
  EXPECT_EQ(out.requests, (std::vector<Args>{{"PING"}, {"PING"}, {"ECHO", "hi"}, {"GET", "k"}}));
  EXPECT_EQ(out.consumed, input.size());
  EXPECT_EQ(out.last, ParseStatus::kIncomplete);
}

TEST(RequestParser, TheTwoBytesAfterAHeaderOrABulkAreSkippedUnread) {
  // Redis 7.0 takes the byte after a header's '\r', and the two bytes after
  // a bulk, as the line break without looking at them.
  EXPECT_EQ(parse_all("*1\rX$4\r\nPINGxx").requests, (std::vector<Args>{{"PING"}}));
}

TEST(RequestParser, MultibulkErrorsUseRedisWording) {
  EXPECT_EQ(error_of("*x\r\n"), "ERR Protocol error: invalid multibulk length");
  EXPECT_EQ(error_of("*\r\n"), "ERR Protocol error: invalid multibulk length");
  EXPECT_EQ(error_of("*+1\r\n"), "ERR Protocol error: invalid multibulk length");
  EXPECT_EQ(error_of("*01\r\n"), "ERR Protocol error: invalid multibulk length");
  EXPECT_EQ(error_of("* 1\r\n"), "ERR Protocol error: invalid multibulk length");
  EXPECT_EQ(error_of("*99999999999999999999\r\n"), "ERR Protocol error: invalid multibulk length");
  EXPECT_EQ(error_of("*1\r\nx\r\n"), "ERR Protocol error: expected '$', got 'x'");
  EXPECT_EQ(error_of("*1\r\n\r\n"), "ERR Protocol error: expected '$', got ' '");
  EXPECT_EQ(error_of("*1\r\n\nfoo\r\n"), "ERR Protocol error: expected '$', got ' '");
  EXPECT_EQ(error_of("*1\r\n$-1\r\n"), "ERR Protocol error: invalid bulk length");
  EXPECT_EQ(error_of("*1\r\n$\r\n"), "ERR Protocol error: invalid bulk length");
  EXPECT_EQ(error_of("*1\r\n$05\r\n"), "ERR Protocol error: invalid bulk length");
  EXPECT_EQ(error_of("*1\r\n$3x\r\n"), "ERR Protocol error: invalid bulk length");
  EXPECT_EQ(error_of("*1\r\n$536870913\r\n"), "ERR Protocol error: invalid bulk length");
  // The second bulk's header is checked like the first.
  EXPECT_EQ(error_of("*2\r\n$1\r\na\r\n:1\r\n"), "ERR Protocol error: expected '$', got ':'");
}

TEST(RequestParser, LimitsAreEnforced) {
  ParserLimits limits{.max_bulk_bytes = 10, .max_inline_bytes = 16, .max_arguments = 3};
  EXPECT_EQ(error_of("*4\r\n", limits), "ERR Protocol error: invalid multibulk length");
  EXPECT_EQ(parse_all("*3\r\n", limits).last, ParseStatus::kIncomplete);
  EXPECT_EQ(error_of("*1\r\n$11\r\n", limits), "ERR Protocol error: invalid bulk length");
  EXPECT_EQ(parse_all("*1\r\n$10\r\n0123456789\r\n", limits).requests, (std::vector<Args>{{"0123456789"}}));
  // Lines: at most 16 bytes before the '\n', a '\r' included (Redis counts
  // what has arrived without a '\n'), whether the '\n' has arrived or not.
  EXPECT_EQ(parse_all("ECHO 6789012345\r\n", limits).requests.size(), 1u);
  EXPECT_EQ(parse_all("ECHO 67890123456\n", limits).requests.size(), 1u);
  EXPECT_EQ(error_of("ECHO 67890123456\r\n", limits), "ERR Protocol error: too big inline request");
  EXPECT_EQ(error_of("ECHO 678901234567", limits), "ERR Protocol error: too big inline request");
  EXPECT_EQ(parse_all("ECHO 67890123456", limits).last, ParseStatus::kIncomplete);
  EXPECT_EQ(error_of("*00000000000000001", limits), "ERR Protocol error: too big mbulk count string");
  EXPECT_EQ(error_of("*1\r\n$00000000000000001", limits), "ERR Protocol error: too big bulk count string");
  EXPECT_EQ(error_of("*1\r\n$00000000000000001\r\n", limits), "ERR Protocol error: too big bulk count string");
}

TEST(RequestParser, DefaultLimitsAreRedisDefaults) {
  EXPECT_EQ(error_of("*1048577\r\n"), "ERR Protocol error: invalid multibulk length");
  EXPECT_EQ(parse_all("*1048576\r\n").last, ParseStatus::kIncomplete);
  EXPECT_EQ(error_of(std::string(64 * 1024 + 1, 'a')), "ERR Protocol error: too big inline request");
  EXPECT_EQ(parse_all(std::string(64 * 1024, 'a')).last, ParseStatus::kIncomplete);
  EXPECT_EQ(error_of("*1\r\n$" + std::string(64 * 1024, '1')), "ERR Protocol error: too big bulk count string");
  EXPECT_EQ(parse_all("*1\r\n$536870912\r\n").last, ParseStatus::kIncomplete);
}

TEST(RequestParser, IncompleteReportsTheSizeThatCompletesTheRequest) {
  RequestParser parser;
  std::string input = "*2\r\n$3\r\nSET\r\n$100\r\n";
  ParseResult r = parser.parse(input);
  ASSERT_EQ(r.status, ParseStatus::kIncomplete);
  EXPECT_EQ(r.wanted, input.size() + 102);
  input += std::string(50, 'v');
  r = parser.parse(input);
  ASSERT_EQ(r.status, ParseStatus::kIncomplete);
  EXPECT_EQ(r.wanted, input.size() + 52);
  input += std::string(50, 'v') + "\r\n";
  r = parser.parse(input);
  ASSERT_EQ(r.status, ParseStatus::kComplete);
  EXPECT_EQ(parser.args()[1], std::string(100, 'v'));
  // A header missing only its '\n' also knows; one still in its digits does not.
  EXPECT_EQ(parser.parse("*1\r").wanted, 4u);
  parser.reset();
  EXPECT_EQ(parser.parse("*1").wanted, 0u);
  parser.reset();
  EXPECT_EQ(parser.parse("PIN").wanted, 0u);
}

TEST(RequestParser, ResumesOnAMovedCopyOfTheSameBytes) {
  // The caller may move its bytes to a bigger buffer between calls: the
  // parser keeps offsets, not addresses.
  RequestParser parser;
  std::string first = "*2\r\n$3\r\nGET\r\n$3\r\nke";
  ASSERT_EQ(parser.parse(first).status, ParseStatus::kIncomplete);
  std::string second = first + "y\r\n";
  first.assign(first.size(), '#');
  const ParseResult r = parser.parse(second);
  ASSERT_EQ(r.status, ParseStatus::kComplete);
  EXPECT_EQ(copy_args(parser), (Args{"GET", "key"}));
}

TEST(RequestParser, AShorterInputOrResetStartsOver) {
  RequestParser parser;
  ASSERT_EQ(parser.parse("*2\r\n$3\r\nGET\r\n").status, ParseStatus::kIncomplete);
  const ParseResult r = parser.parse("PING\r\n");  // shorter than the last input
  ASSERT_EQ(r.status, ParseStatus::kComplete);
  EXPECT_EQ(copy_args(parser), (Args{"PING"}));
  ASSERT_EQ(parser.parse("*2\r\n$3\r\nGET\r\n").status, ParseStatus::kIncomplete);
  parser.reset();
  ASSERT_EQ(parser.parse("*1\r\n$4\r\nPING\r\n*1\r\n").status, ParseStatus::kComplete);
  EXPECT_EQ(copy_args(parser), (Args{"PING"}));
}

TEST(RequestParser, AfterAnErrorTheNextCallStartsFresh) {
  RequestParser parser;
  ASSERT_EQ(parser.parse("*1\r\n$x\r\n").status, ParseStatus::kError);
  EXPECT_TRUE(parser.args().empty());
  ASSERT_EQ(parser.parse("*1\r\n$4\r\nPING\r\n").status, ParseStatus::kComplete);
  EXPECT_EQ(copy_args(parser), (Args{"PING"}));
}

TEST(RequestParser, ABigBulkInSmallReadsIsScannedOnce) {
  // 1 MiB in 64-byte pieces: each call looks only at what is new, so this
  // runs in a blink; rescanning from the start would take ~8 G byte reads.
  RequestParser parser;
  std::string input = "*1\r\n$1048576\r\n";
  input.reserve(input.size() + (1u << 20) + 2);
  ASSERT_EQ(parser.parse(input).status, ParseStatus::kIncomplete);
  for (std::size_t i = 0; i < (1u << 20) / 64; ++i) {
    input.append(64, 'z');
    ASSERT_EQ(parser.parse(input).status, ParseStatus::kIncomplete);
  }
  input += "\r\n";
  ASSERT_EQ(parser.parse(input).status, ParseStatus::kComplete);
  EXPECT_EQ(parser.args()[0].size(), 1u << 20);
}

TEST(RequestParser, ArgumentStorageIsReusedAcrossRequests) {
  RequestParser parser;
  ASSERT_EQ(parser.parse("*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n").status, ParseStatus::kComplete);
  const std::string_view* storage = parser.args().data();
  ASSERT_EQ(parser.parse("*2\r\n$1\r\nx\r\n$1\r\ny\r\n").status, ParseStatus::kComplete);
  EXPECT_EQ(parser.args().data(), storage);
}

// One pipeline of every request form, cut into two and three pieces at
// every pair of byte boundaries, gives the same requests as the whole.
TEST(RequestParser, SplitAtEveryBoundaryGivesTheSameRequests) {
  const std::string input =
      "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nv\r\nxy\r\n"
      "PING\r\n"
      "\r\n"
      "ECHO \"a b\\x41\" 'c'\n"
      "*0\r\n"
      "*2\r\n$4\r\nECHO\r\n$0\r\n\r\n"
      "*-1\r\n"
      "  GET   k  \r\n";
  const Outcome whole = parse_all(input);
  ASSERT_EQ(whole.requests.size(), 5u);
  EXPECT_EQ(whole.requests[0], (Args{"SET", "k", "v\r\nxy"}));
  EXPECT_EQ(whole.requests[2], (Args{"ECHO", "a bA", "c"}));
  EXPECT_EQ(whole.consumed, input.size());
  for (std::size_t i = 0; i <= input.size(); ++i) {
    const Outcome two = parse_in_pieces(input, {i});
    ASSERT_EQ(two.requests, whole.requests) << "cut at " << i;
    ASSERT_EQ(two.consumed, whole.consumed);
    for (std::size_t j = i; j <= input.size(); ++j) {
      const Outcome three = parse_in_pieces(input, {i, j});
      ASSERT_EQ(three.requests, whole.requests) << "cut at " << i << " and " << j;
    }
  }
}

TEST(ParseLongLong, AcceptsRedisIntegersOnly) {
  long long v = 0;
  EXPECT_TRUE(parse_long_long("0", v) && v == 0);
  EXPECT_TRUE(parse_long_long("-12", v) && v == -12);
  EXPECT_TRUE(parse_long_long("9223372036854775807", v) && v == 9223372036854775807LL);
  EXPECT_TRUE(parse_long_long("-9223372036854775808", v) && v == -9223372036854775807LL - 1);
  for (std::string_view bad : {""sv, "-"sv, "+1"sv, "01"sv, "-0"sv, " 1"sv, "1 "sv, "1.5"sv, "9223372036854775808"sv,
                               "-9223372036854775809"sv, "000000000000000000001"sv}) {
    EXPECT_FALSE(parse_long_long(bad, v)) << bad;
  }
}

}  // namespace
}  // namespace kv

// A deterministic random-input test of kv::RequestParser: fixed seeds, over
// a million inputs — random bytes, and valid pipelines mutated by
// truncation, byte flips, insertions, deletions and edits of their length
// fields. Each input is parsed whole and again fed in two or three pieces.
//
// Invariants, for every input: parsing ends (every complete request
// consumes at least one byte); `consumed` never exceeds the input; each
// argument views the input (or, for an inline request with quotes, the
// parser's own storage); `wanted` exceeds what the parser was given; after
// kError the parser parses a valid request; the pieces give the same
// requests and the same outcome as the whole. For mutations that leave the
// pipeline valid (bytes Redis skips unread, inserted empty requests), the
// requests are the unmutated pipeline's.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "examples/kv_server/resp.h"

namespace kv {
namespace {

constexpr std::size_t kInputsPerSeed = 125'000;
constexpr std::uint64_t kSeeds[] = {1, 2, 3, 4, 5, 6, 7, 8};

// A digest of a sequence of requests: equal digests, equal requests.
struct Digest {
  std::uint64_t value = 1469598103934665603ull;
  void add(std::uint64_t x) noexcept {
    value ^= x;
    value *= 1099511628211ull;
  }
  void add(std::string_view bytes) noexcept {
    add(bytes.size());
    for (unsigned char c : bytes) add(c);
  }
};

struct Outcome {
  std::uint64_t requests = 0;  // Digest of every non-empty request's arguments
  std::size_t count = 0;
  ParseStatus last = ParseStatus::kIncomplete;
  std::string error;
  std::size_t consumed = 0;
};

bool operator==(const Outcome& a, const Outcome& b) {
  return a.requests == b.requests && a.count == b.count && a.last == b.last && a.error == b.error &&
         a.consumed == b.consumed;
}

// Parses `input` as a connection receives it: the bytes up to each cut
// arrive in turn (no cuts: all at once).
Outcome feed(RequestParser& parser, std::string_view input, std::initializer_list<std::size_t> cuts) {
  Outcome out;
  Digest digest;
  auto deliver = [&](std::size_t available) {
    for (std::size_t steps = 0;; ++steps) {
      if (steps > input.size() + 1) {
        ADD_FAILURE() << "the parser does not progress";
        return false;
      }
      const std::string_view view = input.substr(out.consumed, available - out.consumed);
      const ParseResult r = parser.parse(view);
      out.last = r.status;
      if (r.status == ParseStatus::kError) {
        out.error = std::string(r.error);
        EXPECT_FALSE(out.error.empty());
        return false;
      }
      if (r.status == ParseStatus::kIncomplete) {
        if (r.wanted != 0 && r.wanted <= view.size()) ADD_FAILURE() << "wanted " << r.wanted << " of " << view.size();
        return true;
      }
      if (r.consumed == 0 || r.consumed > view.size()) {
        ADD_FAILURE() << "consumed " << r.consumed << " of " << view.size();
        return false;
      }
      const std::string_view request = view.substr(0, r.consumed);
      const bool quoted = request[0] != '*' && request.find_first_of("\"'") != std::string_view::npos;
      for (std::string_view arg : parser.args()) {
        const bool inside = arg.data() >= request.data() && arg.data() + arg.size() <= request.data() + request.size();
        if (!inside && !(quoted && arg.size() <= request.size())) {
          ADD_FAILURE() << "an argument lies outside the request";
          return false;
        }
      }
      if (!parser.args().empty()) {
        ++out.count;
        digest.add(parser.args().size());
        for (std::string_view arg : parser.args()) digest.add(arg);
      }
      out.consumed += r.consumed;
    }
  };
  bool going = true;
  for (std::size_t cut : cuts) {
    if (going && cut <= input.size()) going = deliver(cut);
  }
  if (going) deliver(input.size());
  out.requests = digest.value;
  return out;
}

// A valid pipeline with the places where a mutation keeps it valid.
struct Pipeline {
  std::string bytes;
  std::uint64_t digest = 0;
  std::size_t count = 0;
  std::vector<std::size_t> skipped;     // bytes Redis reads past unread
  std::vector<std::size_t> boundaries;  // offsets between requests
  std::vector<std::size_t> length_fields;
};

class Generator {
 public:
  explicit Generator(std::uint64_t seed) : rng_(seed) {}

  std::size_t below(std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng_); }

  char byte() {
    static constexpr std::string_view kFavoured = "*$\r\n0123456789-+ \"'\\xa";
    return below(3) == 0 ? static_cast<char>(below(256)) : kFavoured[below(kFavoured.size())];
  }

  Pipeline pipeline() {
    Pipeline p;
    Digest digest;
    const std::size_t requests = 1 + below(4);
    for (std::size_t r = 0; r < requests; ++r) {
      p.boundaries.push_back(p.bytes.size());
      std::vector<std::string> args;
      if (below(10) < 7) {
        const std::size_t n = 1 + below(4);
        p.bytes += "*";
        p.length_fields.push_back(p.bytes.size());
        p.bytes += std::to_string(n) + "\r";
        p.skipped.push_back(p.bytes.size());
        p.bytes += "\n";
        for (std::size_t i = 0; i < n; ++i) {
          std::string arg;
          const std::size_t size = below(9);
          for (std::size_t k = 0; k < size; ++k) arg.push_back(byte());
          p.bytes += "$";
          p.length_fields.push_back(p.bytes.size());
          p.bytes += std::to_string(size) + "\r";
          p.skipped.push_back(p.bytes.size());
          p.bytes += "\n" + arg;
          p.skipped.push_back(p.bytes.size());
          p.skipped.push_back(p.bytes.size() + 1);
          p.bytes += "\r\n";
          args.push_back(std::move(arg));
        }
      } else {
        static constexpr std::string_view kWord = "abcdefghijklmnopqrstuvwxyz0123456789_-";
        const std::size_t n = 1 + below(3);
        for (std::size_t i = 0; i < n; ++i) {
          if (i > 0) p.bytes += below(4) == 0 ? "\t" : " ";
          std::string arg;
          const std::size_t size = 1 + below(6);
          for (std::size_t k = 0; k < size; ++k) arg.push_back(kWord[below(kWord.size())]);
          if (i > 0 && below(4) == 0) {
            arg.insert(below(arg.size() + 1), " ");
            p.bytes += "\"" + arg + "\"";
          } else {
            p.bytes += arg;
          }
          args.push_back(std::move(arg));
        }
        p.bytes += below(3) == 0 ? "\n" : "\r\n";
      }
      ++p.count;
      digest.add(args.size());
      for (const std::string& a : args) digest.add(a);
    }
    p.boundaries.push_back(p.bytes.size());
    p.digest = digest.value;
    return p;
  }

  std::string random_bytes() {
    std::string s;
    const std::size_t size = below(48);
    for (std::size_t i = 0; i < size; ++i) s.push_back(byte());
    return s;
  }

  // A mutation that may break the pipeline.
  std::string mutate(const Pipeline& p) {
    std::string s = p.bytes;
    switch (below(p.length_fields.empty() ? 4 : 5)) {
      case 0:
        s.resize(below(s.size() + 1));
        break;
      case 1:
        s[below(s.size())] ^= static_cast<char>(1 + below(255));
        break;
      case 2:
        s.insert(s.begin() + static_cast<std::ptrdiff_t>(below(s.size() + 1)), byte());
        break;
      case 3:
        s.erase(below(s.size()), 1 + below(3));
        break;
      default: {
        // A length field gets another number, or junk.
        const std::size_t at = p.length_fields[below(p.length_fields.size())];
        const std::size_t end = s.find('\r', at);
        static constexpr std::string_view kLengths[] = {"0", "1", "9", "-1", "-2", "", "x", "01", "1048577",
                                                        "536870913", "99999999999999999999"};
        s.replace(at, end - at, kLengths[below(std::size(kLengths))]);
        break;
      }
    }
    return s;
  }

  // A mutation that keeps the requests: bytes Redis skips get other values,
  // or empty requests join between requests.
  std::string keep(const Pipeline& p) {
    std::string s = p.bytes;
    for (std::size_t i = 0, n = 1 + below(3); i < n && !p.skipped.empty(); ++i) {
      s[p.skipped[below(p.skipped.size())]] = static_cast<char>(below(256));
    }
    static constexpr std::string_view kEmpty[] = {"*0\r\n", "*-1\r\n", "\r\n", "\n", " \t \r\n", "*-5\r\n"};
    // Insert at the last or the one before, the later first, so the other
    // boundary stays where it was.
    std::vector<std::size_t> at;
    for (std::size_t i = 0, n = below(3); i < n; ++i) {
      at.push_back(p.boundaries[p.boundaries.size() - 1 - below(std::min<std::size_t>(2, p.boundaries.size()))]);
    }
    std::sort(at.rbegin(), at.rend());
    for (std::size_t where : at) s.insert(where, kEmpty[below(std::size(kEmpty))]);
    return s;
  }

 private:
  std::mt19937_64 rng_;
};

void check_input(Generator& gen, RequestParser& whole_parser, RequestParser& split_parser, std::string_view input) {
  const Outcome whole = feed(whole_parser, input, {});
  const std::size_t a = gen.below(input.size() + 1);
  const std::size_t b = a + gen.below(input.size() - a + 1);
  const Outcome split = gen.below(2) == 0 ? feed(split_parser, input, {a}) : feed(split_parser, input, {a, b});
  ASSERT_TRUE(whole == split) << "input of " << input.size() << " bytes cut at " << a << ", " << b;
  if (whole.last == ParseStatus::kError) {
    // The parser is usable after an error.
    ASSERT_EQ(whole_parser.parse("*1\r\n$4\r\nPING\r\n").status, ParseStatus::kComplete);
    ASSERT_EQ(whole_parser.args().size(), 1u);
    ASSERT_EQ(whole_parser.args()[0], "PING");
  } else {
    whole_parser.reset();
  }
  split_parser.reset();
}

TEST(RequestParserFuzz, MillionInputsKeepTheInvariants) {
  std::size_t inputs = 0;
  std::size_t kept = 0;
  for (std::uint64_t seed : kSeeds) {
    Generator gen(seed);
    RequestParser whole_parser;
    RequestParser split_parser;
    for (std::size_t i = 0; i < kInputsPerSeed; ++i, ++inputs) {
      const std::size_t kind = gen.below(4);
      if (kind == 0) {
        const std::string input = gen.random_bytes();
        check_input(gen, whole_parser, split_parser, input);
      } else if (kind == 1 || kind == 2) {
        const Pipeline p = gen.pipeline();
        const std::string input = gen.mutate(p);
        check_input(gen, whole_parser, split_parser, input);
      } else {
        const Pipeline p = gen.pipeline();
        const std::string input = gen.keep(p);
        const Outcome out = feed(whole_parser, input, {});
        ASSERT_EQ(out.last, ParseStatus::kIncomplete) << "seed " << seed << " input " << i;
        ASSERT_EQ(out.consumed, input.size());
        ASSERT_EQ(out.count, p.count) << ::testing::PrintToString(input) << " from " << ::testing::PrintToString(p.bytes);
        ASSERT_EQ(out.requests, p.digest) << "seed " << seed << " input " << i;
        check_input(gen, whole_parser, split_parser, input);
        ++kept;
      }
      if (HasFatalFailure()) return;
    }
  }
  EXPECT_EQ(inputs, kInputsPerSeed * std::size(kSeeds));
  EXPECT_GT(kept, inputs / 5);
}

}  // namespace
}  // namespace kv

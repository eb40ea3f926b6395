// Tests of kv::ReplyWriter: each RESP2 form byte for byte, and growth of a
// keel::Buffer that keeps what it held.
#include "examples/kv_server/reply.h"

#include <gtest/gtest.h>

#include <climits>
#include <string>

namespace kv {
namespace {

TEST(ReplyWriter, WritesEachForm) {
  keel::Buffer out(1024);
  ReplyWriter reply(out);
  reply.simple("OK");
  reply.error("ERR syntax error");
  reply.integer(0);
  reply.integer(-42);
  reply.integer(LLONG_MIN);
  reply.integer(LLONG_MAX);
  reply.bulk("hello");
  reply.bulk("");
  reply.bulk(std::string("a\r\n\0b", 5));
  reply.null_bulk();
  reply.array(2);
  reply.array(0);
  reply.null_array();
  EXPECT_EQ(out.view(), std::string("+OK\r\n-ERR syntax error\r\n:0\r\n:-42\r\n:-9223372036854775808\r\n"
                                    ":9223372036854775807\r\n$5\r\nhello\r\n$0\r\n\r\n$5\r\na\r\n\0b\r\n$-1\r\n"
                                    "*2\r\n*0\r\n*-1\r\n",
                                    125));
}

TEST(ReplyWriter, AppendsAfterTheBufferContents) {
  keel::Buffer out(64);
  out.append("+PONG\r\n");
  ReplyWriter reply(out);
  reply.integer(7);
  EXPECT_EQ(out.view(), "+PONG\r\n:7\r\n");
}

TEST(ReplyWriter, WritesIntoAnEmptyBuffer) {
  keel::Buffer out;
  ReplyWriter reply(out);
  reply.simple("PONG");
  EXPECT_EQ(out.view(), "+PONG\r\n");
  EXPECT_GE(out.capacity(), 7u);
}

TEST(ReplyWriter, GrowingKeepsTheContentsAndAtLeastDoubles) {
  keel::Buffer out(16);
  out.append("+OK\r\n");
  ReplyWriter reply(out);
  std::string expected = "+OK\r\n";
  std::size_t last_capacity = out.capacity();
  for (int i = 0; i < 200; ++i) {
    const std::string value(static_cast<std::size_t>(i), static_cast<char>('a' + i % 26));
    reply.bulk(value);
    expected += "$" + std::to_string(i) + "\r\n" + value + "\r\n";
    if (out.capacity() != last_capacity) {
      EXPECT_GE(out.capacity(), 2 * last_capacity);
      last_capacity = out.capacity();
    }
    ASSERT_EQ(out.view(), expected);
  }
  EXPECT_EQ(&reply.buffer(), &out);
}

TEST(ReplyWriter, OneReplyBiggerThanDoubleFitsInOneGrowth) {
  keel::Buffer out(8);
  ReplyWriter reply(out);
  const std::string big(10000, 'x');
  reply.bulk(big);
  EXPECT_EQ(out.view(), "$10000\r\n" + big + "\r\n");
}

TEST(ReplyWriter, ABufferBigEnoughIsNeverReplaced) {
  keel::Buffer out(4096);
  const keel::Buffer* address = &out;
  const std::size_t capacity = out.capacity();
  const auto* bytes = out.spare_capacity().data();
  for (int round = 0; round < 100; ++round) {
    ReplyWriter reply(out);
    reply.array(3);
    reply.bulk("value");
    reply.integer(round);
    reply.null_bulk();
    out.clear();
  }
  EXPECT_EQ(&out, address);
  EXPECT_EQ(out.capacity(), capacity);
  EXPECT_EQ(out.spare_capacity().data(), bytes);  // the same allocation
}

}  // namespace
}  // namespace kv

// Tests of the commands through kv::CommandTable: each command's replies
// byte for byte (Redis 7.0's wording, checked against redis-server
// 7.0.15), WRONGTYPE, overflow, SET's options, expiry on a virtual clock
// (lazy on access, TTL rounding, the sweep's budget and the index bound),
// unknown commands and arity.
#include "examples/kv_server/commands.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "examples/kv_server/keyspace.h"
#include "examples/kv_server/reply.h"
#include "rt/error.h"
#include "rt/testing.h"
#include "rt/world.h"

namespace kv {
namespace {

using namespace std::chrono_literals;

keel::World make_world() {
  keel::WorldBuilder wb;
  wb.emplace<Keyspace>();
  wb.emplace<ServerInfo>(ServerInfo{.version = "7.0.0", .shards = 1, .port = 6390});
  return std::move(wb).build();
}

class Commands : public ::testing::Test {
 protected:
  // Runs one request; returns its reply bytes.
  std::string run(std::vector<std::string> args) {
    std::vector<std::string_view> views(args.begin(), args.end());
    keel::Buffer out;
    ReplyWriter reply(out);
    CommandCall call{.args = views, .reply = reply, .now = clock.now(), .client = &client};
    table.execute(world, call);
    closed = call.close_after;
    return std::string(reply.buffer().view());
  }
  Keyspace& keys() { return world.resource<Keyspace>(); }

  keel::World world = make_world();
  CommandTable table{world.registry()};
  keel::testing::VirtualClock clock{keel::Instant{} + 1000h};
  ClientState client{.id = 7, .name = {}};
  bool closed = false;
};

constexpr const char* kWrongType = "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n";
constexpr const char* kNotInteger = "-ERR value is not an integer or out of range\r\n";
constexpr const char* kSyntax = "-ERR syntax error\r\n";

TEST_F(Commands, PingEchoQuit) {
  EXPECT_EQ(run({"PING"}), "+PONG\r\n");
  EXPECT_EQ(run({"ping", "hi"}), "$2\r\nhi\r\n");
  EXPECT_EQ(run({"PING", "a", "b"}), "-ERR wrong number of arguments for 'ping' command\r\n");
  EXPECT_EQ(run({"ECHO", "x y"}), "$3\r\nx y\r\n");
  EXPECT_EQ(run({"echo"}), "-ERR wrong number of arguments for 'echo' command\r\n");
  EXPECT_FALSE(closed);
  EXPECT_EQ(run({"QUIT"}), "+OK\r\n");
  EXPECT_TRUE(closed);
}

TEST_F(Commands, UnknownCommandsQuoteTheirArguments) {
  EXPECT_EQ(run({"foo", "a", "b"}), "-ERR unknown command 'foo', with args beginning with: 'a' 'b' \r\n");
  EXPECT_EQ(run({"FOO"}), "-ERR unknown command 'FOO', with args beginning with: \r\n");
  // Line breaks become spaces; quoting stops near 128 bytes of arguments.
  EXPECT_EQ(run({"a\r\nb", "c\nd"}), "-ERR unknown command 'a  b', with args beginning with: 'c d' \r\n");
  const std::string long_arg(200, 'x');
  EXPECT_EQ(run({"nope", long_arg, "y"}),
            "-ERR unknown command 'nope', with args beginning with: '" + std::string(128, 'x') + "' \r\n");
  EXPECT_EQ(run({std::string(200, 'n')}),
            "-ERR unknown command '" + std::string(128, 'n') + "', with args beginning with: \r\n");
}

TEST_F(Commands, FindIgnoresCaseAndRejectsUnknownNames) {
  ASSERT_NE(table.find("GeT"), nullptr);
  EXPECT_EQ(table.find("GeT")->name, "get");
  EXPECT_EQ(table.find("get")->arity, 2);
  EXPECT_EQ(table.find("mset")->keys.step, 2);
  EXPECT_TRUE(table.find("dbsize")->every_shard);
  EXPECT_TRUE(table.find("FLUSHDB")->every_shard);
  EXPECT_FALSE(table.find("get")->every_shard);
  EXPECT_EQ(table.find("getx"), nullptr);
  EXPECT_EQ(table.find(""), nullptr);
  EXPECT_EQ(table.find(std::string(1000, 'g')), nullptr);
}

TEST_F(Commands, ArityIsCheckedBeforeTheCommandRuns) {
  EXPECT_EQ(run({"GET"}), "-ERR wrong number of arguments for 'get' command\r\n");
  EXPECT_EQ(run({"get", "a", "b"}), "-ERR wrong number of arguments for 'get' command\r\n");
  EXPECT_EQ(run({"SET", "a"}), "-ERR wrong number of arguments for 'set' command\r\n");
  EXPECT_EQ(run({"DBSIZE", "x"}), "-ERR wrong number of arguments for 'dbsize' command\r\n");
  EXPECT_EQ(run({"MSET", "a", "1", "b"}), "-ERR wrong number of arguments for 'mset' command\r\n");
  EXPECT_EQ(run({"LPOP", "l", "1", "2"}), "-ERR wrong number of arguments for 'lpop' command\r\n");
  EXPECT_EQ(keys().size(), 0u);
}

TEST_F(Commands, GetSetDelExists) {
  EXPECT_EQ(run({"GET", "k"}), "$-1\r\n");
  EXPECT_EQ(run({"SET", "k", "v"}), "+OK\r\n");
  EXPECT_EQ(run({"GET", "k"}), "$1\r\nv\r\n");
  EXPECT_EQ(run({"SET", "k", std::string("a\0b", 3)}), "+OK\r\n");
  EXPECT_EQ(run({"GET", "k"}), std::string("$3\r\na\0b\r\n", 9));
  EXPECT_EQ(run({"EXISTS", "k", "k", "nope"}), ":2\r\n");
  EXPECT_EQ(run({"DEL", "k", "k", "nope"}), ":1\r\n");
  EXPECT_EQ(run({"EXISTS", "k"}), ":0\r\n");
}

TEST_F(Commands, SetOptions) {
  EXPECT_EQ(run({"SET", "k", "1", "NX"}), "+OK\r\n");
  EXPECT_EQ(run({"SET", "k", "2", "nx"}), "$-1\r\n");
  EXPECT_EQ(run({"SET", "other", "2", "XX"}), "$-1\r\n");
  EXPECT_EQ(run({"EXISTS", "other"}), ":0\r\n");
  EXPECT_EQ(run({"SET", "k", "3", "xx"}), "+OK\r\n");
  EXPECT_EQ(run({"SET", "k", "4", "GET"}), "$1\r\n3\r\n");
  EXPECT_EQ(run({"SET", "new", "4", "GET"}), "$-1\r\n");
  EXPECT_EQ(run({"SET", "k", "5", "NX", "GET"}), "$1\r\n4\r\n");  // not stored: NX
  EXPECT_EQ(run({"GET", "k"}), "$1\r\n4\r\n");
  // Options in any order; a repeated expiry takes the last.
  EXPECT_EQ(run({"SET", "k", "v", "EX", "10", "NX"}), "$-1\r\n");
  EXPECT_EQ(run({"SET", "k", "v", "EX", "10", "ex", "20", "XX"}), "+OK\r\n");
  EXPECT_EQ(run({"TTL", "k"}), ":20\r\n");
  EXPECT_EQ(run({"SET", "k", "w", "KEEPTTL"}), "+OK\r\n");
  EXPECT_EQ(run({"TTL", "k"}), ":20\r\n");
  EXPECT_EQ(run({"SET", "k", "w"}), "+OK\r\n");
  EXPECT_EQ(run({"TTL", "k"}), ":-1\r\n");
  EXPECT_EQ(run({"SET", "k", "v", "PX", "1500"}), "+OK\r\n");
  EXPECT_EQ(run({"TTL", "k"}), ":2\r\n");
}

TEST_F(Commands, SetRejectsBadOptions) {
  EXPECT_EQ(run({"SET", "k", "1", "NX", "XX"}), kSyntax);
  EXPECT_EQ(run({"SET", "k", "1", "EX", "10", "PX", "100"}), kSyntax);
  EXPECT_EQ(run({"SET", "k", "1", "KEEPTTL", "EX", "5"}), kSyntax);
  EXPECT_EQ(run({"SET", "k", "1", "EX", "5", "KEEPTTL"}), kSyntax);
  EXPECT_EQ(run({"SET", "k", "1", "EX"}), kSyntax);
  EXPECT_EQ(run({"SET", "k", "1", "FOO"}), kSyntax);
  EXPECT_EQ(run({"SET", "k", "1", "EX", "x", "FOO"}), kSyntax);  // the whole syntax first
  EXPECT_EQ(run({"SET", "k", "1", "EX", "x"}), kNotInteger);
  EXPECT_EQ(run({"SET", "k", "1", "EX", "0"}), "-ERR invalid expire time in 'set' command\r\n");
  EXPECT_EQ(run({"SET", "k", "1", "PX", "-5"}), "-ERR invalid expire time in 'set' command\r\n");
  EXPECT_EQ(run({"SET", "k", "1", "EX", "9223372036854775807"}), "-ERR invalid expire time in 'set' command\r\n");
  EXPECT_EQ(run({"SET", "k", "1", "PX", "9223372036854775807"}), "-ERR invalid expire time in 'set' command\r\n");
  EXPECT_EQ(keys().size(), 0u);
}

TEST_F(Commands, WrongTypeIsReportedByEveryTypedCommand) {
  run({"RPUSH", "list", "a"});
  run({"SET", "str", "a"});
  EXPECT_EQ(run({"GET", "list"}), kWrongType);
  EXPECT_EQ(run({"INCR", "list"}), kWrongType);
  EXPECT_EQ(run({"SET", "list", "x", "GET"}), kWrongType);
  EXPECT_EQ(run({"LPUSH", "str", "x"}), kWrongType);
  EXPECT_EQ(run({"RPOP", "str"}), kWrongType);
  EXPECT_EQ(run({"LRANGE", "str", "0", "-1"}), kWrongType);
  EXPECT_EQ(run({"LLEN", "str"}), kWrongType);
  EXPECT_EQ(run({"MGET", "str", "list", "none"}), "*3\r\n$1\r\na\r\n$-1\r\n$-1\r\n");
  // SET without GET replaces a value of any type.
  EXPECT_EQ(run({"SET", "list", "s"}), "+OK\r\n");
  EXPECT_EQ(run({"GET", "list"}), "$1\r\ns\r\n");
}

TEST_F(Commands, IncrementsAndTheirErrors) {
  EXPECT_EQ(run({"INCR", "n"}), ":1\r\n");
  EXPECT_EQ(run({"INCRBY", "n", "41"}), ":42\r\n");
  EXPECT_EQ(run({"DECR", "n"}), ":41\r\n");
  EXPECT_EQ(run({"DECRBY", "n", "-9"}), ":50\r\n");
  EXPECT_EQ(run({"GET", "n"}), "$2\r\n50\r\n");
  EXPECT_EQ(run({"INCRBY", "n", "1.5"}), kNotInteger);
  EXPECT_EQ(run({"INCRBY", "n", "+1"}), kNotInteger);
  for (const char* text : {" 12", "012", "1e3", "abc", "", "99999999999999999999"}) {
    run({"SET", "s", text});
    EXPECT_EQ(run({"INCR", "s"}), kNotInteger) << text;
  }
  run({"SET", "big", "9223372036854775807"});
  EXPECT_EQ(run({"INCR", "big"}), "-ERR increment or decrement would overflow\r\n");
  run({"SET", "small", "-9223372036854775808"});
  EXPECT_EQ(run({"DECR", "small"}), "-ERR increment or decrement would overflow\r\n");
  EXPECT_EQ(run({"INCRBY", "small", "-1"}), "-ERR increment or decrement would overflow\r\n");
  EXPECT_EQ(run({"DECRBY", "n", "-9223372036854775808"}), "-ERR decrement would overflow\r\n");
  EXPECT_EQ(run({"INCRBY", "small", "9223372036854775807"}), ":-1\r\n");
}

TEST_F(Commands, IncrKeepsTheExpiry) {
  run({"SET", "n", "1", "EX", "100"});
  EXPECT_EQ(run({"INCR", "n"}), ":2\r\n");
  EXPECT_EQ(run({"TTL", "n"}), ":100\r\n");
}

TEST_F(Commands, MgetMset) {
  EXPECT_EQ(run({"MSET", "a", "1", "b", "2"}), "+OK\r\n");
  EXPECT_EQ(run({"MGET", "a", "nope", "b"}), "*3\r\n$1\r\n1\r\n$-1\r\n$1\r\n2\r\n");
  run({"SET", "a", "x", "EX", "10"});
  run({"MSET", "a", "3"});
  EXPECT_EQ(run({"TTL", "a"}), ":-1\r\n");  // MSET drops an expiry, as SET does
}

TEST_F(Commands, Lists) {
  EXPECT_EQ(run({"RPUSH", "l", "a", "b", "c"}), ":3\r\n");
  EXPECT_EQ(run({"LPUSH", "l", "y", "z"}), ":5\r\n");
  EXPECT_EQ(run({"LRANGE", "l", "0", "-1"}), "*5\r\n$1\r\nz\r\n$1\r\ny\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n");
  EXPECT_EQ(run({"LRANGE", "l", "-2", "100"}), "*2\r\n$1\r\nb\r\n$1\r\nc\r\n");
  EXPECT_EQ(run({"LRANGE", "l", "-100", "0"}), "*1\r\n$1\r\nz\r\n");
  EXPECT_EQ(run({"LRANGE", "l", "3", "1"}), "*0\r\n");
  EXPECT_EQ(run({"LRANGE", "l", "5", "10"}), "*0\r\n");
  EXPECT_EQ(run({"LRANGE", "l", "x", "1"}), kNotInteger);
  EXPECT_EQ(run({"LRANGE", "none", "0", "-1"}), "*0\r\n");
  EXPECT_EQ(run({"LLEN", "l"}), ":5\r\n");
  EXPECT_EQ(run({"LLEN", "none"}), ":0\r\n");
  EXPECT_EQ(run({"LPOP", "l"}), "$1\r\nz\r\n");
  EXPECT_EQ(run({"RPOP", "l"}), "$1\r\nc\r\n");
  EXPECT_EQ(run({"LPOP", "l", "0"}), "*0\r\n");
  EXPECT_EQ(run({"RPOP", "l", "2"}), "*2\r\n$1\r\nb\r\n$1\r\na\r\n");
  EXPECT_EQ(run({"LPOP", "l", "-1"}), "-ERR value is out of range, must be positive\r\n");
  EXPECT_EQ(run({"LPOP", "l", "x"}), "-ERR value is out of range, must be positive\r\n");
  EXPECT_EQ(run({"LPOP", "l", "5"}), "*1\r\n$1\r\ny\r\n");
  // The last element gone, the key is gone.
  EXPECT_EQ(run({"EXISTS", "l"}), ":0\r\n");
  EXPECT_EQ(run({"LPOP", "l"}), "$-1\r\n");
  EXPECT_EQ(run({"LPOP", "l", "2"}), "*-1\r\n");
}

TEST_F(Commands, DbsizeAndFlushdb) {
  run({"MSET", "a", "1", "b", "2"});
  run({"RPUSH", "l", "x"});
  EXPECT_EQ(run({"DBSIZE"}), ":3\r\n");
  EXPECT_EQ(run({"FLUSHDB", "foo"}), kSyntax);
  EXPECT_EQ(run({"FLUSHDB", "ASYNC"}), "+OK\r\n");
  EXPECT_EQ(run({"DBSIZE"}), ":0\r\n");
  run({"SET", "a", "1"});
  EXPECT_EQ(run({"flushdb"}), "+OK\r\n");
  EXPECT_EQ(keys().size(), 0u);
}

TEST_F(Commands, ExpireAndTtl) {
  EXPECT_EQ(run({"TTL", "k"}), ":-2\r\n");
  EXPECT_EQ(run({"EXPIRE", "k", "10"}), ":0\r\n");
  run({"SET", "k", "v"});
  EXPECT_EQ(run({"TTL", "k"}), ":-1\r\n");
  EXPECT_EQ(run({"EXPIRE", "k", "10"}), ":1\r\n");
  EXPECT_EQ(run({"TTL", "k"}), ":10\r\n");
  // Whole milliseconds left, rounded to the nearest second.
  clock.advance(1500ms);
  EXPECT_EQ(run({"TTL", "k"}), ":9\r\n");  // 8500 ms
  clock.advance(1ms);
  EXPECT_EQ(run({"TTL", "k"}), ":8\r\n");  // 8499 ms
  clock.advance(8498ms);
  EXPECT_EQ(run({"TTL", "k"}), ":0\r\n");  // 1 ms
  clock.advance(1ms);                      // due now: gone
  EXPECT_EQ(run({"TTL", "k"}), ":-2\r\n");
  EXPECT_EQ(run({"GET", "k"}), "$-1\r\n");
}

TEST_F(Commands, ExpireInThePastDeletes) {
  run({"SET", "a", "v"});
  run({"SET", "b", "v"});
  EXPECT_EQ(run({"EXPIRE", "a", "0"}), ":1\r\n");
  EXPECT_EQ(run({"EXPIRE", "b", "-5"}), ":1\r\n");
  EXPECT_EQ(keys().size(), 0u);
  EXPECT_EQ(keys().expiring(), 0u);
}

TEST_F(Commands, ExpireOptionsAndErrors) {
  run({"SET", "k", "v"});
  EXPECT_EQ(run({"EXPIRE", "k", "x"}), kNotInteger);
  EXPECT_EQ(run({"EXPIRE", "k", "10", "foo"}), "-ERR Unsupported option foo\r\n");
  EXPECT_EQ(run({"EXPIRE", "k", "10", "NX", "XX"}),
            "-ERR NX and XX, GT or LT options at the same time are not compatible\r\n");
  EXPECT_EQ(run({"EXPIRE", "k", "10", "gt", "lt"}), "-ERR GT and LT options at the same time are not compatible\r\n");
  EXPECT_EQ(run({"EXPIRE", "k", "9223372036854775807"}), "-ERR invalid expire time in 'expire' command\r\n");
  EXPECT_EQ(run({"EXPIRE", "k", "-9223372036854775808"}), "-ERR invalid expire time in 'expire' command\r\n");
  EXPECT_EQ(run({"EXPIRE", "k", "10", "XX"}), ":0\r\n");  // no expiry yet
  EXPECT_EQ(run({"EXPIRE", "k", "10", "GT"}), ":0\r\n");  // none counts as infinite
  EXPECT_EQ(run({"EXPIRE", "k", "10", "NX"}), ":1\r\n");
  EXPECT_EQ(run({"EXPIRE", "k", "20", "NX"}), ":0\r\n");
  EXPECT_EQ(run({"EXPIRE", "k", "5", "GT"}), ":0\r\n");
  EXPECT_EQ(run({"EXPIRE", "k", "20", "GT"}), ":1\r\n");
  EXPECT_EQ(run({"EXPIRE", "k", "30", "LT"}), ":0\r\n");
  EXPECT_EQ(run({"EXPIRE", "k", "15", "LT"}), ":1\r\n");
  EXPECT_EQ(run({"TTL", "k"}), ":15\r\n");
}

TEST_F(Commands, ExpiredKeysAreAbsentToEveryCommand) {
  run({"SET", "s", "1", "PX", "100"});
  run({"RPUSH", "l", "a"});
  run({"EXPIRE", "l", "1"});
  clock.advance(1s);
  EXPECT_EQ(run({"EXISTS", "s", "l"}), ":0\r\n");
  EXPECT_EQ(run({"INCR", "s"}), ":1\r\n");
  EXPECT_EQ(run({"TTL", "s"}), ":-1\r\n");  // a fresh key
  EXPECT_EQ(run({"LPUSH", "l", "b"}), ":1\r\n");
}

TEST_F(Commands, SelectConfigCommandInfo) {
  EXPECT_EQ(run({"SELECT", "0"}), "+OK\r\n");
  EXPECT_EQ(run({"SELECT", "1"}), "-ERR DB index is out of range\r\n");
  EXPECT_EQ(run({"SELECT", "x"}), kNotInteger);
  EXPECT_EQ(run({"CONFIG", "GET", "save"}), "*2\r\n$4\r\nsave\r\n$0\r\n\r\n");
  EXPECT_EQ(run({"CONFIG", "GET", "appendonly"}), "*2\r\n$10\r\nappendonly\r\n$2\r\nno\r\n");
  EXPECT_EQ(run({"config", "get", "SAVE", "append*"}),
            "*4\r\n$10\r\nappendonly\r\n$2\r\nno\r\n$4\r\nsave\r\n$0\r\n\r\n");
  EXPECT_EQ(run({"CONFIG", "GET", "maxmemory*"}),
            "*4\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n$16\r\nmaxmemory-policy\r\n$10\r\nnoeviction\r\n");
  EXPECT_EQ(run({"CONFIG", "GET", "p?r[st]"}), "*2\r\n$4\r\nport\r\n$4\r\n6390\r\n");
  EXPECT_EQ(run({"CONFIG", "GET", "nothing"}), "*0\r\n");
  EXPECT_EQ(run({"CONFIG", "GET"}), "-ERR wrong number of arguments for 'config|get' command\r\n");
  EXPECT_EQ(run({"CONFIG", "foo"}), "-ERR unknown subcommand 'foo'. Try CONFIG HELP.\r\n");
  EXPECT_EQ(run({"CONFIG"}), "-ERR wrong number of arguments for 'config' command\r\n");
  EXPECT_EQ(run({"COMMAND", "DOCS"}), "*0\r\n");
  EXPECT_EQ(run({"COMMAND", "COUNT"}), ":" + std::to_string(CommandTable::commands().size()) + "\r\n");
  EXPECT_EQ(run({"COMMAND", "COUNT", "x"}), "-ERR wrong number of arguments for 'command|count' command\r\n");
  EXPECT_EQ(run({"COMMAND", "INFO", "get", "nope"}),
            "*2\r\n*10\r\n$3\r\nget\r\n:2\r\n*0\r\n:1\r\n:1\r\n:1\r\n*0\r\n*0\r\n*0\r\n*0\r\n$-1\r\n");
  EXPECT_TRUE(run({"COMMAND"}).starts_with("*" + std::to_string(CommandTable::commands().size()) + "\r\n*10\r\n"));
  EXPECT_EQ(run({"COMMAND", "bogus"}), "-ERR unknown subcommand 'bogus'. Try COMMAND HELP.\r\n");
}

TEST_F(Commands, HelloSpeaksResp2Only) {
  const std::string hello =
      "*14\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$5\r\n7.0.0\r\n$5\r\nproto\r\n:2\r\n$2\r\nid\r\n:7\r\n"
      "$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n";
  EXPECT_EQ(run({"HELLO"}), hello);
  EXPECT_EQ(run({"HELLO", "2"}), hello);
  EXPECT_EQ(run({"HELLO", "3"}), "-NOPROTO unsupported protocol version\r\n");
  EXPECT_EQ(run({"HELLO", "1"}), "-NOPROTO unsupported protocol version\r\n");
  EXPECT_EQ(run({"HELLO", "x"}), "-ERR Protocol version is not an integer or out of range\r\n");
  EXPECT_EQ(run({"HELLO", "2", "foo"}), "-ERR Syntax error in HELLO option 'foo'\r\n");
  EXPECT_EQ(run({"HELLO", "2", "SETNAME", "me"}), hello);
  EXPECT_EQ(client.name, "me");
}

TEST_F(Commands, ClientSubcommands) {
  EXPECT_EQ(run({"CLIENT", "ID"}), ":7\r\n");
  EXPECT_EQ(run({"CLIENT", "GETNAME"}), "$-1\r\n");
  EXPECT_EQ(run({"CLIENT", "SETNAME", "conn"}), "+OK\r\n");
  EXPECT_EQ(run({"CLIENT", "GETNAME"}), "$4\r\nconn\r\n");
  EXPECT_EQ(run({"CLIENT", "SETNAME", "a b"}),
            "-ERR Client names cannot contain spaces, newlines or special characters.\r\n");
  EXPECT_EQ(run({"CLIENT", "SETNAME", "a", "b"}), "-ERR wrong number of arguments for 'client|setname' command\r\n");
  EXPECT_EQ(run({"CLIENT", "SETNAME", ""}), "+OK\r\n");
  EXPECT_EQ(run({"CLIENT", "GETNAME"}), "$-1\r\n");
  EXPECT_EQ(run({"CLIENT", "SETINFO", "lib-name", "redis-py"}), "+OK\r\n");
  EXPECT_EQ(run({"CLIENT", "SETINFO", "colour", "red"}), "-ERR Unrecognized option 'colour'\r\n");
  EXPECT_EQ(run({"CLIENT", "foo"}), "-ERR unknown subcommand 'foo'. Try CLIENT HELP.\r\n");
  EXPECT_EQ(run({"CLIENT"}), "-ERR wrong number of arguments for 'client' command\r\n");
}

TEST_F(Commands, InfoReportsTheServerAndKeyspace) {
  run({"SET", "a", "1", "EX", "5"});
  const std::string info = run({"INFO"});
  EXPECT_NE(info.find("# Server\r\nredis_version:7.0.0\r\n"), std::string::npos);
  EXPECT_NE(info.find("tcp_port:6390\r\n"), std::string::npos);
  EXPECT_NE(info.find("db0:keys=1,expires=1,avg_ttl=0\r\n"), std::string::npos);
}

TEST(CommandTable, AMissingResourceIsAConfigError) {
  keel::WorldBuilder without_server;
  without_server.emplace<Keyspace>();
  keel::World a = std::move(without_server).build();
  EXPECT_THROW(CommandTable{a.registry()}, keel::ConfigError);
  keel::WorldBuilder without_keys;
  without_keys.emplace<ServerInfo>();
  keel::World b = std::move(without_keys).build();
  EXPECT_THROW(CommandTable{b.registry()}, keel::ConfigError);
}

// ---- Keyspace ------------------------------------------------------------------

TEST(Keyspace, LazyExpiryRemovesADueKeyOnAccess) {
  keel::testing::VirtualClock clock;
  Keyspace keys;
  keys.set_string("k", "v", clock.now() + 10s);
  EXPECT_NE(keys.find("k", clock.now() + 9999ms), nullptr);
  EXPECT_EQ(keys.size(), 1u);
  // Due at the instant itself.
  EXPECT_EQ(keys.find("k", clock.now() + 10s), nullptr);
  EXPECT_EQ(keys.size(), 0u);
  EXPECT_EQ(keys.expiring(), 0u);
}

TEST(Keyspace, SweepRemovesDueKeysEarliestFirstWithinItsBudget) {
  keel::testing::VirtualClock clock;
  Keyspace keys;
  for (int i = 0; i < 10; ++i) keys.set_string("due" + std::to_string(i), "v", clock.now() + std::chrono::seconds(i + 1));
  for (int i = 0; i < 5; ++i) keys.set_string("later" + std::to_string(i), "v", clock.now() + 1h);
  keys.set_string("forever", "v");
  EXPECT_EQ(keys.expiring(), 15u);
  const keel::Instant at = clock.advance(10s);
  EXPECT_EQ(keys.sweep(at, 4), 4u);
  EXPECT_EQ(keys.find("due3", clock.now() - 10s), nullptr);  // the earliest went first
  EXPECT_NE(keys.find("due4", clock.now() - 10s), nullptr);
  EXPECT_EQ(keys.sweep(at, 100), 6u);
  EXPECT_EQ(keys.sweep(at, 100), 0u);  // keys not due stay, and are not counted
  EXPECT_EQ(keys.size(), 6u);
  EXPECT_EQ(keys.expiring(), 5u);
  EXPECT_EQ(keys.sweep(at, 0), 0u);
}

TEST(Keyspace, TheExpiryIndexHoldsOneEntryPerKeyWithAnExpiry) {
  // Setting an expiry again replaces the key's entry, so the index never
  // outgrows the keys that have one.
  keel::testing::VirtualClock clock;
  Keyspace keys;
  keys.set_string("a", "v");
  keys.set_string("b", "v", clock.now() + 1s);
  for (int i = 1; i <= 1000; ++i) {
    keys.set_expiry("a", clock.now() + std::chrono::seconds(i), clock.now());
    keys.set_string("b", "v", clock.now() + std::chrono::seconds(i));
  }
  EXPECT_EQ(keys.expiring(), 2u);
  keys.set_expiry("a", Keyspace::kNoExpiry, clock.now());
  keys.set_string("b", "v");
  EXPECT_EQ(keys.expiring(), 0u);
  keys.set_string("c", "v", clock.now() + 1s);
  keys.erase("c", clock.now());
  EXPECT_EQ(keys.expiring(), 0u);
  keys.set_string("d", "v", clock.now() + 1s);
  keys.clear();
  EXPECT_EQ(keys.expiring(), 0u);
  EXPECT_EQ(keys.size(), 0u);
}

}  // namespace
}  // namespace kv

// The server as clients see it: a kv::Server on an ephemeral loopback port,
// one shard and two, driven by plain blocking sockets — replies checked
// byte for byte, pipelines answered in order, a thousand connections at
// once, malformed requests answered and closed, and clients that vanish
// mid-request costing the others nothing.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "examples/kv_server/server.h"

namespace {

using kv::ServerConfig;

// RESP as redis-cli sends it: a multibulk of bulk strings.
std::string command(std::initializer_list<std::string_view> args) {
  std::string out = "*" + std::to_string(args.size()) + "\r\n";
  for (std::string_view a : args) {
    out.append("$").append(std::to_string(a.size())).append("\r\n").append(a).append("\r\n");
  }
  return out;
}

std::string bulk(std::string_view s) {
  std::string out = "$" + std::to_string(s.size()) + "\r\n";
  out.append(s).append("\r\n");
  return out;
}

// A blocking client socket; reads time out after 20 s so that a missing
// reply fails the test instead of hanging it.
class Client {
 public:
  explicit Client(const kv::SocketAddr& server) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    timeval limit{.tv_sec = 20, .tv_usec = 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(server.port());
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<const sockaddr*>(&to), sizeof to) == 0;
  }
  Client(Client&& other) noexcept : fd_(std::exchange(other.fd_, -1)), connected_(other.connected_) {}
  Client(const Client&) = delete;
  ~Client() {
    if (fd_ >= 0) ::close(fd_);
  }

  bool connected() const { return connected_; }
  bool send(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }
  // Exactly n bytes, or fewer if the server closed (or 20 s passed).
  std::string read(std::size_t n) {
    std::string got(n, '\0');
    std::size_t have = 0;
    while (have < n) {
      const ssize_t r = ::recv(fd_, got.data() + have, n - have, 0);
      if (r <= 0) break;
      have += static_cast<std::size_t>(r);
    }
    got.resize(have);
    return got;
  }
  // One reply line, with its \r\n (an integer or status reply).
  std::string read_line() {
    std::string line;
    while (!line.ends_with("\r\n")) {
      std::string c = read(1);
      if (c.empty()) break;
      line += c;
    }
    return line;
  }
  std::string ask_line(std::string_view request) { return send(request) ? read_line() : std::string(); }
  std::string ask(std::string_view request, std::size_t reply_bytes) {
    return send(request) ? read(reply_bytes) : std::string();
  }
  // True when the server closed the connection: a read sees end of stream,
  // or a reset (a close with bytes unread on the server's side sends RST).
  bool closed_by_server() {
    char c;
    const ssize_t r = ::recv(fd_, &c, 1, 0);
    return r == 0 || (r < 0 && errno == ECONNRESET);
  }
  void close_now() {
    linger abort{.l_onoff = 1, .l_linger = 0};  // RST: gone mid-anything
    ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &abort, sizeof abort);
    ::close(std::exchange(fd_, -1));
  }

 private:
  int fd_;
  bool connected_ = false;
};

class KvServer : public ::testing::TestWithParam<std::size_t> {
 protected:
  void start(ServerConfig config = {}) {
    config.shards = GetParam();
    auto started = kv::Server::start(kv::SocketAddr::parse("127.0.0.1:0").value(), config);
    ASSERT_TRUE(started.has_value()) << started.error().message();
    server_ = std::move(*started);
  }
  void SetUp() override { start(); }
  Client client() { return Client(server_->address()); }

  std::unique_ptr<kv::Server> server_;
};

TEST_P(KvServer, APipelineOfMixedCommandsIsAnsweredInOrder) {
  Client c = client();
  ASSERT_TRUE(c.connected());
  std::string request;
  std::string expected;
  const auto step = [&](std::string req, std::string reply) {
    request += req;
    expected += reply;
  };
  step(command({"PING"}), "+PONG\r\n");
  step(command({"SET", "alpha", "1"}), "+OK\r\n");
  step(command({"SET", "beta", "two"}), "+OK\r\n");
  step(command({"GET", "alpha"}), bulk("1"));
  step(command({"INCR", "alpha"}), ":2\r\n");
  step(command({"INCRBY", "alpha", "40"}), ":42\r\n");
  step(command({"INCR", "beta"}), "-ERR value is not an integer or out of range\r\n");
  step(command({"MGET", "alpha", "nothing", "beta"}), "*3\r\n" + bulk("42") + "$-1\r\n" + bulk("two"));
  step(command({"RPUSH", "list", "a", "b", "c"}), ":3\r\n");
  step(command({"LPUSH", "list", "z"}), ":4\r\n");
  step(command({"LRANGE", "list", "0", "-1"}), "*4\r\n" + bulk("z") + bulk("a") + bulk("b") + bulk("c"));
  step(command({"GET", "list"}), "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n");
  step(command({"EXISTS", "alpha", "beta", "list", "nothing"}), ":3\r\n");
  step(command({"MSET", "k1", "v1", "k2", "v2", "k3", "v3"}), "+OK\r\n");
  step(command({"DBSIZE"}), ":6\r\n");
  step(command({"DEL", "k1", "k2", "k3", "nothing"}), ":3\r\n");
  step("PING\r\n", "+PONG\r\n");  // inline, as redis-benchmark's ping_inline sends it
  step(command({"NOSUCH", "x"}), "-ERR unknown command 'NOSUCH', with args beginning with: 'x' \r\n");
  step(command({"GET"}), "-ERR wrong number of arguments for 'get' command\r\n");
  step(command({"FLUSHDB"}), "+OK\r\n");
  step(command({"DBSIZE"}), ":0\r\n");
  ASSERT_TRUE(c.send(request));
  EXPECT_EQ(c.read(expected.size()), expected);
}

TEST_P(KvServer, APipelineSplitAcrossManyWritesIsAnsweredWhole) {
  Client c = client();
  std::string request;
  std::string expected;
  for (int i = 0; i < 200; ++i) {
    request += command({"SET", "key:" + std::to_string(i), std::string(100, static_cast<char>('a' + i % 26))});
    expected += "+OK\r\n";
  }
  for (int i = 0; i < 200; ++i) {
    request += command({"GET", "key:" + std::to_string(i)});
    expected += bulk(std::string(100, static_cast<char>('a' + i % 26)));
  }
  // Seven-byte writes: requests arrive cut anywhere, and the parser resumes.
  std::thread writer([&] {
    for (std::size_t off = 0; off < request.size(); off += 7) {
      ASSERT_TRUE(c.send(std::string_view(request).substr(off, 7)));
    }
  });
  EXPECT_EQ(c.read(expected.size()), expected);
  writer.join();
}

TEST_P(KvServer, AThousandConcurrentConnectionsEachGetTheirOwnValues) {
  constexpr int kClients = 1000;
  std::vector<Client> clients;
  clients.reserve(kClients);
  for (int i = 0; i < kClients; ++i) {
    clients.push_back(client());
    ASSERT_TRUE(clients.back().connected()) << "client " << i;
  }
  // All open at once: every SET goes out before any reply is read.
  for (int i = 0; i < kClients; ++i) {
    ASSERT_TRUE(clients[i].send(command({"SET", "user:" + std::to_string(i), "value-" + std::to_string(i * 7)})));
  }
  for (int i = 0; i < kClients; ++i) ASSERT_EQ(clients[i].read(5), "+OK\r\n") << "client " << i;
  for (int i = 0; i < kClients; ++i) {
    // Each reads another's key: in the sharded server, most live elsewhere.
    ASSERT_TRUE(clients[i].send(command({"GET", "user:" + std::to_string((i + 1) % kClients)})));
  }
  for (int i = 0; i < kClients; ++i) {
    const std::string value = bulk("value-" + std::to_string(((i + 1) % kClients) * 7));
    ASSERT_EQ(clients[i].read(value.size()), value) << "client " << i;
  }
  Client check = client();
  EXPECT_EQ(check.ask_line(command({"DBSIZE"})), ":" + std::to_string(kClients) + "\r\n");
  clients.clear();
  const kv::ServerStats stats = server_->stop();
  EXPECT_EQ(stats.accepted, kClients + 1u);
  EXPECT_EQ(stats.refused, 0u);
}

TEST_P(KvServer, MalformedRequestsGetRedisErrorsAndTheConnectionCloses) {
  const std::pair<std::string, std::string> cases[] = {
      {"*1\r\n$x\r\n", "-ERR Protocol error: invalid bulk length\r\n"},
      {"*1\r\n:5\r\n", "-ERR Protocol error: expected '$', got ':'\r\n"},
      {"*abc\r\n", "-ERR Protocol error: invalid multibulk length\r\n"},
      {"*1\r\n$-3\r\n", "-ERR Protocol error: invalid bulk length\r\n"},
      {"SET \"unbalanced\r\n", "-ERR Protocol error: unbalanced quotes in request\r\n"},
  };
  for (const auto& [request, reply] : cases) {
    Client c = client();
    EXPECT_EQ(c.ask(request, reply.size()), reply) << request;
    EXPECT_TRUE(c.closed_by_server()) << request;
  }
  // A good request ahead of the bad one in the same pipeline is answered first.
  Client c = client();
  const std::string replies = "+PONG\r\n-ERR Protocol error: invalid bulk length\r\n";
  EXPECT_EQ(c.ask(command({"PING"}) + "*1\r\n$x\r\n", replies.size()), replies);
  EXPECT_TRUE(c.closed_by_server());
}

TEST_P(KvServer, RequestsBeyondTheConfiguredLimitsAreRefused) {
  ServerConfig config;
  config.limits.max_bulk_bytes = 1024;
  config.limits.max_inline_bytes = 1024;
  config.max_request_bytes = 64 * 1024;
  server_->stop();
  start(config);
  Client big_bulk = client();
  const std::string bulk_error = "-ERR Protocol error: invalid bulk length\r\n";
  EXPECT_EQ(big_bulk.ask("*2\r\n$3\r\nGET\r\n$1025\r\n", bulk_error.size()), bulk_error);
  EXPECT_TRUE(big_bulk.closed_by_server());
  Client endless_line = client();
  const std::string line_error = "-ERR Protocol error: too big inline request\r\n";
  EXPECT_EQ(endless_line.ask(std::string(4096, 'x'), line_error.size()), line_error);
  EXPECT_TRUE(endless_line.closed_by_server());
  Client fine = client();  // the limit is the client's, the server goes on
  EXPECT_EQ(fine.ask(command({"SET", "k", std::string(1024, 'v')}), 5), "+OK\r\n");
  // Every argument within the limits, the request past max_request_bytes:
  // closed without a reply once its bytes outgrow the limit.
  Client huge_request = client();
  std::string request = "*200\r\n$4\r\nMSET\r\n";
  for (int i = 0; i < 199; ++i) request += "$1000\r\n" + std::string(1000, 'x') + "\r\n";
  EXPECT_TRUE(huge_request.send(request.substr(0, 100 * 1024)));
  EXPECT_TRUE(huge_request.closed_by_server());
  EXPECT_EQ(server_->stop().protocol_errors, 3u);
}

TEST_P(KvServer, ValuesLargerThanTheBuffersRoundTrip) {
  Client c = client();
  std::string value(3 << 20, '\0');
  for (std::size_t i = 0; i < value.size(); ++i) value[i] = static_cast<char>(i * 131 % 251);
  EXPECT_EQ(c.ask(command({"SET", "big", value}), 5), "+OK\r\n");
  const std::string reply = bulk(value);
  EXPECT_EQ(c.ask(command({"GET", "big"}), reply.size()), reply);
  EXPECT_EQ(c.ask(command({"PING"}), 7), "+PONG\r\n");  // the connection goes on with its buffers shrunk back
}

TEST_P(KvServer, ClientsThatVanishMidRequestOrMidReplyCostTheOthersNothing) {
  {
    Client half = client();
    ASSERT_TRUE(half.send("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$10\r\nonly"));  // mid-command
    half.close_now();
  }
  {
    Client flood = client();
    std::string pipeline;
    for (int i = 0; i < 5000; ++i) pipeline += command({"GET", "nothing"});
    ASSERT_TRUE(flood.send(pipeline));  // never reads a reply: gone mid-reply
    flood.close_now();
  }
  Client other = client();
  EXPECT_EQ(other.ask(command({"SET", "still", "here"}), 5), "+OK\r\n");
  const std::string reply = bulk("here");
  EXPECT_EQ(other.ask(command({"GET", "still"}), reply.size()), reply);
}

TEST_P(KvServer, QuitRepliesOkAndCloses) {
  Client c = client();
  EXPECT_EQ(c.ask(command({"QUIT"}) + command({"PING"}), 5), "+OK\r\n");
  EXPECT_TRUE(c.closed_by_server());
}

TEST_P(KvServer, TheActiveSweepRemovesKeysNobodyReadsAgain) {
  Client c = client();
  for (int i = 0; i < 50; ++i) {
    ASSERT_EQ(c.ask(command({"SET", "session:" + std::to_string(i), "x", "PX", "1"}), 5), "+OK\r\n");
  }
  ASSERT_EQ(c.ask(command({"SET", "kept", "x"}), 5), "+OK\r\n");
  // DBSIZE counts keys not yet removed, expired or not, as Redis's does:
  // it falls to 1 only when the sweeps (every 100 ms) have removed them.
  std::string size;
  for (int tries = 0; tries < 200; ++tries) {
    size = c.ask_line(command({"DBSIZE"}));
    if (size == ":1\r\n") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(size, ":1\r\n");
}

TEST(KvServerLimits, AConnectionPastMaxConnectionsIsToldAndClosed) {
  ServerConfig config;
  config.max_connections = 2;
  auto server = kv::Server::start(kv::SocketAddr::parse("127.0.0.1:0").value(), config);
  ASSERT_TRUE(server.has_value());
  Client first((*server)->address());
  Client second((*server)->address());
  ASSERT_EQ(first.ask(command({"PING"}), 7), "+PONG\r\n");  // both accepted before the third
  ASSERT_EQ(second.ask(command({"PING"}), 7), "+PONG\r\n");
  Client third((*server)->address());
  const std::string refusal = "-ERR max number of clients reached\r\n";
  EXPECT_EQ(third.read(refusal.size()), refusal);
  EXPECT_TRUE(third.closed_by_server());
  EXPECT_EQ(first.ask(command({"PING"}), 7), "+PONG\r\n");  // the others go on
  const kv::ServerStats stats = (*server)->stop();
  EXPECT_EQ(stats.refused, 1u);
  EXPECT_EQ(stats.most_open, 2u);
}

INSTANTIATE_TEST_SUITE_P(Shards, KvServer, ::testing::Values(1, 2),
                         [](const auto& info) { return std::to_string(info.param) + "_shards"; });

}  // namespace

// The key-value server's network side: shards, each a thread with its own
// World (the Keyspace and ServerInfo resources, the commands resolved as
// handlers against it), Runtime and ring, accepting on one shared port
// (SO_REUSEPORT) and running a task per connection. A connection task
// receives into its buffer, parses every complete request, runs each
// command — on its own shard, or on the shard that owns the key through
// that shard's inbox, a cross-thread channel — and sends the replies of a
// whole pipeline in one send, in request order.
//
//   kv::ServerConfig config;                       // config.shards = 2 for two threads
//   auto server = kv::Server::start(kv::SocketAddr::parse("127.0.0.1:0").value(), config);
//   std::printf("%s\n", (*server)->address().to_string().c_str());
//   ...                                            // clients connect
//   kv::ServerStats stats = (*server)->stop();     // any thread: ends every shard, joins them
//
// Not for: persistence, replication or Redis Cluster's redirections (a
// sharded server owns every key itself and forwards internally), or
// commands that span shards atomically: a multi-key command whose keys
// live on several shards runs key by key.
#pragma once

#include <atomic>
#include <chrono>
#include <string>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <memory>
#include <system_error>
#include <vector>

#include "async/socket_addr.h"
#include "examples/kv_server/resp.h"
#include "rt/uring.h"

namespace kv {

using keel::async::SocketAddr;

struct ServerConfig {
  std::size_t shards = 1;                 // threads, each with its own World, Runtime and ring
  keel::Backend backend = keel::Backend::Auto;
  std::size_t max_connections = 10'000;   // per shard, open at once; more are closed when accepted
  std::size_t buffer_bytes = 4096;        // a connection's first receive and reply buffers (they grow for big requests)
  ParserLimits limits;                    // the largest bulk, inline line and argument count a client may send
  // The most one request may occupy (all its arguments, as received): a
  // connection whose request outgrows it is closed, as Redis closes one
  // past its client-query-buffer-limit.
  std::size_t max_request_bytes = std::size_t{1} << 30;
  std::chrono::milliseconds sweep_period{100};  // active expiry: how often each shard sweeps
  std::size_t sweep_budget = 1000;        // active expiry: the most keys one sweep removes
  std::size_t inbox_capacity = 4096;      // commands forwarded to a shard and not yet taken
  // After its last work a shard polls its ring this long without sleeping
  // before it waits: a client's next request then finds it awake (no
  // wake-up to pay on either side) at the price of the shard's core
  // spinning while requests keep coming. 0: wait as soon as idle.
  std::chrono::microseconds busy_poll{0};
};

// What the shards did, added up.
struct ServerStats {
  std::uint64_t accepted = 0;         // connections accepted (refused ones included)
  std::uint64_t refused = 0;          // closed at once: max_connections were open on the shard
  std::uint64_t commands = 0;         // requests executed (a forwarded one counts on the shard that ran it)
  std::uint64_t forwarded = 0;        // commands sent to another shard's inbox
  std::uint64_t protocol_errors = 0;  // connections closed for malformed requests, or requests past max_request_bytes
  std::size_t most_open = 0;          // the most connections open at once on one shard
};

class Server {
 public:
  // Starts the shards and binds each one's listener on `address` (port 0:
  // the first shard's pick, shared by the others). Fails with the error of
  // the first shard that could not start.
  static std::expected<std::unique_ptr<Server>, std::error_code> start(const SocketAddr& address,
                                                                       const ServerConfig& config);
  ~Server();  // stop()s if still running
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  SocketAddr address() const noexcept { return address_; }
  std::size_t shards() const noexcept;
  // "io_uring ..." or "epoll ...": what the shards' rings run on.
  std::string backend() const;

  // Ends every shard (its connections close, its tasks are destroyed)
  // and joins their threads; the first call returns the totals. Any
  // thread but a shard's.
  ServerStats stop();

  struct Shard;  // one thread's World, Runtime and listener (server.cc)

 private:
  Server() = default;
  SocketAddr address_;
  std::atomic<std::size_t> connected_{0};
  std::vector<std::unique_ptr<Shard>> shards_;
  ServerStats stats_;
  bool stopped_ = false;
};

}  // namespace kv

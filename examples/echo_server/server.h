// The echo server's Keel side: an accept loop task on a TcpListener that
// spawns one detached task per connection; each connection echoes what it
// receives through one Buffer of its own, reused for every message, until
// the peer closes it or an error ends it. Errors end that connection only
// and are counted; the accept loop goes on.
//
//   keel::async::Runtime rt(world, keel::async::RuntimeOptions{.arena = echo::server_arena(config)});
//   echo::ServerStats stats;                            // outlives the runtime
//   auto listener = keel::async::TcpListener::bind("127.0.0.1:0").value();
//   rt.spawn(echo::serve(std::move(listener), config, stats)).detach();
//   world.run([&](keel::World&) { rt.tick(100ms); });   // until Shutdown
//
// Memory is bounded: one buffer of ServerConfig::buffer_bytes per open
// connection, and at most ServerConfig::max_connections of them; a
// connection accepted beyond that is closed at once (and counted). The
// tasks update `stats` until they are gone, the last ones when the
// Runtime is destroyed: keep it alive longer than the Runtime.
//
// Not for: protocols that need more than one buffer per connection, or
// replies that are not the request's own bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <system_error>
#include <vector>

#include "async/arena.h"
#include "async/io.h"
#include "async/task.h"

namespace echo {

struct ServerConfig {
  std::size_t buffer_bytes = 16 * 1024;  // per connection: the most one recv takes
  std::size_t max_connections = 10'000;  // open at once; more are closed as soon as accepted
};

// What the server did. Loop thread only.
struct ServerStats {
  std::uint64_t accepted = 0;       // connections accepted (refused ones included)
  std::uint64_t refused = 0;        // closed at once: max_connections were open
  std::uint64_t ended_by_error = 0;  // a recv or send failed (reset, broken pipe, ...)
  std::uint64_t accept_errors = 0;  // accept itself failed (out of fds, aborted handshake)
  std::uint64_t bytes = 0;          // received to echo (each sent back unless its connection failed)
  std::size_t open = 0;             // connections open now
  std::size_t most_open = 0;        // the most open at once
  std::error_code last_error;       // the last error that ended a connection
};

// The accept loop: runs until its task is destroyed (JoinHandle::abort,
// or the Runtime's destruction, which also ends every connection task).
keel::async::Task<void> serve(keel::async::TcpListener listener, ServerConfig config, ServerStats& stats);

// Task arena classes for `config`: a slot per connection in the class
// that holds its task's frame, so that no frame comes from the heap even
// with every connection busy.
std::vector<keel::async::ArenaClass> server_arena(const ServerConfig& config);

}  // namespace echo

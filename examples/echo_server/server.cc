#include "examples/echo_server/server.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "async/buffer.h"
#include "async/runtime.h"
#include "async/timer.h"

namespace echo {

namespace {

using namespace std::chrono_literals;

// One of the max_connections places, held by a connection's task for as
// long as its frame lives: released when the task ends, is aborted, or is
// destroyed before it ever ran.
class ConnectionSlot {
 public:
  explicit ConnectionSlot(ServerStats& stats) noexcept : stats_(&stats) {
    ++stats.open;
    stats.most_open = std::max(stats.most_open, stats.open);
  }
  ConnectionSlot(ConnectionSlot&& other) noexcept : stats_(std::exchange(other.stats_, nullptr)) {}
  ConnectionSlot(const ConnectionSlot&) = delete;
  ConnectionSlot& operator=(const ConnectionSlot&) = delete;
  ConnectionSlot& operator=(ConnectionSlot&&) = delete;
  ~ConnectionSlot() {
    if (stats_ != nullptr) --stats_->open;
  }

 private:
  ServerStats* stats_;
};

void count_error(ServerStats& stats, std::error_code error) {
  ++stats.ended_by_error;
  stats.last_error = error;
}

keel::async::Task<void> echo_connection(keel::async::TcpStream stream, [[maybe_unused]] ConnectionSlot place,
                                        std::size_t buffer_bytes, ServerStats& stats) {
  // The connection's one buffer: it goes to the kernel with each recv and
  // send and comes back with the result, so no message allocates.
  keel::Buffer buffer(buffer_bytes);
  for (;;) {
    auto [received, filled] = co_await stream.recv(std::move(buffer));
    if (!received) {
      count_error(stats, received.error());
      co_return;
    }
    if (*received == 0) co_return;  // the peer closed its side
    // Counted on arrival: a client that has its echo back has been
    // counted, even if the server stops before this task resumes again.
    stats.bytes += *received;
    auto [sent, echoed] = co_await stream.send_all(std::move(filled));
    if (!sent) {
      count_error(stats, sent.error());
      co_return;
    }
    buffer = std::move(echoed);
    buffer.clear();
  }
}

bool out_of_fds(std::error_code error) {
  return error == std::errc::too_many_files_open || error == std::errc::too_many_files_open_in_system;
}

}  // namespace

keel::async::Task<void> serve(keel::async::TcpListener listener, ServerConfig config, ServerStats& stats) {
  for (;;) {
    auto accepted = co_await listener.accept();
    if (!accepted) {
      ++stats.accept_errors;
      // The connection waits in the backlog; accepting again at once would
      // spin until a connection closes and gives its fd back.
      if (out_of_fds(accepted.error())) co_await keel::async::sleep(10ms);
      continue;
    }
    ++stats.accepted;
    if (stats.open >= config.max_connections) {
      ++stats.refused;
      continue;  // `accepted` goes out of scope here: the stream is closed
    }
    keel::async::spawn(echo_connection(std::move(*accepted), ConnectionSlot(stats), config.buffer_bytes, stats))
        .detach();
  }
}

std::vector<keel::async::ArenaClass> server_arena(const ServerConfig& config) {
  // A connection's task frame is under 512 bytes (g++ 12; send_all is an
  // operation, not a frame of its own): a 512-byte slot per connection,
  // and some for the accept loop. Slots are address space until first
  // used.
  return {{.slot_bytes = 128, .slots = 4096},
          {.slot_bytes = 256, .slots = 4096},
          {.slot_bytes = 512, .slots = config.max_connections + 64},
          {.slot_bytes = 1024, .slots = 1024},
          {.slot_bytes = 4096, .slots = 64}};
}

}  // namespace echo

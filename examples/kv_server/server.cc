#include "examples/kv_server/server.h"

#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <exception>
#include <functional>
#include <future>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

#include "async/buffer.h"
#include "async/channel.h"
#include "async/io.h"
#include "async/runtime.h"
#include "async/task.h"
#include "async/timer.h"
#include "examples/kv_server/commands.h"
#include "examples/kv_server/keyspace.h"
#include "examples/kv_server/reply.h"
#include "rt/world.h"

namespace kv {

namespace {

using namespace std::chrono_literals;
using keel::Buffer;
using keel::Bytes;
namespace async = keel::async;

// A command sent to the shard that owns its keys, with the channel its
// reply comes back on (one message: the RESP bytes).
struct Forwarded {
  std::vector<std::string> args;
  keel::Instant now;
  async::mpsc::Sender<Bytes> reply;
};
using InboxSender = async::mpsc::Sender<Forwarded>;
using InboxReceiver = async::mpsc::Receiver<Forwarded>;

// std::hash rather than the keyspace's absl::Hash: the shard a key goes to
// must not correlate with the bits its shard's table probes by.
std::size_t owner_of(std::string_view key, std::size_t shards) { return std::hash<std::string_view>{}(key) % shards; }

// The positions of a command's keys in its arguments, as its KeySpec says.
template <class F>
void for_each_key(const CommandInfo& info, std::size_t args, F&& visit) {
  if (info.keys.first <= 0) return;
  const long long last = info.keys.last < 0 ? static_cast<long long>(args) + info.keys.last : info.keys.last;
  const long long step = std::max(info.keys.step, 1);
  for (long long i = info.keys.first; i <= last && i < static_cast<long long>(args); i += step) {
    visit(static_cast<std::size_t>(i));
  }
}

Bytes error_reply(std::string_view text) {
  std::string line = "-";
  line.append(text).append("\r\n");
  return Bytes::copy_of(line);
}

}  // namespace

struct Server::Shard {
  std::size_t index = 0;
  ServerConfig config;
  std::vector<InboxSender> peers;  // peers[i]: shard i's inbox
  std::optional<InboxReceiver> inbox;
  std::thread thread;
  std::atomic<bool> stopping{false};
  keel::UringWaker waker;  // set before the shard reports it started
  std::string backend;
  SocketAddr bound;
  // The shard thread's own, read by others only after it is joined.
  ServerStats stats;
  std::size_t open = 0;
  std::atomic<std::size_t>* connected = nullptr;  // every shard's open connections: the Server's
  std::uint64_t next_client_id = 0;
  keel::World* world = nullptr;
  const CommandTable* table = nullptr;
};

namespace {

using Shard = Server::Shard;

// One of the shard's max_connections places, held for as long as the
// connection's task frame lives.
class OpenConnection {
 public:
  explicit OpenConnection(Shard& shard) noexcept : shard_(&shard) {
    ++shard.open;
    shard.connected->fetch_add(1, std::memory_order_relaxed);
    shard.stats.most_open = std::max(shard.stats.most_open, shard.open);
  }
  OpenConnection(OpenConnection&& other) noexcept : shard_(std::exchange(other.shard_, nullptr)) {}
  OpenConnection(const OpenConnection&) = delete;
  OpenConnection& operator=(const OpenConnection&) = delete;
  OpenConnection& operator=(OpenConnection&&) = delete;
  ~OpenConnection() {
    if (shard_ == nullptr) return;
    --shard_->open;
    shard_->connected->fetch_sub(1, std::memory_order_relaxed);
  }

 private:
  Shard* shard_;
};

Bytes run_here(Shard& shard, std::span<const std::string_view> args, keel::Instant now) {
  Buffer out(64);
  ReplyWriter reply(out);
  CommandCall call{.args = args, .reply = reply, .now = now};
  shard.table->execute(*shard.world, call);
  ++shard.stats.commands;
  return std::move(out).freeze();
}

// The reply of `args` run on shard `target`: here, or through its inbox.
async::Task<Bytes> run_on(Shard& shard, std::size_t target, std::span<const std::string_view> args,
                          keel::Instant now) {
  if (target == shard.index) co_return run_here(shard, args, now);
  auto [reply_tx, reply_rx] = async::mpsc::channel<Bytes>(1);
  ++shard.stats.forwarded;
  // Named, not a temporary in the co_await: g++ 12 mishandles the
  // lifetime of non-trivial temporaries built inside a co_await operand.
  Forwarded command{std::vector<std::string>(args.begin(), args.end()), now, std::move(reply_tx)};
  auto queued = co_await shard.peers[target].send(std::move(command));
  if (!queued) co_return error_reply("ERR the shard that owns this key is stopping");
  std::optional<Bytes> reply = co_await reply_rx.recv();
  if (!reply) co_return error_reply("ERR the shard that owns this key is stopping");
  co_return std::move(*reply);
}

// Whether every key of the command (`info`, looked up once by the
// caller) is this shard's, or it has none, or it is an error any shard
// gives alike.
bool runs_here(const Shard& shard, const CommandInfo* info, std::span<const std::string_view> args) {
  if (shard.config.shards == 1) return true;
  if (info == nullptr || !info->accepts(args.size())) return true;
  if (info->every_shard) return false;
  bool here = true;
  for_each_key(*info, args.size(),
               [&](std::size_t i) { here = here && owner_of(args[i], shard.config.shards) == shard.index; });
  return here;
}

// The replies of one command run in parts (per shard, or key by key) as
// one reply: the first error; else integers add up (DEL, EXISTS, DBSIZE),
// arrays concatenate (MGET); else the first part's (MSET, FLUSHDB: +OK).
void combine(const std::vector<Bytes>& parts, ReplyWriter& reply) {
  const auto kind_is = [&](char kind) {
    return std::all_of(parts.begin(), parts.end(), [&](const Bytes& b) { return b.view().starts_with(kind); });
  };
  for (const Bytes& part : parts) {
    if (part.view().starts_with('-')) {
      reply.raw(part.view());
      return;
    }
  }
  // A part's header: its number (":n" or "*n") and where its body starts.
  const auto header = [](const Bytes& part) {
    const std::string_view resp = part.view();
    const std::size_t end = resp.find("\r\n");
    long long n = 0;
    parse_long_long(resp.substr(1, end - 1), n);
    return std::pair{n, resp.substr(end + 2)};
  };
  if (kind_is(':')) {
    long long sum = 0;
    for (const Bytes& part : parts) sum += header(part).first;
    reply.integer(sum);
  } else if (kind_is('*')) {
    std::vector<std::pair<long long, std::string_view>> headers;
    long long count = 0;
    for (const Bytes& part : parts) count += headers.emplace_back(header(part)).first;
    reply.array(static_cast<std::size_t>(count));
    for (const auto& [n, body] : headers) reply.raw(body);
  } else {
    reply.raw(parts.front().view());
  }
}

// A command that is not wholly this shard's: sent whole to the shard that
// owns all its keys, or to every shard (DBSIZE, FLUSHDB), or key by key.
async::Task<void> run_elsewhere(Shard& shard, const CommandInfo& info, CommandCall& call) {
  const std::size_t shards = shard.config.shards;
  std::vector<Bytes> parts;
  if (info.every_shard) {
    for (std::size_t s = 0; s < shards; ++s) parts.push_back(co_await run_on(shard, s, call.args, call.now));
    combine(parts, call.reply);
    co_return;
  }
  std::vector<std::size_t> keys;
  for_each_key(info, call.args.size(), [&](std::size_t i) { keys.push_back(i); });
  const std::size_t owner = owner_of(call.args[keys.front()], shards);
  const bool one_owner = std::all_of(keys.begin(), keys.end(),
                                     [&](std::size_t i) { return owner_of(call.args[i], shards) == owner; });
  if (one_owner) {
    const Bytes reply = co_await run_on(shard, owner, call.args, call.now);
    call.reply.raw(reply.view());
    co_return;
  }
  const std::size_t step = static_cast<std::size_t>(std::max(info.keys.step, 1));
  std::vector<std::string_view> part;
  for (std::size_t i : keys) {
    part.assign({call.args[0]});
    part.insert(part.end(), call.args.begin() + static_cast<std::ptrdiff_t>(i),
                call.args.begin() + static_cast<std::ptrdiff_t>(std::min(i + step, call.args.size())));
    parts.push_back(co_await run_on(shard, owner_of(call.args[i], shards), part, call.now));
  }
  combine(parts, call.reply);
}

// Room to receive into: at least one free byte, and the whole of a
// request whose size the parser knows (a big bulk), up to `limit`; false
// when the request needs more. A buffer grown for a big request shrinks
// back once it is drained.
bool make_room(Buffer& in, std::size_t wanted, std::size_t base, std::size_t limit) {
  const std::size_t need = std::max(wanted, in.size() + 1);
  if (need > limit) return false;
  if (need <= in.capacity()) {
    if (in.empty() && in.capacity() > 4 * base) in = Buffer(base);
    return true;
  }
  Buffer bigger(std::min(std::max(need, 2 * in.capacity()), limit));
  bigger.append(in.view());
  in = std::move(bigger);
  return true;
}

async::Task<void> serve_connection(async::TcpStream stream, Shard& shard, [[maybe_unused]] OpenConnection place) {
  const ServerConfig& config = shard.config;
  RequestParser parser(config.limits);
  // Ids are unique across shards: shard i gives i, i + shards, ...
  ClientState client{.id = shard.index + 1 + config.shards * shard.next_client_id++, .name = {}};
  Buffer in(config.buffer_bytes);
  Buffer out;  // allocated by the first reply: an idle connection holds one buffer
  std::size_t wanted = 0;
  for (;;) {
    if (!make_room(in, wanted, config.buffer_bytes, config.max_request_bytes)) {
      ++shard.stats.protocol_errors;
      co_return;  // no reply, as Redis closes a client past its query buffer limit
    }
    auto [received, filled] = co_await stream.recv(std::move(in));
    in = std::move(filled);
    if (!received || *received == 0) co_return;  // reset, or the client closed: nothing to answer
    if (out.capacity() == 0) out = Buffer(config.buffer_bytes);
    ReplyWriter reply(out);
    const keel::Instant now = std::chrono::steady_clock::now();
    std::size_t parsed_bytes = 0;
    bool close = false;
    wanted = 0;
    while (parsed_bytes < in.size()) {
      const ParseResult parsed = parser.parse(in.view().substr(parsed_bytes));
      if (parsed.status == ParseStatus::kIncomplete) {
        wanted = parsed.wanted;
        break;
      }
      if (parsed.status == ParseStatus::kError) {
        reply.error(parsed.error);
        ++shard.stats.protocol_errors;
        close = true;
        break;
      }
      parsed_bytes += parsed.consumed;
      if (parser.args().empty()) continue;
      CommandCall call{.args = parser.args(), .reply = reply, .now = now, .client = &client};
      const CommandInfo* info = shard.table->find(call.args[0]);
      if (runs_here(shard, info, call.args)) {
        shard.table->execute(*shard.world, call, info);
        ++shard.stats.commands;
      } else {
        co_await run_elsewhere(shard, *info, call);
      }
      if (call.close_after) {
        close = true;
        break;
      }
    }
    in.consume(parsed_bytes);
    if (!out.empty()) {
      auto [sent, back] = co_await stream.send_all(std::move(out));
      out = std::move(back);
      out.clear();
      if (!sent) co_return;
      if (out.capacity() > 4 * config.buffer_bytes) out = Buffer(config.buffer_bytes);
    }
    if (close) {
      stream.shutdown();
      co_return;
    }
  }
}

bool out_of_fds(std::error_code error) {
  return error == std::errc::too_many_files_open || error == std::errc::too_many_files_open_in_system;
}

async::Task<void> accept_connections(async::TcpListener listener, Shard& shard) {
  auto incoming = listener.incoming();
  for (;;) {
    auto accepted = co_await incoming.next();
    if (!accepted) {
      // Out of fds: the connection waits in the backlog until one closes.
      if (out_of_fds(accepted.error())) co_await async::sleep(10ms);
      continue;
    }
    ++shard.stats.accepted;
    if (shard.open >= shard.config.max_connections) {
      ++shard.stats.refused;
      // Redis's words before it closes; a fresh socket's send buffer takes
      // them at once, and a client gone already costs nothing.
      constexpr std::string_view kFull = "-ERR max number of clients reached\r\n";
      static_cast<void>(::send(accepted->fd(), kFull.data(), kFull.size(), MSG_DONTWAIT | MSG_NOSIGNAL));
      continue;  // the stream goes out of scope: closed
    }
    async::spawn(serve_connection(std::move(*accepted), shard, OpenConnection(shard))).detach();
  }
}

// Runs the commands other shards forward here, one at a time, in the
// order they arrive.
async::Task<void> serve_inbox(Shard& shard, InboxReceiver inbox) {
  std::vector<std::string_view> args;
  while (std::optional<Forwarded> command = co_await inbox.recv()) {
    args.assign(command->args.begin(), command->args.end());
    static_cast<void>(command->reply.try_send(run_here(shard, args, command->now)));
  }
}

async::Task<void> sweep_expired(Shard& shard) {
  async::Interval every(shard.config.sweep_period);
  for (;;) {
    const keel::Instant at = co_await every.next();
    shard.world->resource<Keyspace>().sweep(at, shard.config.sweep_budget);
  }
}

std::vector<async::ArenaClass> shard_arena(const ServerConfig& config) {
  // A connection's frame fits a 1 KiB slot (send_all is an operation,
  // not a frame); forwarding frames (sharded mode) and the small ones the
  // others. Slots are address space until first used.
  return {{.slot_bytes = 128, .slots = 4096},
          {.slot_bytes = 256, .slots = 4096},
          {.slot_bytes = 512, .slots = 4096},
          {.slot_bytes = 1024, .slots = config.max_connections + 64},
          {.slot_bytes = 4096, .slots = 256}};
}

void run_shard(Shard& shard, SocketAddr address, std::promise<void>& started) {
  std::optional<keel::World> world;
  std::optional<async::Runtime> rt;
  std::optional<CommandTable> table;
  try {
    keel::WorldBuilder wb;
    wb.install_driver(keel::UringInstaller{.entries = 1024, .backend = shard.config.backend});
    wb.insert(Keyspace{});
    ServerInfo info;
    info.shards = shard.config.shards;
    info.port = address.port();
    info.connected_clients = shard.connected;
    wb.insert(std::move(info));
    world.emplace(std::move(wb).build());
    async::RuntimeOptions options;
    options.arena = shard_arena(shard.config);
    options.max_io_operations = std::max<std::size_t>(options.max_io_operations, 2 * shard.config.max_connections + 64);
    rt.emplace(*world, options);
    table.emplace(world->registry());
    auto listener = async::TcpListener::bind(address, async::ListenOptions{.reuse_port = shard.config.shards > 1});
    if (!listener) throw std::system_error(listener.error(), "kv_server: cannot listen on " + address.to_string());
    shard.bound = listener->local_addr();
    shard.waker = rt->ring().waker();
    shard.backend = rt->ring().describe();
    shard.world = &*world;
    shard.table = &*table;
    rt->spawn(accept_connections(std::move(*listener), shard)).detach();
    rt->spawn(serve_inbox(shard, std::move(*shard.inbox))).detach();
    rt->spawn(sweep_expired(shard)).detach();
  } catch (...) {
    started.set_exception(std::current_exception());
    return;
  }
  started.set_value();
  const std::chrono::microseconds busy_poll = shard.config.busy_poll;
  keel::Instant last_work = std::chrono::steady_clock::now();
  world->run([&](keel::World& w) {
    if (busy_poll.count() == 0) {
      rt->tick(100ms);
    } else {
      const keel::Instant now = std::chrono::steady_clock::now();
      if (rt->tick(now - last_work < busy_poll ? 0ms : 100ms) > 0) last_work = now;
    }
    if (shard.stopping.load(std::memory_order_acquire)) w.shutdown_handle().request();
  });
  rt.reset();  // every connection task ends here, closing its stream
}

}  // namespace

std::expected<std::unique_ptr<Server>, std::error_code> Server::start(const SocketAddr& address,
                                                                      const ServerConfig& config) {
  std::unique_ptr<Server> server(new Server());
  const std::size_t n = std::max<std::size_t>(config.shards, 1);
  std::vector<InboxSender> inboxes;
  for (std::size_t i = 0; i < n; ++i) {
    auto shard = std::make_unique<Shard>();
    shard->connected = &server->connected_;
    shard->index = i;
    shard->config = config;
    shard->config.shards = n;
    auto [tx, rx] = async::mpsc::channel<Forwarded>(config.inbox_capacity);
    inboxes.push_back(std::move(tx));
    shard->inbox.emplace(std::move(rx));
    server->shards_.push_back(std::move(shard));
  }
  for (auto& shard : server->shards_) shard->peers = inboxes;
  inboxes.clear();
  // The first shard binds (port 0: picks one); the others join its port.
  SocketAddr bind_to = address;
  for (auto& shard : server->shards_) {
    std::promise<void> started;
    std::future<void> ready = started.get_future();
    shard->thread = std::thread(
        [&shard = *shard, bind_to, started = std::move(started)]() mutable { run_shard(shard, bind_to, started); });
    try {
      ready.get();
    } catch (const std::system_error& e) {
      shard->thread.join();
      server->stop();
      return std::unexpected(e.code());
    }
    bind_to = shard->bound;
  }
  server->address_ = server->shards_.front()->bound;
  return server;
}

Server::~Server() { stop(); }

std::size_t Server::shards() const noexcept { return shards_.size(); }

std::string Server::backend() const { return shards_.empty() ? std::string() : shards_.front()->backend; }

ServerStats Server::stop() {
  if (stopped_) return stats_;
  stopped_ = true;
  for (auto& shard : shards_) {
    shard->stopping.store(true, std::memory_order_release);
    shard->waker.wake();
  }
  for (auto& shard : shards_) {
    if (shard->thread.joinable()) shard->thread.join();
    stats_.accepted += shard->stats.accepted;
    stats_.refused += shard->stats.refused;
    stats_.commands += shard->stats.commands;
    stats_.forwarded += shard->stats.forwarded;
    stats_.protocol_errors += shard->stats.protocol_errors;
    stats_.most_open = std::max(stats_.most_open, shard->stats.most_open);
  }
  return stats_;
}

}  // namespace kv

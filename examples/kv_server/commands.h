// kv::CommandTable — the commands of the key-value server, each a Keel
// handler resolved once against the World, found by name and run with one
// virtual call.
//
// A command is a plain function of Keel parameters and a CommandCall, e.g.
// `void get_command(keel::ResMut<Keyspace> keys, CommandCall& call)`. The
// table makes each into a handler when it is built (a missing Keyspace or
// ServerInfo throws keel::ConfigError then, not on the first request),
// checks the name and the arity of every request, and writes exactly one
// reply per request, Redis 7's errors included.
//
//   keel::WorldBuilder wb;
//   wb.emplace<kv::Keyspace>();
//   wb.emplace<kv::ServerInfo>();
//   keel::World world = std::move(wb).build();
//   kv::CommandTable commands(world.registry());
//   kv::ReplyWriter reply(out);
//   kv::CommandCall call{.args = parser.args(), .reply = reply, .now = clock.now()};
//   commands.execute(world, call);   // then send out; close if call.close_after
//
// The engine does no IO and keeps no per-connection state of its own: what
// CLIENT and HELLO report of a connection comes from CommandCall::client.
// Not for: RESP3, transactions, blocking commands, more than database 0.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "examples/kv_server/keyspace.h"
#include "examples/kv_server/reply.h"
#include "rt/handler.h"
#include "rt/registry.h"
#include "rt/timer.h"
#include "rt/world.h"

namespace kv {

// What the server knows of one connection, owned by the connection; the
// commands read and change it (CLIENT SETNAME, HELLO SETNAME).
struct ClientState {
  std::uint64_t id = 0;
  std::string name;
};

struct CommandCall {
  std::span<const std::string_view> args;  // args[0] is the command name, any case
  ReplyWriter& reply;
  keel::Instant now;
  bool close_after = false;  // QUIT sets it: send the replies so far, then close
  // The calling connection, or nullptr: then CLIENT ID and HELLO report id
  // 0 and CLIENT SETNAME has nothing to keep the name in.
  ClientState* client = nullptr;
};

// Where the keys are in a request, as Redis's COMMAND reports it: args at
// first, first + step, ... through last. first 0: no keys; last -1: through
// the last argument.
struct KeySpec {
  int first = 0;
  int last = 0;
  int step = 0;
};

struct CommandInfo {
  std::string_view name;  // lower case
  int arity;              // Redis's: N exactly N arguments, -N at least N (the name counts)
  KeySpec keys;
  bool every_shard;  // DBSIZE, FLUSHDB: a sharded server runs it on every shard and combines the replies

  // Whether a request of `argc` arguments (the name included) fits arity.
  bool accepts(std::size_t argc) const noexcept {
    return arity >= 0 ? argc == static_cast<std::size_t>(arity) : argc >= static_cast<std::size_t>(-arity);
  }
};

// The server-wide facts commands report (a World resource, shared by the
// shards' copies alike).
struct ServerInfo {
  std::string version = "7.0.0";
  std::size_t shards = 1;
  int port = 6379;
  // Connections open on every shard, counted by the server (INFO's
  // connected_clients); nullptr: not counted, INFO leaves the line out.
  const std::atomic<std::size_t>* connected_clients = nullptr;
};

class CommandTable {
 public:
  // Resolves one handler per command against the World's registry, which
  // must hold a Keyspace and a ServerInfo; throws keel::ConfigError naming
  // the one missing.
  explicit CommandTable(const keel::Registry& registry);
  ~CommandTable();
  CommandTable(CommandTable&&) noexcept;
  CommandTable& operator=(CommandTable&&) noexcept;

  // The command called `name` in any case, or nullptr. Allocates nothing.
  const CommandInfo* find(std::string_view name) const noexcept;

  // Runs call.args[0]'s command on `world` (the World the registry belongs
  // to) and writes exactly one reply: the command's, or Redis's error for
  // an unknown command or a wrong number of arguments. call.args must not
  // be empty.
  void execute(keel::World& world, CommandCall& call) const { execute(world, call, find(call.args[0])); }
  // The same, for a caller that has looked the command up already:
  // `info` is find(call.args[0]).
  void execute(keel::World& world, CommandCall& call, const CommandInfo* info) const;

  // Every command, in a fixed order (what COMMAND lists).
  static std::span<const CommandInfo> commands() noexcept;

 private:
  using CommandHandler = std::unique_ptr<keel::Handler<CommandCall&>>;
  std::vector<CommandHandler> handlers_;  // by the index of commands()
  absl::flat_hash_map<std::string_view, std::size_t, KeyHash, KeyEq> by_name_;
};

}  // namespace kv

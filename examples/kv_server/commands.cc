#include "examples/kv_server/commands.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <climits>
#include <cstddef>
#include <iterator>
#include <optional>

#include "examples/kv_server/resp.h"

namespace kv {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;

constexpr std::string_view kWrongType = "WRONGTYPE Operation against a key holding the wrong kind of value";
constexpr std::string_view kNotInteger = "ERR value is not an integer or out of range";
constexpr std::string_view kSyntaxError = "ERR syntax error";
constexpr std::string_view kNotPositive = "ERR value is out of range, must be positive";

char to_lower(char c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

char to_upper(char c) noexcept { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c; }

// `text` equals `lower` (a lower-case literal), ignoring case.
bool is(std::string_view text, std::string_view lower) noexcept {
  if (text.size() != lower.size()) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (to_lower(text[i]) != lower[i]) return false;
  }
  return true;
}

// "ERR wrong number of arguments for 'get' command"; `name` is the
// command's lower-case name, or "command|subcommand".
void reply_arity_error(CommandCall& call, std::string_view name) {
  std::string text = "ERR wrong number of arguments for '";
  text.append(name);
  text.append("' command");
  call.reply.error(text);
}

// Redis truncates what it quotes in an error ("%.128s": at 128 bytes and at
// a NUL byte) and turns line breaks into spaces, so the reply stays one line.
void append_quoted(std::string& text, std::string_view bytes, std::size_t limit) {
  bytes = bytes.substr(0, std::min({bytes.size(), limit, bytes.find('\0')}));
  for (char c : bytes) text.push_back(c == '\r' || c == '\n' ? ' ' : c);
}

void reply_unknown_subcommand(CommandCall& call) {
  std::string text = "ERR unknown subcommand '";
  append_quoted(text, call.args[1], 128);
  text.append("'. Try ");
  for (char c : call.args[0]) text.push_back(to_upper(c));
  text.append(" HELP.");
  call.reply.error(text);
}

void reply_unknown_command(CommandCall& call) {
  std::string text = "ERR unknown command '";
  append_quoted(text, call.args[0], 128);
  text.append("', with args beginning with: ");
  std::string args;
  for (std::size_t i = 1; i < call.args.size() && args.size() < 128; ++i) {
    args.push_back('\'');
    append_quoted(args, call.args[i], 128 - args.size() + 1);
    args.append("' ");
  }
  text.append(args);
  call.reply.error(text);
}

std::string_view format_integer(long long value, std::array<char, 24>& digits) noexcept {
  char* end = std::to_chars(digits.data(), digits.data() + digits.size(), value).ptr;
  return std::string_view(digits.data(), static_cast<std::size_t>(end - digits.data()));
}

// now + amount, or nullopt when that is past what an Instant can hold.
// `amount` is positive.
template <class Rep, class Period>
std::optional<keel::Instant> later(keel::Instant now, std::chrono::duration<Rep, Period> amount) {
  using Limit = std::chrono::duration<long long, Period>;
  const auto room = std::chrono::duration_cast<Limit>(keel::Instant::max() - now);
  if (amount.count() >= room.count()) return std::nullopt;
  return now + std::chrono::duration_cast<nanoseconds>(amount);
}

// ---- Connection and server ---------------------------------------------------

void ping_command(CommandCall& call) {
  if (call.args.size() > 2) return reply_arity_error(call, "ping");
  if (call.args.size() == 2) return call.reply.bulk(call.args[1]);
  call.reply.simple("PONG");
}

void echo_command(CommandCall& call) { call.reply.bulk(call.args[1]); }

void quit_command(CommandCall& call) {
  call.reply.simple("OK");
  call.close_after = true;
}

void select_command(CommandCall& call) {
  long long index = 0;
  if (!parse_long_long(call.args[1], index)) return call.reply.error(kNotInteger);
  if (index != 0) return call.reply.error("ERR DB index is out of range");
  call.reply.simple("OK");
}

bool valid_client_name(std::string_view name) {
  return std::all_of(name.begin(), name.end(), [](char c) { return c >= '!' && c <= '~'; });
}

void hello_command(keel::Res<ServerInfo> server, CommandCall& call) {
  std::size_t next = 1;
  if (call.args.size() >= 2) {
    long long version = 0;
    if (!parse_long_long(call.args[next++], version)) {
      return call.reply.error("ERR Protocol version is not an integer or out of range");
    }
    // RESP3 is not spoken here; a client asking for it falls back to RESP2.
    if (version != 2) return call.reply.error("NOPROTO unsupported protocol version");
  }
  std::string_view new_name;
  bool rename = false;
  for (std::size_t j = next; j < call.args.size(); ++j) {
    const std::size_t more = call.args.size() - j - 1;
    if (is(call.args[j], "auth") && more >= 2) {
      j += 2;  // no ACLs: the default user needs no password, as in a stock Redis
    } else if (is(call.args[j], "setname") && more >= 1) {
      new_name = call.args[++j];
      if (!valid_client_name(new_name)) {
        return call.reply.error("ERR Client names cannot contain spaces, newlines or special characters.");
      }
      rename = true;
    } else {
      std::string text = "ERR Syntax error in HELLO option '";
      append_quoted(text, call.args[j], 128);
      text.push_back('\'');
      return call.reply.error(text);
    }
  }
  if (rename && call.client != nullptr) call.client->name.assign(new_name);
  ReplyWriter& reply = call.reply;
  reply.array(14);
  reply.bulk("server");
  reply.bulk("redis");
  reply.bulk("version");
  reply.bulk(server->version);
  reply.bulk("proto");
  reply.integer(2);
  reply.bulk("id");
  reply.integer(call.client != nullptr ? static_cast<long long>(call.client->id) : 0);
  reply.bulk("mode");
  reply.bulk("standalone");
  reply.bulk("role");
  reply.bulk("master");
  reply.bulk("modules");
  reply.array(0);
}

void client_command(CommandCall& call) {
  const std::string_view sub = call.args[1];
  const std::size_t argc = call.args.size();
  if (is(sub, "id") && argc == 2) {
    return call.reply.integer(call.client != nullptr ? static_cast<long long>(call.client->id) : 0);
  }
  if (is(sub, "getname") && argc == 2) {
    if (call.client == nullptr || call.client->name.empty()) return call.reply.null_bulk();
    return call.reply.bulk(call.client->name);
  }
  if (is(sub, "setname")) {
    if (argc != 3) return reply_arity_error(call, "client|setname");
    if (!valid_client_name(call.args[2])) {
      return call.reply.error("ERR Client names cannot contain spaces, newlines or special characters.");
    }
    if (call.client != nullptr) call.client->name.assign(call.args[2]);
    return call.reply.simple("OK");
  }
  if (is(sub, "setinfo")) {
    // redis-cli 7.2 and client libraries announce themselves; nothing keeps it.
    if (argc != 4) return reply_arity_error(call, "client|setinfo");
    if (!is(call.args[2], "lib-name") && !is(call.args[2], "lib-ver")) {
      std::string text = "ERR Unrecognized option '";
      append_quoted(text, call.args[2], 128);
      text.push_back('\'');
      return call.reply.error(text);
    }
    return call.reply.simple("OK");
  }
  reply_unknown_subcommand(call);
}

// Redis's glob (stringmatchlen) without case: '*', '?', '[...]' with '^'
// and ranges, '\' escaping the next byte.
bool glob_match(std::string_view pattern, std::string_view text) {
  std::size_t p = 0;
  std::size_t t = 0;
  std::size_t star = std::string_view::npos;
  std::size_t star_text = 0;
  auto match_one = [&](std::size_t& at, char c) {
    const char pc = pattern[at];
    if (pc == '?') {
      ++at;
      return true;
    }
    if (pc == '\\' && at + 1 < pattern.size()) {
      at += 2;
      return to_lower(pattern[at - 1]) == to_lower(c);
    }
    if (pc == '[') {
      std::size_t i = at + 1;
      const bool negate = i < pattern.size() && pattern[i] == '^';
      if (negate) ++i;
      bool matched = false;
      for (; i < pattern.size() && pattern[i] != ']'; ++i) {
        if (pattern[i] == '\\' && i + 1 < pattern.size()) {
          ++i;
          matched |= to_lower(pattern[i]) == to_lower(c);
        } else if (i + 2 < pattern.size() && pattern[i + 1] == '-' && pattern[i + 2] != ']') {
          char low = to_lower(pattern[i]);
          char high = to_lower(pattern[i + 2]);
          if (low > high) std::swap(low, high);
          matched |= to_lower(c) >= low && to_lower(c) <= high;
          i += 2;
        } else {
          matched |= to_lower(pattern[i]) == to_lower(c);
        }
      }
      at = i < pattern.size() ? i + 1 : i;
      return matched != negate;
    }
    ++at;
    return to_lower(pc) == to_lower(c);
  };
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = ++p;
      star_text = t;
      continue;
    }
    std::size_t next = p;
    if (p < pattern.size() && match_one(next, text[t])) {
      p = next;
      ++t;
      continue;
    }
    if (star == std::string_view::npos) return false;
    p = star;
    t = ++star_text;
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

void config_command(keel::Res<ServerInfo> server, CommandCall& call) {
  if (!is(call.args[1], "get")) return reply_unknown_subcommand(call);
  if (call.args.size() < 3) return reply_arity_error(call, "config|get");
  std::array<char, 24> port_digits;
  // What redis-benchmark and redis-cli ask for, with this server's values.
  const std::array<std::pair<std::string_view, std::string_view>, 8> parameters{{
      {"appendonly", "no"},
      {"databases", "1"},
      {"maxmemory", "0"},
      {"maxmemory-policy", "noeviction"},
      {"port", format_integer(server->port, port_digits)},
      {"proto-max-bulk-len", "536870912"},
      {"save", ""},
      {"timeout", "0"},
  }};
  std::array<bool, parameters.size()> chosen{};
  std::size_t count = 0;
  for (std::size_t i = 0; i < parameters.size(); ++i) {
    for (std::size_t j = 2; j < call.args.size() && !chosen[i]; ++j) {
      if (glob_match(call.args[j], parameters[i].first)) {
        chosen[i] = true;
        ++count;
      }
    }
  }
  call.reply.array(2 * count);
  for (std::size_t i = 0; i < parameters.size(); ++i) {
    if (!chosen[i]) continue;
    call.reply.bulk(parameters[i].first);
    call.reply.bulk(parameters[i].second);
  }
}

void reply_command_info(ReplyWriter& reply, const CommandInfo& info) {
  // Redis 7's ten fields: name, arity, flags, first key, last key, step,
  // ACL categories, tips, key specifications, subcommands.
  reply.array(10);
  reply.bulk(info.name);
  reply.integer(info.arity);
  reply.array(0);
  reply.integer(info.keys.first);
  reply.integer(info.keys.last);
  reply.integer(info.keys.step);
  reply.array(0);
  reply.array(0);
  reply.array(0);
  reply.array(0);
}

const CommandInfo* find_info(std::string_view name) {
  for (const CommandInfo& info : CommandTable::commands()) {
    if (is(name, info.name)) return &info;
  }
  return nullptr;
}

void command_command(CommandCall& call) {
  const auto all = CommandTable::commands();
  if (call.args.size() == 1) {
    call.reply.array(all.size());
    for (const CommandInfo& info : all) reply_command_info(call.reply, info);
    return;
  }
  const std::string_view sub = call.args[1];
  if (is(sub, "count")) {
    if (call.args.size() != 2) return reply_arity_error(call, "command|count");
    return call.reply.integer(static_cast<long long>(all.size()));
  }
  if (is(sub, "docs")) return call.reply.array(0);  // redis-cli falls back to its own hints
  if (is(sub, "info")) {
    call.reply.array(call.args.size() - 2);
    for (std::size_t i = 2; i < call.args.size(); ++i) {
      const CommandInfo* info = find_info(call.args[i]);
      if (info == nullptr) {
        call.reply.null_bulk();
      } else {
        reply_command_info(call.reply, *info);
      }
    }
    return;
  }
  reply_unknown_subcommand(call);
}

void info_command(keel::Res<ServerInfo> server, keel::Res<Keyspace> keys, CommandCall& call) {
  std::string text = "# Server\r\nredis_version:";
  text.append(server->version);
  text.append("\r\nredis_mode:standalone\r\narch_bits:64\r\ntcp_port:");
  std::array<char, 24> digits;
  text.append(format_integer(server->port, digits));
  text.append("\r\nshards:");
  text.append(format_integer(static_cast<long long>(server->shards), digits));
  if (server->connected_clients != nullptr) {
    text.append("\r\n\r\n# Clients\r\nconnected_clients:");
    text.append(format_integer(static_cast<long long>(server->connected_clients->load(std::memory_order_relaxed)), digits));
  }
  text.append("\r\n\r\n# Keyspace\r\n");
  if (keys->size() > 0) {
    text.append("db0:keys=");
    text.append(format_integer(static_cast<long long>(keys->size()), digits));
    text.append(",expires=");
    text.append(format_integer(static_cast<long long>(keys->expiring()), digits));
    text.append(",avg_ttl=0\r\n");
  }
  call.reply.bulk(text);
}

void dbsize_command(keel::Res<Keyspace> keys, CommandCall& call) {
  call.reply.integer(static_cast<long long>(keys->size()));
}

void flushdb_command(keel::ResMut<Keyspace> keys, CommandCall& call) {
  if (call.args.size() > 2 || (call.args.size() == 2 && !is(call.args[1], "async") && !is(call.args[1], "sync"))) {
    return call.reply.error(kSyntaxError);
  }
  keys->clear();
  call.reply.simple("OK");
}

// ---- Strings -----------------------------------------------------------------

void get_command(keel::ResMut<Keyspace> keys, CommandCall& call) {
  const Value* value = keys->find(call.args[1], call.now);
  if (value == nullptr) return call.reply.null_bulk();
  if (!value->is_string()) return call.reply.error(kWrongType);
  call.reply.bulk(value->string());
}

void set_command(keel::ResMut<Keyspace> keys, CommandCall& call) {
  // Options in any order, as Redis parses them: a repeated option is fine,
  // two that contradict each other are a syntax error.
  bool nx = false, xx = false, get = false, keep_ttl = false;
  enum class Unit { kNone, kSeconds, kMilliseconds } unit = Unit::kNone;
  std::string_view expire_text;
  const auto args = call.args;
  for (std::size_t j = 3; j < args.size(); ++j) {
    const std::string_view opt = args[j];
    const bool has_next = j + 1 < args.size();
    if (is(opt, "nx") && !xx) {
      nx = true;
    } else if (is(opt, "xx") && !nx) {
      xx = true;
    } else if (is(opt, "get")) {
      get = true;
    } else if (is(opt, "keepttl") && unit == Unit::kNone) {
      keep_ttl = true;
    } else if (is(opt, "ex") && !keep_ttl && unit != Unit::kMilliseconds && has_next) {
      unit = Unit::kSeconds;
      expire_text = args[++j];
    } else if (is(opt, "px") && !keep_ttl && unit != Unit::kSeconds && has_next) {
      unit = Unit::kMilliseconds;
      expire_text = args[++j];
    } else {
      return call.reply.error(kSyntaxError);
    }
  }
  keel::Instant expires = Keyspace::kNoExpiry;
  if (unit != Unit::kNone) {
    long long amount = 0;
    if (!parse_long_long(expire_text, amount)) return call.reply.error(kNotInteger);
    constexpr std::string_view kInvalid = "ERR invalid expire time in 'set' command";
    if (amount <= 0 || (unit == Unit::kSeconds && amount > LLONG_MAX / 1000)) return call.reply.error(kInvalid);
    const auto when = unit == Unit::kSeconds ? later(call.now, std::chrono::seconds(amount))
                                             : later(call.now, milliseconds(amount));
    if (!when) return call.reply.error(kInvalid);
    expires = *when;
  }

  const std::string_view key = args[1];
  Value* old = keys->find(key, call.now);
  if (get && old != nullptr && !old->is_string()) return call.reply.error(kWrongType);
  const bool store = !(nx && old != nullptr) && !(xx && old == nullptr);
  if (get) {
    if (old == nullptr) {
      call.reply.null_bulk();
    } else {
      call.reply.bulk(old->string());  // written before the value changes
    }
  }
  if (store) {
    if (keep_ttl && old != nullptr) {
      if (old->is_string()) {
        old->string().assign(args[2]);
      } else {
        *old = Value(std::string(args[2]));
      }
    } else {
      keys->set_string(key, args[2], expires);
    }
  }
  if (!get) {
    if (store) {
      call.reply.simple("OK");
    } else {
      call.reply.null_bulk();
    }
  }
}

void mget_command(keel::ResMut<Keyspace> keys, CommandCall& call) {
  call.reply.array(call.args.size() - 1);
  for (std::size_t i = 1; i < call.args.size(); ++i) {
    const Value* value = keys->find(call.args[i], call.now);
    if (value != nullptr && value->is_string()) {
      call.reply.bulk(value->string());
    } else {
      call.reply.null_bulk();
    }
  }
}

void mset_command(keel::ResMut<Keyspace> keys, CommandCall& call) {
  if (call.args.size() % 2 == 0) return reply_arity_error(call, "mset");
  for (std::size_t i = 1; i < call.args.size(); i += 2) keys->set_string(call.args[i], call.args[i + 1]);
  call.reply.simple("OK");
}

void add_to_integer(Keyspace& keys, CommandCall& call, long long increment) {
  const std::string_view key = call.args[1];
  Value* value = keys.find(key, call.now);
  long long current = 0;
  if (value != nullptr) {
    if (!value->is_string()) return call.reply.error(kWrongType);
    if (!parse_long_long(value->string(), current)) return call.reply.error(kNotInteger);
  }
  if ((increment < 0 && current < 0 && increment < LLONG_MIN - current) ||
      (increment > 0 && current > 0 && increment > LLONG_MAX - current)) {
    return call.reply.error("ERR increment or decrement would overflow");
  }
  const long long result = current + increment;
  std::array<char, 24> digits;
  const std::string_view text = format_integer(result, digits);
  if (value != nullptr) {
    value->string().assign(text);  // keeps the key's expiry, as Redis does
  } else {
    keys.set_string(key, text);
  }
  call.reply.integer(result);
}

void incr_command(keel::ResMut<Keyspace> keys, CommandCall& call) { add_to_integer(*keys, call, 1); }

void decr_command(keel::ResMut<Keyspace> keys, CommandCall& call) { add_to_integer(*keys, call, -1); }

void incrby_command(keel::ResMut<Keyspace> keys, CommandCall& call) {
  long long increment = 0;
  if (!parse_long_long(call.args[2], increment)) return call.reply.error(kNotInteger);
  add_to_integer(*keys, call, increment);
}

void decrby_command(keel::ResMut<Keyspace> keys, CommandCall& call) {
  long long decrement = 0;
  if (!parse_long_long(call.args[2], decrement)) return call.reply.error(kNotInteger);
  if (decrement == LLONG_MIN) return call.reply.error("ERR decrement would overflow");
  add_to_integer(*keys, call, -decrement);
}

// ---- Keys --------------------------------------------------------------------

void del_command(keel::ResMut<Keyspace> keys, CommandCall& call) {
  long long removed = 0;
  for (std::size_t i = 1; i < call.args.size(); ++i) removed += keys->erase(call.args[i], call.now) ? 1 : 0;
  call.reply.integer(removed);
}

void exists_command(keel::ResMut<Keyspace> keys, CommandCall& call) {
  long long found = 0;
  for (std::size_t i = 1; i < call.args.size(); ++i) found += keys->find(call.args[i], call.now) != nullptr ? 1 : 0;
  call.reply.integer(found);
}

void expire_command(keel::ResMut<Keyspace> keys, CommandCall& call) {
  bool nx = false, xx = false, gt = false, lt = false;
  for (std::size_t j = 3; j < call.args.size(); ++j) {
    const std::string_view opt = call.args[j];
    if (is(opt, "nx")) {
      nx = true;
    } else if (is(opt, "xx")) {
      xx = true;
    } else if (is(opt, "gt")) {
      gt = true;
    } else if (is(opt, "lt")) {
      lt = true;
    } else {
      std::string text = "ERR Unsupported option ";
      append_quoted(text, opt, 128);
      return call.reply.error(text);
    }
  }
  if (nx && (xx || gt || lt)) {
    return call.reply.error("ERR NX and XX, GT or LT options at the same time are not compatible");
  }
  if (gt && lt) return call.reply.error("ERR GT and LT options at the same time are not compatible");

  long long seconds = 0;
  if (!parse_long_long(call.args[2], seconds)) return call.reply.error(kNotInteger);
  constexpr std::string_view kInvalid = "ERR invalid expire time in 'expire' command";
  if (seconds > LLONG_MAX / 1000 || seconds < LLONG_MIN / 1000) return call.reply.error(kInvalid);
  // A time at or before now deletes the key; `when` stays `now` for it.
  keel::Instant when = call.now;
  if (seconds > 0) {
    const auto later_when = later(call.now, std::chrono::seconds(seconds));
    if (!later_when) return call.reply.error(kInvalid);
    when = *later_when;
  }

  const std::string_view key = call.args[1];
  const std::optional<keel::Instant> current = keys->expiry(key, call.now);
  if (!current) return call.reply.integer(0);
  const bool has_expiry = *current != Keyspace::kNoExpiry;
  // No expiry counts as an infinite one for GT and LT.
  if ((nx && has_expiry) || (xx && !has_expiry) || (gt && (!has_expiry || when <= *current)) ||
      (lt && has_expiry && when >= *current)) {
    return call.reply.integer(0);
  }
  keys->set_expiry(key, when, call.now);
  call.reply.integer(1);
}

void ttl_command(keel::ResMut<Keyspace> keys, CommandCall& call) {
  const std::optional<keel::Instant> expires = keys->expiry(call.args[1], call.now);
  if (!expires) return call.reply.integer(-2);
  if (*expires == Keyspace::kNoExpiry) return call.reply.integer(-1);
  // Redis counts whole milliseconds left and rounds them to the nearest second.
  const long long ms = std::chrono::duration_cast<milliseconds>(*expires - call.now).count();
  call.reply.integer((ms + 500) / 1000);
}

// ---- Lists -------------------------------------------------------------------

void push(Keyspace& keys, CommandCall& call, bool front) {
  const std::string_view key = call.args[1];
  const Value* existing = keys.find(key, call.now);
  if (existing != nullptr && !existing->is_list()) return call.reply.error(kWrongType);
  List& list = keys.find_or_create_list(key, call.now).list();
  for (std::size_t i = 2; i < call.args.size(); ++i) {
    if (front) {
      list.emplace_front(call.args[i]);
    } else {
      list.emplace_back(call.args[i]);
    }
  }
  call.reply.integer(static_cast<long long>(list.size()));
}

void lpush_command(keel::ResMut<Keyspace> keys, CommandCall& call) { push(*keys, call, true); }

void rpush_command(keel::ResMut<Keyspace> keys, CommandCall& call) { push(*keys, call, false); }

void pop(Keyspace& keys, CommandCall& call, bool front, std::string_view name) {
  if (call.args.size() > 3) return reply_arity_error(call, name);
  const bool counted = call.args.size() == 3;
  long long count = 1;
  if (counted && (!parse_long_long(call.args[2], count) || count < 0)) return call.reply.error(kNotPositive);
  const std::string_view key = call.args[1];
  Value* value = keys.find(key, call.now);
  if (value == nullptr) return counted ? call.reply.null_array() : call.reply.null_bulk();
  if (!value->is_list()) return call.reply.error(kWrongType);
  List& list = value->list();
  const std::size_t n = std::min(list.size(), static_cast<std::size_t>(count));
  if (counted) call.reply.array(n);
  for (std::size_t i = 0; i < n; ++i) {
    if (front) {
      call.reply.bulk(list.front());
      list.pop_front();
    } else {
      call.reply.bulk(list.back());
      list.pop_back();
    }
  }
  if (list.empty()) keys.erase(key, call.now);  // Redis keeps no empty list
}

void lpop_command(keel::ResMut<Keyspace> keys, CommandCall& call) { pop(*keys, call, true, "lpop"); }

void rpop_command(keel::ResMut<Keyspace> keys, CommandCall& call) { pop(*keys, call, false, "rpop"); }

void lrange_command(keel::ResMut<Keyspace> keys, CommandCall& call) {
  long long start = 0;
  long long stop = 0;
  if (!parse_long_long(call.args[2], start) || !parse_long_long(call.args[3], stop)) {
    return call.reply.error(kNotInteger);
  }
  const Value* value = keys->find(call.args[1], call.now);
  if (value == nullptr) return call.reply.array(0);
  if (!value->is_list()) return call.reply.error(kWrongType);
  const List& list = value->list();
  const auto size = static_cast<long long>(list.size());
  if (start < 0) start += size;
  if (stop < 0) stop += size;
  if (start < 0) start = 0;
  if (start > stop || start >= size) return call.reply.array(0);
  if (stop >= size) stop = size - 1;
  call.reply.array(static_cast<std::size_t>(stop - start + 1));
  for (long long i = start; i <= stop; ++i) call.reply.bulk(list[static_cast<std::size_t>(i)]);
}

void llen_command(keel::ResMut<Keyspace> keys, CommandCall& call) {
  const Value* value = keys->find(call.args[1], call.now);
  if (value == nullptr) return call.reply.integer(0);
  if (!value->is_list()) return call.reply.error(kWrongType);
  call.reply.integer(static_cast<long long>(value->list().size()));
}

// ---- The table ---------------------------------------------------------------

using CommandHandler = std::unique_ptr<keel::Handler<CommandCall&>>;
using MakeHandler = CommandHandler (*)(const keel::Registry&);

template <auto F>
CommandHandler make_handler(const keel::Registry& registry) {
  return keel::boxed(keel::handler(registry, keel::fn<F>));
}

struct Command {
  CommandInfo info;
  MakeHandler make;
};

constexpr KeySpec kNoKeys{};
constexpr KeySpec kFirstKey{1, 1, 1};
constexpr KeySpec kAllKeys{1, -1, 1};

// Arities and key positions as Redis 7.0's COMMAND reports them.
constexpr Command kCommands[] = {
    {{"get", 2, kFirstKey, false}, &make_handler<&get_command>},
    {{"set", -3, kFirstKey, false}, &make_handler<&set_command>},
    {{"ping", -1, kNoKeys, false}, &make_handler<&ping_command>},
    {{"incr", 2, kFirstKey, false}, &make_handler<&incr_command>},
    {{"decr", 2, kFirstKey, false}, &make_handler<&decr_command>},
    {{"incrby", 3, kFirstKey, false}, &make_handler<&incrby_command>},
    {{"decrby", 3, kFirstKey, false}, &make_handler<&decrby_command>},
    {{"mget", -2, kAllKeys, false}, &make_handler<&mget_command>},
    {{"mset", -3, {1, -1, 2}, false}, &make_handler<&mset_command>},
    {{"del", -2, kAllKeys, false}, &make_handler<&del_command>},
    {{"exists", -2, kAllKeys, false}, &make_handler<&exists_command>},
    {{"expire", -3, kFirstKey, false}, &make_handler<&expire_command>},
    {{"ttl", 2, kFirstKey, false}, &make_handler<&ttl_command>},
    {{"lpush", -3, kFirstKey, false}, &make_handler<&lpush_command>},
    {{"rpush", -3, kFirstKey, false}, &make_handler<&rpush_command>},
    {{"lpop", -2, kFirstKey, false}, &make_handler<&lpop_command>},
    {{"rpop", -2, kFirstKey, false}, &make_handler<&rpop_command>},
    {{"lrange", 4, kFirstKey, false}, &make_handler<&lrange_command>},
    {{"llen", 2, kFirstKey, false}, &make_handler<&llen_command>},
    {{"dbsize", 1, kNoKeys, true}, &make_handler<&dbsize_command>},
    {{"flushdb", -1, kNoKeys, true}, &make_handler<&flushdb_command>},
    {{"echo", 2, kNoKeys, false}, &make_handler<&echo_command>},
    {{"quit", -1, kNoKeys, false}, &make_handler<&quit_command>},
    {{"select", 2, kNoKeys, false}, &make_handler<&select_command>},
    {{"hello", -1, kNoKeys, false}, &make_handler<&hello_command>},
    {{"client", -2, kNoKeys, false}, &make_handler<&client_command>},
    {{"config", -2, kNoKeys, false}, &make_handler<&config_command>},
    {{"command", -1, kNoKeys, false}, &make_handler<&command_command>},
    {{"info", -1, kNoKeys, false}, &make_handler<&info_command>},
};

constexpr auto kInfos = [] {
  std::array<CommandInfo, std::size(kCommands)> infos{};
  for (std::size_t i = 0; i < infos.size(); ++i) infos[i] = kCommands[i].info;
  return infos;
}();

constexpr std::size_t kLongestName = [] {
  std::size_t longest = 0;
  for (const Command& command : kCommands) longest = std::max(longest, command.info.name.size());
  return longest;
}();

}  // namespace

std::span<const CommandInfo> CommandTable::commands() noexcept { return kInfos; }

CommandTable::CommandTable(const keel::Registry& registry) {
  handlers_.reserve(std::size(kCommands));
  for (std::size_t i = 0; i < std::size(kCommands); ++i) {
    handlers_.push_back(kCommands[i].make(registry));
    by_name_.emplace(kCommands[i].info.name, i);
  }
}

CommandTable::~CommandTable() = default;
CommandTable::CommandTable(CommandTable&&) noexcept = default;
CommandTable& CommandTable::operator=(CommandTable&&) noexcept = default;

const CommandInfo* CommandTable::find(std::string_view name) const noexcept {
  if (name.size() > kLongestName) return nullptr;
  std::array<char, kLongestName> lower;
  for (std::size_t i = 0; i < name.size(); ++i) lower[i] = to_lower(name[i]);
  const auto it = by_name_.find(std::string_view(lower.data(), name.size()));
  return it == by_name_.end() ? nullptr : &kInfos[it->second];
}

void CommandTable::execute(keel::World& world, CommandCall& call, const CommandInfo* info) const {
  if (info == nullptr) return reply_unknown_command(call);
  if (!info->accepts(call.args.size())) return reply_arity_error(call, info->name);
  handlers_[static_cast<std::size_t>(info - kInfos.data())]->run(world, call);
}

}  // namespace kv

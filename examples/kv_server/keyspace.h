// kv::Keyspace — the key-value data of one shard, held as a World resource:
// commands take ResMut<Keyspace> and the expiry timer sweeps it.
//
// Keys map to a Value (a string or a list) that owns its bytes, with an
// optional expiry instant. Expiry is Redis's: lazy — every access at `now`
// treats a key due at or before `now` as absent and removes it — and
// active: a periodic timer calls sweep(now, budget) to remove due keys
// nobody touches. The expiry index holds one entry per key that has an
// expiry (setting one again replaces the entry), ordered by instant, so a
// sweep reads only due keys.
//
//   kv::Keyspace keys;
//   keys.set_string("greeting", "hello", now + 10s);
//   if (kv::Value* v = keys.find("greeting", now)) use(v->string());
//   keys.sweep(now + 11s, 20);   // removes "greeting"; returns 1
//
// Lookups take std::string_view and build no std::string. Not for data
// shared across threads: one Keyspace belongs to one World's thread.
#pragma once

#include <cstddef>
#include <deque>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "absl/container/flat_hash_map.h"
#include "absl/hash/hash.h"
#include "absl/strings/string_view.h"
#include "rt/timer.h"

namespace kv {

using List = std::deque<std::string>;

// Hashing and comparing keys as std::string_view, so that a std::string key
// is found from a view without building a string. (Debian's Abseil has its
// own absl::string_view, which std::string_view does not convert to.)
struct KeyHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view key) const noexcept {
    return absl::Hash<absl::string_view>{}(absl::string_view(key.data(), key.size()));
  }
};
struct KeyEq {
  using is_transparent = void;
  bool operator()(std::string_view a, std::string_view b) const noexcept { return a == b; }
};

// A key's data: a string (bytes, possibly an integer's decimal form) or a
// list of strings.
class Value {
 public:
  Value() = default;
  explicit Value(std::string bytes) : data_(std::move(bytes)) {}
  explicit Value(List list) : data_(std::move(list)) {}

  bool is_string() const noexcept { return std::holds_alternative<std::string>(data_); }
  bool is_list() const noexcept { return std::holds_alternative<List>(data_); }
  // The string or list; only when is_string() / is_list().
  std::string& string() noexcept { return *std::get_if<std::string>(&data_); }
  const std::string& string() const noexcept { return *std::get_if<std::string>(&data_); }
  List& list() noexcept { return *std::get_if<List>(&data_); }
  const List& list() const noexcept { return *std::get_if<List>(&data_); }

 private:
  std::variant<std::string, List> data_;
};

class Keyspace {
 public:
  // The expiry of a key that has none.
  static constexpr keel::Instant kNoExpiry = keel::Instant::max();

  // The live value of `key` at `now`, or nullptr. A key due at or before
  // `now` is removed first. The pointer is valid until the next change to
  // the Keyspace.
  Value* find(std::string_view key, keel::Instant now);

  // The live value of `key`, or a new empty list stored there (no expiry)
  // when there is none: for LPUSH and RPUSH.
  Value& find_or_create_list(std::string_view key, keel::Instant now);

  // Stores `bytes` under `key`, replacing any value, with expiry `expires`
  // (kNoExpiry: none, dropping any the key had).
  void set_string(std::string_view key, std::string_view bytes, keel::Instant expires = kNoExpiry);

  // Removes `key`; true when it was live at `now`.
  bool erase(std::string_view key, keel::Instant now);

  // The expiry of live `key` (kNoExpiry when it has none); nullopt when the
  // key is absent at `now`.
  std::optional<keel::Instant> expiry(std::string_view key, keel::Instant now);

  // Gives live `key` the expiry `when` (kNoExpiry removes it); a `when` at
  // or before `now` removes the key. False when the key is absent at `now`.
  bool set_expiry(std::string_view key, keel::Instant when, keel::Instant now);

  // Removes at most `budget` keys due at or before `now`, earliest first;
  // returns how many. Reads no key that is not due.
  std::size_t sweep(keel::Instant now, std::size_t budget);

  // Keys held, including due keys not yet removed (Redis's DBSIZE counts
  // them too).
  std::size_t size() const noexcept { return entries_.size(); }
  // Keys with an expiry: the size of the expiry index.
  std::size_t expiring() const noexcept { return expiry_index_.size(); }
  // Removes every key.
  void clear() noexcept;

 private:
  struct Entry {
    Value value;
    keel::Instant expires = kNoExpiry;
  };
  // The index orders keys by expiry, then by name. It owns a copy of each
  // key: flat_hash_map moves its keys when it grows, so it cannot point at them.
  struct Due {
    keel::Instant when;
    std::string key;
  };
  struct DueOrder {
    using is_transparent = void;
    template <class A, class B>
    bool operator()(const A& a, const B& b) const noexcept {
      return a.when != b.when ? a.when < b.when : std::string_view(a.key) < std::string_view(b.key);
    }
  };
  struct DueRef {
    keel::Instant when;
    std::string_view key;
  };
  using Map = absl::flat_hash_map<std::string, Entry, KeyHash, KeyEq>;

  // The entry of `key` if it is live at `now`; removes it when due.
  Map::iterator find_live(std::string_view key, keel::Instant now);
  void index_expiry(std::string_view key, keel::Instant old_when, keel::Instant new_when);
  void unindex(keel::Instant when, std::string_view key);
  void remove(Map::iterator it);

  Map entries_;
  std::set<Due, DueOrder> expiry_index_;
};

}  // namespace kv

#include "examples/kv_server/keyspace.h"

namespace kv {

Keyspace::Map::iterator Keyspace::find_live(std::string_view key, keel::Instant now) {
  auto it = entries_.find(key);
  if (it != entries_.end() && it->second.expires <= now) {
    remove(it);
    return entries_.end();
  }
  return it;
}

void Keyspace::remove(Map::iterator it) {
  if (it->second.expires != kNoExpiry) unindex(it->second.expires, it->first);
  entries_.erase(it);
}

void Keyspace::index_expiry(std::string_view key, keel::Instant old_when, keel::Instant new_when) {
  if (old_when == new_when) return;
  if (old_when != kNoExpiry) unindex(old_when, key);
  if (new_when != kNoExpiry) expiry_index_.insert(Due{new_when, std::string(key)});
}

void Keyspace::unindex(keel::Instant when, std::string_view key) {
  const auto it = expiry_index_.find(DueRef{when, key});
  if (it != expiry_index_.end()) expiry_index_.erase(it);
}

Value* Keyspace::find(std::string_view key, keel::Instant now) {
  auto it = find_live(key, now);
  return it == entries_.end() ? nullptr : &it->second.value;
}

Value& Keyspace::find_or_create_list(std::string_view key, keel::Instant now) {
  auto it = find_live(key, now);
  if (it == entries_.end()) it = entries_.try_emplace(key, Entry{Value(List()), kNoExpiry}).first;
  return it->second.value;
}

void Keyspace::set_string(std::string_view key, std::string_view bytes, keel::Instant expires) {
  auto [it, inserted] = entries_.try_emplace(key);
  Entry& entry = it->second;
  index_expiry(key, inserted ? kNoExpiry : entry.expires, expires);
  entry.expires = expires;
  if (!inserted && entry.value.is_string()) {
    entry.value.string().assign(bytes);  // reuses the string's capacity
  } else {
    entry.value = Value(std::string(bytes));
  }
}

bool Keyspace::erase(std::string_view key, keel::Instant now) {
  auto it = find_live(key, now);
  if (it == entries_.end()) return false;
  remove(it);
  return true;
}

std::optional<keel::Instant> Keyspace::expiry(std::string_view key, keel::Instant now) {
  auto it = find_live(key, now);
  if (it == entries_.end()) return std::nullopt;
  return it->second.expires;
}

bool Keyspace::set_expiry(std::string_view key, keel::Instant when, keel::Instant now) {
  auto it = find_live(key, now);
  if (it == entries_.end()) return false;
  if (when <= now) {
    remove(it);
    return true;
  }
  index_expiry(key, it->second.expires, when);
  it->second.expires = when;
  return true;
}

std::size_t Keyspace::sweep(keel::Instant now, std::size_t budget) {
  std::size_t removed = 0;
  while (removed < budget && !expiry_index_.empty()) {
    auto first = expiry_index_.begin();
    if (first->when > now) break;
    entries_.erase(first->key);
    expiry_index_.erase(first);
    ++removed;
  }
  return removed;
}

void Keyspace::clear() noexcept {
  entries_.clear();
  expiry_index_.clear();
}

}  // namespace kv

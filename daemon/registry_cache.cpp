#include "daemon/registry_cache.hpp"

#include <mutex>

namespace mcpgate::daemon {

std::optional<registry::api_key> registry_cache::find_key(const std::string& hash) const {
  const std::shared_lock lock(mu_);
  const auto it = keys_.find(hash);
  if (it == keys_.end() || it->second.expires <= clock::now()) return std::nullopt;
  return it->second.key;
}

void registry_cache::put_key(const std::string& hash, registry::api_key key) {
  const std::unique_lock lock(mu_);
  // Expired entries go on the way, so keys that stopped being used do not
  // stay in memory.
  if (keys_.size() >= 1024) std::erase_if(keys_, [now = clock::now()](const auto& kv) { return kv.second.expires <= now; });
  keys_[hash] = key_entry{std::move(key), clock::now() + key_ttl_};
}

std::uint64_t registry_cache::generation() const {
  const std::shared_lock lock(mu_);
  return generation_;
}

std::shared_ptr<const cached_installation> registry_cache::find_installation(const std::string& id) const {
  const std::shared_lock lock(mu_);
  const auto it = installations_.find(id);
  return it == installations_.end() ? nullptr : it->second;
}

void registry_cache::put_installation(std::shared_ptr<const cached_installation> entry, std::uint64_t generation) {
  const std::unique_lock lock(mu_);
  if (generation != generation_) return;
  installations_[entry->inst.id] = std::move(entry);
}

void registry_cache::forget_installation(const std::string& id) {
  const std::unique_lock lock(mu_);
  ++generation_;
  installations_.erase(id);
}

std::unique_ptr<stream_slots::slot> stream_slots::acquire(const std::string& installation_id, std::size_t cap) {
  {
    const std::lock_guard lock(mu_);
    auto& n = open_[installation_id];
    if (n >= cap) return nullptr;
    ++n;
  }
  return std::make_unique<slot>(shared_from_this(), installation_id);
}

std::size_t stream_slots::open(const std::string& installation_id) const {
  const std::lock_guard lock(mu_);
  const auto it = open_.find(installation_id);
  return it == open_.end() ? 0 : it->second;
}

void stream_slots::release(const std::string& installation_id) {
  const std::lock_guard lock(mu_);
  const auto it = open_.find(installation_id);
  if (it == open_.end()) return;
  if (--it->second == 0) open_.erase(it);
}

}  // namespace mcpgate::daemon

#include "daemon/registry_cache.hpp"

#include <mutex>

namespace mcpgate::daemon {

std::shared_ptr<const registry::api_key> registry_cache::find_key(const auth::key_digest& digest) const {
  const std::shared_lock lock(mu_);
  const auto it = keys_.find(digest);
  if (it == keys_.end() || it->second.expires <= clock::now()) return nullptr;
  return it->second.key;
}

std::shared_ptr<const registry::api_key> registry_cache::put_key(const auth::key_digest& digest,
                                                                 registry::api_key key) {
  auto shared = std::make_shared<const registry::api_key>(std::move(key));
  const std::unique_lock lock(mu_);
  // Expired entries go on the way, so keys that stopped being used do not
  // stay in memory.
  if (keys_.size() >= 1024) std::erase_if(keys_, [now = clock::now()](const auto& kv) { return kv.second.expires <= now; });
  keys_[digest] = key_entry{shared, clock::now() + key_ttl_};
  return shared;
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

void registry_cache::forget_installations() {
  const std::unique_lock lock(mu_);
  ++generation_;
  installations_.clear();
}

std::optional<stream_slots::slot> stream_slots::acquire(std::string_view installation_id, std::size_t cap,
                                                        std::size_t total_cap, refusal* why) {
  std::size_t* counter = nullptr;
  {
    const std::lock_guard lock(mu_);
    if (total_ >= total_cap) {
      if (why != nullptr) *why = refusal::all_full;
      return std::nullopt;
    }
    auto it = open_.find(installation_id);
    if (it == open_.end()) it = open_.emplace(std::string(installation_id), 0).first;
    if (it->second >= cap) {
      if (why != nullptr) *why = refusal::installation_full;
      return std::nullopt;
    }
    ++it->second;
    ++total_;
    counter = &it->second;
  }
  return std::optional<slot>(std::in_place, shared_from_this(), counter);
}

std::size_t stream_slots::open(std::string_view installation_id) const {
  const std::lock_guard lock(mu_);
  const auto it = open_.find(installation_id);
  return it == open_.end() ? 0 : it->second;
}

void stream_slots::release(std::size_t* counter) {
  const std::lock_guard lock(mu_);
  --*counter;
  --total_;
}

std::size_t stream_slots::total() const {
  const std::lock_guard lock(mu_);
  return total_;
}

}  // namespace mcpgate::daemon

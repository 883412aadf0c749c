#include "proxy/installation_cache.hpp"

#include "common/text.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <mutex>

namespace mcpgate::proxy {
namespace {

namespace asio = boost::asio;

// The static constant naming a tool's state in cached_installation.
std::string_view state_constant(const registry::tool& t) {
  if (t.removed_at) return tool_state_removed;
  if (t.approval_state == registry::approval_approved) return registry::approval_approved;
  if (t.approval_state == registry::approval_do_not_use) return registry::approval_do_not_use;
  return registry::approval_needs_approval;
}

// The installation from the store (its credential opened), then cached.
// nullptr with ok=true: not found for this caller.
asio::awaitable<std::shared_ptr<const cached_installation>> load_installation(const context& ctx, const caller& who,
                                                                              const std::string& id, bool& ok) {
  ok = true;
  const std::uint64_t generation = ctx.cache->generation();
  struct loaded {
    result<registry::installation> inst = errc::not_found;
    result<std::string> sealed = errc::not_found;
    result<std::vector<registry::tool>> tools = errc::not_found;
  };
  const auto query = [who, &id](registry::store& s) {
    loaded out;
    out.inst = s.get_installation(who.environment_id, who.user_id, id);
    if (!out.inst) return out;
    if (out.inst->has_credential)
      out.sealed = s.get_secret(id, out.inst->auth_type == "oauth" ? "access_token" : "api_key");
    out.tools = s.list_tools(id, true);
    return out;
  };
  auto row = co_await ctx.db.run(query);
  if (!row.inst || !row.tools) {
    const auto& ec = row.inst ? row.tools.error() : row.inst.error();
    if (ec != errc::not_found) {
      spdlog::error("loading installation {} failed: {}", id, ec.message());
      ok = false;
    }
    co_return nullptr;
  }
  auto entry = std::make_shared<cached_installation>();
  entry->inst = std::move(*row.inst);
  for (const auto& t : *row.tools) entry->tool_states.emplace(t.tool_name, state_constant(t));
  if (row.sealed) {
    const std::string context = "installation:" + id + ":" +
                                (entry->inst.auth_type == "oauth" ? "access_token" : "api_key");
    auto opened = ctx.secrets.open(*row.sealed, context);
    if (opened) {
      entry->credential = std::move(*opened);
    } else {
      // Treated as no credential: the agent gets the re-authentication answer.
      spdlog::error("installation {}: the stored credential cannot be opened: {}", id, opened.error().message());
    }
  }
  if (entry->inst.auth_type == "api_key" && entry->inst.template_id) {
    const auto live = ctx.settings();
    for (const auto& t : live->templates) {
      if (t.id != *entry->inst.template_id) continue;
      entry->credential_header = t.api_key_header;
      entry->credential_format = t.api_key_format;
    }
  }
  entry->credential_line = credential_line(*entry, entry->credential);
  const auto verdict = net::check_upstream_url(entry->inst.url, ctx.ssrf);
  if (verdict) entry->upstream = net::parse_url(entry->inst.url);
  if (!entry->upstream) entry->url_refusal = verdict ? "not an absolute http(s) URL" : verdict.reason;
  ctx.cache->put_installation(entry, generation);
  co_return entry;
}

}  // namespace

installation_cache::key_hit installation_cache::find_key(const auth::key_digest& digest) const {
  const std::shared_lock lock(mu_);
  const auto it = keys_.find(digest);
  if (it == keys_.end()) return {};
  const auto now = clock::now();
  if (it->second.expires > now) return {it->second.key, false};
  if (it->second.expires + key_stale_ <= now) return {};
  return {it->second.key, true};
}

bool installation_cache::claim_refresh(const auth::key_digest& digest) {
  const std::unique_lock lock(mu_);
  const auto it = keys_.find(digest);
  return it != keys_.end() && !std::exchange(it->second.refreshing, true);
}

void installation_cache::refresh_failed(const auth::key_digest& digest) {
  const std::unique_lock lock(mu_);
  if (const auto it = keys_.find(digest); it != keys_.end()) it->second.refreshing = false;
}

void installation_cache::forget_key(const auth::key_digest& digest) {
  const std::unique_lock lock(mu_);
  keys_.erase(digest);
}

std::shared_ptr<const registry::api_key> installation_cache::put_key(const auth::key_digest& digest,
                                                                     registry::api_key key) {
  auto shared = std::make_shared<const registry::api_key>(std::move(key));
  const std::unique_lock lock(mu_);
  // Expired entries go on the way, so keys that stopped being used do not
  // stay in memory.
  if (keys_.size() >= 1024) {
    std::erase_if(keys_, [this, now = clock::now()](const auto& kv) { return kv.second.expires + key_stale_ <= now; });
  }
  keys_[digest] = key_entry{shared, clock::now() + key_ttl_};
  return shared;
}

std::uint64_t installation_cache::generation() const {
  const std::shared_lock lock(mu_);
  return generation_;
}

std::shared_ptr<const cached_installation> installation_cache::find_installation(const std::string& id) const {
  const std::shared_lock lock(mu_);
  const auto it = installations_.find(id);
  return it == installations_.end() ? nullptr : it->second;
}

void installation_cache::put_installation(std::shared_ptr<const cached_installation> entry, std::uint64_t generation) {
  const std::unique_lock lock(mu_);
  if (generation != generation_) return;
  installations_[entry->inst.id] = std::move(entry);
}

void installation_cache::forget_installation(const std::string& id) {
  const std::unique_lock lock(mu_);
  ++generation_;
  installations_.erase(id);
}

void installation_cache::forget_installations() {
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

std::string credential_line(const cached_installation& entry, const std::string& credential) {
  if (credential.empty()) return {};
  std::string value = entry.credential_format;
  if (const auto at = value.find("{key}"); at != std::string::npos) value.replace(at, 5, credential);
  if (std::any_of(value.begin(), value.end(), [](char c) { return is_control_char(c); })) return {};
  return entry.credential_header + ": " + value + "\r\n";
}

asio::awaitable<std::shared_ptr<const cached_installation>> find_installation(const context& ctx, const caller& who,
                                                                              const std::string& id, bool& ok) {
  ok = true;
  bool cached = false;
  auto entry = cached_installation_of(ctx, who, id, cached);
  if (cached) co_return entry;
  auto loading = load_installation(ctx, who, id, ok);
  co_return co_await std::move(loading);
}

std::shared_ptr<const cached_installation> cached_installation_of(const context& ctx, const caller& who,
                                                                  const std::string& id, bool& found) {
  auto hit = ctx.cache->find_installation(id);
  found = hit != nullptr;
  if (hit && hit->inst.environment_id == who.environment_id && hit->inst.user_id == who.user_id) return hit;
  return nullptr;
}

}  // namespace mcpgate::proxy

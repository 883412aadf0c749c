// The proxy hot path's view of the registry: API keys and installations
// (with the installation's credential already opened) kept in memory, so that
// a proxied request costs no store query once its key and installation have
// been seen.
//
// Keys come from the store on a miss and are trusted for `key_ttl`. After
// that a key is still served for up to `key_stale` more while one request
// reads it again in the background (find_key says `stale`, claim_refresh()
// picks the one that reads), so the hot path never waits behind the store
// for a key it knows; a key revoked by `mcpgate keys revoke` (another
// process) stops working within key_ttl plus that one read. Past key_stale
// (the store unreachable that long) the key is read again in the request. Installations change only through this
// process's REST API, which calls forget_installation() after every write; a generation counter keeps a read that raced
// with such a write from caching what it read.
//
// Thread-safety: every member function may be called from any thread. Readers
// share a std::shared_mutex; writers (misses, forgets) take it exclusively.
#pragma once

#include "auth/api_keys.hpp"
#include "net/url_policy.hpp"
#include "proxy/context.hpp"
#include "registry/types.hpp"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

namespace mcpgate::proxy {

// Hashes std::string keys and std::string_view lookups alike.
struct text_hash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

// A tool state in cached_installation::tool_states besides the registry's
// approval states: the last sync did not see the tool.
inline constexpr std::string_view tool_state_removed = "removed";

struct cached_installation {
  registry::installation inst;
  // The opened API key (api_key installations) or access token; empty when
  // none is stored. Lives only in memory.
  std::string credential;
  // How it is presented upstream: "Authorization" and "Bearer {key}" unless
  // the installation's template says otherwise (api_key templates).
  std::string credential_header = "Authorization";
  std::string credential_format = "Bearer {key}";
  // The header line carrying `credential` ("Authorization: Bearer ...\r\n"),
  // made once; "" when there is no credential.
  std::string credential_line;
  // The url, parsed, when check_upstream_url() allows it; else why not.
  std::optional<net::parsed_url> upstream;
  std::string url_refusal;
  // Every tool the registry has for the installation, by name: its
  // approval_state, or tool_state_removed (views of static constants).
  // Loaded with the installation; an approval change or a sync makes the
  // cache forget the entry, so the next request sees the new states.
  std::unordered_map<std::string, std::string_view, text_hash, std::equal_to<>> tool_states;

  // The state of a tool that may be called or listed; nullopt when the
  // registry has no such tool.
  std::optional<std::string_view> tool_state(std::string_view name) const {
    const auto it = tool_states.find(name);
    if (it == tool_states.end()) return std::nullopt;
    return it->second;
  }
};

class installation_cache {
 public:
  using clock = std::chrono::steady_clock;

  explicit installation_cache(std::chrono::milliseconds key_ttl = std::chrono::seconds(2),
                              std::chrono::milliseconds key_stale = std::chrono::seconds(30))
      : key_ttl_(key_ttl), key_stale_(key_stale) {}

  struct key_hit {
    std::shared_ptr<const registry::api_key> key;  // nullptr: not cached, or too old to serve
    bool stale = false;                            // past key_ttl: read it again (claim_refresh)
  };
  // Keyed by the key's SHA-256 (auth::digest_api_key); a hit costs no
  // allocation and no copy.
  key_hit find_key(const auth::key_digest& digest) const;
  std::shared_ptr<const registry::api_key> put_key(const auth::key_digest& digest, registry::api_key key);
  // True for the one caller that should read a stale key again; false while
  // such a read is running. Ends with put_key, forget_key or refresh_failed.
  bool claim_refresh(const auth::key_digest& digest);
  void refresh_failed(const auth::key_digest& digest);
  // The key is gone from the store (revoked): never served again from here.
  void forget_key(const auth::key_digest& digest);

  // Take generation() before reading the store; put_installation() drops the
  // entry when a forget happened since.
  std::uint64_t generation() const;
  std::shared_ptr<const cached_installation> find_installation(const std::string& id) const;
  void put_installation(std::shared_ptr<const cached_installation> entry, std::uint64_t generation);
  void forget_installation(const std::string& id);
  // Every installation (a reload may change what a cached entry was built
  // from, such as a template's credential header). Keys stay.
  void forget_installations();

 private:
  struct key_entry {
    std::shared_ptr<const registry::api_key> key;
    clock::time_point expires;
    bool refreshing = false;  // a claim_refresh() read is running
  };
  struct digest_hash {
    std::size_t operator()(const auth::key_digest& d) const noexcept {
      std::size_t h;  // the digest is uniformly distributed: its first bytes will do
      std::memcpy(&h, d.data(), sizeof h);
      return h;
    }
  };

  const std::chrono::milliseconds key_ttl_;
  const std::chrono::milliseconds key_stale_;
  mutable std::shared_mutex mu_;
  std::unordered_map<auth::key_digest, key_entry, digest_hash> keys_;                          // guarded by mu_
  std::unordered_map<std::string, std::shared_ptr<const cached_installation>> installations_;  // guarded by mu_
  std::uint64_t generation_ = 0;                                                               // guarded by mu_
};

// Proxied requests in flight (and SSE streams until they end) per
// installation and in all, each bounded by a cap. A slot is held by the
// request, or by the stream's body source, and given back when it goes.
class stream_slots : public std::enable_shared_from_this<stream_slots> {
 public:
  // Movable; gives its slot back when destroyed (unless moved from).
  class slot {
   public:
    slot(std::shared_ptr<stream_slots> owner, std::size_t* counter) : owner_(std::move(owner)), counter_(counter) {}
    slot(slot&& other) noexcept : owner_(std::move(other.owner_)), counter_(std::exchange(other.counter_, nullptr)) {}
    slot& operator=(slot&&) = delete;
    slot(const slot&) = delete;
    slot& operator=(const slot&) = delete;
    ~slot() {
      if (counter_) owner_->release(counter_);
    }

   private:
    std::shared_ptr<stream_slots> owner_;
    std::size_t* counter_;  // in owner_->open_, whose nodes never move or go
  };

  enum class refusal { installation_full, all_full };

  // nullopt when the installation already has `cap` slots taken, or all
  // installations `total_cap` together; `why` (if given) says which.
  std::optional<slot> acquire(std::string_view installation_id, std::size_t cap, std::size_t total_cap = SIZE_MAX,
                              refusal* why = nullptr);
  std::size_t open(std::string_view installation_id) const;
  std::size_t total() const;

 private:
  void release(std::size_t* counter);

  mutable std::mutex mu_;
  // One counter per installation ever proxied to (a few bytes each; kept at
  // zero rather than erased, so that a slot's pointer stays valid and the
  // next request allocates nothing).
  std::unordered_map<std::string, std::size_t, text_hash, std::equal_to<>> open_;  // guarded by mu_
  std::size_t total_ = 0;                                                          // guarded by mu_
};

// The caller's installation with its credential opened and its URL checked:
// from the cache, else from the store (then cached). nullptr with ok=true:
// no such installation for this caller; ok=false: the store failed.
boost::asio::awaitable<std::shared_ptr<const cached_installation>> find_installation(
    const context& ctx, const caller& who, const std::string& id, bool& ok);

// The installation from the cache alone (no coroutine, no store): nullptr
// with found=true: cached, but not this caller's; found=false: not cached.
std::shared_ptr<const cached_installation> cached_installation_of(const context& ctx, const caller& who,
                                                                  const std::string& id, bool& found);

// "Header: value\r\n" presenting `credential` as the installation does; ""
// without a credential, or when it holds a byte no header value may carry
// (CR and LF would start another header line; NUL, other controls and DEL
// are refused by servers or cut short): such a credential is unusable.
std::string credential_line(const cached_installation& entry, const std::string& credential);

}  // namespace mcpgate::proxy

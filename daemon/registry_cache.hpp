// The proxy hot path's view of the registry: API keys and installations
// (with the installation's credential already opened) kept in memory, so that
// a proxied request costs no store query once its key and installation have
// been seen.
//
// Keys come from the store on a miss and are trusted for `key_ttl`, so a key
// revoked by `mcpgate keys revoke` (another process) stops working within
// that time. Installations change only through this process's REST API,
// which calls forget_installation() after every write; a generation counter
// keeps a read that raced with such a write from caching what it read.
//
// Thread-safety: every member function may be called from any thread. Readers
// share a std::shared_mutex; writers (misses, forgets) take it exclusively.
#pragma once

#include "net/url_policy.hpp"
#include "registry/types.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>

namespace mcpgate::daemon {

struct cached_installation {
  registry::installation inst;
  // The opened API key (api_key installations) or access token; empty when
  // none is stored. Lives only in memory.
  std::string credential;
  // The url, parsed, when check_upstream_url() allows it; else why not.
  std::optional<net::parsed_url> upstream;
  std::string url_refusal;
};

class registry_cache {
 public:
  using clock = std::chrono::steady_clock;

  explicit registry_cache(std::chrono::milliseconds key_ttl = std::chrono::seconds(2)) : key_ttl_(key_ttl) {}

  std::optional<registry::api_key> find_key(const std::string& hash) const;
  void put_key(const std::string& hash, registry::api_key key);

  // Take generation() before reading the store; put_installation() drops the
  // entry when a forget happened since.
  std::uint64_t generation() const;
  std::shared_ptr<const cached_installation> find_installation(const std::string& id) const;
  void put_installation(std::shared_ptr<const cached_installation> entry, std::uint64_t generation);
  void forget_installation(const std::string& id);

 private:
  struct key_entry {
    registry::api_key key;
    clock::time_point expires;
  };

  const std::chrono::milliseconds key_ttl_;
  mutable std::shared_mutex mu_;
  std::unordered_map<std::string, key_entry> keys_;                                       // guarded by mu_
  std::unordered_map<std::string, std::shared_ptr<const cached_installation>> installations_;  // guarded by mu_
  std::uint64_t generation_ = 0;                                                           // guarded by mu_
};

// Open proxied SSE streams per installation, bounded by a cap. A slot is
// held by the stream's body source and given back when it goes.
class stream_slots : public std::enable_shared_from_this<stream_slots> {
 public:
  class slot {
   public:
    slot(std::shared_ptr<stream_slots> owner, std::string installation_id)
        : owner_(std::move(owner)), installation_id_(std::move(installation_id)) {}
    ~slot() { owner_->release(installation_id_); }
    slot(const slot&) = delete;
    slot& operator=(const slot&) = delete;

   private:
    std::shared_ptr<stream_slots> owner_;
    std::string installation_id_;
  };

  // nullptr when the installation already has `cap` streams open.
  std::unique_ptr<slot> acquire(const std::string& installation_id, std::size_t cap);
  std::size_t open(const std::string& installation_id) const;

 private:
  void release(const std::string& installation_id);

  mutable std::mutex mu_;
  std::unordered_map<std::string, std::size_t> open_;  // guarded by mu_
};

}  // namespace mcpgate::daemon

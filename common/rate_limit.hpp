// Token buckets keyed by name (an API key's id, an installation's id): each
// key may make `burst` requests at once and `per_second` on average after.
// A request that finds its bucket empty is refused, with the time until a
// token is back (the Retry-After it is told).
//
// The rate is passed with every call, so a reload that changes it applies at
// once to every bucket (no bucket holds more than the current burst).
// Buckets of keys that go quiet are pruned once they would be full again,
// so the table stays bounded by the keys active within a refill time.
//
// Thread-safety: any thread. Keys are spread over stripes, each with its own
// lock, so shards rarely wait on each other.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace mcpgate {

struct rate {
  double per_second = 0;  // 0: unlimited
  double burst = 0;       // bucket size; at least 1 when limited
  bool limited() const { return per_second > 0; }
};

class rate_limiter {
 public:
  using clock = std::chrono::steady_clock;

  // Takes a token from `key`'s bucket. nullopt: allowed; otherwise refused,
  // and the value is how long until a token is back.
  std::optional<std::chrono::milliseconds> take(std::string_view key, rate r, clock::time_point now = clock::now());

  std::size_t buckets() const;  // tests

 private:
  struct bucket {
    double tokens = 0;
    clock::time_point last{};
  };
  struct text_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  struct stripe {
    mutable std::mutex mu;
    std::unordered_map<std::string, bucket, text_hash, std::equal_to<>> buckets;  // guarded by mu
    std::size_t prune_at = 1024;                                                  // guarded by mu
  };
  static constexpr std::size_t stripe_count = 16;

  static void prune(stripe& s, rate r, clock::time_point now);

  std::array<stripe, stripe_count> stripes_;
};

}  // namespace mcpgate

#include "common/rate_limit.hpp"

#include <algorithm>
#include <cmath>

namespace mcpgate {

std::optional<std::chrono::milliseconds> rate_limiter::take(std::string_view key, rate r, clock::time_point now) {
  if (!r.limited()) return std::nullopt;
  const double burst = std::max(1.0, r.burst);
  stripe& s = stripes_[text_hash{}(key) % stripe_count];
  std::lock_guard lock(s.mu);
  auto it = s.buckets.find(key);
  if (it == s.buckets.end()) {
    if (s.buckets.size() >= s.prune_at) prune(s, r, now);
    it = s.buckets.emplace(std::string(key), bucket{burst, now}).first;
  }
  bucket& b = it->second;
  const double elapsed = std::chrono::duration<double>(now - b.last).count();
  if (elapsed > 0) {
    b.tokens = std::min(burst, b.tokens + elapsed * r.per_second);
    b.last = now;
  }
  b.tokens = std::min(b.tokens, burst);  // a reload may have made the bucket smaller
  if (b.tokens >= 1.0) {
    b.tokens -= 1.0;
    return std::nullopt;
  }
  const double wait = (1.0 - b.tokens) / r.per_second;
  return std::chrono::milliseconds(static_cast<long long>(std::ceil(wait * 1000.0)));
}

void rate_limiter::prune(stripe& s, rate r, clock::time_point now) {
  const double burst = std::max(1.0, r.burst);
  std::erase_if(s.buckets, [&](const auto& entry) {
    const double elapsed = std::chrono::duration<double>(now - entry.second.last).count();
    return entry.second.tokens + elapsed * r.per_second >= burst;  // full again: as good as new
  });
  // Still full of active keys: let it grow, and prune again at twice the size.
  s.prune_at = std::max<std::size_t>(1024, s.buckets.size() * 2);
}

std::size_t rate_limiter::buckets() const {
  std::size_t n = 0;
  for (const auto& s : stripes_) {
    std::lock_guard lock(s.mu);
    n += s.buckets.size();
  }
  return n;
}

}  // namespace mcpgate

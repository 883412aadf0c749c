#include "proxy/context.hpp"

namespace mcpgate::proxy {

std::uint64_t live_config::next_id() {
  static std::atomic<std::uint64_t> last{0};
  return last.fetch_add(1, std::memory_order_relaxed) + 1;
}

const std::shared_ptr<const live_settings>& snapshot_of(const live_config& live) {
  struct copy {
    std::uint64_t owner = 0;  // live_config::id() of what `settings` came from
    std::shared_ptr<const live_settings> settings;
  };
  thread_local copy mine;
  if (mine.owner != live.id() || !mine.settings || mine.settings->generation != live.generation()) {
    mine.settings = live.get();
    mine.owner = live.id();
  }
  return mine.settings;
}

}  // namespace mcpgate::proxy

#include "proxy/tool_sync.hpp"

#include "proxy/mcp_client.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/this_coro.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

namespace mcpgate::proxy {

namespace asio = boost::asio;

// `done` goes with the frame.
static asio::awaitable<void> sync_detached(const context& ctx, std::shared_ptr<const cached_installation> entry,
                                           std::shared_ptr<void> done) {
  auto syncing = sync_tools_now(ctx, std::move(entry));
  (void)co_await std::move(syncing);
  (void)done;
}

asio::awaitable<sync_outcome> sync_tools_now(const context& ctx, std::shared_ptr<const cached_installation> entry) {
  sync_outcome out;
  const std::string& id = entry->inst.id;
  const asio::any_io_executor here = co_await asio::this_coro::executor;
  mcp_client_options options;
  // A sync also runs inside an install request: each step gets at most 30 s.
  const auto live = ctx.settings();
  options.step_timeout = std::min<std::chrono::milliseconds>(live->proxy.first_byte_timeout, std::chrono::seconds(30));
  options.max_answer_bytes = live->proxy.max_response_bytes;
  options.credential_header = entry->credential_header;
  options.credential_format = entry->credential_format;
  options.known_version = entry->inst.protocol_version.value_or("");
  auto listing_op = list_upstream_tools(ctx.upstreams.for_executor(here), *entry->upstream, entry->credential, options);
  auto listing = co_await std::move(listing_op);
  if (listing.ec) {
    out.detail = listing.detail.empty() ? listing.ec.message() : listing.detail;
    spdlog::warn("installation {}: tools sync failed: {}", id, out.detail);
    co_return out;
  }
  const auto apply = [&id, &listing](registry::store& s) {
    return s.sync_tools(id, listing.tools, listing.protocol_version, std::chrono::system_clock::now());
  };
  auto synced = co_await ctx.db.run(apply);
  if (ctx.cache) ctx.cache->forget_installation(id);
  if (!synced) {
    out.detail = "storing the tools failed: " + synced.error().message();
    spdlog::error("installation {}: tools sync: {}", id, out.detail);
    co_return out;
  }
  spdlog::info("installation {}: tools synced ({} listed by the upstream, protocol {})", id, listing.tools.size(),
               listing.protocol_version);
  out.ok = true;
  out.tools = std::move(*synced);
  out.protocol_version = std::move(listing.protocol_version);
  co_return out;
}

void sync_tools_in_background(const context& ctx, std::shared_ptr<const cached_installation> entry,
                              const asio::any_io_executor& shard) {
  if (!entry->upstream || !ctx.syncs->try_start(entry->inst.id)) return;
  // Whenever the frame goes (finished, or destroyed with its shard at
  // shutdown), the installation may be synced again. The registry is shared,
  // so this holds even while the server is being torn down.
  std::shared_ptr<void> done(nullptr, [syncs = ctx.syncs, id = entry->inst.id](void*) { syncs->finish(id); });
  asio::co_spawn(shard, sync_detached(ctx, std::move(entry), std::move(done)), asio::detached);
}

}  // namespace mcpgate::proxy

// What the step tests of the proxied request share (steps_test.cpp,
// exchange_steps_test.cpp): a data path context on a temporary SQLite store,
// as the composition root makes one, with one upstream pool on the test's
// io_context (the one shard), and a cached installation to run the steps on.
#pragma once

#include "auth/secret_box.hpp"
#include "common/rate_limit.hpp"
#include "net/http_types.hpp"
#include "net/upstream_client.hpp"
#include "proxy/context.hpp"
#include "proxy/installation_cache.hpp"
#include "proxy/relay.hpp"
#include "proxy/tool_sync.hpp"
#include "registry/audit.hpp"
#include "registry/store_executor.hpp"
#include "support/run_until.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json/parse.hpp>
#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace mcpgate::test {

// The caller of every step; user_id is the harness's store's user.
inline proxy::caller step_caller{0, 1, 1, "alice"};

struct step_harness {
  std::filesystem::path dir = std::filesystem::temp_directory_path() / ("mcpgate-steps-" + std::to_string(::getpid()));
  std::unique_ptr<registry::store_executor> db;
  auth::key_ring keys{{auth::key_ring::key{}}};
  proxy::installation_cache cache;
  boost::asio::io_context ioc;
  std::unique_ptr<proxy::context> ctx;

  explicit step_harness(proxy::options settings = {}) {
    using namespace std::chrono_literals;
    std::filesystem::create_directories(dir);
    auto store = registry::open_sqlite_store((dir / "t.db").string());
    BOOST_TEST_REQUIRE(store.has_value());
    // The environment and the user an audit record names must exist.
    BOOST_TEST_REQUIRE(
        (*store)->sync_projects({registry::project{1, "acme", {registry::environment{1, 1, "prod"}}}}).has_value());
    const auto user = (*store)->ensure_user("agent");
    BOOST_TEST_REQUIRE(user.has_value());
    step_caller.user_id = user->id;
    db = std::make_unique<registry::store_executor>(std::move(*store));
    auto live = std::make_shared<proxy::live_settings>();
    live->proxy = std::move(settings);
    // No background tool sync may start behind a test's back: one is
    // "already running" for the installation.
    auto syncs = std::make_shared<proxy::running_syncs>();
    syncs->try_start("inst-1");
    ctx = std::make_unique<proxy::context>(proxy::context{
        .db = *db,
        .ssrf = {},
        .public_url = "http://gateway.test",
        .secrets = keys,
        .cache = &cache,
        .upstreams = {},
        .slots = std::make_shared<proxy::stream_slots>(),
        .live = std::make_shared<proxy::live_config>(std::move(live)),
        .syncs = std::move(syncs),
        .streams = std::make_shared<proxy::open_streams>(),
        .refresher = nullptr,
        .installation_limits = std::make_shared<rate_limiter>(),
        .forwarded_audit = nullptr,
        .memory = nullptr,
    });
    net::client_options client;
    client.policy.allow_private_networks = true;  // the scripted upstream is on 127.0.0.1
    client.connect_timeout = 5s;
    client.single_thread = true;
    auto pool = net::upstream_pool::create(ioc.get_executor(), client);
    BOOST_TEST_REQUIRE(pool.has_value());
    ctx->upstreams.add(ioc, std::move(*pool));
  }
  ~step_harness() {
    ctx.reset();  // the pool first: it closes what it holds
    db->stop();
    std::filesystem::remove_all(dir);
  }
  step_harness(const step_harness&) = delete;
  step_harness& operator=(const step_harness&) = delete;

  // Runs a step (or any awaitable) to its end on the shard, at most 10 s.
  template <class T>
  T run(boost::asio::awaitable<T> step) {
    std::optional<T> out;
    boost::asio::co_spawn(ioc, std::move(step), [&out](std::exception_ptr e, T value) {
      BOOST_TEST_REQUIRE(!e);
      out.emplace(std::move(value));
    });
    BOOST_TEST_REQUIRE(run_until(ioc, [&] { return out.has_value(); }), "the step did not complete in time");
    return std::move(*out);
  }

  // The audit records of the environment, once `batch` (when given) wrote
  // what it holds.
  std::vector<registry::audit_event> audit(const std::shared_ptr<registry::audit_batch>& batch) {
    const auto written = [batch](registry::store& s) {
      if (batch) batch->write_pending(s);
      return s.list_audit_events(1, step_caller.user_id, {}, registry::page{100, 0});
    };
    auto listed = run(db->run(written));
    BOOST_TEST_REQUIRE(listed.has_value());
    return listed->items;
  }
};

// Installation "inst-1" of the caller at `url`, as the cache holds it, with
// tool "echo" approved and "rm" do_not_use.
inline std::shared_ptr<proxy::cached_installation> step_installation(
    const std::string& url, const std::string& auth_type, const std::string& credential) {
  auto entry = std::make_shared<proxy::cached_installation>();
  entry->inst.id = "inst-1";
  entry->inst.environment_id = 1;
  entry->inst.user_id = step_caller.user_id;
  entry->inst.url = url;
  entry->inst.auth_type = auth_type;
  entry->credential = credential;
  entry->credential_line = proxy::credential_line(*entry, credential);
  entry->upstream = net::parse_url(entry->inst.url);
  entry->tool_states.emplace("echo", registry::approval_approved);
  entry->tool_states.emplace("rm", registry::approval_do_not_use);
  return entry;
}

inline boost::json::value body_of(const net::http_response& r) { return boost::json::parse(r.body); }

// The value of header `name` in `r` (the first such), "" when there is none.
inline std::string header_of(const net::http_response& r, std::string_view name) {
  for (const auto& [key, value] : r.headers) {
    if (net::iequals(key, name)) return value;
  }
  return {};
}

}  // namespace mcpgate::test

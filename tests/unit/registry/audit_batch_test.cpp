// audit_batch: the forwarded calls' records as the store receives them, with
// the batch's reused slots, its immediate write at max_records and its bound.
#include "common/metrics.hpp"
#include "registry/audit.hpp"
#include "registry/store_executor.hpp"
#include "store_fixture.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json/parse.hpp>
#include <boost/test/unit_test.hpp>

#include <future>
#include <memory>
#include <string>
#include <vector>

using namespace mcpgate::registry;
using namespace mcpgate::registry::fixture;
namespace asio = boost::asio;
namespace json = boost::json;

namespace {

struct batch_harness {
  seeded s;
  std::int64_t alice = s.alice;
  store_executor db{std::move(s.db)};
  asio::io_context ioc;  // the shard: runs only inside on_store
  std::shared_ptr<audit_batch> batch = std::make_shared<audit_batch>(db);

  forwarded_call call(std::string_view installation_id, std::string_view tool, unsigned status) const {
    forwarded_call c;
    c.user_id = alice;
    c.environment_id = 1;
    c.installation_id = installation_id;
    c.tool_name = tool;
    c.when = at(0);
    c.latency_ms = 7;
    c.upstream_status = status;
    return c;
  }

  // `fn` on the store thread, after everything queued there before it.
  template <class F>
  auto on_store(F fn) {
    auto done = asio::co_spawn(
        ioc, [&]() -> asio::awaitable<std::invoke_result_t<F&, store&>> { co_return co_await db.run(fn); },
        asio::use_future);
    ioc.restart();
    ioc.run();  // until the coroutine is done (and any window timer has fired)
    return done.get();
  }

  // Writes what waits, then lists alice's records (newest first, at most 2000).
  std::vector<audit_event> written() {
    auto listed = on_store([b = batch, a = alice](store& st) {
      b->write_pending(st);
      return st.list_audit_events(1, a, {}, page{2000, 0});
    });
    BOOST_TEST_REQUIRE(listed.has_value());
    return listed->items;
  }
};

std::uint64_t dropped_so_far() {
  const std::string text = mcpgate::metrics::render(0, "test");
  const std::string name = "\nmcpgate_audit_records_dropped_total ";
  const auto at = text.find(name);
  BOOST_TEST_REQUIRE(at != std::string::npos);
  return std::stoull(text.substr(at + name.size()));
}

}  // namespace

BOOST_AUTO_TEST_SUITE(audit_batch_records)

// A batch's slots are reused by the next one: each record still carries
// exactly its own installation and tool, never a longer earlier one's tail.
BOOST_AUTO_TEST_CASE(reused_slots_hold_each_record_exactly) {
  batch_harness h;
  const std::string long_id(60, 'i');
  const std::string long_tool = "a_tool_name_long_enough_to_live_on_the_heap";
  h.batch->add(h.call(long_id, long_tool, 200), h.ioc.get_executor());
  h.batch->add(h.call(long_id, long_tool, 500), h.ioc.get_executor());
  BOOST_TEST_REQUIRE(h.written().size() == 2u);

  h.batch->add(h.call("inst-2", "echo", 201), h.ioc.get_executor());
  const auto rows = h.written();
  BOOST_TEST_REQUIRE(rows.size() == 3u);
  int short_ones = 0;
  for (const auto& e : rows) {
    BOOST_TEST(e.event_type == "tool_call_forwarded");
    BOOST_TEST(e.user_id == h.alice);
    BOOST_TEST(e.environment_id == 1);
    BOOST_TEST(e.id.size() == 36u);
    if (e.installation_id == "inst-2") {
      ++short_ones;
      BOOST_TEST(e.tool_name == "echo");
      BOOST_TEST(e.detail == R"({"decision":"forwarded","latency_ms":7,"upstream_status":201})");
    } else {
      BOOST_TEST(e.installation_id == long_id);
      BOOST_TEST(e.tool_name == long_tool);
    }
  }
  BOOST_TEST(short_ones == 1);
}

// A call no answer came for names the error instead of a status.
BOOST_AUTO_TEST_CASE(an_unanswered_call_names_its_error) {
  batch_harness h;
  auto c = h.call("inst-1", "search", 0);
  c.error = "timeout";
  c.latency_ms = 30000;
  h.batch->add(c, h.ioc.get_executor());
  const auto rows = h.written();
  BOOST_TEST_REQUIRE(rows.size() == 1u);
  BOOST_TEST(rows[0].detail == R"({"decision":"forwarded","latency_ms":30000,"error":"timeout"})");
  const auto detail = json::parse(rows[0].detail);
  BOOST_TEST(detail.at("error").as_string() == "timeout");
  BOOST_TEST(!detail.as_object().contains("upstream_status"));
}

// max_records waiting are written at once: the list queued right after the
// last add sees them all (the window's timer would write them only after it,
// and nobody calls write_pending).
BOOST_AUTO_TEST_CASE(a_full_batch_is_written_without_waiting_for_its_window) {
  batch_harness h;
  for (std::size_t i = 0; i < audit_batch::max_records; ++i) {
    h.batch->add(h.call("inst-1", "echo", 200), h.ioc.get_executor());
  }
  auto listed = h.on_store([a = h.alice](store& st) { return st.list_audit_events(1, a, {}, page{10, 0}); });
  BOOST_TEST_REQUIRE(listed.has_value());
  BOOST_TEST(listed->count == static_cast<std::int64_t>(audit_batch::max_records));
}

// Beyond max_pending waiting records a new one is dropped and counted; the
// proxy never waits, and what was taken is still written.
BOOST_AUTO_TEST_CASE(past_its_bound_a_record_is_dropped_and_counted) {
  batch_harness h;
  // Hold the store thread, so nothing that waits is written meanwhile.
  std::promise<void> release;
  auto held = release.get_future().share();
  h.db.run_detached([held](store&) { held.wait(); });
  const auto before = dropped_so_far();
  for (std::size_t i = 0; i < audit_batch::max_pending + 3; ++i) {
    h.batch->add(h.call("inst-1", "echo", 200), h.ioc.get_executor());
  }
  BOOST_TEST(dropped_so_far() - before == 3u);
  release.set_value();
  auto listed = h.on_store([b = h.batch, a = h.alice](store& st) {
    b->write_pending(st);
    return st.list_audit_events(1, a, {}, page{1, 0});
  });
  BOOST_TEST_REQUIRE(listed.has_value());
  BOOST_TEST(listed->count == static_cast<std::int64_t>(audit_batch::max_pending));
}

BOOST_AUTO_TEST_SUITE_END()

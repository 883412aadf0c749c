// The SSE relay bodies (proxy/relay.hpp) against the scripted upstream of
// tests/support: what an agent receives through make_relay_body (a POST's
// event stream) and make_listen_body (a GET stream), piece by piece.
//
// Each test serves one connection. The upstream writes the SSE head and the
// stream's pieces in order; a piece marked `gated` is written only once the
// test opened its gate (after the agent's side received what came before),
// so a piece boundary is where the test put it, never a matter of timing.
// The client side runs on the test's thread: the io_context is run until the
// awaited completion, at most 10 s. No sleeps.
#include "proxy/relay.hpp"

#include "net/upstream_exchange.hpp"
#include "proxy/installation_cache.hpp"
#include "proxy/sse.hpp"
#include "support/loopback_pool.hpp"
#include "support/run_until.hpp"
#include "support/scripted_upstream.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/json/parse.hpp>
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace {

using mcpgate::test::run_until;

namespace asio = boost::asio;
namespace http = boost::beast::http;
namespace json = boost::json;
namespace proxy = mcpgate::proxy;
using boost::system::error_code;
using mcpgate::net::body_source;
using mcpgate::net::upstream_exchange;
using mcpgate::test::chunk;
using mcpgate::test::scripted_upstream;
using mcpgate::test::upstream_conn;
using namespace std::chrono_literals;

using mcpgate::test::loopback_pool;
using mcpgate::test::wait_limit;
const std::string installation_id = "inst-1";

using mcpgate::test::one_connection;

constexpr std::string_view sse_head =
    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n";

// How the upstream ends its stream after the last piece.
enum class ending {
  finish,  // the terminating chunk: a clean end
  cut,     // the connection closed without it: the stream broke off
  hold,    // nothing more; it waits for the client to close (closed_by_client says whether it did)
};

struct piece_spec {
  std::string bytes;
  bool gated = false;  // written only after open_gate(its index)
};

// One SSE answer, written piece by piece as the test allows.
class sse_upstream {
 public:
  sse_upstream(std::vector<piece_spec> pieces, ending end)
      : pieces_(std::move(pieces)), end_(end), gates_(pieces_.size()), opened_(pieces_.size(), false) {
    for (auto& g : gates_) futures_.push_back(g.get_future().share());
    upstream_ = std::make_unique<scripted_upstream>([this](upstream_conn& c) { run(c); }, one_connection);
  }
  // A script waiting on a gate is released first, so the upstream's
  // destructor does not wait out its bound when a test failed early.
  ~sse_upstream() {
    for (std::size_t i = 0; i < gates_.size(); ++i) open_gate(i);
    upstream_.reset();
  }
  sse_upstream(const sse_upstream&) = delete;
  sse_upstream& operator=(const sse_upstream&) = delete;

  void open_gate(std::size_t i) {
    if (opened_[i]) return;
    opened_[i] = true;
    gates_[i].set_value();
  }
  std::string url() const { return upstream_->url(); }
  // ending::hold only: true once the client closed the connection.
  bool closed_by_client() {
    auto f = closed_.get_future();
    BOOST_TEST_REQUIRE((f.wait_for(wait_limit) == std::future_status::ready), "the upstream script did not end");
    return f.get();
  }

 private:
  void run(upstream_conn& c) {
    if (!c.read_request()) return closed_.set_value(false);
    std::string first(sse_head);
    for (std::size_t i = 0; i < pieces_.size(); ++i) {
      if (pieces_[i].gated) {
        if (!first.empty() && !c.write(first)) return closed_.set_value(false);
        first.clear();
        if (!upstream_conn::wait_for(futures_[i])) return closed_.set_value(false);
      }
      if (!c.write(first + chunk(pieces_[i].bytes))) return closed_.set_value(false);
      first.clear();
    }
    switch (end_) {
      case ending::finish:
        c.write("0\r\n\r\n");
        closed_.set_value(c.wait_closed());
        return;
      case ending::cut: return closed_.set_value(false);  // the connection closes when the script returns
      case ending::hold: closed_.set_value(c.wait_closed()); return;
    }
  }

  const std::vector<piece_spec> pieces_;
  const ending end_;
  std::vector<std::promise<void>> gates_;
  std::vector<std::shared_future<void>> futures_;
  std::vector<bool> opened_;  // the test's thread only
  std::promise<bool> closed_;
  std::unique_ptr<scripted_upstream> upstream_;  // last: it goes first
};

// The exchange a relay body reads from: the upstream's answer head is in.
std::shared_ptr<upstream_exchange> start(asio::io_context& io, const std::shared_ptr<mcpgate::net::upstream_pool>& pool,
                                         const std::string& url) {
  http::request<http::string_body> request{http::verb::post, "/mcp", 11};
  request.set(http::field::content_type, "application/json");
  request.set(http::field::accept, "application/json, text/event-stream");
  request.body() = R"({"jsonrpc":"2.0","id":1,"method":"tools/list"})";
  bool done = false;
  upstream_exchange::started out;
  asio::co_spawn(io, upstream_exchange::start(pool, url, std::move(request), {5s, 5s}),
                 [&](std::exception_ptr e, upstream_exchange::started started) {
                   BOOST_TEST_REQUIRE(!e);
                   done = true;
                   out = std::move(started);
                 });
  BOOST_TEST_REQUIRE(run_until(io, [&] { return done; }), "no answer head within the deadline");
  BOOST_TEST_REQUIRE(!out.ec, out.ec.message() << ": " << out.detail);
  BOOST_TEST_REQUIRE(out.exchange->head().header("Content-Type") == "text/event-stream");
  return out.exchange;
}

struct piece_outcome {
  bool done = false;
  error_code ec;
  std::string bytes;
};

// Starts one next(); `out` is filled when it completes.
void begin_next(asio::io_context& io, body_source& body, piece_outcome& out) {
  out = {};
  asio::co_spawn(io, body.next(), [&out](std::exception_ptr e, std::pair<error_code, std::string_view> piece) {
    BOOST_TEST_REQUIRE(!e);
    out.done = true;
    out.ec = piece.first;
    out.bytes = std::string(piece.second);
  });
}

piece_outcome next_piece(asio::io_context& io, body_source& body) {
  piece_outcome out;
  begin_next(io, body, out);
  BOOST_TEST_REQUIRE(run_until(io, [&] { return out.done; }), "next() did not complete within the deadline");
  return out;
}

// Reads until `total` holds `size` bytes (the agent received that much).
void read_up_to(asio::io_context& io, body_source& body, std::string& total, std::size_t size) {
  while (total.size() < size) {
    const auto piece = next_piece(io, body);
    BOOST_TEST_REQUIRE(!piece.ec, piece.ec.message());
    BOOST_TEST_REQUIRE(!piece.bytes.empty(), "the stream ended early");
    total += piece.bytes;
  }
  BOOST_TEST_REQUIRE(total.size() == size, "more came than was written");
}

// What the hooks saw.
struct hook_log {
  int list_changed = 0;
  int unseen_tool = 0;
  std::vector<std::string> asked_hidden;
};

// The proxy's view of the registry: "echo" and "rm" are known, "rm" is hidden.
proxy::relay_hooks hooks_for(hook_log& log) {
  proxy::relay_hooks hooks;
  hooks.list_changed = [&log] { ++log.list_changed; };
  hooks.unseen_tool = [&log] { ++log.unseen_tool; };
  hooks.hidden = [&log](std::string_view name) {
    log.asked_hidden.emplace_back(name);
    return name == "rm";
  };
  hooks.known = [](std::string_view name) { return name == "echo" || name == "rm"; };
  hooks.uninspectable = R"({"jsonrpc":"2.0","id":1,"error":{"code":-32603,"message":"uninspectable"}})";
  return hooks;
}

proxy::stream_slots::slot take(const std::shared_ptr<proxy::stream_slots>& slots) {
  auto slot = slots->acquire(installation_id, 10);
  BOOST_TEST_REQUIRE(slot.has_value());
  return std::move(*slot);
}

const std::string progress_event =
    "id: 1\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progress\":1}}\n\n";
const std::string list_changed_notification =
    "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/tools/list_changed\"}\n\n";
const std::string result_event = "id: 3\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n\n";
const std::string tools_answer_data =
    R"({"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"echo"},{"name":"rm"},{"name":"fresh"}]}})";
const std::string tools_answer_filtered =
    R"({"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"echo"},{"name":"fresh"}]}})";

std::vector<std::string> tool_names(const std::string& event) {
  std::vector<std::string> names;
  const json::value message = json::parse(proxy::event_data(event));
  for (const auto& t : message.at("result").at("tools").as_array()) {
    names.emplace_back(t.at("name").as_string());
  }
  return names;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(relay_body)

BOOST_AUTO_TEST_CASE(unfiltered_relay_passes_the_bytes_through_and_hears_list_changed_cut_in_two) {
  // The notification is cut inside its method name, across two chunks that
  // reach the relay as two pieces.
  const std::size_t cut = list_changed_notification.find("/li") + 3;
  sse_upstream upstream({{progress_event},
                         {list_changed_notification.substr(0, cut), true},
                         {list_changed_notification.substr(cut), true},
                         {result_event, true}},
                        ending::finish);
  asio::io_context io;
  auto pool = loopback_pool(io);
  auto slots = std::make_shared<proxy::stream_slots>();
  hook_log log;
  auto body = proxy::make_relay_body(start(io, pool, upstream.url()), take(slots), hooks_for(log), false);

  std::string got;
  read_up_to(io, *body, got, progress_event.size());
  upstream.open_gate(1);
  read_up_to(io, *body, got, progress_event.size() + cut);
  BOOST_TEST(log.list_changed == 0);  // half the method name is not the notification
  upstream.open_gate(2);
  read_up_to(io, *body, got, progress_event.size() + list_changed_notification.size());
  BOOST_TEST(log.list_changed == 1);
  upstream.open_gate(3);
  const std::string all = progress_event + list_changed_notification + result_event;
  read_up_to(io, *body, got, all.size());
  const auto end = next_piece(io, *body);
  BOOST_TEST(!end.ec, end.ec.message());
  BOOST_TEST(end.bytes.empty());
  BOOST_TEST(got == all);  // byte for byte, nothing added or held back
  BOOST_TEST(log.list_changed == 1);
  BOOST_TEST(log.unseen_tool == 0);
  BOOST_TEST(log.asked_hidden.empty());  // an unfiltered relay never looks at tools
}

BOOST_AUTO_TEST_CASE(unfiltered_relay_forwards_a_tools_answer_as_it_is) {
  // A POST that did not ask for tools/list: its stream is not inspected.
  const std::string event = "data: " + tools_answer_data + "\n\n";
  sse_upstream upstream({{event}}, ending::finish);
  asio::io_context io;
  auto pool = loopback_pool(io);
  auto slots = std::make_shared<proxy::stream_slots>();
  hook_log log;
  auto body = proxy::make_relay_body(start(io, pool, upstream.url()), take(slots), hooks_for(log), false);
  std::string got;
  read_up_to(io, *body, got, event.size());
  BOOST_TEST(got == event);
  BOOST_TEST(next_piece(io, *body).bytes.empty());
  BOOST_TEST(log.unseen_tool == 0);
}

BOOST_AUTO_TEST_CASE(filtered_relay_drops_hidden_tools_and_reports_an_unseen_one) {
  // The tools/list answer is written in two chunks, the second once the
  // agent waits for it: the relay hands it out whole, filtered.
  const std::string event = "id: 7\nevent: message\ndata: " + tools_answer_data + "\n\n";
  const std::size_t cut = event.find("\"rm\"");
  sse_upstream upstream({{progress_event}, {event.substr(0, cut), true}, {event.substr(cut), true}}, ending::finish);
  asio::io_context io;
  auto pool = loopback_pool(io);
  auto slots = std::make_shared<proxy::stream_slots>();
  hook_log log;
  auto body = proxy::make_relay_body(start(io, pool, upstream.url()), take(slots), hooks_for(log), true);

  BOOST_TEST(next_piece(io, *body).bytes == progress_event);  // no "tools": passed as it is
  upstream.open_gate(1);
  piece_outcome pending;
  begin_next(io, *body, pending);
  io.restart();
  io.poll();
  upstream.open_gate(2);
  BOOST_TEST_REQUIRE(run_until(io, [&] { return pending.done; }));
  BOOST_TEST_REQUIRE(!pending.ec, pending.ec.message());
  BOOST_TEST(pending.bytes == "id: 7\nevent: message\ndata: " + tools_answer_filtered + "\n\n");
  BOOST_TEST(tool_names(pending.bytes) == (std::vector<std::string>{"echo", "fresh"}),
             boost::test_tools::per_element());
  BOOST_TEST(log.asked_hidden == (std::vector<std::string>{"echo", "rm", "fresh"}), boost::test_tools::per_element());
  BOOST_TEST(log.unseen_tool == 1);  // "fresh" is not in the registry
  const auto end = next_piece(io, *body);
  BOOST_TEST(!end.ec, end.ec.message());
  BOOST_TEST(end.bytes.empty());
}

BOOST_AUTO_TEST_CASE(filtered_relay_filters_a_last_event_that_lacks_its_blank_line) {
  // The upstream ends cleanly in the middle of its tools/list answer's
  // event (no blank line after it): the rest is judged as an event too, so
  // a hidden tool never reaches the agent raw.
  const std::string unterminated = "id: 9\ndata: " + tools_answer_data;
  sse_upstream upstream({{unterminated}}, ending::finish);
  asio::io_context io;
  auto pool = loopback_pool(io);
  auto slots = std::make_shared<proxy::stream_slots>();
  hook_log log;
  auto body = proxy::make_relay_body(start(io, pool, upstream.url()), take(slots), hooks_for(log), true);
  const auto last = next_piece(io, *body);
  BOOST_TEST_REQUIRE(!last.ec, last.ec.message());
  BOOST_TEST(last.bytes.find("\"rm\"") == std::string::npos, last.bytes);
  BOOST_TEST(tool_names(last.bytes) == (std::vector<std::string>{"echo", "fresh"}), boost::test_tools::per_element());
  const auto end = next_piece(io, *body);
  BOOST_TEST(!end.ec, end.ec.message());
  BOOST_TEST(end.bytes.empty());
}

BOOST_AUTO_TEST_CASE(filtered_relay_replaces_an_unreadable_tools_answer_with_uninspectable) {
  // Looks like a tools/list answer, but is not JSON: it could hide anything.
  const std::string broken = "id: 2\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"tools\":[{\"name\":\"rm\"}\n\n";
  hook_log log;
  const auto hooks = hooks_for(log);
  sse_upstream upstream({{broken}, {result_event}}, ending::finish);
  asio::io_context io;
  auto pool = loopback_pool(io);
  auto slots = std::make_shared<proxy::stream_slots>();
  auto body = proxy::make_relay_body(start(io, pool, upstream.url()), take(slots), hooks, true);

  const auto first = next_piece(io, *body);
  BOOST_TEST_REQUIRE(!first.ec, first.ec.message());
  BOOST_TEST(first.bytes == "id: 2\ndata: " + hooks.uninspectable + "\n\n");
  BOOST_TEST(first.bytes.find("\"rm\"") == std::string::npos);
  BOOST_TEST(next_piece(io, *body).bytes == result_event);
  BOOST_TEST(next_piece(io, *body).bytes.empty());
  BOOST_TEST(log.unseen_tool == 0);
}

BOOST_AUTO_TEST_CASE(filtered_relay_forwards_escaped_json_that_lists_no_tools_unchanged) {
  // A backslash makes the relay look (an escape might spell "tools"): valid
  // JSON without a tools list goes out byte for byte.
  const std::string escaped =
      "data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{\"data\":\"a \\\"quoted\\\" "
      "\\u0074ools\"}}\n\n";
  sse_upstream upstream({{escaped}, {list_changed_notification}}, ending::finish);
  asio::io_context io;
  auto pool = loopback_pool(io);
  auto slots = std::make_shared<proxy::stream_slots>();
  hook_log log;
  auto body = proxy::make_relay_body(start(io, pool, upstream.url()), take(slots), hooks_for(log), true);
  BOOST_TEST(next_piece(io, *body).bytes == escaped);
  BOOST_TEST(next_piece(io, *body).bytes == list_changed_notification);
  BOOST_TEST(log.list_changed == 1);  // heard in filter mode too
  BOOST_TEST(next_piece(io, *body).bytes.empty());
}

BOOST_AUTO_TEST_CASE(filtered_relay_cut_mid_event_ends_with_an_error_without_the_half_event) {
  const std::string half = "id: 2\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"res";
  sse_upstream upstream({{progress_event}, {half, true}}, ending::cut);
  asio::io_context io;
  auto pool = loopback_pool(io);
  auto slots = std::make_shared<proxy::stream_slots>();
  hook_log log;
  auto body = proxy::make_relay_body(start(io, pool, upstream.url()), take(slots), hooks_for(log), true);
  BOOST_TEST(next_piece(io, *body).bytes == progress_event);
  upstream.open_gate(1);
  const auto broken = next_piece(io, *body);
  BOOST_TEST(broken.ec.failed());  // the agent sees a truncated stream, not an end
  BOOST_TEST(broken.bytes.empty());
}

BOOST_AUTO_TEST_CASE(unfiltered_relay_cut_mid_event_has_relayed_the_half_then_errors) {
  // Piece by piece: the half event went out as it came, before the cut was
  // known; the stream then ends with an error, not a clean end.
  const std::string half = "id: 2\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"res";
  sse_upstream upstream({{progress_event}, {half, true}}, ending::cut);
  asio::io_context io;
  auto pool = loopback_pool(io);
  auto slots = std::make_shared<proxy::stream_slots>();
  hook_log log;
  auto body = proxy::make_relay_body(start(io, pool, upstream.url()), take(slots), hooks_for(log), false);
  std::string got;
  read_up_to(io, *body, got, progress_event.size());
  upstream.open_gate(1);
  read_up_to(io, *body, got, progress_event.size() + half.size());
  BOOST_TEST(got == progress_event + half);
  const auto broken = next_piece(io, *body);
  BOOST_TEST(broken.ec.failed());
  BOOST_TEST(broken.bytes.empty());
}

BOOST_AUTO_TEST_CASE(cancel_closes_the_upstream_and_completes_a_pending_next) {
  for (const bool filter : {false, true}) {
    BOOST_TEST_CONTEXT("filter " << filter) {
      sse_upstream upstream({{progress_event}}, ending::hold);
      asio::io_context io;
      auto pool = loopback_pool(io);
      auto slots = std::make_shared<proxy::stream_slots>();
      hook_log log;
      auto body = proxy::make_relay_body(start(io, pool, upstream.url()), take(slots), hooks_for(log), filter);
      std::string got;
      read_up_to(io, *body, got, progress_event.size());

      piece_outcome pending;  // nothing more comes: the agent is waiting
      begin_next(io, *body, pending);
      io.restart();
      io.poll();
      BOOST_TEST_REQUIRE(!pending.done);
      body->cancel();  // the agent went away
      BOOST_TEST_REQUIRE(run_until(io, [&] { return pending.done; }), "the pending next() did not complete");
      BOOST_TEST(pending.ec.failed());
      BOOST_TEST(pending.bytes.empty());
      BOOST_TEST(upstream.closed_by_client(), "the upstream did not see its connection closed");
    }
  }
}

BOOST_AUTO_TEST_CASE(the_slot_is_held_while_the_relay_body_lives) {
  sse_upstream upstream({{progress_event}}, ending::hold);
  asio::io_context io;
  auto pool = loopback_pool(io);
  auto slots = std::make_shared<proxy::stream_slots>();
  hook_log log;
  auto body = proxy::make_relay_body(start(io, pool, upstream.url()), take(slots), hooks_for(log), false);
  BOOST_TEST(slots->open(installation_id) == 1u);
  std::string got;
  read_up_to(io, *body, got, progress_event.size());
  BOOST_TEST(slots->open(installation_id) == 1u);
  body.reset();  // the stream is over for the agent, whatever the upstream does
  BOOST_TEST(slots->open(installation_id) == 0u);
  BOOST_TEST(slots->total() == 0u);
  BOOST_TEST(upstream.closed_by_client());  // an exchange dropped mid-body is not kept
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(listen_body)

BOOST_AUTO_TEST_CASE(a_get_stream_filters_a_last_event_that_lacks_its_blank_line) {
  const std::string unterminated = "id: 9\ndata: " + tools_answer_data;
  sse_upstream upstream({{unterminated}}, ending::finish);
  asio::io_context io;
  auto pool = loopback_pool(io);
  auto slots = std::make_shared<proxy::stream_slots>();
  proxy::open_streams streams;
  hook_log log;
  auto body = proxy::make_listen_body(start(io, pool, upstream.url()), take(slots), hooks_for(log), io.get_executor(),
                                      streams, installation_id);
  const auto last = next_piece(io, *body);
  BOOST_TEST_REQUIRE(!last.ec, last.ec.message());
  BOOST_TEST(last.bytes.find("\"rm\"") == std::string::npos, last.bytes);
  BOOST_TEST(tool_names(last.bytes) == (std::vector<std::string>{"echo", "fresh"}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(tools_changed_puts_list_changed_before_the_next_upstream_event) {
  const std::string answer = "id: 9\ndata: " + tools_answer_data + "\n\n";
  sse_upstream upstream({{progress_event}, {answer, true}}, ending::hold);
  asio::io_context io;
  auto pool = loopback_pool(io);
  auto slots = std::make_shared<proxy::stream_slots>();
  proxy::open_streams streams;
  hook_log log;
  auto body = proxy::make_listen_body(start(io, pool, upstream.url()), take(slots), hooks_for(log), io.get_executor(),
                                      streams, installation_id);

  BOOST_TEST(next_piece(io, *body).bytes == progress_event);
  piece_outcome pending;  // the agent waits; the upstream is silent
  begin_next(io, *body, pending);
  io.restart();
  io.poll();
  BOOST_TEST_REQUIRE(!pending.done);

  streams.tools_changed("another-installation");  // not this stream's
  io.restart();
  io.poll();
  BOOST_TEST_REQUIRE(!pending.done);

  streams.tools_changed(installation_id);  // an approval changed, on any thread
  BOOST_TEST_REQUIRE(run_until(io, [&] { return pending.done; }), "the injected event did not come");
  BOOST_TEST_REQUIRE(!pending.ec, pending.ec.message());
  BOOST_TEST(pending.bytes == proxy::list_changed_event());
  BOOST_TEST(log.list_changed == 0);  // the gateway's own event is not the upstream's

  // The next upstream event comes after it, filtered like a tools/list answer.
  upstream.open_gate(1);
  const auto next = next_piece(io, *body);
  BOOST_TEST_REQUIRE(!next.ec, next.ec.message());
  BOOST_TEST(next.bytes == "id: 9\ndata: " + tools_answer_filtered + "\n\n");
  BOOST_TEST(log.unseen_tool == 1);

  body->cancel();
  BOOST_TEST(upstream.closed_by_client());
}

BOOST_AUTO_TEST_CASE(list_changed_event_is_a_jsonrpc_notification) {
  const std::string& event = proxy::list_changed_event();
  BOOST_TEST(event.substr(event.size() - 2) == "\n\n");
  const auto message = json::parse(proxy::event_data(event));
  BOOST_TEST(message.at("jsonrpc").as_string() == "2.0");
  BOOST_TEST(message.at("method").as_string() == "notifications/tools/list_changed");
  BOOST_TEST(!message.as_object().contains("id"));
}

BOOST_AUTO_TEST_CASE(an_ended_stream_gets_no_injection_and_a_gone_one_is_forgotten) {
  sse_upstream upstream({{progress_event}}, ending::finish);
  asio::io_context io;
  auto pool = loopback_pool(io);
  auto slots = std::make_shared<proxy::stream_slots>();
  proxy::open_streams streams;
  hook_log log;
  auto body = proxy::make_listen_body(start(io, pool, upstream.url()), take(slots), hooks_for(log), io.get_executor(),
                                      streams, installation_id);
  BOOST_TEST(next_piece(io, *body).bytes == progress_event);
  auto end = next_piece(io, *body);
  BOOST_TEST(!end.ec, end.ec.message());
  BOOST_TEST(end.bytes.empty());

  // Ended, still held by the server: nothing is slipped in after the end.
  streams.tools_changed(installation_id);
  io.restart();
  io.poll();
  end = next_piece(io, *body);
  BOOST_TEST(!end.ec, end.ec.message());
  BOOST_TEST(end.bytes.empty());

  // Gone: the slot is back, and a later change reaches nothing.
  BOOST_TEST(slots->open(installation_id) == 1u);
  body.reset();
  io.restart();
  io.poll();
  BOOST_TEST(slots->open(installation_id) == 0u);
  streams.tools_changed(installation_id);
  io.restart();
  BOOST_TEST(io.poll() == 0u);             // nothing was posted
  streams.tools_changed(installation_id);  // the entry itself was dropped: still nothing
  io.restart();
  BOOST_TEST(io.poll() == 0u);
}

BOOST_AUTO_TEST_CASE(listen_body_cut_mid_event_ends_with_an_error_without_the_half_event) {
  const std::string half = "id: 2\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"res";
  sse_upstream upstream({{progress_event}, {half, true}}, ending::cut);
  asio::io_context io;
  auto pool = loopback_pool(io);
  auto slots = std::make_shared<proxy::stream_slots>();
  proxy::open_streams streams;
  hook_log log;
  auto body = proxy::make_listen_body(start(io, pool, upstream.url()), take(slots), hooks_for(log), io.get_executor(),
                                      streams, installation_id);
  BOOST_TEST(next_piece(io, *body).bytes == progress_event);
  upstream.open_gate(1);
  const auto broken = next_piece(io, *body);
  BOOST_TEST(broken.ec.failed());
  BOOST_TEST(broken.bytes.empty());
}

BOOST_AUTO_TEST_CASE(cancel_completes_a_pending_next_closes_the_upstream_and_frees_the_slot) {
  sse_upstream upstream({{progress_event}}, ending::hold);
  asio::io_context io;
  auto pool = loopback_pool(io);
  auto slots = std::make_shared<proxy::stream_slots>();
  proxy::open_streams streams;
  hook_log log;
  auto body = proxy::make_listen_body(start(io, pool, upstream.url()), take(slots), hooks_for(log), io.get_executor(),
                                      streams, installation_id);
  BOOST_TEST(next_piece(io, *body).bytes == progress_event);
  piece_outcome pending;
  begin_next(io, *body, pending);
  io.restart();
  io.poll();
  BOOST_TEST_REQUIRE(!pending.done);
  BOOST_TEST(slots->open(installation_id) == 1u);

  body->cancel();
  BOOST_TEST_REQUIRE(run_until(io, [&] { return pending.done; }), "the pending next() did not complete");
  BOOST_TEST(pending.ec.failed());
  BOOST_TEST(pending.bytes.empty());
  BOOST_TEST(upstream.closed_by_client(), "the upstream did not see its connection closed");

  // A change after the cancel slips nothing in.
  streams.tools_changed(installation_id);
  io.restart();
  io.poll();
  const auto after = next_piece(io, *body);
  BOOST_TEST(after.ec.failed());
  BOOST_TEST(after.bytes != proxy::list_changed_event());

  BOOST_TEST(slots->open(installation_id) == 1u);  // held while the body lives
  body.reset();
  io.restart();
  io.poll();  // the reading side lets go of the body too
  BOOST_TEST(slots->open(installation_id) == 0u);
}

BOOST_AUTO_TEST_SUITE_END()

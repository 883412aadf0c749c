// list_upstream_tools against a scripted MCP upstream on 127.0.0.1 (the
// scripted upstream of tests/support).
//
// The upstream runs on its own threads; every wait there is bounded and ends
// when the fixture goes. It answers each request through a handler the test
// gives and records what it received. The client side runs on the test's
// thread: the io_context is run until the listing is there, at most 10 s.
// No sleeps anywhere.
//
// Two suites: mcp_client_tests pins the legacy handshake and what both eras
// share (answers, pages, limits, failures); its listings start as for an
// installation whose recorded era is legacy (known_version 2025-06-18), so
// the handshake comes first and nothing probes. mcp_client_eras covers the
// 2026-07-28 era and the choice between the two: the probe, the fallback,
// and the reuse of a recorded version.
#include "proxy/mcp_client.hpp"

#include "support/loopback_pool.hpp"
#include "support/run_until.hpp"
#include "support/scripted_upstream.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using boost::system::error_code;
using mcpgate::net::client_error;
using mcpgate::proxy::list_upstream_tools;
using mcpgate::proxy::mcp_client_error;
using mcpgate::proxy::mcp_client_options;
using mcpgate::proxy::tools_listing;
using mcpgate::test::chunk;
using namespace std::chrono_literals;

using mcpgate::test::http_answer;
using mcpgate::test::json_answer;
using mcpgate::test::loopback_pool;
using mcpgate::test::wait_limit;

// One request as the upstream received it.
struct received {
  std::string method;  // HTTP method
  std::string authorization;
  std::string accept;
  std::string content_type;
  std::string session_id;
  std::string protocol_version;
  std::string mcp_method;  // the Mcp-Method header
  bool has_authorization = false;
  bool has_session_id = false;
  bool has_protocol_version = false;
  bool has_mcp_method = false;
  json::value body;  // null when there was none
  std::string rpc_method() const {
    if (!body.is_object()) return {};
    const auto* m = body.get_object().if_contains("method");
    return m != nullptr && m->is_string() ? std::string(m->get_string()) : std::string();
  }
  json::value rpc_id() const {
    if (!body.is_object()) return nullptr;
    const auto* id = body.get_object().if_contains("id");
    return id != nullptr ? *id : json::value(nullptr);
  }
  // params, or nullptr when absent.
  const json::object* params() const {
    if (!body.is_object()) return nullptr;
    const auto* p = body.get_object().if_contains("params");
    return p != nullptr && p->is_object() ? &p->get_object() : nullptr;
  }
  // params.cursor, or "" when absent.
  std::string cursor() const {
    const auto* p = params();
    if (p == nullptr) return {};
    const auto* c = p->if_contains("cursor");
    return c != nullptr && c->is_string() ? std::string(c->get_string()) : std::string();
  }
  // params._meta, or nullptr when absent.
  const json::object* meta() const {
    const auto* p = params();
    if (p == nullptr) return nullptr;
    const auto* m = p->if_contains("_meta");
    return m != nullptr && m->is_object() ? &m->get_object() : nullptr;
  }
};

// The upstream's script for one request: the raw HTTP answer, or nullopt to
// stay silent until the client closes the connection.
using responder = std::function<std::optional<std::string>(const received&)>;

// A scripted upstream on 127.0.0.1 that serves every request through
// `respond` and records what it received.
class mcp_upstream {
 public:
  explicit mcp_upstream(responder respond)
      : respond_(std::move(respond)),
        upstream_(mcpgate::test::scripted_upstream::serve([this](const mcpgate::test::http_request& request) {
          return answer_for(request);
        })) {}

  mcpgate::net::parsed_url url() const {
    auto parsed = mcpgate::net::parse_url(upstream_.url("/mcp"));
    BOOST_TEST_REQUIRE(parsed.has_value());
    return *parsed;
  }

  std::vector<received> requests() const {
    std::lock_guard lock(mu_);
    return requests_;
  }

 private:
  // On the upstream's thread: no Boost.Test here.
  mcpgate::test::answer answer_for(const mcpgate::test::http_request& request) {
    const received r = record(request);
    auto bytes = respond_(r);
    if (!bytes) return mcpgate::test::answer::silence();
    return std::move(*bytes);
  }

  received record(const mcpgate::test::http_request& request) {
    received r;
    r.method = std::string(request.method_string());
    const auto field = [&request](std::string_view name, std::string& value, bool* has) {
      const auto it = request.find(name);
      if (it == request.end()) return;
      value = std::string(it->value());
      if (has != nullptr) *has = true;
    };
    field("Authorization", r.authorization, &r.has_authorization);
    field("Accept", r.accept, nullptr);
    field("Content-Type", r.content_type, nullptr);
    field("Mcp-Session-Id", r.session_id, &r.has_session_id);
    field("MCP-Protocol-Version", r.protocol_version, &r.has_protocol_version);
    field("Mcp-Method", r.mcp_method, &r.has_mcp_method);
    if (!request.body().empty()) {
      error_code ec;
      r.body = json::parse(request.body(), ec);
    }
    std::lock_guard lock(mu_);
    requests_.push_back(r);
    return r;
  }

  // Declared before upstream_, whose threads use them.
  const responder respond_;
  mutable std::mutex mu_;
  std::vector<received> requests_;  // guarded by mu_
  mcpgate::test::scripted_upstream upstream_;
};

// --- answers ---------------------------------------------------------------------

std::string accepted() { return http_answer(202, {}, {}); }

// An SSE answer, chunked, one chunk per piece; `end` false leaves the stream open.
std::string sse_answer(const std::vector<std::string>& pieces, bool end = true, std::string_view extra_headers = {}) {
  std::string out = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n";
  out.append(extra_headers).append("\r\n");
  for (const auto& p : pieces) out += chunk(p);
  if (end) out += "0\r\n\r\n";
  return out;
}

std::string result_for(const received& r, const json::value& result) {
  return json::serialize(json::object{{"jsonrpc", "2.0"}, {"id", r.rpc_id()}, {"result", result}});
}

json::object init_result(std::string_view version = "2025-06-18") {
  return json::object{{"protocolVersion", version},
                      {"capabilities", json::object{{"tools", json::object()}}},
                      {"serverInfo", json::object{{"name", "fake"}, {"version", "1"}}}};
}

json::object tool(std::string_view name) {
  return json::object{{"name", name},
                      {"description", "does " + std::string(name)},
                      {"inputSchema", json::object{{"type", "object"}}}};
}

// A plain upstream: JSON answers, session "sess-1" unless `session` is empty.
responder simple_upstream(json::array tools, std::string session = "sess-1") {
  return [tools = std::move(tools), session](const received& r) -> std::optional<std::string> {
    const std::string extra = session.empty() ? std::string() : "Mcp-Session-Id: " + session + "\r\n";
    if (r.method == "DELETE") return http_answer(200, {}, {});
    const std::string m = r.rpc_method();
    if (m == "initialize") return json_answer(result_for(r, init_result()), extra);
    if (m == "notifications/initialized") return accepted();
    if (m == "tools/list") return json_answer(result_for(r, json::object{{"tools", tools}}));
    return http_answer(400, "application/json", "{}");
  };
}

// --- the client side ------------------------------------------------------------------

// The revision the legacy handshake asks for, and the stateless one.
constexpr std::string_view legacy_version = "2025-06-18";
constexpr std::string_view modern_version = "2026-07-28";

// Runs the listing to its end (at most `deadline`).
tools_listing list_with(const mcpgate::net::parsed_url& url, std::string credential = "upstream-secret",
                        mcp_client_options options = {5s, 100, 16 * 1024 * 1024}) {
  asio::io_context io;
  auto pool = loopback_pool(io);
  bool done = false;
  tools_listing out;
  asio::co_spawn(io, list_upstream_tools(pool, url, std::move(credential), options),
                 [&](std::exception_ptr e, tools_listing listing) {
                   BOOST_TEST_REQUIRE(!e);
                   done = true;
                   out = std::move(listing);
                 });
  const auto until = std::chrono::steady_clock::now() + wait_limit;
  while (!done) {
    if (io.run_one_until(until) == 0 && (io.stopped() || std::chrono::steady_clock::now() >= until)) break;
  }
  BOOST_TEST_REQUIRE(done, "the listing did not end within the deadline");
  return out;
}

// The listing of an installation whose recorded era is legacy: the
// handshake first, no probe (mcp_client_tests).
tools_listing list(const mcpgate::net::parsed_url& url, std::string credential = "upstream-secret",
                   mcp_client_options options = {5s, 100, 16 * 1024 * 1024}) {
  options.known_version = std::string(legacy_version);
  return list_with(url, std::move(credential), std::move(options));
}

std::vector<std::string> rpc_methods(const std::vector<received>& requests) {
  std::vector<std::string> out;
  for (const auto& r : requests) out.push_back(r.method == "DELETE" ? std::string("DELETE") : r.rpc_method());
  return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(mcp_client_tests)

BOOST_AUTO_TEST_CASE(plain_json_answers_list_the_tools) {
  mcp_upstream upstream(simple_upstream(json::array{tool("search"), tool("fetch")}));
  const auto listing = list(upstream.url());
  BOOST_TEST_REQUIRE(!listing.ec, listing.ec.message() << ": " << listing.detail);
  BOOST_TEST_REQUIRE(listing.tools.size() == 2u);
  BOOST_TEST(listing.tools[0].name == "search");
  BOOST_TEST(listing.tools[0].description == "does search");
  BOOST_TEST(listing.tools[0].input_schema == R"({"type":"object"})");
  BOOST_TEST(listing.tools[0].annotations == "{}");
  BOOST_TEST(listing.tools[0].title == "");
  BOOST_TEST(listing.tools[1].name == "fetch");
  BOOST_TEST(listing.protocol_version == "2025-06-18");

  const auto requests = upstream.requests();
  const std::vector<std::string> expected{"initialize", "notifications/initialized", "tools/list", "DELETE"};
  BOOST_TEST(rpc_methods(requests) == expected, boost::test_tools::per_element());

  // initialize: what the client says about itself; nothing of the 2026 era.
  const auto& init = requests.at(0);
  BOOST_TEST(init.method == "POST");
  BOOST_TEST(init.accept == "application/json, text/event-stream");
  BOOST_TEST(init.content_type == "application/json");
  BOOST_TEST(!init.has_session_id);
  BOOST_TEST(!init.has_protocol_version);
  for (const auto& r : requests) {
    BOOST_TEST(!r.has_mcp_method);
    BOOST_TEST(r.meta() == nullptr);
  }
  const auto& params = init.body.at("params").as_object();
  BOOST_TEST(params.at("protocolVersion").as_string() == "2025-06-18");
  BOOST_TEST(params.at("capabilities").as_object().empty());
  BOOST_TEST(params.at("clientInfo").at("name").as_string() == "mcpgate");
  BOOST_TEST(params.at("clientInfo").at("version").is_string());
  BOOST_TEST(init.body.at("jsonrpc").as_string() == "2.0");

  // The notification has no id; tools/list has a different id than initialize.
  BOOST_TEST(!requests.at(1).body.as_object().contains("id"));
  BOOST_TEST(requests.at(2).rpc_id() != init.rpc_id());
  BOOST_TEST(requests.at(2).cursor() == "");
}

BOOST_AUTO_TEST_CASE(session_id_and_protocol_version_go_on_later_requests_and_delete_ends_the_session) {
  // The server negotiates an older revision: that is the one to echo.
  mcp_upstream upstream([](const received& r) -> std::optional<std::string> {
    if (r.method == "DELETE") return http_answer(204, {}, {});
    const std::string m = r.rpc_method();
    if (m == "initialize") return json_answer(result_for(r, init_result("2025-03-26")), "Mcp-Session-Id: abc-123\r\n");
    if (m == "notifications/initialized") return accepted();
    return json_answer(result_for(r, json::object{{"tools", json::array{tool("t")}}}));
  });
  const auto listing = list(upstream.url());
  BOOST_TEST_REQUIRE(!listing.ec, listing.ec.message() << ": " << listing.detail);
  BOOST_TEST(listing.tools.size() == 1u);
  BOOST_TEST(listing.protocol_version == "2025-03-26");

  const auto requests = upstream.requests();
  BOOST_TEST_REQUIRE(requests.size() == 4u);
  for (std::size_t i = 1; i < requests.size(); ++i) {
    BOOST_TEST(requests[i].session_id == "abc-123", "request " << i);
    BOOST_TEST(requests[i].protocol_version == "2025-03-26", "request " << i);
  }
  BOOST_TEST(requests[3].method == "DELETE");
  BOOST_TEST(requests[3].authorization == "Bearer upstream-secret");
}

BOOST_AUTO_TEST_CASE(without_a_session_id_there_is_no_delete) {
  mcp_upstream upstream(simple_upstream(json::array{tool("a")}, ""));
  const auto listing = list(upstream.url());
  BOOST_TEST_REQUIRE(!listing.ec, listing.ec.message() << ": " << listing.detail);
  const auto requests = upstream.requests();
  const std::vector<std::string> expected{"initialize", "notifications/initialized", "tools/list"};
  BOOST_TEST(rpc_methods(requests) == expected, boost::test_tools::per_element());
  for (const auto& r : requests) BOOST_TEST(!r.has_session_id);
  BOOST_TEST(requests.at(2).protocol_version == "2025-06-18");
}

BOOST_AUTO_TEST_CASE(sse_answers_with_a_notification_first_and_multi_line_data) {
  mcp_upstream upstream([](const received& r) -> std::optional<std::string> {
    if (r.method == "DELETE") return http_answer(200, {}, {});
    const std::string m = r.rpc_method();
    const std::string id = json::serialize(r.rpc_id());
    const std::string progress = R"({"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info"}})";
    if (m == "initialize") {
      // LF line ends, a comment, a notification, then the response; the
      // stream stays open after it (the client must not wait for its end).
      return sse_answer({": keep-alive\n\n", "event: message\ndata: " + progress + "\n\n",
                         "id: 7\ndata: " + result_for(r, init_result()) + "\n\n"},
                        /*end=*/false, "Mcp-Session-Id: s-sse\r\n");
    }
    if (m == "notifications/initialized") return accepted();
    // CRLF line ends; the response's JSON split over three data lines and
    // over two chunks; before it a server request with the same id number as
    // a string ("id":"<n>") and a notification, to be ignored.
    const std::string other = R"({"jsonrpc":"2.0","id":")" + id + R"(","method":"ping"})";
    const std::string tools_json = json::serialize(json::array{tool("alpha"), tool("beta")});
    return sse_answer({"data: " + progress + "\r\n\r\n", "data: " + other + "\r\n\r\n",
                       "data: {\"jsonrpc\":\"2.0\",\r\ndata: \"id\":" + id + ",\r\n",
                       "data:\"result\":{\"tools\":" + tools_json + "}}\r\n\r\n"});
  });
  const auto listing = list(upstream.url());
  BOOST_TEST_REQUIRE(!listing.ec, listing.ec.message() << ": " << listing.detail);
  BOOST_TEST_REQUIRE(listing.tools.size() == 2u);
  BOOST_TEST(listing.tools[0].name == "alpha");
  BOOST_TEST(listing.tools[1].name == "beta");
  const auto requests = upstream.requests();
  const std::vector<std::string> expected{"initialize", "notifications/initialized", "tools/list", "DELETE"};
  BOOST_TEST(rpc_methods(requests) == expected, boost::test_tools::per_element());
  BOOST_TEST(requests.at(3).session_id == "s-sse");
}

BOOST_AUTO_TEST_CASE(pagination_collects_every_page_in_order) {
  mcp_upstream upstream([](const received& r) -> std::optional<std::string> {
    if (r.method == "DELETE") return http_answer(200, {}, {});
    const std::string m = r.rpc_method();
    if (m == "initialize") return json_answer(result_for(r, init_result()), "Mcp-Session-Id: p\r\n");
    if (m == "notifications/initialized") return accepted();
    const std::string cursor = r.cursor();
    if (cursor.empty()) {
      return json_answer(result_for(r, json::object{{"tools", json::array{tool("t1"), tool("t2")}},
                                                    {"nextCursor", "c1"}}));
    }
    if (cursor == "c1") {
      return json_answer(result_for(r, json::object{{"tools", json::array{tool("t3")}}, {"nextCursor", "c2"}}));
    }
    if (cursor == "c2") return json_answer(result_for(r, json::object{{"tools", json::array{tool("t4"), tool("t5")}}}));
    return http_answer(400, "application/json", "{}");
  });
  const auto listing = list(upstream.url());
  BOOST_TEST_REQUIRE(!listing.ec, listing.ec.message() << ": " << listing.detail);
  std::vector<std::string> names;
  for (const auto& t : listing.tools) names.push_back(t.name);
  const std::vector<std::string> expected{"t1", "t2", "t3", "t4", "t5"};
  BOOST_TEST(names == expected, boost::test_tools::per_element());

  const auto requests = upstream.requests();
  BOOST_TEST_REQUIRE(requests.size() == 6u);
  BOOST_TEST(requests[2].cursor() == "");
  BOOST_TEST(requests[3].cursor() == "c1");
  BOOST_TEST(requests[4].cursor() == "c2");
  BOOST_TEST(requests[5].method == "DELETE");
}

BOOST_AUTO_TEST_CASE(a_repeated_cursor_is_an_error) {
  mcp_upstream upstream([](const received& r) -> std::optional<std::string> {
    if (r.method == "DELETE") return http_answer(200, {}, {});
    const std::string m = r.rpc_method();
    if (m == "initialize") return json_answer(result_for(r, init_result()), "Mcp-Session-Id: loop\r\n");
    if (m == "notifications/initialized") return accepted();
    // c1 -> c2 -> c1 -> ...
    const std::string next = r.cursor() == "c1" ? "c2" : "c1";
    return json_answer(result_for(r, json::object{{"tools", json::array{tool("x")}}, {"nextCursor", next}}));
  });
  const auto listing = list(upstream.url());
  BOOST_TEST((listing.ec == mcp_client_error::cursor_loop), listing.ec.message());
  BOOST_TEST(listing.detail.find("tools/list") == 0u, listing.detail);
  BOOST_TEST(listing.tools.empty());
  const auto requests = upstream.requests();
  BOOST_TEST(requests.size() == 6u);  // initialize, initialized, 3 pages, DELETE
  BOOST_TEST(requests.back().method == "DELETE");
}

BOOST_AUTO_TEST_CASE(more_pages_than_max_pages_is_an_error) {
  std::atomic<int> pages{0};
  mcp_upstream upstream([&pages](const received& r) -> std::optional<std::string> {
    if (r.method == "DELETE") return http_answer(200, {}, {});
    const std::string m = r.rpc_method();
    if (m == "initialize") return json_answer(result_for(r, init_result()));
    if (m == "notifications/initialized") return accepted();
    const std::string next = "c" + std::to_string(++pages);
    return json_answer(result_for(r, json::object{{"tools", json::array()}, {"nextCursor", next}}));
  });
  const auto listing = list(upstream.url(), "", mcp_client_options{5s, 3, 1024 * 1024});
  BOOST_TEST((listing.ec == mcp_client_error::too_many_pages), listing.ec.message());
  BOOST_TEST(pages == 3);
}

BOOST_AUTO_TEST_CASE(authorization_carries_the_credential_on_every_request) {
  mcp_upstream upstream(simple_upstream(json::array{tool("a")}));
  const auto listing = list(upstream.url(), "tok-42");
  BOOST_TEST_REQUIRE(!listing.ec, listing.ec.message() << ": " << listing.detail);
  const auto requests = upstream.requests();
  BOOST_TEST_REQUIRE(requests.size() == 4u);
  for (const auto& r : requests) BOOST_TEST(r.authorization == "Bearer tok-42");
}

BOOST_AUTO_TEST_CASE(no_authorization_without_a_credential) {
  mcp_upstream upstream(simple_upstream(json::array{tool("a")}));
  const auto listing = list(upstream.url(), "");
  BOOST_TEST_REQUIRE(!listing.ec, listing.ec.message() << ": " << listing.detail);
  const auto requests = upstream.requests();
  BOOST_TEST_REQUIRE(requests.size() == 4u);
  for (const auto& r : requests) BOOST_TEST(!r.has_authorization);
}

BOOST_AUTO_TEST_CASE(a_credential_with_a_line_break_is_refused_before_sending) {
  mcp_upstream upstream(simple_upstream(json::array{tool("a")}));
  const auto listing = list(upstream.url(), "abc\r\nX-Injected: 1");
  BOOST_TEST((listing.ec == mcp_client_error::invalid_credential), listing.ec.message());
  BOOST_TEST(listing.detail.find("abc") == std::string::npos, listing.detail);
  BOOST_TEST(upstream.requests().empty());
}

BOOST_AUTO_TEST_CASE(jsonrpc_error_on_tools_list_is_an_error) {
  mcp_upstream upstream([](const received& r) -> std::optional<std::string> {
    if (r.method == "DELETE") return http_answer(200, {}, {});
    const std::string m = r.rpc_method();
    if (m == "initialize") return json_answer(result_for(r, init_result()), "Mcp-Session-Id: e\r\n");
    if (m == "notifications/initialized") return accepted();
    // The message echoes the credential: it must not reach the detail.
    return json_answer(json::serialize(
        json::object{{"jsonrpc", "2.0"},
                     {"id", r.rpc_id()},
                     {"error", json::object{{"code", -32603}, {"message", "backend down for upstream-secret"}}}}));
  });
  const auto listing = list(upstream.url());
  BOOST_TEST((listing.ec == mcp_client_error::jsonrpc_error), listing.ec.message());
  BOOST_TEST(listing.detail.find("tools/list") == 0u, listing.detail);
  BOOST_TEST(listing.detail.find("-32603") != std::string::npos, listing.detail);
  BOOST_TEST(listing.detail.find("backend down") != std::string::npos, listing.detail);
  BOOST_TEST(listing.detail.find("upstream-secret") == std::string::npos, listing.detail);
  BOOST_TEST(listing.tools.empty());
  BOOST_TEST(upstream.requests().back().method == "DELETE");  // the session is still ended
}

BOOST_AUTO_TEST_CASE(http_401_on_initialize_is_unauthorized) {
  mcp_upstream upstream([](const received&) -> std::optional<std::string> {
    return http_answer(401, "application/json", R"({"error":"invalid_token"})",
                       "WWW-Authenticate: Bearer error=\"invalid_token\"\r\n");
  });
  const auto listing = list(upstream.url());
  BOOST_TEST((listing.ec == mcp_client_error::unauthorized), listing.ec.message());
  BOOST_TEST(listing.detail.find("initialize") == 0u, listing.detail);
  BOOST_TEST(listing.detail.find("401") != std::string::npos, listing.detail);
  BOOST_TEST(listing.detail.find("upstream-secret") == std::string::npos, listing.detail);
  BOOST_TEST(upstream.requests().size() == 1u);  // nothing after a refused initialize
}

BOOST_AUTO_TEST_CASE(http_500_names_the_step) {
  mcp_upstream upstream([](const received& r) -> std::optional<std::string> {
    if (r.method == "DELETE") return http_answer(200, {}, {});
    const std::string m = r.rpc_method();
    if (m == "initialize") return json_answer(result_for(r, init_result()));
    if (m == "notifications/initialized") return accepted();
    return http_answer(500, "text/plain", "boom");
  });
  const auto listing = list(upstream.url());
  BOOST_TEST((listing.ec == mcp_client_error::http_status), listing.ec.message());
  BOOST_TEST(listing.detail == "tools/list: upstream answered HTTP 500");
}

BOOST_AUTO_TEST_CASE(http_error_on_initialized_names_the_step) {
  mcp_upstream upstream([](const received& r) -> std::optional<std::string> {
    if (r.rpc_method() == "initialize") return json_answer(result_for(r, init_result()));
    return http_answer(400, "application/json", R"({"error":"bad"})");
  });
  const auto listing = list(upstream.url());
  BOOST_TEST((listing.ec == mcp_client_error::http_status), listing.ec.message());
  BOOST_TEST(listing.detail == "notifications/initialized: upstream answered HTTP 400");
}

BOOST_AUTO_TEST_CASE(a_silent_upstream_times_out_within_step_timeout) {
  mcp_upstream upstream([](const received& r) -> std::optional<std::string> {
    if (r.rpc_method() == "initialize") return json_answer(result_for(r, init_result()), "Mcp-Session-Id: z\r\n");
    if (r.rpc_method() == "notifications/initialized") return accepted();
    return std::nullopt;  // tools/list: never answered
  });
  const auto started = std::chrono::steady_clock::now();
  const auto listing = list(upstream.url(), "upstream-secret", mcp_client_options{300ms, 100, 1024 * 1024});
  const auto took = std::chrono::steady_clock::now() - started;
  BOOST_TEST((listing.ec == client_error::timeout), listing.ec.message() << ": " << listing.detail);
  BOOST_TEST(listing.detail.find("tools/list") == 0u, listing.detail);
  BOOST_TEST((took >= 300ms));
  BOOST_TEST((took < 5s));
  // No DELETE after a timeout: the upstream is not answering.
  BOOST_TEST(upstream.requests().back().rpc_method() == "tools/list");
}

BOOST_AUTO_TEST_CASE(an_sse_stream_that_goes_silent_times_out) {
  mcp_upstream upstream([](const received& r) -> std::optional<std::string> {
    if (r.rpc_method() == "initialize") {
      // A notification, then nothing (the response never comes).
      return sse_answer({"data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\"}\n\n"}, /*end=*/false);
    }
    return http_answer(400, "application/json", "{}");
  });
  const auto listing = list(upstream.url(), "", mcp_client_options{300ms, 100, 1024 * 1024});
  BOOST_TEST((listing.ec == client_error::timeout), listing.ec.message() << ": " << listing.detail);
  BOOST_TEST(listing.detail.find("initialize") == 0u, listing.detail);
}

BOOST_AUTO_TEST_CASE(an_unreachable_upstream_is_an_error_naming_initialize) {
  const auto url = mcpgate::net::parse_url("http://127.0.0.1:" + std::to_string(mcpgate::test::closed_port()) + "/mcp");
  BOOST_TEST_REQUIRE(url.has_value());
  const auto listing = list(*url);
  BOOST_TEST(listing.ec.failed());
  BOOST_TEST((listing.ec != mcp_client_error::unauthorized));
  BOOST_TEST(listing.detail.find("initialize") == 0u, listing.detail);
}

BOOST_AUTO_TEST_CASE(a_malformed_answer_is_an_error) {
  mcp_upstream upstream([](const received& r) -> std::optional<std::string> {
    if (r.rpc_method() == "initialize") return json_answer(result_for(r, init_result()));
    if (r.rpc_method() == "notifications/initialized") return accepted();
    return json_answer("{\"jsonrpc\":\"2.0\",\"id\":");  // cut short
  });
  const auto listing = list(upstream.url());
  BOOST_TEST((listing.ec == mcp_client_error::malformed_answer), listing.ec.message());
  BOOST_TEST(listing.detail.find("tools/list") == 0u, listing.detail);
}

BOOST_AUTO_TEST_CASE(an_html_answer_is_malformed) {
  mcp_upstream upstream([](const received&) -> std::optional<std::string> {
    return http_answer(200, "text/html", "<html></html>");
  });
  const auto listing = list(upstream.url());
  BOOST_TEST((listing.ec == mcp_client_error::malformed_answer), listing.ec.message());
  BOOST_TEST(listing.detail.find("initialize") == 0u, listing.detail);
  BOOST_TEST(listing.detail.find("text/html") != std::string::npos, listing.detail);
}

BOOST_AUTO_TEST_CASE(an_answer_over_max_answer_bytes_is_an_error) {
  json::array many;
  for (int i = 0; i < 200; ++i) many.push_back(tool("tool-number-" + std::to_string(i)));
  mcp_upstream upstream(simple_upstream(std::move(many)));
  const auto listing = list(upstream.url(), "", mcp_client_options{5s, 100, 4096});
  BOOST_TEST((listing.ec == mcp_client_error::answer_too_large), listing.ec.message());
  BOOST_TEST(listing.detail.find("tools/list") == 0u, listing.detail);
}

BOOST_AUTO_TEST_CASE(tools_without_names_are_skipped_and_titles_fall_back) {
  json::array tools{
      json::object{{"description", "no name"}},
      json::object{{"name", 42}},
      json::object{{"name", "titled"}, {"title", "Own Title"}, {"annotations", json::object{{"title", "Ann"}}}},
      json::object{{"name", "annotated"},
                   {"annotations", json::object{{"title", "From Annotations"}, {"readOnlyHint", true}}}},
      json::object{{"name", "bare"}},
      "not an object",
      json::object{{"name", "titled"}, {"description", "a duplicate"}},
  };
  mcp_upstream upstream(simple_upstream(std::move(tools)));
  const auto listing = list(upstream.url());
  BOOST_TEST_REQUIRE(!listing.ec, listing.ec.message() << ": " << listing.detail);
  BOOST_TEST_REQUIRE(listing.tools.size() == 3u);
  BOOST_TEST(listing.tools[0].name == "titled");
  BOOST_TEST(listing.tools[0].title == "Own Title");
  BOOST_TEST(listing.tools[0].description == "");
  BOOST_TEST(listing.tools[1].name == "annotated");
  BOOST_TEST(listing.tools[1].title == "From Annotations");
  BOOST_TEST(json::parse(listing.tools[1].annotations) ==
             json::parse(R"({"title":"From Annotations","readOnlyHint":true})"));
  BOOST_TEST(listing.tools[2].name == "bare");
  BOOST_TEST(listing.tools[2].title == "");
  BOOST_TEST(listing.tools[2].input_schema == "{}");
  BOOST_TEST(listing.tools[2].annotations == "{}");
}

BOOST_AUTO_TEST_CASE(a_server_without_the_tools_capability_has_no_tools) {
  mcp_upstream upstream([](const received& r) -> std::optional<std::string> {
    if (r.rpc_method() == "initialize") {
      return json_answer(result_for(r,
                                    json::object{{"protocolVersion", "2025-06-18"}, {"capabilities", json::object()}}));
    }
    if (r.rpc_method() == "notifications/initialized") return accepted();
    return json_answer(json::serialize(json::object{{"jsonrpc", "2.0"},
                                                    {"id", r.rpc_id()},
                                                    {"error", json::object{{"code", -32601}, {"message", "no"}}}}));
  });
  const auto listing = list(upstream.url());
  BOOST_TEST_REQUIRE(!listing.ec, listing.ec.message() << ": " << listing.detail);
  BOOST_TEST(listing.tools.empty());
}

BOOST_AUTO_TEST_SUITE_END()

// ===========================================================================
// The two eras.

namespace {

// A JSON-RPC error answer to `r` (id null when `r` had none).
std::string rpc_error_body(const received& r, std::int64_t code, std::string_view message,
                           json::object data = json::object()) {
  json::object error{{"code", code}, {"message", message}};
  if (!data.empty()) error["data"] = std::move(data);
  return json::serialize(json::object{{"jsonrpc", "2.0"}, {"id", r.rpc_id()}, {"error", std::move(error)}});
}

// What a server answers a method it does not have: HTTP 404 with -32601.
std::string not_found(const received& r) {
  return http_answer(404, "application/json", rpc_error_body(r, -32601, "Method not found"));
}

// A 2026 server's answer to a request in another revision.
std::string unsupported_version(const received& r) {
  return http_answer(400, "application/json",
                     rpc_error_body(r, -32022, "Unsupported protocol version",
                                    json::object{{"supported", json::array{modern_version}}}));
}

// What the TypeScript SDK's session-keeping server (2025) answers a request
// other than initialize that has no session: 400, -32000, id null.
std::string no_session(const received&) {
  return http_answer(
      400, "application/json",
      R"({"jsonrpc":"2.0","error":{"code":-32000,"message":"Bad Request: No valid session ID provided"},)"
      R"("id":null})");
}

json::object tools_capability() { return json::object{{"tools", json::object{{"listChanged", true}}}}; }

json::object discover_result(json::array versions = json::array{modern_version},
                             json::object capabilities = tools_capability()) {
  return json::object{{"resultType", "complete"},
                      {"supportedVersions", std::move(versions)},
                      {"capabilities", std::move(capabilities)},
                      {"serverInfo", json::object{{"name", "modern"}, {"version", "1"}}},
                      {"ttlMs", 60000},
                      {"cacheScope", "public"}};
}

// tools/list in the 2026 form: pages[0] without a cursor, pages[i] for the
// cursor "c<i>", each with nextCursor "c<i+1>" while there are more.
std::string modern_page(const received& r, const std::vector<json::array>& pages) {
  const std::string cursor = r.cursor();
  std::size_t page = 0;
  if (!cursor.empty()) {
    page = cursor.size() > 1 && cursor[0] == 'c' ? std::stoul(cursor.substr(1)) : pages.size();
  }
  if (page >= pages.size()) {
    return http_answer(400, "application/json", rpc_error_body(r, -32602, "Invalid cursor"));
  }
  json::object result{{"resultType", "complete"}, {"tools", pages[page]}, {"ttlMs", 60000}, {"cacheScope", "public"}};
  if (page + 1 < pages.size()) result["nextCursor"] = "c" + std::to_string(page + 1);
  return json_answer(result_for(r, result));
}

// A server of the 2026 revision only: server/discover and stateless
// tools/list (without `pages`, a server without tools: an unknown method);
// initialize is an unknown method; a request in another revision (no
// MCP-Protocol-Version 2026-07-28) is refused with -32022.
responder modern_only(std::vector<json::array> pages, json::object capabilities = tools_capability()) {
  return [pages = std::move(pages),
          capabilities = std::move(capabilities)](const received& r) -> std::optional<std::string> {
    if (r.method != "POST") return http_answer(405, {}, {}, "Allow: POST\r\n");
    const std::string m = r.rpc_method();
    if (m == "initialize") return not_found(r);
    if (r.protocol_version != modern_version) return unsupported_version(r);
    if (m == "server/discover")
      return json_answer(result_for(r, discover_result(json::array{modern_version}, capabilities)));
    if (m == "tools/list" && !pages.empty()) return modern_page(r, pages);
    return not_found(r);  // no pages: a server without tools
  };
}

// A server of the 2025 revision that keeps sessions: initialize opens one
// ("sess-1"); any other request without it gets no_session(); the
// server/discover probe gets `on_discover` (no_session() unless said).
responder legacy_only(json::array tools, std::function<std::string(const received&)> on_discover = no_session) {
  return [legacy = simple_upstream(std::move(tools)),
          on_discover = std::move(on_discover)](const received& r) -> std::optional<std::string> {
    const std::string m = r.rpc_method();
    if (m == "server/discover") return on_discover(r);
    if (r.method == "POST" && m != "initialize" && !r.has_session_id) return no_session(r);
    return legacy(r);
  };
}

// A server of both eras on one endpoint, per request: one that names
// 2026-07-28 is answered as modern_only(), with `modern_tools`; any other
// as legacy_only(), with `legacy_tools`.
responder dual(json::array modern_tools, json::array legacy_tools) {
  return [modern = modern_only({std::move(modern_tools)}),
          legacy = legacy_only(std::move(legacy_tools))](const received& r) -> std::optional<std::string> {
    return r.protocol_version == modern_version ? modern(r) : legacy(r);
  };
}

std::vector<std::string> names_of(const tools_listing& listing) {
  std::vector<std::string> out;
  for (const auto& t : listing.tools) out.push_back(t.name);
  return out;
}

mcp_client_options knowing(std::string_view version) {
  mcp_client_options options{5s, 100, 16 * 1024 * 1024};
  options.known_version = std::string(version);
  return options;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(mcp_client_eras)

BOOST_AUTO_TEST_CASE(a_2026_only_server_is_discovered_and_listed_statelessly_through_every_page) {
  mcp_upstream upstream(modern_only({json::array{tool("t1"), tool("t2")}, json::array{tool("t3")},
                                     json::array{tool("t4"), tool("t5")}}));
  const auto listing = list_with(upstream.url());
  BOOST_TEST_REQUIRE(!listing.ec, listing.ec.message() << ": " << listing.detail);
  BOOST_TEST(names_of(listing) == (std::vector<std::string>{"t1", "t2", "t3", "t4", "t5"}),
             boost::test_tools::per_element());
  BOOST_TEST(listing.protocol_version == "2026-07-28");

  // No initialize, no session, no DELETE: discover, then one request a page.
  const auto requests = upstream.requests();
  const std::vector<std::string> expected{"server/discover", "tools/list", "tools/list", "tools/list"};
  BOOST_TEST(rpc_methods(requests) == expected, boost::test_tools::per_element());
  BOOST_TEST_REQUIRE(requests.size() == 4u);
  BOOST_TEST(requests[1].cursor() == "");
  BOOST_TEST(requests[2].cursor() == "c1");
  BOOST_TEST(requests[3].cursor() == "c2");
}

BOOST_AUTO_TEST_CASE(every_modern_request_carries_the_2026_meta_and_headers) {
  mcp_upstream upstream(modern_only({json::array{tool("a")}, json::array{tool("b")}}));
  const auto listing = list_with(upstream.url(), "tok-7");
  BOOST_TEST_REQUIRE(!listing.ec, listing.ec.message() << ": " << listing.detail);

  const auto requests = upstream.requests();
  BOOST_TEST_REQUIRE(requests.size() == 3u);
  std::vector<json::value> ids;
  for (const auto& r : requests) {
    BOOST_TEST_CONTEXT(r.rpc_method() << " " << json::serialize(r.body)) {
      BOOST_TEST(r.method == "POST");
      BOOST_TEST(r.protocol_version == "2026-07-28");
      BOOST_TEST(r.has_mcp_method);
      BOOST_TEST(r.mcp_method == r.rpc_method());
      BOOST_TEST(!r.has_session_id);
      BOOST_TEST(r.authorization == "Bearer tok-7");
      BOOST_TEST(r.accept == "application/json, text/event-stream");
      BOOST_TEST(r.content_type == "application/json");
      const json::object* meta = r.meta();
      BOOST_TEST_REQUIRE(meta != nullptr);
      BOOST_TEST(meta->at("io.modelcontextprotocol/protocolVersion") == json::value("2026-07-28"));
      BOOST_TEST(meta->at("io.modelcontextprotocol/clientCapabilities").is_object());
      const auto& info = meta->at("io.modelcontextprotocol/clientInfo");
      BOOST_TEST(info.at("name") == json::value("mcpgate"));
      BOOST_TEST(info.at("version").is_string());
      ids.push_back(r.rpc_id());
    }
  }
  BOOST_TEST(requests[2].cursor() == "c1");  // the cursor and _meta side by side
  BOOST_TEST((ids[0] != ids[1] && ids[1] != ids[2] && ids[0] != ids[2]));
}

BOOST_AUTO_TEST_CASE(a_2025_only_server_falls_back_to_the_handshake) {
  // How servers of the earlier revisions refuse the probe.
  const std::vector<std::pair<std::string, std::function<std::string(const received&)>>> refusals{
      {"400, -32000, id null (no session)", no_session},
      {"404, -32601", not_found},
      {"404 without a body", [](const received&) { return http_answer(404, {}, {}); }},
      {"405", [](const received&) { return http_answer(405, {}, {}, "Allow: GET\r\n"); }},
      {"400, -32022 naming 2025 revisions only",
       [](const received& r) {
         return http_answer(400, "application/json",
                            rpc_error_body(r, -32022, "Unsupported protocol version",
                                           json::object{{"supported", json::array{"2025-03-26", "2025-06-18"}}}));
       }},
      {"200, -32601", [](const received& r) { return json_answer(rpc_error_body(r, -32601, "Method not found")); }},
      {"200, -32602 (a request it cannot validate)",
       [](const received& r) { return json_answer(rpc_error_body(r, -32602, "Invalid request parameters")); }},
      {"200, a result naming no 2026 revision",
       [](const received& r) { return json_answer(result_for(r, discover_result(json::array{"2025-06-18"}))); }},
      {"200, an empty result", [](const received& r) { return json_answer(result_for(r, json::object())); }},
  };
  for (const auto& [name, refusal] : refusals) {
    BOOST_TEST_CONTEXT(name) {
      mcp_upstream upstream(legacy_only(json::array{tool("old")}, refusal));
      const auto listing = list_with(upstream.url());
      BOOST_TEST_REQUIRE(!listing.ec, listing.ec.message() << ": " << listing.detail);
      BOOST_TEST(names_of(listing) == std::vector<std::string>{"old"}, boost::test_tools::per_element());
      BOOST_TEST(listing.protocol_version == "2025-06-18");
      const auto requests = upstream.requests();
      const std::vector<std::string> expected{"server/discover", "initialize", "notifications/initialized",
                                              "tools/list", "DELETE"};
      BOOST_TEST(rpc_methods(requests) == expected, boost::test_tools::per_element());
      BOOST_TEST_REQUIRE(requests.size() == expected.size());
      // The handshake is today's: nothing of the probe's era goes with it.
      const auto& init = requests[1];
      BOOST_TEST(!init.has_protocol_version);
      BOOST_TEST(!init.has_mcp_method);
      BOOST_TEST(init.meta() == nullptr);
      BOOST_TEST(init.body.at("params").at("protocolVersion") == json::value("2025-06-18"));
      BOOST_TEST(requests[3].session_id == "sess-1");
      BOOST_TEST(requests[3].protocol_version == "2025-06-18");
    }
  }
}

BOOST_AUTO_TEST_CASE(a_dual_server_is_spoken_to_in_2026_and_never_initialized) {
  mcp_upstream upstream(dual(json::array{tool("shared"), tool("only_2026")}, json::array{tool("shared")}));
  const auto listing = list_with(upstream.url());
  BOOST_TEST_REQUIRE(!listing.ec, listing.ec.message() << ": " << listing.detail);
  BOOST_TEST(names_of(listing) == (std::vector<std::string>{"shared", "only_2026"}), boost::test_tools::per_element());
  BOOST_TEST(listing.protocol_version == "2026-07-28");
  const std::vector<std::string> expected{"server/discover", "tools/list"};
  BOOST_TEST(rpc_methods(upstream.requests()) == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(sse_answers_are_read_in_the_modern_era_too) {
  mcp_upstream upstream([](const received& r) -> std::optional<std::string> {
    const std::string m = r.rpc_method();
    const std::string note = R"({"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info"}})";
    if (m == "server/discover")
      return sse_answer({"data: " + note + "\n\n", "data: " + result_for(r, discover_result()) + "\n\n"}, false);
    if (m == "tools/list") {
      const json::object result{{"resultType", "complete"}, {"tools", json::array{tool("streamed")}}};
      return sse_answer({": keep-alive\n\n", "data: " + result_for(r, result) + "\n\n"});
    }
    return not_found(r);
  });
  const auto listing = list_with(upstream.url());
  BOOST_TEST_REQUIRE(!listing.ec, listing.ec.message() << ": " << listing.detail);
  BOOST_TEST(names_of(listing) == std::vector<std::string>{"streamed"}, boost::test_tools::per_element());
  BOOST_TEST(listing.protocol_version == "2026-07-28");
}

BOOST_AUTO_TEST_CASE(a_2026_server_without_tools_has_none) {
  mcp_upstream upstream(modern_only({}, json::object{{"prompts", json::object()}}));
  const auto listing = list_with(upstream.url());
  BOOST_TEST_REQUIRE(!listing.ec, listing.ec.message() << ": " << listing.detail);
  BOOST_TEST(listing.tools.empty());
  BOOST_TEST(listing.protocol_version == "2026-07-28");
  const std::vector<std::string> expected{"server/discover", "tools/list"};
  BOOST_TEST(rpc_methods(upstream.requests()) == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(http_401_on_discover_is_unauthorized_without_a_fallback) {
  mcp_upstream upstream([](const received&) -> std::optional<std::string> {
    return http_answer(401, "application/json", R"({"error":"invalid_token"})",
                       "WWW-Authenticate: Bearer error=\"invalid_token\"\r\n");
  });
  const auto listing = list_with(upstream.url());
  BOOST_TEST((listing.ec == mcp_client_error::unauthorized), listing.ec.message());
  BOOST_TEST(listing.detail.find("server/discover") == 0u, listing.detail);
  BOOST_TEST(listing.detail.find("upstream-secret") == std::string::npos, listing.detail);
  BOOST_TEST(rpc_methods(upstream.requests()) == std::vector<std::string>{"server/discover"},
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(what_no_legacy_server_answers_fails_the_probe_without_a_fallback) {
  const std::vector<std::tuple<std::string, std::function<std::string(const received&)>, mcp_client_error>> answers{
      {"400, -32021 (a 2026 server wants a capability)",
       [](const received& r) {
         return http_answer(400, "application/json", rpc_error_body(r, -32021, "Missing required client capability"));
       },
       mcp_client_error::http_status},
      {"400, -32020 (a 2026 server found a header wrong)",
       [](const received& r) {
         return http_answer(400, "application/json", rpc_error_body(r, -32020, "Header mismatch"));
       },
       mcp_client_error::http_status},
      {"200, -32022 naming 2026-07-28",
       [](const received& r) {
         return json_answer(rpc_error_body(r, -32022, "Unsupported protocol version",
                                           json::object{{"supported", json::array{modern_version}}}));
       },
       mcp_client_error::jsonrpc_error},
      {"500", [](const received&) { return http_answer(500, "text/plain", "boom"); }, mcp_client_error::http_status},
      {"403", [](const received&) { return http_answer(403, {}, {}); }, mcp_client_error::http_status},
      {"200, text/html", [](const received&) { return http_answer(200, "text/html", "<html></html>"); },
       mcp_client_error::malformed_answer},
  };
  for (const auto& [name, answer, expected] : answers) {
    BOOST_TEST_CONTEXT(name) {
      mcp_upstream upstream([answer = answer](const received& r) -> std::optional<std::string> { return answer(r); });
      const auto listing = list_with(upstream.url());
      BOOST_TEST((listing.ec == expected), listing.ec.message() << ": " << listing.detail);
      BOOST_TEST(listing.detail.find("server/discover") == 0u, listing.detail);
      BOOST_TEST(upstream.requests().size() == 1u);
    }
  }
}

BOOST_AUTO_TEST_CASE(the_json_rpc_error_of_a_refusal_is_in_the_detail) {
  mcp_upstream upstream([](const received& r) -> std::optional<std::string> {
    return http_answer(400, "application/json", rpc_error_body(r, -32021, "Missing required client capability"));
  });
  const auto listing = list_with(upstream.url());
  BOOST_TEST(listing.detail ==
             "server/discover: upstream answered HTTP 400 (JSON-RPC error -32021: Missing required client capability)");
}

BOOST_AUTO_TEST_CASE(transport_failures_of_the_probe_are_failures_not_fallbacks) {
  // Unreachable.
  const auto closed =
      mcpgate::net::parse_url("http://127.0.0.1:" + std::to_string(mcpgate::test::closed_port()) + "/mcp");
  BOOST_TEST_REQUIRE(closed.has_value());
  const auto unreachable = list_with(*closed);
  BOOST_TEST(unreachable.ec.failed());
  BOOST_TEST(unreachable.detail.find("server/discover") == 0u, unreachable.detail);

  // Silent: a timeout, and nothing after it.
  mcp_upstream silent([](const received&) -> std::optional<std::string> { return std::nullopt; });
  const auto timed_out = list_with(silent.url(), "", mcp_client_options{300ms, 100, 1024 * 1024});
  BOOST_TEST((timed_out.ec == client_error::timeout), timed_out.ec.message() << ": " << timed_out.detail);
  BOOST_TEST(timed_out.detail.find("server/discover") == 0u, timed_out.detail);
  BOOST_TEST(silent.requests().size() == 1u);
}

BOOST_AUTO_TEST_CASE(a_modern_tools_list_failure_after_discovery_is_not_a_fallback) {
  mcp_upstream upstream([](const received& r) -> std::optional<std::string> {
    if (r.rpc_method() == "server/discover") return json_answer(result_for(r, discover_result()));
    return http_answer(500, "text/plain", "boom");
  });
  const auto listing = list_with(upstream.url());
  BOOST_TEST((listing.ec == mcp_client_error::http_status), listing.ec.message());
  BOOST_TEST(listing.detail == "tools/list: upstream answered HTTP 500");
  const std::vector<std::string> expected{"server/discover", "tools/list"};
  BOOST_TEST(rpc_methods(upstream.requests()) == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(page_limits_hold_in_the_modern_era) {
  // c1 -> c2 -> c1: a loop.
  mcp_upstream looping([](const received& r) -> std::optional<std::string> {
    if (r.rpc_method() == "server/discover") return json_answer(result_for(r, discover_result()));
    const std::string next = r.cursor() == "c1" ? "c2" : "c1";
    return json_answer(result_for(r, json::object{{"tools", json::array{tool("x")}}, {"nextCursor", next}}));
  });
  const auto loop = list_with(looping.url());
  BOOST_TEST((loop.ec == mcp_client_error::cursor_loop), loop.ec.message());
  BOOST_TEST(looping.requests().size() == 4u);  // discover, 3 pages

  std::atomic<int> pages{0};
  mcp_upstream endless([&pages](const received& r) -> std::optional<std::string> {
    if (r.rpc_method() == "server/discover") return json_answer(result_for(r, discover_result()));
    return json_answer(result_for(r, json::object{{"tools", json::array()},
                                                  {"nextCursor", "c" + std::to_string(++pages)}}));
  });
  const auto many = list_with(endless.url(), "", mcp_client_options{5s, 3, 1024 * 1024});
  BOOST_TEST((many.ec == mcp_client_error::too_many_pages), many.ec.message());
  BOOST_TEST(pages == 3);
}

// --- reuse of the recorded version -----------------------------------------------

BOOST_AUTO_TEST_CASE(a_recorded_2026_version_lists_at_once_without_discover) {
  mcp_upstream upstream(modern_only({json::array{tool("a")}, json::array{tool("b")}}));
  const auto listing = list_with(upstream.url(), "upstream-secret", knowing(modern_version));
  BOOST_TEST_REQUIRE(!listing.ec, listing.ec.message() << ": " << listing.detail);
  BOOST_TEST(names_of(listing) == (std::vector<std::string>{"a", "b"}), boost::test_tools::per_element());
  BOOST_TEST(listing.protocol_version == "2026-07-28");
  const auto requests = upstream.requests();
  const std::vector<std::string> expected{"tools/list", "tools/list"};
  BOOST_TEST(rpc_methods(requests) == expected, boost::test_tools::per_element());
  for (const auto& r : requests) BOOST_TEST(r.protocol_version == "2026-07-28");
}

BOOST_AUTO_TEST_CASE(a_recorded_2026_version_that_fails_as_a_legacy_server_probes_again) {
  // The upstream went back to 2025 since the last sync.
  mcp_upstream upstream(legacy_only(json::array{tool("old")}));
  const auto listing = list_with(upstream.url(), "upstream-secret", knowing(modern_version));
  BOOST_TEST_REQUIRE(!listing.ec, listing.ec.message() << ": " << listing.detail);
  BOOST_TEST(names_of(listing) == std::vector<std::string>{"old"}, boost::test_tools::per_element());
  BOOST_TEST(listing.protocol_version == "2025-06-18");
  const std::vector<std::string> expected{"tools/list", "server/discover", "initialize", "notifications/initialized",
                                          "tools/list", "DELETE"};
  BOOST_TEST(rpc_methods(upstream.requests()) == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(a_recorded_2026_version_answered_in_the_2025_form_probes_again) {
  // A 2025 server that does not keep sessions lists without one, with no
  // resultType; it refuses the probe.
  mcp_upstream upstream([legacy = simple_upstream(json::array{tool("old")})](const received& r) {
    return r.rpc_method() == "server/discover" ? std::optional<std::string>(not_found(r)) : legacy(r);
  });
  const auto listing = list_with(upstream.url(), "upstream-secret", knowing(modern_version));
  BOOST_TEST_REQUIRE(!listing.ec, listing.ec.message() << ": " << listing.detail);
  BOOST_TEST(names_of(listing) == std::vector<std::string>{"old"}, boost::test_tools::per_element());
  BOOST_TEST(listing.protocol_version == "2025-06-18");
  const std::vector<std::string> expected{"tools/list", "server/discover", "initialize", "notifications/initialized",
                                          "tools/list", "DELETE"};
  BOOST_TEST(rpc_methods(upstream.requests()) == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(a_2026_server_that_omits_result_type_is_still_listed_after_a_probe) {
  mcp_upstream upstream([](const received& r) -> std::optional<std::string> {
    if (r.rpc_method() == "server/discover") return json_answer(result_for(r, discover_result()));
    return json_answer(result_for(r, json::object{{"tools", json::array{tool("lax")}}}));
  });
  const auto listing = list_with(upstream.url(), "upstream-secret", knowing(modern_version));
  BOOST_TEST_REQUIRE(!listing.ec, listing.ec.message() << ": " << listing.detail);
  BOOST_TEST(names_of(listing) == std::vector<std::string>{"lax"}, boost::test_tools::per_element());
  BOOST_TEST(listing.protocol_version == "2026-07-28");
  const std::vector<std::string> expected{"tools/list", "server/discover", "tools/list"};
  BOOST_TEST(rpc_methods(upstream.requests()) == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(a_recorded_2026_version_refused_with_401_is_unauthorized_without_a_probe) {
  mcp_upstream upstream([](const received&) -> std::optional<std::string> { return http_answer(401, {}, {}); });
  const auto listing = list_with(upstream.url(), "upstream-secret", knowing(modern_version));
  BOOST_TEST((listing.ec == mcp_client_error::unauthorized), listing.ec.message());
  BOOST_TEST(rpc_methods(upstream.requests()) == std::vector<std::string>{"tools/list"},
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(a_recorded_legacy_version_does_the_handshake_first_even_on_a_dual_server) {
  mcp_upstream upstream(dual(json::array{tool("shared"), tool("only_2026")}, json::array{tool("shared")}));
  const auto listing = list_with(upstream.url(), "upstream-secret", knowing(legacy_version));
  BOOST_TEST_REQUIRE(!listing.ec, listing.ec.message() << ": " << listing.detail);
  BOOST_TEST(names_of(listing) == std::vector<std::string>{"shared"}, boost::test_tools::per_element());
  BOOST_TEST(listing.protocol_version == "2025-06-18");
  const std::vector<std::string> expected{"initialize", "notifications/initialized", "tools/list", "DELETE"};
  BOOST_TEST(rpc_methods(upstream.requests()) == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(a_recorded_legacy_version_that_fails_as_a_2026_only_server_probes_with_discover) {
  // The upstream moved to 2026 only since the last sync.
  mcp_upstream upstream(modern_only({json::array{tool("new")}}));
  const auto listing = list_with(upstream.url(), "upstream-secret", knowing(legacy_version));
  BOOST_TEST_REQUIRE(!listing.ec, listing.ec.message() << ": " << listing.detail);
  BOOST_TEST(names_of(listing) == std::vector<std::string>{"new"}, boost::test_tools::per_element());
  BOOST_TEST(listing.protocol_version == "2026-07-28");
  const std::vector<std::string> expected{"initialize", "server/discover", "tools/list"};
  BOOST_TEST(rpc_methods(upstream.requests()) == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(when_neither_era_answers_the_handshakes_failure_is_reported) {
  mcp_upstream upstream([](const received& r) -> std::optional<std::string> { return not_found(r); });
  const auto listing = list_with(upstream.url(), "upstream-secret", knowing(legacy_version));
  BOOST_TEST((listing.ec == mcp_client_error::http_status), listing.ec.message());
  BOOST_TEST(listing.detail == "initialize: upstream answered HTTP 404 (JSON-RPC error -32601: Method not found)");
  const std::vector<std::string> expected{"initialize", "server/discover"};
  BOOST_TEST(rpc_methods(upstream.requests()) == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_SUITE_END()

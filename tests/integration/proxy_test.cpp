// The proxy endpoint, request side: what the upstream receives (exact body,
// forwarded and dropped headers, the stored credential), what the agent gets
// back, the order of the checks (each proven by an upstream that received
// nothing), upstream failures (502, 504, 401), the SSRF check at connect time
// and the DNS-rebinding defence.
#include "fake_upstream.hpp"
#include "mcp_upstream.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/test/unit_test.hpp>

#include <arpa/inet.h>
#include <netdb.h>

#include <cstdio>
#include <memory>
#include <set>
#include <sstream>

using namespace mcpgate::it;

namespace {

const std::string ping = R"({"jsonrpc":"2.0","id":1,"method":"ping"})";

struct short_first_byte_gateway : gateway {
  short_first_byte_gateway()
      : gateway([] {
          gateway_options o = proxy_options();
          o.extra_timeouts = "upstream_first_byte: 1s";
          return o;
        }()) {}
};

struct origins_gateway : gateway {
  origins_gateway()
      : gateway([] {
          gateway_options o = proxy_options();
          o.extra_server_yaml = "  allowed_origins: [\"https://app.example.com\"]\n";
          return o;
        }()) {}
};

// The harness's default: private networks denied (allow_hosts only 127.0.0.1:9).
struct ssrf_gateway : gateway {
  ssrf_gateway() : gateway(gateway_options{}) {}
};

// Names this machine resolves to a loopback address without being refused
// by name ("localhost", "*.local", ...): /etc/hosts entries and the usual
// Debian IPv6 names. Each with the loopback address it resolves to.
std::vector<std::pair<std::string, std::string>> loopback_names() {
  std::set<std::string> names{"ip6-localhost", "ip6-loopback"};
  std::istringstream hosts(read_file("/etc/hosts"));
  for (std::string line; std::getline(hosts, line);) {
    line = line.substr(0, line.find('#'));
    std::istringstream words(line);
    std::string address;
    if (!(words >> address) || !(address.starts_with("127.") || address == "::1")) continue;
    for (std::string name; words >> name;) names.insert(name);
  }
  std::vector<std::pair<std::string, std::string>> found;
  for (const std::string& name : names) {
    if (name == "localhost" || name.ends_with(".localhost") || name.ends_with(".local") ||
        name.ends_with(".internal")) {
      continue;
    }
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* list = nullptr;
    if (::getaddrinfo(name.c_str(), nullptr, &hints, &list) != 0) continue;
    std::string v4, v6;
    bool only_loopback = true;
    for (const addrinfo* a = list; a; a = a->ai_next) {
      char text[INET6_ADDRSTRLEN] = {};
      if (a->ai_family == AF_INET) {
        ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(a->ai_addr)->sin_addr, text, sizeof text);
        if (std::string(text) == "127.0.0.1") v4 = text;
        else only_loopback = false;
      } else if (a->ai_family == AF_INET6) {
        ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(a->ai_addr)->sin6_addr, text, sizeof text);
        if (std::string(text) == "::1") v6 = text;
        else only_loopback = false;
      }
    }
    ::freeaddrinfo(list);
    if (!only_loopback || (v4.empty() && v6.empty())) continue;
    found.emplace_back(name, v4.empty() ? v6 : v4);
  }
  // IPv4 first: the upstream listens on the one address chosen.
  std::stable_sort(found.begin(), found.end(),
                   [](const auto& a, const auto& b) { return a.second != "::1" && b.second == "::1"; });
  return found;
}

std::string header_names(const recorded_request& r) {
  std::string out;
  for (const auto& [name, value] : r.headers) out += name + " ";
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------
BOOST_FIXTURE_TEST_SUITE(proxy_forwarding, proxy_gateway)

BOOST_AUTO_TEST_CASE(post_forwards_exact_bytes_and_allowed_headers_with_the_stored_key_on_both_route_families) {
  fake_upstream upstream;
  const api_key key = create_key("alice", "*");
  auto alice = client(key);
  std::string id;
  {
    // The install's tools sync learns the tool "echo"; approved, a call to it
    // is forwarded.
    mcp_upstream tools(upstream);
    mcp_tool echo;
    echo.name = "echo";
    tools.set_tools({echo});
    id = install_mcp(alice, upstream, upstream.url("/mcp?tenant=t1"), "api_key", "upstream-secret-1");
  }
  const reply approved = alice.patch(item_of(e1, id) + "/tools/echo", json::object{{"approval_state", "approved"}});
  BOOST_TEST_REQUIRE(approved.status == 200u, approved);
  const std::string answer = R"({"jsonrpc":"2.0","id":"abc-1","result":{"content":[{"type":"text","text":"hi"}]}})";
  upstream.on_request([answer](fake_exchange& ex) {
    ex.respond(200, {{"Content-Type", "application/json; charset=utf-8"}, {"Mcp-Session-Id", "upstream-session-9"}},
               answer);
  });

  // Odd spacing, a unicode escape, key order: the bytes must arrive as sent.
  const std::string body =
      R"({"jsonrpc":"2.0", "id":"abc-1","method":"tools/call","params":{"name":"echo","arguments":{"text":"h\u00e9llo  ","n":[1, 2 ,3]}}})";
  const header_list forwarded{{"Content-Type", "application/json"},
                              {"Accept", "application/json, text/event-stream"},
                              {"Mcp-Session-Id", "agent-session-123"},
                              {"MCP-Protocol-Version", "2025-06-18"},
                              {"Mcp-Method", "tools/call"},
                              {"Mcp-Name", "echo"},
                              {"Mcp-Param-X", "x-value"}};
  header_list sent = forwarded;
  sent.emplace_back("X-Custom", "must-not-pass");
  sent.emplace_back("Cookie", "sessionid=agent-cookie");
  sent.emplace_back("Proxy-Authorization", "Basic YWdlbnQ6c2VjcmV0");

  const std::vector<std::string> targets{proxy_path(p1, id, false), proxy_path(p1, id, true), proxy_path(e1, id, false),
                                         proxy_path(e1, id, true)};
  for (std::size_t i = 0; i < targets.size(); ++i) {
    BOOST_TEST_CONTEXT("POST " << targets[i]) {
      const reply r = alice.send("POST", targets[i], body, sent);
      BOOST_TEST(r.status == 200u, r);
      BOOST_TEST(r.header("Content-Type") == "application/json; charset=utf-8");
      BOOST_TEST(r.header("Mcp-Session-Id") == "upstream-session-9");
      BOOST_TEST(r.body == answer);

      BOOST_TEST_REQUIRE(upstream.wait_for_requests(i + 1, io_deadline));
      const recorded_request got = upstream.requests().at(i);
      BOOST_TEST(got.method == "POST");
      BOOST_TEST(got.target == "/mcp?tenant=t1");
      BOOST_TEST(got.body == body, "upstream got body " << hex(got.body.substr(0, 64)));
      BOOST_TEST(got.header_count("Authorization") == 1u, got);
      BOOST_TEST(got.header("Authorization").value_or("<absent>") == "Bearer upstream-secret-1");
      BOOST_TEST(!got.header("Cookie").has_value(), got);
      BOOST_TEST(!got.header("X-Custom").has_value(), got);
      BOOST_TEST(!got.header("Proxy-Authorization").has_value(), got);
      // The upstream is addressed by its own name, not the gateway's.
      BOOST_TEST(got.header("Host").value_or("<absent>") == "127.0.0.1:" + std::to_string(upstream.port()), got);
      for (const auto& [name, value] : forwarded) {
        BOOST_TEST(got.header(name).value_or("<absent>") == value,
                   name << " upstream; got headers: " << header_names(got));
      }
      for (const auto& [name, value] : got.headers) {
        BOOST_TEST(value.find(key.secret) == std::string::npos, "the agent's key reached the upstream in " << name);
      }
    }
  }
  BOOST_TEST(upstream.request_count() == targets.size());
}

BOOST_AUTO_TEST_CASE(auth_type_none_sends_no_authorization_upstream) {
  fake_upstream upstream;
  const api_key key = create_key("alice", "*");
  auto alice = client(key);
  const std::string id = install(alice, upstream, upstream.url("/open"), "none");
  const reply r = alice.send("POST", proxy_path(e1, id), ping, {{"Cookie", "a=b"}});
  BOOST_TEST(r.status == 200u, r);
  BOOST_TEST(r.body == R"({"jsonrpc":"2.0","id":1,"result":{}})");
  BOOST_TEST_REQUIRE(upstream.wait_for_requests(1, io_deadline));
  const recorded_request got = upstream.requests().at(0);
  BOOST_TEST(got.target == "/open");
  BOOST_TEST(got.body == ping);
  BOOST_TEST(got.header_count("Authorization") == 0u, got);
  BOOST_TEST(got.header_count("Cookie") == 0u, got);
}

BOOST_AUTO_TEST_CASE(the_upstreams_status_passes_through) {
  fake_upstream upstream;
  upstream.on_request([](fake_exchange& ex) {
    const std::string& body = ex.request().body;
    if (body.find("notifications/initialized") != std::string::npos) {
      ex.respond(202, {}, "");  // a notification: accepted, no body
    } else if (ex.request().header("Mcp-Session-Id").value_or("") == "expired") {
      ex.respond_json(404, R"({"jsonrpc":"2.0","id":1,"error":{"code":-32001,"message":"Session not found"}})");
    } else {
      ex.respond_json(400, R"({"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Bad Request"}})");
    }
  });
  auto alice = client(create_key("alice", "*"));
  const std::string id = install(alice, upstream, upstream.url(), "none");
  const reply accepted =
      alice.send("POST", proxy_path(e1, id), R"({"jsonrpc":"2.0","method":"notifications/initialized"})", json_headers);
  BOOST_TEST(accepted.status == 202u, accepted);
  BOOST_TEST(accepted.body.empty(), accepted);
  header_list expired = json_headers;
  expired.emplace_back("Mcp-Session-Id", "expired");
  const reply gone = alice.send("POST", proxy_path(e1, id), ping, expired);
  BOOST_TEST(gone.status == 404u, gone);
  BOOST_TEST(gone.body == R"({"jsonrpc":"2.0","id":1,"error":{"code":-32001,"message":"Session not found"}})");
  const reply bad = alice.send("POST", proxy_path(e1, id), ping, json_headers);
  BOOST_TEST(bad.status == 400u, bad);
  BOOST_TEST(bad.body == R"({"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Bad Request"}})");
  BOOST_TEST(upstream.request_count() == 3u);
}

BOOST_AUTO_TEST_CASE(a_chunked_request_body_arrives_upstream_byte_for_byte) {
  fake_upstream upstream;
  const api_key key = create_key("alice", "*");
  auto alice = client(key);
  const std::string id = install(alice, upstream, upstream.url(), "none");
  const std::string body = R"({"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"file:///a b"}})";
  std::string request = "POST " + proxy_path(e1, id) + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port()) +
                        "\r\nAuthorization: Bearer " + key.secret +
                        "\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream"
                        "\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (const std::string& part : {body.substr(0, 7), body.substr(7, 30), body.substr(37)}) {
    char size[16];
    std::snprintf(size, sizeof size, "%zx\r\n", part.size());
    request += size + part + "\r\n";
  }
  request += "0\r\n\r\n";
  agent_stream agent(port());
  BOOST_TEST_REQUIRE(agent.send(request));
  const auto head = agent.read_head();
  BOOST_TEST_REQUIRE(head.has_value());
  BOOST_TEST(head->status == 200u, *head);
  BOOST_TEST(agent.read_rest().value_or("<none>") == R"({"jsonrpc":"2.0","id":1,"result":{}})");
  BOOST_TEST_REQUIRE(upstream.wait_for_requests(1, io_deadline));
  BOOST_TEST(upstream.requests().at(0).body == body);
}

BOOST_AUTO_TEST_CASE(a_batch_is_forwarded_unchanged) {
  fake_upstream upstream;
  const std::string answer =
      R"([{"jsonrpc":"2.0","id":1,"result":{}},{"jsonrpc":"2.0","id":2,"result":{"resources":[]}}])";
  upstream.on_request([answer](fake_exchange& ex) { ex.respond_json(200, answer); });
  auto alice = client(create_key("alice", "*"));
  const std::string id = install(alice, upstream, upstream.url(), "api_key", "k-batch");
  const std::string batch =
      R"([{"jsonrpc":"2.0","id":1,"method":"ping"}, {"jsonrpc":"2.0","id":2,"method":"resources/list","params":{}},)"
      R"( {"jsonrpc":"2.0","method":"notifications/initialized"}])";
  const reply r = alice.send("POST", proxy_path(e1, id), batch, json_headers);
  BOOST_TEST(r.status == 200u, r);
  BOOST_TEST(r.body == answer);
  BOOST_TEST_REQUIRE(upstream.wait_for_requests(1, io_deadline));
  BOOST_TEST(upstream.requests().at(0).body == batch);
  BOOST_TEST(upstream.requests().at(0).header("Authorization").value_or("") == "Bearer k-batch");
}

BOOST_AUTO_TEST_CASE(an_upstream_401_on_an_api_key_installation_is_a_json_rpc_error_not_http_401) {
  fake_upstream upstream;
  upstream.on_request([](fake_exchange& ex) {
    ex.respond(401, {{"Content-Type", "application/json"}, {"WWW-Authenticate", "Bearer realm=\"upstream\""}},
               R"({"error":"invalid_token"})");
  });
  auto alice = client(create_key("alice", "*"));
  const std::string id = install(alice, upstream, upstream.url(), "api_key", "revoked-key");
  const reply r = alice.send("POST", proxy_path(e1, id), R"({"jsonrpc":"2.0","id":42,"method":"resources/list"})",
                             json_headers);
  BOOST_TEST_REQUIRE(r.status == 200u, r);
  BOOST_TEST(r.header("Content-Type").starts_with("application/json"), r);
  BOOST_TEST(r.header("WWW-Authenticate").empty(), r);
  const json::value v = r.json();
  BOOST_TEST_REQUIRE(v.is_object(), r);
  BOOST_TEST(string_of(v, "jsonrpc") == "2.0");
  BOOST_TEST(v.as_object().if_contains("id") != nullptr);
  if (const auto* rid = v.as_object().if_contains("id")) BOOST_TEST(*rid == json::value(42), r);
  const auto* error = v.as_object().if_contains("error");
  BOOST_TEST_REQUIRE((error && error->is_object()), r);
  BOOST_TEST(error->as_object().at("code") == json::value(-32003), r);
  BOOST_TEST(string_of(*error, "message") == "Installation needs re-authentication", r);
  // The upstream was asked, with the stored key.
  BOOST_TEST_REQUIRE(upstream.wait_for_requests(1, io_deadline));
  BOOST_TEST(upstream.requests().at(0).header("Authorization").value_or("") == "Bearer revoked-key");
}

BOOST_AUTO_TEST_CASE(the_reauthentication_answer_echoes_every_request_id_as_written) {
  fake_upstream upstream;
  upstream.on_request([](fake_exchange& ex) {
    ex.respond(401, {{"Content-Type", "application/json"}, {"WWW-Authenticate", "Bearer"}}, R"({"error":"x"})");
  });
  auto alice = client(create_key("alice", "*"));
  const std::string id = install(alice, upstream, upstream.url(), "api_key", "revoked-key");
  // An integer beyond 64 bits, one with an exponent, a string with escapes;
  // the notification gets no answer.
  const std::string batch =
      R"([{"jsonrpc":"2.0","id":123456789012345678901234567890,"method":"ping"},)"
      R"({"jsonrpc":"2.0","id":1.5e3,"method":"ping"},{"jsonrpc":"2.0","id":"a\"b","method":"ping"},)"
      R"({"jsonrpc":"2.0","method":"notifications/initialized"}])";
  const reply r = alice.send("POST", proxy_path(e1, id), batch, json_headers);
  BOOST_TEST_REQUIRE(r.status == 200u, r);
  BOOST_TEST(r.body.find(R"("id":123456789012345678901234567890,)") != std::string::npos, r);
  BOOST_TEST(r.body.find(R"("id":1.5e3,)") != std::string::npos, r);
  const json::value v = r.json();
  BOOST_TEST_REQUIRE(v.is_array(), r);
  BOOST_TEST_REQUIRE(v.as_array().size() == 3u, r);
  BOOST_TEST(v.as_array().at(2).at("id") == json::value("a\"b"), r);
  for (const auto& answer : v.as_array()) BOOST_TEST(answer.at("error").at("code") == json::value(-32003), r);
}

BOOST_AUTO_TEST_CASE(an_upstream_401_for_a_notification_is_409_not_401) {
  fake_upstream upstream;
  upstream.on_request([](fake_exchange& ex) {
    ex.respond(401, {{"Content-Type", "application/json"}, {"WWW-Authenticate", "Bearer"}}, R"({"error":"x"})");
  });
  auto alice = client(create_key("alice", "*"));
  const std::string id = install(alice, upstream, upstream.url(), "api_key", "revoked-key");
  const reply r = alice.send("POST", proxy_path(e1, id), R"({"jsonrpc":"2.0","method":"notifications/initialized"})",
                             json_headers);
  BOOST_TEST(r.status == 409u, r);
  BOOST_TEST(r.header("WWW-Authenticate").empty(), r);
  BOOST_TEST(string_of(r.json(), "error") != "", r);
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------
BOOST_FIXTURE_TEST_SUITE(proxy_checks, proxy_gateway)

BOOST_AUTO_TEST_CASE(agent_key_and_tenancy_problems_answer_like_the_rest_api_and_reach_no_upstream) {
  fake_upstream upstream;
  auto alice = client(create_key("alice", "*"));
  auto limited = client(create_key("alice", "*", "2"));
  auto bob = client(create_key("bob", "*"));
  auto nobody = anonymous();
  const std::string id = install(alice, upstream, upstream.url(), "api_key", "k");
  const std::string target = proxy_path(e1, id);

  BOOST_TEST(is_error(nobody.send("POST", target, ping, json_headers), 401, "authentication_error",
                      "not_authenticated"));
  BOOST_TEST(is_error(nobody.send("GET", target, "", {{"Authorization", "Bearer mcpg_unknown"}}), 401,
                      "authentication_error", "authentication_failed"));
  BOOST_TEST(is_error(alice.send("POST", proxy_path(environments_collection(99), id), ping, json_headers), 404,
                      "invalid_request", "not_found"));
  BOOST_TEST(is_error(alice.send("POST", proxy_path(projects_collection(99), id), ping, json_headers), 404,
                      "invalid_request", "not_found"));
  // The installation lives in environment 1, not 3.
  BOOST_TEST(is_error(alice.send("POST", proxy_path(environments_collection(3), id), ping, json_headers), 404,
                      "invalid_request", "not_found"));
  BOOST_TEST(is_error(limited.send("POST", target, ping, json_headers), 403, "authentication_error",
                      "permission_denied"));
  BOOST_TEST(is_error(bob.send("POST", target, ping, json_headers), 404, "invalid_request", "not_found"));
  BOOST_TEST(is_error(bob.send("GET", target, "", {{"Accept", "text/event-stream"}}), 404, "invalid_request",
                      "not_found"));
  BOOST_TEST(is_error(alice.send("POST", proxy_path(e1, "01900000-0000-7000-8000-000000000000"), ping, json_headers),
                      404, "invalid_request", "not_found"));
  BOOST_TEST(upstream.request_count() == 0u);
  BOOST_TEST(upstream.connections_accepted() == 0);

  // The same request with the right key does reach it.
  BOOST_TEST(alice.send("POST", target, ping, json_headers).status == 200u);
  BOOST_TEST(upstream.request_count() == 1u);
}

BOOST_AUTO_TEST_CASE(a_disabled_installation_is_403_before_the_body_is_looked_at) {
  fake_upstream upstream;
  auto alice = client(create_key("alice", "*"));
  auto bob = client(create_key("bob", "*"));
  const std::string id = install(alice, upstream, upstream.url(), "api_key", "k");
  const std::string target = proxy_path(p1, id);
  const reply off = alice.patch(item_of(e1, id), json::object{{"is_enabled", false}});
  BOOST_TEST_REQUIRE(off.status == 200u, off);

  BOOST_TEST(is_proxy_error(alice.send("POST", target, ping, json_headers), 403, "Server is disabled"));
  BOOST_TEST(is_proxy_error(alice.send("POST", target, "{not json", json_headers), 403, "Server is disabled"));
  BOOST_TEST(is_proxy_error(alice.send("GET", target, "", {{"Accept", "text/event-stream"}}), 403,
                            "Server is disabled"));
  BOOST_TEST(is_proxy_error(alice.send("DELETE", target, "", {{"Mcp-Session-Id", "s"}}), 403, "Server is disabled"));
  // Tenancy comes first: bob learns nothing about it.
  BOOST_TEST(is_error(bob.send("POST", target, ping, json_headers), 404, "invalid_request", "not_found"));
  BOOST_TEST(upstream.request_count() == 0u);

  const reply on = alice.patch(item_of(e1, id), json::object{{"is_enabled", true}});
  BOOST_TEST_REQUIRE(on.status == 200u, on);
  BOOST_TEST(alice.send("POST", target, ping, json_headers).status == 200u);
  BOOST_TEST(upstream.request_count() == 1u);
}

BOOST_AUTO_TEST_CASE(a_body_that_is_not_json_is_400_and_an_oversized_one_413_and_neither_goes_upstream) {
  fake_upstream upstream;
  auto alice = client(create_key("alice", "*"));
  const std::string id = install(alice, upstream, upstream.url(), "api_key", "k");
  const std::string target = proxy_path(e1, id);
  for (const std::string body : {"{not json", "42", "\"text\"", "[1,", "{\"jsonrpc\":\"2.0\"} trailing", "\xff\xfe"}) {
    BOOST_TEST_CONTEXT("body " << hex(body)) {
      BOOST_TEST(is_proxy_error(alice.send("POST", target, body, json_headers), 400,
                                "Request body must be valid JSON"));
    }
  }
  // The gateway's limit is 64 KiB here; this is valid JSON of 70 KB.
  const std::string big = R"({"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":")" + std::string(70'000, 'p') +
                          "\"}}";
  const reply too_big = alice.send("POST", target, big, json_headers);
  BOOST_TEST(is_proxy_error(too_big, 413, "Request body too large"));
  BOOST_TEST(upstream.request_count() == 0u);
  BOOST_TEST(upstream.connections_accepted() == 0);
  // A good body still passes afterwards.
  BOOST_TEST(alice.send("POST", target, ping, json_headers).status == 200u);
  BOOST_TEST(upstream.request_count() == 1u);
}

BOOST_AUTO_TEST_CASE(other_methods_are_405_with_allow) {
  fake_upstream upstream;
  auto alice = client(create_key("alice", "*"));
  const std::string id = install(alice, upstream, upstream.url(), "api_key", "k");
  for (const std::string method : {"PUT", "PATCH"}) {
    BOOST_TEST_CONTEXT(method) {
      const reply r = alice.send(method, proxy_path(e1, id), ping, json_headers);
      BOOST_TEST(r.status == 405u, r);
      std::set<std::string> allowed;
      std::istringstream list(r.header("Allow"));
      for (std::string m; std::getline(list, m, ',');) {
        m.erase(0, m.find_first_not_of(' '));
        m.erase(m.find_last_not_of(' ') + 1);
        allowed.insert(m);
      }
      BOOST_TEST((allowed == std::set<std::string>{"GET", "POST", "DELETE"}), "Allow: " << r.header("Allow"));
    }
  }
  BOOST_TEST(upstream.request_count() == 0u);
}

BOOST_AUTO_TEST_CASE(an_unreachable_upstream_is_502) {
  auto alice = client(create_key("alice", "*"));
  const std::string id = install(alice, "http://127.0.0.1:" + std::to_string(closed_port()) + "/mcp", "none");
  BOOST_TEST(is_proxy_error(alice.send("POST", proxy_path(e1, id), ping, json_headers), 502,
                            "Upstream MCP server unreachable"));
  // And once more: nothing cached, the daemon still answers.
  BOOST_TEST(is_proxy_error(alice.send("POST", proxy_path(p1, id), ping, json_headers), 502,
                            "Upstream MCP server unreachable"));
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------
BOOST_FIXTURE_TEST_SUITE(proxy_timeouts, short_first_byte_gateway)

BOOST_AUTO_TEST_CASE(an_upstream_that_never_answers_is_504_after_upstream_first_byte) {
  fake_upstream upstream;
  upstream.on_request([](fake_exchange& ex) {
    ex.wait_for_peer_close(io_deadline);
    ex.close_connection();
  });
  auto alice = client(create_key("alice", "*"));
  const std::string id = install(alice, upstream, upstream.url(), "none");
  const auto start = steady::now();
  // No upper bound on the wait but the client's io_deadline (15 s), which
  // only ends a hang: the daemon's default upstream_first_byte is 180 s, so
  // a gateway that ignored the configured 1 s fails here rather than late.
  const reply r = alice.send("POST", proxy_path(e1, id), ping, json_headers);
  const auto took = ms_since(start);
  BOOST_TEST(is_proxy_error(r, 504, "Upstream MCP server timed out"));
  // Not before upstream_first_byte: a timer never fires early, so this
  // bound cannot fail on a slow machine.
  BOOST_TEST(took >= 900, "answered after " << took << " ms, before upstream_first_byte (1s)");
  // The cause: the request reached the upstream, which never answered (its
  // handler sends nothing until the gateway closes); then the gateway gave
  // up on that connection.
  BOOST_TEST_REQUIRE(upstream.request_count() == 1u);
  const auto closed = upstream.wait_for_event(connection_event_kind::peer_closed, 1, io_deadline);
  BOOST_TEST_REQUIRE(closed.has_value(), "the gateway kept the silent upstream connection open");
  BOOST_TEST((upstream.requests().at(0).at <= closed->at), "the connection closed before the request arrived");
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------
BOOST_FIXTURE_TEST_SUITE(proxy_ssrf, ssrf_gateway)

// The precondition of the test below: without a name to test with, it is
// reported as skipped (and why) instead of passing having asserted nothing.
boost::test_tools::assertion_result some_name_resolves_to_loopback(boost::unit_test::test_unit_id) {
  if (!loopback_names().empty()) return true;
  boost::test_tools::assertion_result result(false);
  result.message() << "no host name on this machine resolves to loopback only without being refused by name "
                      "(looked at /etc/hosts, ip6-localhost, ip6-loopback)";
  return result;
}

BOOST_AUTO_TEST_CASE(a_name_that_resolves_to_loopback_is_refused_at_connect_time,
                     *boost::unit_test::precondition(some_name_resolves_to_loopback)) {
  const auto candidates = loopback_names();
  auto alice = client(create_key("alice", "*"));
  std::string not_tested;  // why each candidate could not be used
  for (const auto& [name, address] : candidates) {
    std::unique_ptr<fake_upstream> listening;
    try {
      listening = std::make_unique<fake_upstream>(fake_upstream_options{.bind_address = address});
    } catch (const std::exception& e) {
      not_tested += "; cannot listen on " + address + " for " + name + ": " + e.what();
      continue;
    }
    fake_upstream& upstream = *listening;
    // The static check passes a plain name; if this one is refused when
    // stored, try the next.
    const std::string url = "http://" + name + ":" + std::to_string(upstream.port()) + "/mcp";
    const reply created = alice.post(e1 + "/install_custom/", json::object{{"url", url}, {"auth_type", "none"}});
    if (created.status != 201u) {
      not_tested += "; install of " + url + " refused (" + std::to_string(created.status) + ")";
      continue;
    }
    const std::string id = id_of(created.object());
    BOOST_TEST_MESSAGE("SSRF check with " << name << " -> " << address);
    BOOST_TEST(is_proxy_error(alice.send("POST", proxy_path(e1, id), ping, json_headers), 400,
                              "URL not allowed: ", true));
    BOOST_TEST(is_proxy_error(alice.send("GET", proxy_path(e1, id), "", {{"Accept", "text/event-stream"}}), 400,
                              "URL not allowed: ", true));
    BOOST_TEST(upstream.request_count() == 0u);
    BOOST_TEST(upstream.connections_accepted() == 0);
    return;
  }
  // The precondition found names, and none could be used: that is a failure,
  // not a reason to pass.
  BOOST_ERROR("no loopback name could be tested" << not_tested);
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------
BOOST_FIXTURE_TEST_SUITE(proxy_rebinding, origins_gateway)

BOOST_AUTO_TEST_CASE(a_foreign_host_or_origin_is_403_and_reaches_no_upstream) {
  fake_upstream upstream;
  const api_key key = create_key("alice", "*");
  auto alice = client(key);
  const std::string id = install(alice, upstream, upstream.url(), "api_key", "k");
  const std::string target = proxy_path(e1, id);
  const std::string port_text = std::to_string(port());

  const auto refused = [&](const header_list& headers, const api_key* with) {
    api_client c = with ? client(*with) : anonymous();
    header_list all = json_headers;
    all.insert(all.end(), headers.begin(), headers.end());
    const reply r = c.send("POST", target, ping, all);
    BOOST_TEST(r.status == 403u, r);
    BOOST_TEST(string_of(r.json(), "error") != "", r);
  };
  BOOST_TEST_CONTEXT("Host evil.example") { refused({{"Host", "evil.example:" + port_text}}, &key); }
  BOOST_TEST_CONTEXT("Host evil.example, no key: the Host check comes first") {
    refused({{"Host", "evil.example:" + port_text}}, nullptr);
  }
  BOOST_TEST_CONTEXT("Origin http://evil.example") { refused({{"Origin", "http://evil.example"}}, &key); }
  BOOST_TEST_CONTEXT("Origin of the listener on another port") { refused({{"Origin", "http://127.0.0.1:1"}}, &key); }
  BOOST_TEST(upstream.request_count() == 0u);

  std::size_t expected = 0;
  for (const header_list& ok :
       {header_list{}, header_list{{"Origin", "https://app.example.com"}},
        header_list{{"Origin", "http://127.0.0.1:" + port_text}}, header_list{{"Host", "localhost:" + port_text}}}) {
    BOOST_TEST_CONTEXT((ok.empty() ? std::string("no Origin") : ok[0].first + ": " + ok[0].second)) {
      header_list all = json_headers;
      all.insert(all.end(), ok.begin(), ok.end());
      const reply r = alice.send("POST", target, ping, all);
      BOOST_TEST(r.status == 200u, r);
      ++expected;
      BOOST_TEST(upstream.request_count() == expected);
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()

// The HTTP server of a real daemon: size limits, malformed requests,
// keep-alive, the idle and request-read deadlines, and graceful stop.
#include "harness.hpp"

#include <boost/json/serialize.hpp>
#include <boost/test/unit_test.hpp>

#include <signal.h>

using namespace mcpgate::it;

namespace {

// A request head as raw text, ending with the blank line.
std::string head(const std::string& request_line, const api_key& key, const header_list& extra = {}) {
  std::string text = request_line + "\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + key.secret + "\r\n";
  for (const auto& [name, value] : extra) text += name + ": " + value + "\r\n";
  return text + "\r\n";
}

// A create body of exactly `size` bytes (padding the description).
std::string create_body_of_size(std::size_t size, const std::string& url) {
  const std::string prefix = R"({"url":")" + url + R"(","auth_type":"none","description":")";
  const std::string suffix = R"("})";
  return prefix + std::string(size - prefix.size() - suffix.size(), 'd') + suffix;
}

// Reads the response, then expects the server to close the connection.
reply read_then_closed(http_connection& conn) {
  const reply r = conn.read();
  BOOST_TEST(!r.keep_alive, r);
  BOOST_TEST(conn.wait_for_close(io_deadline) == http_connection::close_outcome::closed);
  return r;
}

struct short_timeouts_gateway : gateway {
  short_timeouts_gateway()
      : gateway([] {
          gateway_options o;
          o.idle = "1s";
          o.request_read = "1s";
          return o;
        }()) {}
};

struct two_connections_gateway : gateway {
  two_connections_gateway()
      : gateway([] {
          gateway_options o;
          o.max_connections = 2;
          return o;
        }()) {}
};

struct short_grace_gateway : gateway {
  short_grace_gateway()
      : gateway([] {
          gateway_options o;
          o.shutdown_grace = "1s";
          o.request_read = "60s";
          return o;
        }()) {}
};

}  // namespace

// ---------------------------------------------------------------------------
BOOST_FIXTURE_TEST_SUITE(limits, default_gateway)

BOOST_AUTO_TEST_CASE(a_declared_content_length_over_the_limit_is_413_before_the_body_is_read) {
  const api_key key = create_key("alice", "*");
  for (const std::string length : {"65537", "1000000000000"}) {
    BOOST_TEST_CONTEXT("Content-Length " << length) {
      http_connection conn(port());
      BOOST_TEST_REQUIRE(!conn.write(head("POST " + p1 + " HTTP/1.1", key,
                                          {{"Content-Type", "application/json"}, {"Content-Length", length}})));
      const reply r = read_then_closed(conn);
      BOOST_TEST(is_error(r, 413, "invalid_request", "request_too_large"));
    }
  }
  auto alice = client(key);
  BOOST_TEST(count_of(alice, p1) == 0);
}

BOOST_AUTO_TEST_CASE(a_body_at_the_limit_is_accepted_and_one_byte_more_is_413) {
  const api_key key = create_key("alice", "*");
  auto alice = client(key);
  const std::string at_limit = create_body_of_size(65536, "https://big.example.com/mcp");
  const reply ok = alice.send("POST", p1, at_limit);
  BOOST_TEST_REQUIRE(ok.status == 201u, ok);
  BOOST_TEST(ok.object().at("description").as_string().size() > 65000u);

  const std::string over = create_body_of_size(65537, "https://bigger.example.com/mcp");
  const reply too_big = alice.send("POST", p1, over);
  BOOST_TEST(is_error(too_big, 413, "invalid_request", "request_too_large"));
  BOOST_TEST(!too_big.keep_alive);
  // The daemon keeps serving, and the oversized request created nothing.
  BOOST_TEST(count_of(alice, p1) == 1);
}

BOOST_AUTO_TEST_CASE(a_chunked_body_over_the_limit_is_413) {
  const api_key key = create_key("alice", "*");
  // Chunked bodies work at all: a JSON object in three chunks.
  {
    http_connection conn(port());
    const std::string json_text = R"({"url":"https://chunked.example.com/mcp","auth_type":"none"})";
    std::string request = head("POST " + p1 + " HTTP/1.1", key,
                               {{"Content-Type", "application/json"}, {"Transfer-Encoding", "chunked"}});
    for (const std::string& part : {json_text.substr(0, 10), json_text.substr(10, 20), json_text.substr(30)}) {
      char size[16];
      std::snprintf(size, sizeof size, "%zx\r\n", part.size());
      request += size + part + "\r\n";
    }
    request += "0\r\n\r\n";
    BOOST_TEST_REQUIRE(!conn.write(request));
    const reply r = conn.read();
    BOOST_TEST(r.status == 201u, r);
  }
  // 9 chunks of 8 KiB of JSON whitespace: 72 KiB > 64 KiB.
  {
    http_connection conn(port());
    std::string request = head("POST " + p1 + " HTTP/1.1", key,
                               {{"Content-Type", "application/json"}, {"Transfer-Encoding", "chunked"}});
    for (int i = 0; i < 9; ++i) request += "2000\r\n" + std::string(8192, ' ') + "\r\n";
    request += "0\r\n\r\n";
    BOOST_TEST_REQUIRE(!conn.write(request));
    const reply r = read_then_closed(conn);
    BOOST_TEST(is_error(r, 413, "invalid_request", "request_too_large"));
  }
  // One chunk that declares more than the limit.
  {
    http_connection conn(port());
    std::string request = head("POST " + p1 + " HTTP/1.1", key,
                               {{"Content-Type", "application/json"}, {"Transfer-Encoding", "chunked"}});
    request += "100000\r\n";
    BOOST_TEST_REQUIRE(!conn.write(request));
    const reply r = read_then_closed(conn);
    BOOST_TEST(is_error(r, 413, "invalid_request", "request_too_large"));
  }
  auto alice = client(key);
  BOOST_TEST(count_of(alice, p1) == 1);
}

BOOST_AUTO_TEST_CASE(headers_over_the_limit_are_431_and_the_daemon_keeps_serving) {
  const api_key key = create_key("alice", "*");
  BOOST_TEST_CONTEXT("one large header") {
    http_connection conn(port());
    BOOST_TEST_REQUIRE(!conn.write(head("GET " + p1 + " HTTP/1.1", key, {{"X-Filler", std::string(17000, 'a')}})));
    const reply r = read_then_closed(conn);
    BOOST_TEST(is_error(r, 431, "invalid_request", "header_too_large"));
  }
  BOOST_TEST_CONTEXT("many small headers") {
    http_connection conn(port());
    header_list many;
    for (int i = 0; i < 200; ++i) many.emplace_back("X-Filler-" + std::to_string(i), std::string(100, 'b'));
    BOOST_TEST_REQUIRE(!conn.write(head("GET " + p1 + " HTTP/1.1", key, many)));
    const reply r = read_then_closed(conn);
    BOOST_TEST(is_error(r, 431, "invalid_request", "header_too_large"));
  }
  BOOST_TEST_CONTEXT("a long target") {
    http_connection conn(port());
    BOOST_TEST_REQUIRE(!conn.write(head("GET " + p1 + "?x=" + std::string(17000, 'c') + " HTTP/1.1", key)));
    const reply r = read_then_closed(conn);
    BOOST_TEST(is_error(r, 431, "invalid_request", "header_too_large"));
  }
  // Headers under the limit are fine.
  auto alice = client(key);
  const reply ok = alice.send("GET", p1, "", {{"X-Filler", std::string(8000, 'a')}});
  BOOST_TEST(ok.status == 200u, ok);
}

BOOST_AUTO_TEST_CASE(a_malformed_request_is_400_and_closed) {
  const api_key key = create_key("alice", "*");
  for (const std::string& raw : {std::string("THIS IS NOT HTTP\r\n\r\n"),
                                 "GET " + p1 + " HTTP/1.1\r\nHost: 127.0.0.1\r\nBad Header Line\r\n\r\n",
                                 "POST " + p1 + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: abc\r\n\r\n"}) {
    BOOST_TEST_CONTEXT(raw) {
      http_connection conn(port());
      BOOST_TEST_REQUIRE(!conn.write(raw));
      const reply r = read_then_closed(conn);
      BOOST_TEST(is_error(r, 400, "invalid_request", "bad_request"));
    }
  }
  auto alice = client(key);
  BOOST_TEST(alice.get(p1).status == 200u);
}

BOOST_AUTO_TEST_CASE(ambiguous_body_framing_is_400_and_nothing_is_created) {
  const api_key key = create_key("alice", "*");
  const std::string body = R"({"url":"https://smuggled.example.com/"})";
  const std::string chunked = "27\r\n" + body + "\r\n0\r\n\r\n";
  BOOST_TEST_REQUIRE(body.size() == 0x27u);
  const std::vector<std::string> requests{
      // Content-Length and chunked together (request smuggling).
      "POST " + p1 + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + key.secret +
          "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(chunked.size()) +
          "\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked,
      // Two different Content-Lengths.
      "POST " + p1 + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + key.secret +
          "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
          "\r\nContent-Length: " + std::to_string(body.size() + 1) + "\r\n\r\n" + body + " ",
      // A negative Content-Length.
      "POST " + p1 + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + key.secret +
          "\r\nContent-Type: application/json\r\nContent-Length: -1\r\n\r\n" + body,
  };
  for (const auto& raw : requests) {
    BOOST_TEST_CONTEXT(raw.substr(0, raw.find("\r\n\r\n"))) {
      http_connection conn(port());
      BOOST_TEST_REQUIRE(!conn.write(raw));
      const reply r = read_then_closed(conn);
      BOOST_TEST(is_error(r, 400, "invalid_request", "bad_request"));
    }
  }
  auto alice = client(key);
  BOOST_TEST(count_of(alice, p1) == 0);
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------
BOOST_FIXTURE_TEST_SUITE(connections, default_gateway)

BOOST_AUTO_TEST_CASE(keep_alive_serves_several_requests_on_one_connection) {
  auto alice = client(create_key("alice", "*"));
  const std::uint16_t local = alice.connection().local_port();
  for (int i = 0; i < 3; ++i) {
    const reply r = alice.post(p1, json::object{{"url", "https://k" + std::to_string(i) + ".example.com/"}});
    BOOST_TEST_REQUIRE(r.status == 201u, r);
    BOOST_TEST(r.keep_alive);
  }
  const reply list = alice.get(p1);
  BOOST_TEST(list.keep_alive);
  BOOST_TEST(list.object().at("count") == 3);
  const std::string id = std::string(list.object().at("results").as_array()[0].at("id").as_string());
  BOOST_TEST(alice.patch(item_of(p1, id), json::object{{"is_enabled", false}}).keep_alive);
  BOOST_TEST(alice.del(item_of(p1, id)).keep_alive);
  // Error answers keep the connection too.
  BOOST_TEST(alice.get(item_of(p1, id)).status == 404u);
  BOOST_TEST(alice.send("PUT", p1).status == 405u);
  BOOST_TEST(alice.send("POST", p1, "{oops").status == 400u);
  BOOST_TEST(alice.get(p1).status == 200u);
  BOOST_TEST(alice.connections_opened() == 1);
  BOOST_TEST(alice.connection().local_port() == local);
}

BOOST_AUTO_TEST_CASE(pipelined_requests_are_answered_in_order) {
  const api_key key = create_key("alice", "*");
  http_connection conn(port());
  std::string requests;
  for (int i = 0; i < 3; ++i) requests += head("GET " + p1 + "?limit=" + std::to_string(i + 1) + " HTTP/1.1", key);
  requests += head("GET /nothing HTTP/1.1", key);
  BOOST_TEST_REQUIRE(!conn.write(requests));
  for (int i = 0; i < 3; ++i) {
    const reply r = conn.read();
    BOOST_TEST(r.status == 200u, r);
  }
  BOOST_TEST(conn.read().status == 404u);
}

BOOST_AUTO_TEST_CASE(connection_close_and_http_1_0_close_after_the_response) {
  const api_key key = create_key("alice", "*");
  {
    http_connection conn(port());
    BOOST_TEST_REQUIRE(!conn.write(head("GET " + p1 + " HTTP/1.1", key, {{"Connection", "close"}})));
    const reply r = read_then_closed(conn);
    BOOST_TEST(r.status == 200u, r);
  }
  {
    http_connection conn(port());
    BOOST_TEST_REQUIRE(!conn.write(head("GET " + p1 + " HTTP/1.0", key)));
    const reply r = read_then_closed(conn);
    BOOST_TEST(r.status == 200u, r);
  }
}

BOOST_AUTO_TEST_CASE(expect_100_continue_is_answered_before_the_body) {
  const api_key key = create_key("alice", "*");
  const std::string body = R"({"url":"https://continue.example.com/mcp"})";
  http_connection conn(port());
  BOOST_TEST_REQUIRE(!conn.write(head("POST " + p1 + " HTTP/1.1", key,
                                      {{"Content-Type", "application/json"},
                                       {"Expect", "100-continue"},
                                       {"Content-Length", std::to_string(body.size())}})));
  const reply interim = conn.read();
  BOOST_TEST_REQUIRE(interim.status == 100u, interim);
  BOOST_TEST_REQUIRE(!conn.write(body));
  const reply r = conn.read();
  BOOST_TEST(r.status == 201u, r);
  BOOST_TEST(r.keep_alive);
}

BOOST_AUTO_TEST_CASE(sigterm_closes_idle_keep_alive_connections_and_exits_0) {
  auto alice = client(create_key("alice", "*"));
  BOOST_TEST_REQUIRE(alice.get(p1).status == 200u);
  http_connection& used = alice.connection();  // idle after one request
  http_connection fresh(port());               // never sent anything
  const auto signalled = steady::now();
  process().send_signal(SIGTERM);
  // Idle is 30 s here: the close comes from the stop, not from the timeout.
  BOOST_TEST(used.wait_for_close(io_deadline) == http_connection::close_outcome::closed);
  BOOST_TEST(fresh.wait_for_close(io_deadline) == http_connection::close_outcome::closed);
  expect_clean_exit();
  BOOST_TEST(ms_since(signalled) < 10000);
}

BOOST_AUTO_TEST_CASE(sighup_keeps_serving) {
  auto alice = client(create_key("alice", "*"));
  BOOST_TEST_REQUIRE(alice.get(p1).status == 200u);
  process().send_signal(SIGHUP);
  BOOST_TEST_REQUIRE(process().wait_for_stderr("SIGHUP received", io_deadline), process().err());
  const reply r = alice.get(p1);
  BOOST_TEST(r.status == 200u, r);
  BOOST_TEST(r.keep_alive);
  BOOST_TEST(alice.connections_opened() == 1);
  // And it still stops cleanly afterwards (see the fixture's teardown).
}

BOOST_AUTO_TEST_CASE(sigint_stops_like_sigterm) {
  auto alice = client(create_key("alice", "*"));
  BOOST_TEST_REQUIRE(alice.get(p1).status == 200u);
  process().send_signal(SIGINT);
  BOOST_TEST(alice.connection().wait_for_close(io_deadline) == http_connection::close_outcome::closed);
  expect_clean_exit();
}

BOOST_AUTO_TEST_CASE(sigterm_lets_a_request_in_flight_finish_then_exits_0) {
  const api_key key = create_key("alice", "*");
  const std::string body = R"({"url":"https://inflight.example.com/mcp","auth_type":"none"})";
  http_connection conn(port());
  BOOST_TEST_REQUIRE(!conn.write(head("POST " + p1 + " HTTP/1.1", key,
                                      {{"Content-Type", "application/json"},
                                       {"Expect", "100-continue"},
                                       {"Content-Length", std::to_string(body.size())}})));
  // The interim answer proves the daemon is inside this request.
  BOOST_TEST_REQUIRE(conn.read().status == 100u);
  process().send_signal(SIGTERM);
  BOOST_TEST_REQUIRE(process().wait_for_stderr("signal 15 received", io_deadline), process().err());

  BOOST_TEST_REQUIRE(!conn.write(body));
  const reply r = read_then_closed(conn);
  BOOST_TEST_REQUIRE(r.status == 201u, r);
  BOOST_TEST(r.header("Connection") == "close");
  const std::string id = string_of(r.json(), "id");
  expect_clean_exit();

  // What it answered 201 for was stored.
  start();
  auto alice = client(key);
  const reply stored = alice.get(item_of(p1, id));
  BOOST_TEST(stored.status == 200u, stored);
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------
BOOST_FIXTURE_TEST_SUITE(deadlines, short_timeouts_gateway)

BOOST_AUTO_TEST_CASE(a_connection_that_sends_nothing_is_closed_after_the_idle_timeout) {
  const auto started = steady::now();
  http_connection conn(port());
  BOOST_TEST(conn.wait_for_close(8s) == http_connection::close_outcome::closed);
  const auto elapsed = ms_since(started);
  BOOST_TEST(elapsed >= 900);
  BOOST_TEST(elapsed < 8000);
}

BOOST_AUTO_TEST_CASE(a_keep_alive_connection_is_closed_after_the_idle_timeout) {
  auto alice = client(create_key("alice", "*"));
  // Measured from before the request: the idle wait starts after the answer.
  const auto asked = steady::now();
  BOOST_TEST_REQUIRE(alice.get(p1).status == 200u);
  BOOST_TEST(alice.connection().wait_for_close(8s) == http_connection::close_outcome::closed);
  BOOST_TEST(ms_since(asked) >= 900);
}

BOOST_AUTO_TEST_CASE(a_stalled_request_header_is_closed_after_request_read) {
  http_connection conn(port());
  const auto sent = steady::now();
  BOOST_TEST_REQUIRE(!conn.write("GET " + p1 + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthori"));
  BOOST_TEST(conn.wait_for_close(8s) == http_connection::close_outcome::closed);
  const auto elapsed = ms_since(sent);
  BOOST_TEST(elapsed >= 900);
  BOOST_TEST(elapsed < 8000);
}

BOOST_AUTO_TEST_CASE(a_stalled_request_body_is_closed_after_request_read) {
  const api_key key = create_key("alice", "*");
  http_connection conn(port());
  const auto sent = steady::now();
  BOOST_TEST_REQUIRE(!conn.write(head("POST " + p1 + " HTTP/1.1", key,
                                      {{"Content-Type", "application/json"}, {"Content-Length", "100"}}) +
                                 R"({"url":")"));
  BOOST_TEST(conn.wait_for_close(8s) == http_connection::close_outcome::closed);
  BOOST_TEST(ms_since(sent) >= 900);
  auto alice = client(key);
  BOOST_TEST(count_of(alice, p1) == 0);
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------
BOOST_FIXTURE_TEST_SUITE(shutdown_grace, short_grace_gateway)

BOOST_AUTO_TEST_CASE(a_request_stalled_past_the_grace_period_does_not_stop_a_clean_exit) {
  const api_key key = create_key("alice", "*");
  http_connection conn(port());
  BOOST_TEST_REQUIRE(
      !conn.write(head("POST " + p1 + " HTTP/1.1", key,
                       {{"Content-Type", "application/json"}, {"Expect", "100-continue"}, {"Content-Length", "50"}})));
  BOOST_TEST_REQUIRE(conn.read().status == 100u);
  const auto signalled = steady::now();
  process().send_signal(SIGTERM);
  // The body never comes; after shutdown_grace (1 s) the daemon gives up on it.
  expect_clean_exit();
  const auto elapsed = ms_since(signalled);
  BOOST_TEST(elapsed >= 900);
  BOOST_TEST(elapsed < 10000);
  BOOST_TEST(conn.wait_for_close(io_deadline) == http_connection::close_outcome::closed);
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------
BOOST_FIXTURE_TEST_SUITE(connection_cap, two_connections_gateway)

BOOST_AUTO_TEST_CASE(connections_over_the_cap_are_closed_and_the_cap_frees_up) {
  const api_key key = create_key("alice", "*");
  auto first = client(key);
  auto second = client(key);
  // A request on each proves both are accepted and counted.
  BOOST_TEST_REQUIRE(first.get(p1).status == 200u);
  BOOST_TEST_REQUIRE(second.get(p1).status == 200u);

  http_connection third(port());
  BOOST_TEST(third.wait_for_close(io_deadline) == http_connection::close_outcome::closed);
  BOOST_TEST(process().wait_for_stderr("connection limit (2) reached", io_deadline));

  // The two inside are unaffected.
  BOOST_TEST(first.get(p1).status == 200u);
  BOOST_TEST(second.get(p1).status == 200u);

  // Once one leaves, a newcomer gets in. The daemon forgets the closed
  // connection a moment after the close, so this waits for that (deadline).
  second.disconnect();
  const auto deadline = steady::now() + io_deadline;
  bool admitted = false;
  while (!admitted && steady::now() < deadline) {
    http_connection newcomer(port());
    const std::string request = "GET " + p1 + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + key.secret +
                                "\r\n\r\n";
    if (newcomer.write(request)) continue;
    auto [r, ec] = newcomer.try_read();
    admitted = r && r->status == 200u;
  }
  BOOST_TEST(admitted);
  BOOST_TEST(first.get(p1).status == 200u);
}

BOOST_AUTO_TEST_SUITE_END()

// The proxy tests' own tools, checked without a gateway in between: the
// agent_stream talks to the fake_upstream directly. If these fail, the proxy
// tests' verdicts mean nothing.
#include "fake_upstream.hpp"

#include <boost/test/unit_test.hpp>

using namespace mcpgate::it;

BOOST_AUTO_TEST_SUITE(proxy_tools)

BOOST_AUTO_TEST_CASE(the_fake_upstream_records_requests_and_answers_json) {
  fake_upstream upstream;
  agent_stream agent(upstream.port());
  const std::string body = R"({"jsonrpc":"2.0","id":1,"method":"ping"})";
  BOOST_TEST_REQUIRE(agent.send(raw_request("POST", "/mcp?x=1", upstream.port(), "secret",
                                            {{"Content-Type", "application/json"}, {"Mcp-Param-A", "b"}}, body)));
  const auto head = agent.read_head();
  BOOST_TEST_REQUIRE(head.has_value());
  BOOST_TEST(head->status == 200u);
  BOOST_TEST(agent.read_rest().value_or("<none>") == R"({"jsonrpc":"2.0","id":1,"result":{}})");
  BOOST_TEST_REQUIRE(upstream.wait_for_requests(1, io_deadline));
  const recorded_request got = upstream.requests().at(0);
  BOOST_TEST(got.method == "POST");
  BOOST_TEST(got.target == "/mcp?x=1");
  BOOST_TEST(got.body == body);
  BOOST_TEST(got.header("authorization").value_or("") == "Bearer secret");
  BOOST_TEST(got.header("MCP-PARAM-A").value_or("") == "b");
  BOOST_TEST(!got.header("Cookie").has_value());

  // Keep-alive: a second request on the same connection.
  BOOST_TEST_REQUIRE(agent.send(raw_request("DELETE", "/mcp", upstream.port(), "", {})));
  const auto second = agent.read_head();
  BOOST_TEST_REQUIRE(second.has_value());
  BOOST_TEST(agent.read_rest().has_value());
  BOOST_TEST_REQUIRE(upstream.wait_for_requests(2, io_deadline));
  BOOST_TEST(upstream.requests().at(1).connection == got.connection);
  BOOST_TEST(upstream.connections_accepted() == 1);
}

BOOST_AUTO_TEST_CASE(events_are_read_one_by_one_and_a_close_is_seen_by_the_upstream) {
  std::atomic<int> written{0};
  fake_upstream upstream;
  upstream.on_request([&](fake_exchange& ex) {
    if (!ex.start_chunked(200, {{"Content-Type", "text/event-stream"}})) return;
    for (int i = 0;; ++i) {
      if (!ex.write_chunk("data: " + std::to_string(i) + "\n\n")) return;
      ++written;
      if (!ex.pause(std::chrono::milliseconds(100))) return;
    }
  });
  agent_stream agent(upstream.port());
  BOOST_TEST_REQUIRE(agent.send(raw_request("GET", "/mcp", upstream.port(), "", {{"Accept", "text/event-stream"}})));
  const auto head = agent.read_head();
  BOOST_TEST_REQUIRE(head.has_value());
  BOOST_TEST(head->header("Transfer-Encoding") == "chunked");
  for (int i = 0; i < 3; ++i) {
    const auto e = agent.next_event();
    BOOST_TEST_REQUIRE(e.has_value());
    BOOST_TEST(e->text == "data: " + std::to_string(i) + "\n\n");
  }
  agent.close();
  const auto closed = upstream.wait_for_event(connection_event_kind::peer_closed, 1, io_deadline);
  BOOST_TEST_REQUIRE(closed.has_value());
}

BOOST_AUTO_TEST_CASE(a_write_to_a_reader_that_reads_nothing_is_seen_blocked) {
  fake_upstream upstream(fake_upstream_options{.send_buffer = 64 * 1024});
  upstream.on_request([](fake_exchange& ex) {
    if (!ex.start_chunked(200, {{"Content-Type", "text/event-stream"}})) return;
    const std::string event = "data: " + std::string(16'000, 'x') + "\n\n";
    for (int i = 0; i < 4096; ++i) {
      if (!ex.write_chunk(event)) return;
    }
    ex.end_chunked();
  });
  agent_stream agent(upstream.port(), 64 * 1024);
  BOOST_TEST_REQUIRE(agent.send(raw_request("GET", "/mcp", upstream.port(), "", {})));
  BOOST_TEST_REQUIRE(agent.read_head().has_value());
  BOOST_TEST(upstream.wait_for_blocked_write(std::chrono::milliseconds(500), std::chrono::seconds(10)));
  BOOST_TEST(upstream.body_bytes_sent() < (4u << 20), upstream.body_bytes_sent());
  // The destructor ends the blocked write.
}

BOOST_AUTO_TEST_CASE(chunked_decoding_handles_any_split) {
  const std::string wire = "5;ext=1\r\nhello\r\n1\r\n \r\n10\r\n0123456789abcdef\r\n0\r\nTrailer: x\r\n\r\n";
  for (std::size_t step = 1; step <= wire.size(); ++step) {
    chunked_decoder d;
    std::string out;
    for (std::size_t i = 0; i < wire.size(); i += step) BOOST_TEST_REQUIRE(d.feed(wire.substr(i, step), out));
    BOOST_TEST(out == "hello 0123456789abcdef");
    BOOST_TEST(d.done());
  }
  chunked_decoder bad;
  std::string out;
  BOOST_TEST(!bad.feed("zz\r\n", out));
}

BOOST_AUTO_TEST_SUITE_END()

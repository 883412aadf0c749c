// upstream_exchange against the scripted upstream of tests/support on
// 127.0.0.1, one connection per test.
//
// The upstream runs the test's script on its own thread; every wait there is
// bounded and ends when the fixture goes. The client side runs on the test's
// thread: the io_context is run until the awaited handler has been called, at
// most 10 s. Ordering between the two sides goes through promises/futures,
// never sleeps.
#include "net/upstream_exchange.hpp"

#include "support/run_until.hpp"
#include "support/scripted_upstream.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>

namespace {

using mcpgate::test::run_until;

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using mcpgate::net::client_error;
using mcpgate::net::exchange_options;
using mcpgate::net::upstream_exchange;
using mcpgate::test::chunk;
using mcpgate::test::scripted_upstream;
using mcpgate::test::upstream_conn;
using namespace std::chrono_literals;

using mcpgate::test::wait_limit;

using mcpgate::test::one_connection;

mcpgate::net::origin where(const scripted_upstream& upstream) { return {false, "127.0.0.1", upstream.port()}; }

// A request as the upstream received it, parsed on the test's thread.
http::request<http::string_body> parse_request(const std::string& raw) {
  auto parsed = mcpgate::test::parse_request(raw);
  BOOST_TEST_REQUIRE(parsed.has_value(), raw);
  return std::move(*parsed);
}

constexpr std::string_view sse_head =
    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n";

std::shared_ptr<mcpgate::net::upstream_pool> make_pool(asio::io_context& io, bool allow_private = true) {
  mcpgate::net::client_options options;
  options.policy.allow_private_networks = allow_private;
  options.connect_timeout = 5s;
  auto pool = mcpgate::net::upstream_pool::create(io.get_executor(), options);
  BOOST_TEST_REQUIRE(pool.has_value());
  return *pool;
}

struct head_outcome {
  bool done = false;
  error_code ec;
  std::string detail;
  std::shared_ptr<upstream_exchange> exchange;
};

http::request<http::string_body> post(std::string body = R"({"jsonrpc":"2.0","id":1,"method":"ping"})") {
  http::request<http::string_body> request{http::verb::post, "/ignored", 11};
  request.set(http::field::content_type, "application/json");
  request.set(http::field::accept, "application/json, text/event-stream");
  request.body() = std::move(body);
  return request;
}

head_outcome start(asio::io_context& io, const std::shared_ptr<mcpgate::net::upstream_pool>& pool,
                   const std::string& url, http::request<http::string_body> request = post(),
                   exchange_options options = {5s, 5s}) {
  head_outcome out;
  asio::co_spawn(io, upstream_exchange::start(pool, url, std::move(request), options),
                 [&out](std::exception_ptr e, upstream_exchange::started started) {
                   BOOST_TEST_REQUIRE(!e);
                   out.done = true;
                   out.ec = started.ec;
                   out.detail = std::move(started.detail);
                   out.exchange = std::move(started.exchange);
                 });
  BOOST_TEST_REQUIRE(run_until(io, [&] { return out.done; }), "no answer header within the deadline");
  return out;
}

struct piece_outcome {
  bool done = false;
  error_code ec;
  std::string bytes;
};

// Starts one read_some; `out` is filled when it completes.
void begin_read(asio::io_context& io, upstream_exchange& x, piece_outcome& out) {
  out = {};
  asio::co_spawn(io, x.read_some(), [&out](std::exception_ptr e, std::pair<error_code, std::string_view> piece) {
    BOOST_TEST_REQUIRE(!e);
    out.done = true;
    out.ec = piece.first;
    out.bytes = std::string(piece.second);
  });
}

piece_outcome read_piece(asio::io_context& io, upstream_exchange& x) {
  piece_outcome out;
  begin_read(io, x, out);
  BOOST_TEST_REQUIRE(run_until(io, [&] { return out.done; }), "read_some did not complete within the deadline");
  return out;
}

// The whole remaining body, piece by piece; the pieces are counted.
std::string read_to_end(asio::io_context& io, upstream_exchange& x, int* pieces = nullptr) {
  std::string body;
  for (;;) {
    const auto piece = read_piece(io, x);
    BOOST_TEST_REQUIRE(!piece.ec, piece.ec.message());
    if (piece.bytes.empty()) return body;
    if (pieces) ++*pieces;
    body += piece.bytes;
  }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(upstream_exchange_tests)

BOOST_AUTO_TEST_CASE(json_answer_is_read_whole_through_pieces) {
  // Bigger than one piece, so it has to come in several.
  std::string body = R"({"jsonrpc":"2.0","id":1,"result":{"text":")";
  for (int i = 0; body.size() < 40'000; ++i) body += "abcdefghij" + std::to_string(i % 10);
  body += "\"}}";
  std::promise<std::string> seen;
  scripted_upstream upstream(
      [&](upstream_conn& c) {
        auto request = c.read_request();
        seen.set_value(request.value_or(""));
        if (!request) return;
        c.write("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nMcp-Session-Id: s-1\r\nContent-Length: " +
                std::to_string(body.size()) + "\r\n\r\n" + body);
        c.wait_closed(wait_limit);
      },
      one_connection);
  asio::io_context io;
  auto pool = make_pool(io);

  auto request = post();
  request.set(http::field::authorization, "Bearer upstream-secret");
  auto head = start(io, pool, upstream.url("/mcp?x=1"), std::move(request));
  BOOST_TEST_REQUIRE(!head.ec, head.ec.message() << ": " << head.detail);
  BOOST_TEST_REQUIRE(head.exchange != nullptr);
  BOOST_TEST(head.exchange->head().status == 200);
  BOOST_TEST(head.exchange->head().header("Content-Type") == "application/json");
  BOOST_TEST(head.exchange->head().header("Mcp-Session-Id") == "s-1");
  BOOST_TEST(!head.exchange->body_done());

  int pieces = 0;
  const std::string got = read_to_end(io, *head.exchange, &pieces);
  BOOST_TEST(got.size() == body.size());
  BOOST_TEST((got == body));
  BOOST_TEST(pieces > 1);
  BOOST_TEST(head.exchange->body_done());
  // At the end, reading again keeps answering "end".
  const auto after = read_piece(io, *head.exchange);
  BOOST_TEST(!after.ec);
  BOOST_TEST(after.bytes.empty());

  // What the upstream received: the URL's target and Host, the body, the headers.
  auto raw = seen.get_future();
  BOOST_TEST_REQUIRE((raw.wait_for(wait_limit) == std::future_status::ready));
  const auto received = parse_request(raw.get());
  BOOST_TEST(received.method() == http::verb::post);
  BOOST_TEST(received.target() == "/mcp?x=1");
  BOOST_TEST(received[http::field::host] == "127.0.0.1:" + std::to_string(upstream.port()));
  BOOST_TEST(received[http::field::authorization] == "Bearer upstream-secret");
  BOOST_TEST(received[http::field::content_type] == "application/json");
  BOOST_TEST(received.body() == R"({"jsonrpc":"2.0","id":1,"method":"ping"})");
}

BOOST_AUTO_TEST_CASE(sse_events_are_delivered_as_they_arrive) {
  const std::string event1 = "id: 1\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}\n\n";
  const std::string event2 = "id: 2\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n\n";
  std::promise<void> client_got_event1;
  std::shared_future<void> got1 = client_got_event1.get_future().share();
  std::promise<bool> upstream_saw_signal;
  scripted_upstream upstream(
      [&](upstream_conn& c) {
        if (!c.read_request()) return upstream_saw_signal.set_value(false);
        c.write(std::string(sse_head) + chunk(event1));
        // Event 2 is written only once the client holds event 1.
        const bool signalled = upstream_conn::wait_for(got1);
        upstream_saw_signal.set_value(signalled);
        if (!signalled) return;
        c.write(chunk(event2) + "0\r\n\r\n");
        c.wait_closed(wait_limit);
      },
      one_connection);
  asio::io_context io;
  auto pool = make_pool(io);

  auto head = start(io, pool, upstream.url());
  BOOST_TEST_REQUIRE(!head.ec, head.ec.message() << ": " << head.detail);
  BOOST_TEST(head.exchange->head().header("Content-Type") == "text/event-stream");
  BOOST_TEST(!head.exchange->body_done());

  std::string first;
  while (first.size() < event1.size()) {
    const auto piece = read_piece(io, *head.exchange);
    BOOST_TEST_REQUIRE(!piece.ec, piece.ec.message());
    BOOST_TEST_REQUIRE(!piece.bytes.empty(), "the stream ended before event 1 was whole");
    first += piece.bytes;
  }
  BOOST_TEST(first == event1);  // all of event 1, none of event 2 (not written yet)
  client_got_event1.set_value();

  const std::string rest = read_to_end(io, *head.exchange);
  BOOST_TEST(rest == event2);
  auto signalled = upstream_saw_signal.get_future();
  BOOST_TEST_REQUIRE((signalled.wait_for(wait_limit) == std::future_status::ready));
  BOOST_TEST(signalled.get());
}

BOOST_AUTO_TEST_CASE(cancel_mid_body_closes_the_upstream_connection) {
  std::promise<bool> closed;
  scripted_upstream upstream(
      [&](upstream_conn& c) {
        if (!c.read_request()) return closed.set_value(false);
        c.write(std::string(sse_head) + chunk("data: one\n\n"));
        closed.set_value(c.wait_closed(wait_limit));  // the stream is never ended by the upstream
      },
      one_connection);
  asio::io_context io;
  auto pool = make_pool(io);

  auto head = start(io, pool, upstream.url());
  BOOST_TEST_REQUIRE(!head.ec, head.ec.message() << ": " << head.detail);
  const auto piece = read_piece(io, *head.exchange);
  BOOST_TEST_REQUIRE(!piece.ec, piece.ec.message());
  BOOST_TEST(piece.bytes == "data: one\n\n");

  // A read is pending (nothing more comes) when the agent goes away.
  piece_outcome pending;
  begin_read(io, *head.exchange, pending);
  io.restart();
  io.poll();
  BOOST_TEST(!pending.done);
  head.exchange->cancel();
  BOOST_TEST_REQUIRE(run_until(io, [&] { return pending.done; }), "the pending read did not complete");
  BOOST_TEST(pending.ec.failed());
  BOOST_TEST(pending.bytes.empty());

  auto saw_close = closed.get_future();
  BOOST_TEST_REQUIRE((saw_close.wait_for(wait_limit) == std::future_status::ready));
  BOOST_TEST(saw_close.get(), "the upstream did not see its connection closed");

  // Reads after a cancel fail at once.
  const auto later = read_piece(io, *head.exchange);
  BOOST_TEST(later.ec.failed());

  head.exchange.reset();
  io.restart();
  io.poll();
  BOOST_TEST(pool->idle_count(where(upstream)) == 0u);
}

BOOST_AUTO_TEST_CASE(cancel_between_reads_closes_and_does_not_pool) {
  std::promise<bool> closed;
  scripted_upstream upstream(
      [&](upstream_conn& c) {
        if (!c.read_request()) return closed.set_value(false);
        c.write(std::string(sse_head) + chunk("data: one\n\n"));
        closed.set_value(c.wait_closed(wait_limit));
      },
      one_connection);
  asio::io_context io;
  auto pool = make_pool(io);

  auto head = start(io, pool, upstream.url());
  BOOST_TEST_REQUIRE(!head.ec, head.ec.message() << ": " << head.detail);
  BOOST_TEST(read_piece(io, *head.exchange).bytes == "data: one\n\n");
  head.exchange->cancel();
  head.exchange.reset();
  io.restart();
  io.poll();

  auto saw_close = closed.get_future();
  BOOST_TEST_REQUIRE((saw_close.wait_for(wait_limit) == std::future_status::ready));
  BOOST_TEST(saw_close.get(), "the upstream did not see its connection closed");
  BOOST_TEST(pool->idle_count(where(upstream)) == 0u);
}

BOOST_AUTO_TEST_CASE(no_answer_within_first_byte_timeout_is_a_timeout) {
  std::promise<bool> closed;
  scripted_upstream upstream(
      [&](upstream_conn& c) {
        if (!c.read_request()) return closed.set_value(false);
        closed.set_value(c.wait_closed(wait_limit));  // never answers
      },
      one_connection);
  asio::io_context io;
  auto pool = make_pool(io);

  const auto started = std::chrono::steady_clock::now();
  auto head = start(io, pool, upstream.url(), post(), exchange_options{300ms, 5s});
  BOOST_TEST((head.ec == client_error::timeout), head.ec.message() << ": " << head.detail);
  BOOST_TEST(head.exchange == nullptr);
  BOOST_TEST((std::chrono::steady_clock::now() - started >= 300ms));

  // The connection was dropped, not kept for later.
  auto saw_close = closed.get_future();
  BOOST_TEST_REQUIRE((saw_close.wait_for(wait_limit) == std::future_status::ready));
  BOOST_TEST(saw_close.get(), "the upstream did not see its connection closed");
  BOOST_TEST(pool->idle_count(where(upstream)) == 0u);
}

BOOST_AUTO_TEST_CASE(silent_stream_past_idle_timeout_is_a_timeout) {
  std::promise<bool> closed;
  scripted_upstream upstream(
      [&](upstream_conn& c) {
        if (!c.read_request()) return closed.set_value(false);
        c.write(std::string(sse_head) + chunk("data: one\n\n"));
        closed.set_value(c.wait_closed(wait_limit));  // then silence
      },
      one_connection);
  asio::io_context io;
  auto pool = make_pool(io);

  auto head = start(io, pool, upstream.url(), post(), exchange_options{5s, 300ms});
  BOOST_TEST_REQUIRE(!head.ec, head.ec.message() << ": " << head.detail);
  BOOST_TEST(read_piece(io, *head.exchange).bytes == "data: one\n\n");
  const auto piece = read_piece(io, *head.exchange);
  BOOST_TEST((piece.ec == client_error::timeout), piece.ec.message());

  auto saw_close = closed.get_future();
  BOOST_TEST_REQUIRE((saw_close.wait_for(wait_limit) == std::future_status::ready));
  BOOST_TEST(saw_close.get());
  head.exchange.reset();
  io.restart();
  io.poll();
  BOOST_TEST(pool->idle_count(where(upstream)) == 0u);
}

BOOST_AUTO_TEST_CASE(fully_read_keep_alive_connection_goes_back_to_the_pool) {
  std::atomic<int> requests{0};
  scripted_upstream upstream(
      [&](upstream_conn& c) {
        while (auto request = c.read_request()) {
          const std::string body = R"({"jsonrpc":"2.0","id":)" + std::to_string(++requests) + R"(,"result":{}})";
          c.write("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                  std::to_string(body.size()) + "\r\n\r\n" + body);
        }
      },
      one_connection);
  asio::io_context io;
  auto pool = make_pool(io);

  auto first = start(io, pool, upstream.url());
  BOOST_TEST_REQUIRE(!first.ec, first.ec.message() << ": " << first.detail);
  BOOST_TEST(read_to_end(io, *first.exchange) == R"({"jsonrpc":"2.0","id":1,"result":{}})");
  BOOST_TEST(pool->idle_count(where(upstream)) == 0u);  // still held by the exchange
  first.exchange.reset();
  BOOST_TEST(pool->idle_count(where(upstream)) == 1u);

  // The next exchange reuses it: one connection, two requests.
  auto second = start(io, pool, upstream.url());
  BOOST_TEST_REQUIRE(!second.ec, second.ec.message() << ": " << second.detail);
  BOOST_TEST(pool->idle_count(where(upstream)) == 0u);
  BOOST_TEST(read_to_end(io, *second.exchange) == R"({"jsonrpc":"2.0","id":2,"result":{}})");
  second.exchange.reset();
  BOOST_TEST(pool->idle_count(where(upstream)) == 1u);
  BOOST_TEST(upstream.accepts() == 1);
  BOOST_TEST(requests == 2);
}

BOOST_AUTO_TEST_CASE(body_not_read_to_its_end_does_not_go_back_to_the_pool) {
  scripted_upstream upstream(
      [&](upstream_conn& c) {
        if (!c.read_request()) return;
        c.write("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"partial\":");
        c.wait_closed(wait_limit);
      },
      one_connection);
  asio::io_context io;
  auto pool = make_pool(io);
  auto head = start(io, pool, upstream.url());
  BOOST_TEST_REQUIRE(!head.ec, head.ec.message() << ": " << head.detail);
  head.exchange.reset();  // dropped with body bytes still due
  io.restart();
  io.poll();
  BOOST_TEST(pool->idle_count(where(upstream)) == 0u);
}

BOOST_AUTO_TEST_CASE(answer_without_body_is_done_at_once_and_pooled) {
  scripted_upstream upstream(
      [&](upstream_conn& c) {
        if (!c.read_request()) return;
        c.write("HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n");
        c.wait_closed(wait_limit);
      },
      one_connection);
  asio::io_context io;
  auto pool = make_pool(io);
  auto head = start(io, pool, upstream.url());
  BOOST_TEST_REQUIRE(!head.ec, head.ec.message() << ": " << head.detail);
  BOOST_TEST(head.exchange->head().status == 202);
  BOOST_TEST(head.exchange->body_done());
  const auto piece = read_piece(io, *head.exchange);
  BOOST_TEST(!piece.ec);
  BOOST_TEST(piece.bytes.empty());
  head.exchange.reset();
  BOOST_TEST(pool->idle_count(where(upstream)) == 1u);
}

BOOST_AUTO_TEST_CASE(body_ended_by_close_is_read_whole_and_not_pooled) {
  scripted_upstream upstream(
      [&](upstream_conn& c) {
        if (!c.read_request()) return;
        c.write("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n{\"ok\":true}");
      },
      one_connection);  // the socket closes when the script returns
  asio::io_context io;
  auto pool = make_pool(io);
  auto head = start(io, pool, upstream.url());
  BOOST_TEST_REQUIRE(!head.ec, head.ec.message() << ": " << head.detail);
  BOOST_TEST(read_to_end(io, *head.exchange) == R"({"ok":true})");
  head.exchange.reset();
  BOOST_TEST(pool->idle_count(where(upstream)) == 0u);
}

BOOST_AUTO_TEST_CASE(url_refused_by_policy_fails_without_connecting) {
  asio::io_context io;
  tcp::acceptor listener(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  listener.non_blocking(true);
  const std::string url = "http://127.0.0.1:" + std::to_string(listener.local_endpoint().port()) + "/mcp";
  auto pool = make_pool(io, /*allow_private=*/false);

  const auto out = start(io, pool, url, post(), exchange_options{5s, 5s});
  BOOST_TEST((out.ec == client_error::ssrf_denied), out.ec.message());
  BOOST_TEST(out.detail.find("loopback") != std::string::npos, out.detail);
  BOOST_TEST(out.exchange == nullptr);

  // Nobody connected: a completed TCP connect would be waiting in the backlog.
  tcp::socket accepted(io);
  error_code ec;
  listener.accept(accepted, ec);
  BOOST_TEST((ec == asio::error::would_block), ec.message());
}

BOOST_AUTO_TEST_CASE(malformed_url_is_invalid_url) {
  asio::io_context io;
  auto pool = make_pool(io);
  const auto out = start(io, pool, "ftp://127.0.0.1/mcp");
  BOOST_TEST((out.ec == client_error::invalid_url), out.ec.message());
  BOOST_TEST(out.exchange == nullptr);
}

BOOST_AUTO_TEST_SUITE_END()

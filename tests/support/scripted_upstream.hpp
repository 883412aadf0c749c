// The scripted loopback upstream of the unit tests: the one server that the
// net, proxy and oauth unit tests put on the other end of the client they
// test (link mcpgate_test_support, #include "support/scripted_upstream.hpp").
//
// scripted_upstream listens on 127.0.0.1, port 0 (HTTPS when given a TLS
// context), and runs the test's script on every connection it accepts, each
// connection on a thread of its own: a client may hold one connection idle
// while it opens the next. The script sees an upstream_conn and does what the
// test needs: read the next request, write bytes exactly as given (a whole
// answer, half of one, an SSE stream piece by piece), stay silent, wait for
// the client to close, close. The connection is closed when the script
// returns. serve() is the usual script: every request answered by a
// responder, until the client closes or an answer says to close.
//
// No sleeps: every wait is for an event (bytes, EOF, a future the test
// fulfils) and is bounded by `wait_limit`, which only ends a hang. The
// destructor ends every wait at once (except a script's own wait on a
// future), then joins the threads; declare what a script uses (promises,
// counters) before the upstream, so that it outlives them.
//
// Thread-safety: scripts run on the upstream's threads. They must not use
// Boost.Test assertions (which are not thread-safe); they hand what they saw
// to the test through futures, atomics or a mutex, and the test asserts.
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

namespace mcpgate::test {

using http_request = boost::beast::http::request<boost::beast::http::string_body>;
using http_response = boost::beast::http::response<boost::beast::http::string_body>;

// The bound on every wait of the upstream: long enough for a loaded 2-core
// machine under sanitizers, reached only when something hangs.
inline constexpr std::chrono::milliseconds wait_limit{10'000};

// One accepted connection, as a script sees it. Every operation waits at
// most until its deadline and fails (false / nullopt) when the upstream is
// being destroyed; an operation that timed out closes the connection.
class upstream_conn {
 public:
  ~upstream_conn();
  upstream_conn(const upstream_conn&) = delete;
  upstream_conn& operator=(const upstream_conn&) = delete;

  // The next whole request (header and body, Content-Length or chunked) as
  // the raw bytes received; nullopt on EOF, an error, bytes that are not
  // HTTP, or after `within`.
  std::optional<std::string> read_request(std::chrono::milliseconds within = wait_limit);
  // Writes all of `bytes`; false when the connection failed.
  bool write(std::string_view bytes);
  // True when the client closed the connection (EOF or reset) within
  // `within`; whatever it sends meanwhile is read and dropped.
  bool wait_closed(std::chrono::milliseconds within = wait_limit);
  // Closes the connection (TCP close, no TLS close_notify).
  void close();

  // Waits for the test's signal; false when it did not come within `within`.
  static bool wait_for(const std::shared_future<void>& signal, std::chrono::milliseconds within = wait_limit);

 private:
  friend class scripted_upstream;
  struct impl;
  explicit upstream_conn(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

// What serve() writes for one request.
struct answer {
  // These bytes, exactly (to_wire() makes them from a Beast response).
  answer(std::string wire) : bytes(std::move(wire)) {}  // NOLINT: implicit on purpose
  // Nothing: the connection is held, silent, until the client closes it.
  static answer silence() { return answer(); }
  // These bytes, then the connection is closed whatever they announced.
  static answer then_close(std::string wire) {
    answer a(std::move(wire));
    a.close_after = true;
    return a;
  }

  std::optional<std::string> bytes;
  bool close_after = false;

 private:
  answer() = default;
};

using responder = std::function<answer(const http_request&)>;

struct upstream_options {
  // Connections accepted in all; later ones wait in the backlog, unserved.
  int max_connections = std::numeric_limits<int>::max();
  // HTTPS with this server context (its certificate and key) when set: the
  // TLS handshake runs before the script, which then sees plain bytes.
  std::shared_ptr<boost::asio::ssl::context> tls;
};

// One connection accepted in all: a test that the client reuses it, or that
// it opens no second one.
inline const upstream_options one_connection = [] {
  upstream_options o;
  o.max_connections = 1;
  return o;
}();

class scripted_upstream {
 public:
  using script = std::function<void(upstream_conn&)>;

  // Listens at once; throws std::system_error when it cannot.
  explicit scripted_upstream(script s, upstream_options options = {});
  // Ends every wait of every connection, joins the threads.
  ~scripted_upstream();
  scripted_upstream(const scripted_upstream&) = delete;
  scripted_upstream& operator=(const scripted_upstream&) = delete;

  // The script that answers every request on a connection through
  // `respond`, in order. After an answer::silence() it waits for the client
  // to close; after answer::then_close(), or a request that said
  // "Connection: close", it closes.
  static script serve(responder respond);

  std::uint16_t port() const { return port_; }
  // "http://127.0.0.1:PORT" ("https://" with TLS).
  std::string base() const;
  // base() + path.
  std::string url(std::string_view path = "/mcp") const;
  // Connections accepted so far (counted before any TLS handshake).
  int accepts() const { return accepts_.load(); }

 private:
  struct impl;
  void accept_loop();
  void run_connection(upstream_conn& conn);

  const script script_;
  const upstream_options options_;
  std::unique_ptr<impl> impl_;
  std::uint16_t port_ = 0;
  std::atomic<int> accepts_{0};
  std::thread acceptor_thread_;
};

// `raw` (one request as read_request() returned it) parsed; nullopt when it
// is not one whole HTTP request.
std::optional<http_request> parse_request(std::string_view raw);
// A response as bytes on the wire, exactly as it is (call prepare_payload()
// first for a Content-Length).
std::string to_wire(const http_response& response);
// One chunk of a chunked body: size line, data, CRLF.
std::string chunk(std::string_view data);

// An answer's wire bytes: the status line, Content-Type when given,
// `extra_headers` ("Name: value\r\n" lines), Content-Length and the body.
std::string http_answer(unsigned status, std::string_view content_type, std::string_view body,
                        std::string_view extra_headers = {});

// A 200 application/json answer.
std::string json_answer(std::string_view body, std::string_view extra_headers = {});
// A TCP port on 127.0.0.1 that nothing listens on: bound, then closed.
std::uint16_t closed_port();

}  // namespace mcpgate::test

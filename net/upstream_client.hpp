// The gateway's outbound HTTP/1.1 client toward upstream MCP servers.
//
// upstream_pool hands out connections to an origin (scheme, host, port):
// an idle keep-alive connection when one is still alive, else a new one. A new
// connection resolves the host, applies check_address() to every resolved
// address before any connect (so DNS rebinding cannot reach a forbidden
// address), connects only to the allowed ones within connect_timeout and, for
// https, does a verified TLS handshake (system trust store plus an optional
// extra CA file, SNI, host name verification).
//
// async_request() is the one-shot convenience on top: connect, write one
// request, read one whole string_body response under a total deadline, and
// return the connection to the pool when keep-alive holds.
//
// Thread-safety: upstream_pool is thread-safe (the idle list is guarded by a
// mutex); create it with upstream_pool::create(). An upstream_connection is
// owned by one caller at a time and used on its own strand (the executor of
// tcp()), which is where every completion handler of this file runs.
// Failures are error codes (client_error, or Asio/Beast/SSL codes while
// talking), never exceptions.
#pragma once

#include "common/error.hpp"
#include "net/deadline.hpp"
#include "net/url_policy.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <array>
#include <chrono>
#include <compare>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace mcpgate::net {

enum class client_error {
  ok = 0,
  invalid_url,      // not an absolute http(s) URL the client can use
  ssrf_denied,      // the URL or every resolved address is refused by the SSRF policy
  resolve_failed,   // DNS gave no answer (or an error)
  connect_failed,   // no allowed address accepted the TCP connection
  connect_timeout,  // resolve + connect (+ TLS handshake) exceeded connect_timeout
  tls_failed,       // TLS handshake or certificate verification failed
  timeout,          // the request's total deadline passed while writing or reading
};

const boost::system::error_category& client_category() noexcept;

inline boost::system::error_code make_error_code(client_error e) noexcept {
  return {static_cast<int>(e), client_category()};
}

struct client_options {
  ssrf_policy policy;
  std::chrono::milliseconds connect_timeout{10000};  // resolve + connect + TLS handshake
  std::string ca_file;                               // optional PEM file of extra trusted CAs
  std::size_t max_idle_per_origin = 16;
  std::chrono::milliseconds idle_keepalive{30000};  // idle connections older than this are dropped
  // The executor runs on one thread only: connections use it directly, no
  // strand (every hand-off between strands costs a trip through the queue).
  bool single_thread = false;
};

// One connection to an upstream, plain or TLS, behind one interface.
// Use visit() to run Beast's http::async_write / async_read on whichever
// stream it is: conn.visit([&](auto& stream) { http::async_write(stream, req, h); }).
class upstream_connection {
 public:
  using plain_stream = boost::beast::tcp_stream;
  using tls_stream = boost::beast::ssl_stream<boost::beast::tcp_stream>;

  upstream_connection(net::origin where, plain_stream stream);
  upstream_connection(net::origin where, plain_stream stream, std::shared_ptr<boost::asio::ssl::context> tls);
  upstream_connection(const upstream_connection&) = delete;
  upstream_connection& operator=(const upstream_connection&) = delete;
  ~upstream_connection();

  template <class F>
  decltype(auto) visit(F&& f) {
    return std::visit(std::forward<F>(f), stream_);
  }

  // The TCP layer: deadlines (expires_after), cancel(), the executor.
  boost::beast::tcp_stream& tcp();
  const net::origin& where() const { return origin_; }
  bool is_tls() const { return stream_.index() == 1; }
  // True when it came out of the idle list: the upstream may have closed it
  // meanwhile, so a failure before any response byte deserves one retry.
  bool reused() const { return reused_; }

  // What an upstream_exchange keeps from one request to the next on this
  // connection, so that a warm connection costs no allocation: the read
  // buffer, the parsed response head, the body piece handed out.
  struct scratch_space {
    boost::beast::flat_buffer buffer;
    std::string text;
    std::vector<std::array<std::uint32_t, 4>> fields;
    std::vector<std::pair<std::string_view, std::string_view>> head_fields;  // views into text
    std::string piece;
    std::string request_head;  // the request line and header block being sent
  };
  scratch_space& scratch() { return scratch_; }
  // The deadline of the exchange in progress (see net/deadline.hpp): when it
  // passes, the socket's pending operations are cancelled. Use it on the
  // executor of tcp() only.
  net::deadline& deadline();

 private:
  friend class upstream_pool;
  friend class connect_op;

  net::origin origin_;
  // Declared before stream_ so that the SSL context outlives the stream.
  std::shared_ptr<boost::asio::ssl::context> tls_context_;
  std::variant<plain_stream, tls_stream> stream_;
  bool reused_ = false;
  std::chrono::steady_clock::time_point idle_since_{};
  scratch_space scratch_;
  std::unique_ptr<net::deadline> deadline_;  // made at first use
};

class upstream_pool : public std::enable_shared_from_this<upstream_pool> {
 public:
  // ec is a client_error (or the Asio code behind it); detail is the SSRF
  // reason for ssrf_denied ("address 10.0.0.1 is in a private network") and a
  // human-readable cause otherwise; conn is set exactly when !ec.
  using connect_handler =
      std::function<void(boost::system::error_code ec, std::unique_ptr<upstream_connection> conn, std::string detail)>;

  // Fails (with the SSL error) when ca_file cannot be loaded.
  static result<std::shared_ptr<upstream_pool>> create(boost::asio::any_io_executor executor, client_options options);

  // Runs handler on the connection's strand (never inline).
  // reuse_idle=false always opens a new connection.
  void connect(const origin& where, connect_handler handler, bool reuse_idle = true);

  // An idle keep-alive connection to `where` that still looks alive (see
  // connect()), marked reused(); nullptr when there is none. Synchronous.
  std::unique_ptr<upstream_connection> take_idle_connection(const origin& where);

  // Hands back a connection whose last response was read completely and whose
  // keep-alive holds. REQUIRES: no operation pending on it.
  void release(std::unique_ptr<upstream_connection> conn);

  std::size_t idle_count(const origin& where) const;
  const client_options& options() const { return options_; }
  const boost::asio::any_io_executor& executor() const { return executor_; }

  upstream_pool(boost::asio::any_io_executor executor, client_options options,
                std::shared_ptr<boost::asio::ssl::context> tls);  // use create()

 private:
  friend class connect_op;
  std::unique_ptr<upstream_connection> take_idle(const origin& where);

  // Constant after construction.
  const boost::asio::any_io_executor executor_;
  const client_options options_;
  const std::shared_ptr<boost::asio::ssl::context> tls_context_;

  mutable std::mutex mu_;
  std::map<origin, std::deque<std::unique_ptr<upstream_connection>>> idle_;  // guarded by mu_
};

struct request_options {
  // From the call: writing and reading must end by then. Connecting is bounded
  // by client_options::connect_timeout (and counts against this deadline).
  std::chrono::milliseconds timeout{30000};
  std::size_t body_limit = 8 * 1024 * 1024;
};

using request_handler =
    std::function<void(boost::system::error_code ec,
                       boost::beast::http::response<boost::beast::http::string_body> response, std::string detail)>;

// One request to `url` and its whole response. The URL's target and Host
// replace those of `request`; Content-Length is set from the body. The URL
// gets the static check_upstream_url() first (ssrf_denied / invalid_url with
// the reason in detail). A reused connection that fails before any response
// byte is retried once on a new connection. The handler runs on the
// connection's strand, or on the pool's executor when no connection was made.
void async_request(const std::shared_ptr<upstream_pool>& pool, std::string_view url,
                   boost::beast::http::request<boost::beast::http::string_body> request, request_options options,
                   request_handler handler);

}  // namespace mcpgate::net

namespace boost::system {
template <>
struct is_error_code_enum<mcpgate::net::client_error> : std::true_type {};
}  // namespace boost::system

// One request to an upstream whose response body is read piece by piece.
//
// The proxy path needs what async_request() cannot give: the response header
// as soon as it arrives (within a first-byte deadline), then the body in
// pieces as the upstream sends them, so that an SSE stream is relayed event by
// event and a slow reader slows the upstream read instead of growing a buffer.
//
//   auto [ec, detail, exchange] = co_await upstream_exchange::start(pool, url, request, options);
//   exchange->head().status, exchange->head().header("Content-Type")
//   auto [ec, bytes] = co_await exchange->read_some();   // empty bytes: the end
//   ...
//   exchange->cancel()   // the agent went away: close the upstream now
//
// It is written for the proxy's hot path: a warm keep-alive connection is
// taken from the pool synchronously, the request goes out in one write, the
// response head is parsed (by Beast's parser) into storage the connection
// keeps from one request to the next, the deadlines cost no timer operation
// per read (net/deadline.hpp), and nothing hops between executors.
//
// At most one read_some() is outstanding at a time; the bytes it returns stay
// valid until the next read_some() or the exchange's end. The connection goes
// back to the pool only when the body was read to its end and keep-alive
// holds; a cancelled or failed exchange closes it.
//
// Thread-safety: everything (start, read_some, cancel, destruction) runs on
// the pool's executor, which must be a single thread (client_options::
// single_thread): in the daemon, the shard the request runs on.
#pragma once

#include "net/upstream_client.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mcpgate::net {

struct exchange_options {
  // From the start of sending until the response header has arrived (the
  // connect is bounded by client_options::connect_timeout on its own).
  std::chrono::milliseconds first_byte_timeout{180'000};
  // Between two pieces of the response body.
  std::chrono::milliseconds idle_timeout{300'000};
};

class response_reader;

class upstream_exchange : public std::enable_shared_from_this<upstream_exchange> {
 public:
  // The response's status line and fields; the views stay valid as long as
  // the exchange.
  struct response_head {
    unsigned status = 0;
    std::span<const std::pair<std::string_view, std::string_view>> fields;
    // The first field with this name (case-insensitive), or "".
    std::string_view header(std::string_view name) const;
  };

  // The proxy's form: header fields already rendered as "Name: value\r\n"
  // lines (without Host, Content-Length or Connection, which are added here).
  struct raw_request {
    std::string_view method;  // "POST"
    std::string fields;
    std::string body;
  };

  struct started {
    boost::system::error_code ec;
    std::string detail;
    std::shared_ptr<upstream_exchange> exchange;  // set exactly when !ec
  };

  // Sends `request` to `url` (a URL the caller has parsed and put through
  // check_upstream_url(); the proxy keeps both per installation; it must
  // outlive the awaiting). Errors as in
  // async_request(): connect errors, then client_error::timeout when no
  // header arrives in time, or the Asio/Beast code. A reused keep-alive
  // connection that fails before any response byte is retried once on a new
  // connection.
  static boost::asio::awaitable<started> start(std::shared_ptr<upstream_pool> pool, const parsed_url& url,
                                               raw_request request, exchange_options options);
  // The same from a Beast request and a URL string, which gets the static
  // URL check first (ssrf_denied / invalid_url with the reason in detail).
  static boost::asio::awaitable<started> start(std::shared_ptr<upstream_pool> pool, std::string_view url,
                                               boost::beast::http::request<boost::beast::http::string_body> request,
                                               exchange_options options);

  const response_head& head() const { return head_; }
  // True when the response has no body left to read (e.g. 202 or 204).
  bool body_done() const;

  boost::asio::awaitable<std::pair<boost::system::error_code, std::string_view>> read_some();
  void cancel();

  upstream_exchange(std::shared_ptr<upstream_pool> pool, exchange_options options);  // use start()
  ~upstream_exchange();
  upstream_exchange(const upstream_exchange&) = delete;
  upstream_exchange& operator=(const upstream_exchange&) = delete;

 private:
  // Connects (or takes an idle connection), writes the request, reads the
  // head. `self` is this exchange, kept alive by the coroutine's frame.
  boost::asio::awaitable<started> send(std::shared_ptr<upstream_exchange> self, const parsed_url& url,
                                       raw_request request);
  boost::asio::awaitable<boost::system::error_code> read_head();

  // Constant after construction.
  const std::shared_ptr<upstream_pool> pool_;
  const exchange_options options_;

  std::unique_ptr<upstream_connection> conn_;
  std::unique_ptr<response_reader> parser_;
  response_head head_;
  bool cancelled_ = false;
  bool failed_ = false;
};

}  // namespace mcpgate::net

// One request to an upstream whose response body is read piece by piece.
//
// The proxy path needs what async_request() cannot give: the response header
// as soon as it arrives (within a first-byte deadline), then the body in
// pieces as the upstream sends them, so that an SSE stream is relayed event by
// event and a slow reader slows the upstream read instead of growing a buffer.
//
//   upstream_exchange::start(pool, url, request, options, on_head);
//   on_head(ec, detail, exchange)   // header in exchange->head()
//   exchange->read_some(on_piece)   // on_piece(ec, bytes); empty bytes = end
//   ...
//   exchange->cancel()              // the agent went away: close upstream now
//
// At most one read_some() is outstanding at a time; the bytes handed to
// on_piece stay valid until the next read_some() or the exchange's end. The
// connection goes back to the pool only when the body was read to its end and
// keep-alive holds; a cancelled or failed exchange closes it.
//
// Thread-safety: handlers run on the upstream connection's strand (never
// inline). read_some() and cancel() may be called from any thread.
#pragma once

#include "net/upstream_client.hpp"

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include <chrono>
#include <functional>
#include <array>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace mcpgate::net {

struct exchange_options {
  // From the start of sending until the response header has arrived (the
  // connect is bounded by client_options::connect_timeout on its own).
  std::chrono::milliseconds first_byte_timeout{180'000};
  // Between two pieces of the response body.
  std::chrono::milliseconds idle_timeout{300'000};
};

class upstream_exchange : public std::enable_shared_from_this<upstream_exchange> {
 public:
  using head_handler = std::function<void(boost::system::error_code ec, std::string detail,
                                          std::shared_ptr<upstream_exchange> exchange)>;
  using piece_handler = std::function<void(boost::system::error_code ec, std::string_view bytes)>;
  using response_head = boost::beast::http::response_header<>;

  // Sends `request` to `url` (its target and Host are set from the URL,
  // Content-Length from the body). Errors as in async_request(): the static
  // URL check first (ssrf_denied / invalid_url), then connect errors, then
  // client_error::timeout when no header arrives in time, or the Asio/Beast
  // code. A reused keep-alive connection that fails before any response byte
  // is retried once on a new connection.
  static void start(const std::shared_ptr<upstream_pool>& pool, std::string_view url,
                    boost::beast::http::request<boost::beast::http::string_body> request,
                    exchange_options options, head_handler handler);
  // The same for a URL the caller has parsed and put through
  // check_upstream_url() already (the proxy keeps both per installation).
  static void start(const std::shared_ptr<upstream_pool>& pool, const parsed_url& url,
                    boost::beast::http::request<boost::beast::http::string_body> request,
                    exchange_options options, head_handler handler);

  // The proxy's form: header fields already rendered as "Name: value\r\n"
  // lines (without Host, Content-Length or Connection, which are added here).
  struct raw_request {
    std::string_view method;  // "POST"
    std::string fields;
    std::string body;
  };
  static void start(const std::shared_ptr<upstream_pool>& pool, const parsed_url& url, raw_request request,
                    exchange_options options, head_handler handler);

  const response_head& head() const;
  // True when the response has no body left to read (e.g. 202 or 204).
  bool body_done() const;

  void read_some(piece_handler handler);
  void cancel();

  // `head`: the request line and header block, rendered; use start().
  upstream_exchange(std::shared_ptr<upstream_pool> pool, origin where, std::string head, std::string body,
                    exchange_options options, head_handler handler);
  ~upstream_exchange();
  upstream_exchange(const upstream_exchange&) = delete;
  upstream_exchange& operator=(const upstream_exchange&) = delete;

 private:
  void connect(bool reuse_idle);
  void on_connect(boost::system::error_code ec, std::unique_ptr<upstream_connection> conn,
                  std::string detail);
  void on_write(boost::system::error_code ec);
  void on_header(boost::system::error_code ec);
  void on_error(boost::system::error_code ec);
  void fail_head(boost::system::error_code ec, std::string detail);
  void do_read(piece_handler handler);
  void on_body(boost::system::error_code ec, piece_handler handler);

  // Constant after construction.
  const std::shared_ptr<upstream_pool> pool_;
  const origin origin_;
  // The request as it goes on the wire: one rendered header block (Beast's
  // serializer walks a chain of small buffers per field, which showed in the
  // profile of every proxied request) and the body.
  const std::string head_;
  const std::string body_;
  const exchange_options options_;

  // Touched only on the connection's strand (before the head handler runs,
  // and later from read_some/cancel, which hop there).
  head_handler on_head_;
  std::unique_ptr<upstream_connection> conn_;
  boost::beast::flat_buffer buffer_;
  std::optional<boost::beast::http::response_parser<boost::beast::http::buffer_body>> parser_;
  // Where body bytes land, allocated (uninitialised) at the first body read;
  // the read buffer starts with room for a typical answer in one read.
  static constexpr std::size_t piece_size = 16 * 1024;
  static constexpr std::size_t read_buffer_size = 8 * 1024;
  std::unique_ptr<char[]> piece_;
  bool retried_ = false;
  bool cancelled_ = false;
  bool failed_ = false;
};

}  // namespace mcpgate::net

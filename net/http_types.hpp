// The HTTP request and response as the router and REST handlers see them.
//
// Plain values, so handlers need no Beast headers: the server (http_server.cpp)
// converts to and from Beast's messages at the edge. Thread-safety: plain values.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/system/error_code.hpp>

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mcpgate::net {

using header_list = std::vector<std::pair<std::string, std::string>>;

// A request as the server parsed it. The views point into storage the server
// keeps for the connection, valid until the handler's awaitable completes;
// a handler that needs a value longer copies it.
struct http_request {
  std::string_view method;  // as sent, e.g. "GET"
  std::string_view target;  // origin-form, e.g. "/api/projects/1/x?limit=2"
  std::vector<std::pair<std::string_view, std::string_view>> headers;
  std::string body;

  // The first header with this name (case-insensitive), or "" if absent.
  std::string_view header(std::string_view name) const;
};

// A response body produced piece by piece after the header (the proxy's
// relay of an upstream SSE stream). The server asks for the next piece only
// once the previous one is written, so a slow client slows the producer.
// Both member functions are called on the connection's shard.
class body_source {
 public:
  virtual ~body_source() = default;
  // The next piece. ec set: the body failed midway (the client sees a
  // truncated stream). Empty bytes without ec: the end. The bytes stay valid
  // until the next call. At most one call outstanding.
  virtual boost::asio::awaitable<std::pair<boost::system::error_code, std::string_view>> next() = 0;
  // The client went away: release what feeds the body, now; a pending
  // next() completes (with an error).
  virtual void cancel() = 0;
};

struct http_response {
  unsigned status = 200;
  header_list headers;
  std::string body;
  // When set, `body` is ignored: the body comes from here, sent chunked.
  std::shared_ptr<body_source> stream;
  // Kept until the response is written: what accounts for `body` (its
  // share of the gateway's memory budget).
  std::shared_ptr<void> keep;

  // A response with `Content-Type: application/json`.
  static http_response json(unsigned status, std::string body);
  // A response without a body (204, 302...).
  static http_response empty(unsigned status);
};

bool iequals(std::string_view a, std::string_view b);

}  // namespace mcpgate::net

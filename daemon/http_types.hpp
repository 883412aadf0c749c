// The HTTP request and response as the router and REST handlers see them.
//
// Plain values, so handlers need no Beast headers: the server (http_server.cpp)
// converts to and from Beast's messages at the edge. Thread-safety: plain values.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mcpgate::daemon {

using header_list = std::vector<std::pair<std::string, std::string>>;

struct http_request {
  std::string method;  // as sent, e.g. "GET"
  std::string target;  // origin-form, e.g. "/api/projects/1/x?limit=2"
  header_list headers;
  std::string body;

  // The first header with this name (case-insensitive), or "" if absent.
  std::string_view header(std::string_view name) const;
};

struct http_response {
  unsigned status = 200;
  header_list headers;
  std::string body;

  // A response with `Content-Type: application/json`.
  static http_response json(unsigned status, std::string body);
  // A response without a body (204, 302...).
  static http_response empty(unsigned status);
};

bool iequals(std::string_view a, std::string_view b);

}  // namespace mcpgate::daemon

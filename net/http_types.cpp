#include "net/http_types.hpp"

#include "common/text.hpp"

namespace mcpgate::net {

bool iequals(std::string_view a, std::string_view b) { return ascii_iequals(a, b); }

std::string_view http_request::header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (iequals(key, name)) return value;
  }
  return {};
}

http_response http_response::json(unsigned status, std::string body) {
  http_response r;
  r.status = status;
  r.headers.emplace_back("Content-Type", "application/json");
  r.body = std::move(body);
  return r;
}

http_response http_response::empty(unsigned status) {
  http_response r;
  r.status = status;
  return r;
}

}  // namespace mcpgate::net

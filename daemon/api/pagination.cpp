#include "daemon/api/pagination.hpp"

#include <boost/url/encode.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>

#include <algorithm>
#include <charconv>
#include <optional>

namespace mcpgate::daemon::api {
namespace {

namespace json = boost::json;

std::optional<std::int64_t> parse_non_negative(std::string_view text) {
  std::int64_t value = 0;
  const auto* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end || value < 0) return std::nullopt;
  return value;
}

json::value page_link(const api_context& ctx, const route& r, std::int64_t limit, std::int64_t offset,
                      const link_params& carried) {
  std::string link = ctx.public_url + std::string(r.path) + "?limit=" + std::to_string(limit);
  if (offset > 0) link += "&offset=" + std::to_string(offset);
  for (const auto& [name, value] : carried) {
    link.append("&").append(name).append("=").append(boost::urls::encode(value, boost::urls::unreserved_chars));
  }
  return json::value(link);
}

}  // namespace

std::variant<registry::page, net::api_error> read_page(const route& r) {
  registry::page p{default_page_limit, 0};
  for (const auto& [key, text] : r.params) {
    if (key != "limit" && key != "offset") continue;
    const auto value = parse_non_negative(text);
    if (key == "limit") {
      if (!value || *value == 0 || *value > max_page_limit) {
        return net::validation_error("limit", "invalid",
                                     "limit must be an integer from 1 to " + std::to_string(max_page_limit) + ".");
      }
      p.limit = *value;
    } else {
      if (!value) return net::validation_error("offset", "invalid", "offset must be a non-negative integer.");
      p.offset = *value;
    }
  }
  return p;
}

json::object page_body(const api_context& ctx, const route& r, registry::page p, std::int64_t count,
                       json::array results, const link_params& carried) {
  // Written so that no sum can overflow: offset may be any non-negative int64.
  const bool has_next = p.offset < count - p.limit;
  const bool has_previous = p.offset > 0;
  return json::object{
      {"count", count},
      {"next", has_next ? page_link(ctx, r, p.limit, p.offset + p.limit, carried) : json::value(nullptr)},
      {"previous", has_previous ? page_link(ctx, r, p.limit, std::max<std::int64_t>(0, p.offset - p.limit), carried)
                                : json::value(nullptr)},
      {"results", std::move(results)}};
}

}  // namespace mcpgate::daemon::api

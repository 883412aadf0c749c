// Limit/offset pagination of the management API's lists, as PostHog's API
// (Django REST framework's LimitOffsetPagination) answers them:
//   ?limit=N (1..1000, default 100) &offset=M (>= 0, default 0)
//   {"count": total, "next": url|null, "previous": url|null, "results": [...]}
// `next`/`previous` are absolute: the configured public URL, then the path the
// request used (so they keep its route family and trailing slash), then
// limit, offset and whatever filter parameters the list passes on.
//
// Thread-safety: pure functions.
#pragma once

#include "daemon/api/context.hpp"
#include "daemon/router.hpp"
#include "net/api_error.hpp"
#include "registry/store.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace mcpgate::daemon::api {

inline constexpr std::int64_t default_page_limit = 100;
inline constexpr std::int64_t max_page_limit = 1000;

// limit and offset from the request's query (every occurrence is checked,
// the last one counts; other parameters are ignored); a 400 validation error
// naming the parameter when one is not a whole number in range.
std::variant<registry::page, net::api_error> read_page(const route& r);

// Query parameters a page link carries on besides limit and offset (the
// list's filters), as (name, decoded value); encoded in the link.
using link_params = std::vector<std::pair<std::string_view, std::string>>;

// The list body for the page `p` of `count` items whose `results` are given.
boost::json::object page_body(const api_context& ctx, const route& r, registry::page p, std::int64_t count,
                              boost::json::array results, const link_params& carried = {});

}  // namespace mcpgate::daemon::api

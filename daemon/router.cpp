#include "daemon/router.hpp"

#include <boost/url/parse.hpp>

#include <charconv>
#include <vector>

namespace mcpgate::daemon {
namespace {

std::optional<std::int64_t> parse_id(std::string_view text) {
  std::int64_t value = 0;
  const auto* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || ptr != end || value <= 0) return std::nullopt;
  return value;
}

}  // namespace

std::optional<route> match_route(std::string_view target) {
  const auto parsed = boost::urls::parse_origin_form(target);
  if (!parsed) return std::nullopt;

  std::vector<std::string> segments;
  for (auto segment : parsed->segments()) segments.push_back(std::string(segment));
  if (!segments.empty() && segments.back().empty()) segments.pop_back();  // trailing slash
  for (const auto& segment : segments) {
    if (segment.empty()) return std::nullopt;  // "//" is no route of ours
  }

  if (segments.size() < 4 || segments[0] != "api" || segments[3] != "mcp_server_installations") {
    return std::nullopt;
  }
  route r;
  if (segments[1] == "projects") {
    r.family = route_family::projects;
  } else if (segments[1] == "environments") {
    r.family = route_family::environments;
  } else {
    return std::nullopt;
  }
  const auto id = parse_id(segments[2]);
  if (!id) return std::nullopt;
  r.scope_id = *id;
  r.path = std::string(parsed->encoded_path());
  for (auto param : parsed->params()) r.params.emplace_back(param.key, param.value);

  if (segments.size() == 4) {
    r.resource = resource::installations;
    return r;
  }
  if (segments.size() == 5 && segments[4] == "install_custom") {
    r.resource = resource::install_custom;
    return r;
  }
  if (segments.size() == 5) {
    r.resource = resource::installation;
    r.installation_id = segments[4];
    return r;
  }
  if (segments.size() == 6 && segments[5] == "proxy" && segments[4] != "install_custom") {
    r.resource = resource::proxy;
    r.installation_id = segments[4];
    return r;
  }
  return std::nullopt;
}

std::string_view allowed_methods(resource r) {
  switch (r) {
    case resource::installations: return "GET, POST";
    case resource::installation: return "GET, PATCH, DELETE";
    case resource::install_custom: return "POST";
    case resource::proxy: return "GET, POST, DELETE";
  }
  return "";
}

}  // namespace mcpgate::daemon

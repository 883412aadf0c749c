#include "daemon/router.hpp"

#include <boost/url/decode_view.hpp>
#include <boost/url/parse.hpp>

#include <array>
#include <charconv>
#include <iterator>
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

// The routes below .../mcp_server_installations/{id}: `tail` is the segment
// after the id, `tool` the (decoded) one after that when `has_tool`. Sets
// r.resource (and r.tool_name); false when there is no such route.
bool below_installation(route& r, std::string_view tail, bool has_tool, std::string_view tool) {
  if (!has_tool) {
    if (tail == "proxy") {
      r.resource = resource::proxy;
      return true;
    }
    if (tail == "tools") {
      r.resource = resource::tools;
      return true;
    }
    return false;
  }
  if (tail != "tools") return false;
  r.resource = tool == "refresh" ? resource::tools_refresh : resource::tool;
  r.tool_name = std::string(tool);
  return true;
}

// The segments after .../mcp_server_installations/ that name an action on
// the collection rather than an installation id.
bool is_collection_verb(std::string_view segment) {
  return segment == "install_custom" || segment == "install_template" || segment == "authorize";
}

// RFC 3986 pchar without pct-encoded, plus '/': what a path needs no decoding
// and no further validation for.
constexpr bool plain_path_char(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '-':
    case '.':
    case '_':
    case '~':  // unreserved
    case '!':
    case '$':
    case '&':
    case '\'':
    case '(':
    case ')':
    case '*':  // sub-delims
    case '+':
    case ',':
    case ';':
    case '=':
    case ':':
    case '@':
    case '/': return true;
    default: return false;
  }
}

// The common case, a path without percent-encoding or query (every proxied
// request): split and compared in place, no URL parser involved. nullopt
// with `handled` false: not such a target, ask the full parser.
std::optional<route> match_plain_path(std::string_view target, bool& handled) {
  handled = false;
  if (target.empty() || target.front() != '/') return std::nullopt;
  for (const char c : target) {
    if (!plain_path_char(c)) return std::nullopt;
  }
  handled = true;
  constexpr std::size_t max_segments = 7;
  std::array<std::string_view, max_segments> segments;
  std::size_t count = 0;
  std::string_view rest = target.substr(1);
  for (;;) {
    const std::size_t slash = rest.find('/');
    const std::string_view segment = rest.substr(0, slash);
    if (segment.empty()) {
      if (slash == std::string_view::npos && count > 0) break;  // trailing slash
      return std::nullopt;                                      // "//" is no route of ours
    }
    if (count == max_segments) return std::nullopt;
    segments[count++] = segment;
    if (slash == std::string_view::npos) break;
    rest.remove_prefix(slash + 1);
  }
  // Only the installation routes are taken here; the rest (rarely used) goes
  // through the full parser.
  if (count < 4 || segments[0] != "api" || segments[3] != "mcp_server_installations" ||
      (count >= 5 && is_collection_verb(segments[4]))) {
    handled = false;
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
  r.path = target;
  if (count == 4) {
    r.resource = resource::installations;
    return r;
  }
  if (count == 5) {
    r.resource = resource::installation;
    r.installation_id = std::string(segments[4]);
    return r;
  }
  const std::string_view tool = count == 7 ? segments[6] : std::string_view();
  if (!below_installation(r, segments[5], count == 7, tool)) return std::nullopt;
  r.installation_id = std::string(segments[4]);
  return r;
}

}  // namespace

std::optional<route> match_route(std::string_view target) {
  bool handled = false;
  auto plain = match_plain_path(target, handled);
  if (handled) return plain;

  const auto parsed = boost::urls::parse_origin_form(target);
  if (!parsed) return std::nullopt;

  // Our routes have at most seven segments; compared decoded, without copies.
  constexpr std::size_t max_segments = 7;
  std::array<boost::urls::pct_string_view, max_segments + 1> segments;
  std::size_t count = 0;
  const auto encoded = parsed->encoded_segments();
  for (auto it = encoded.begin(); it != encoded.end(); ++it) {
    const boost::urls::pct_string_view segment = *it;
    if (segment.empty()) {
      if (std::next(it) == encoded.end() && count > 0) break;  // trailing slash
      return std::nullopt;                                     // "//" is no route of ours
    }
    if (count == segments.size()) return std::nullopt;
    segments[count++] = segment;
  }
  const auto is = [&](std::size_t i, std::string_view literal) { return *segments[i] == literal; };
  const auto add_params = [&parsed](route& r) {
    if (!parsed->has_query()) return;
    for (auto param : parsed->params()) r.params.emplace_back(param.key, param.value);
  };

  if (count == 2 && is(0, "oauth") && is(1, "client-metadata.json")) {
    route r;
    r.resource = resource::client_metadata;
    r.path = std::string_view(parsed->encoded_path());
    return r;
  }
  if (count == 3 && is(0, "api") && is(1, "mcp_store")) {
    route r;
    if (is(2, "oauth_start")) r.resource = resource::oauth_start;
    else if (is(2, "oauth_redirect")) r.resource = resource::oauth_callback;
    else if (is(2, "oauth_result")) r.resource = resource::oauth_result;
    else return std::nullopt;
    r.path = std::string_view(parsed->encoded_path());
    add_params(r);
    return r;
  }
  // The collections directly below a project or environment that are not
  // the installations.
  const bool servers = count == 4 && is(3, "mcp_servers");
  const bool audit = count == 4 && is(3, "mcp_audit_events");
  if (count < 4 || !is(0, "api") || (!is(3, "mcp_server_installations") && !servers && !audit)) {
    return std::nullopt;
  }
  route r;
  if (is(1, "projects")) {
    r.family = route_family::projects;
  } else if (is(1, "environments")) {
    r.family = route_family::environments;
  } else {
    return std::nullopt;
  }
  const bool escaped = segments[2]->size() != segments[2].size();
  const auto id = escaped ? parse_id(segments[2].decode()) : parse_id(segments[2]);
  if (!id) return std::nullopt;
  r.scope_id = *id;
  r.path = std::string_view(parsed->encoded_path());
  add_params(r);

  if (count == 4) {
    r.resource = servers ? resource::templates : audit ? resource::audit_events : resource::installations;
    return r;
  }
  const bool verb = is(4, "install_custom") || is(4, "install_template") || is(4, "authorize");
  if (count == 5 && verb) {
    r.resource = is(4, "install_custom")     ? resource::install_custom
                 : is(4, "install_template") ? resource::install_template
                                             : resource::authorize;
    return r;
  }
  if (count == 5) {
    r.resource = resource::installation;
    r.installation_id = segments[4].decode();
    return r;
  }
  if (verb) return std::nullopt;
  const std::string tool = count == 7 ? segments[6].decode() : std::string();
  if (!below_installation(r, segments[5].decode(), count == 7, tool)) return std::nullopt;
  r.installation_id = segments[4].decode();
  return r;
}

std::string_view allowed_methods(resource r) {
  switch (r) {
    case resource::installations: return "GET, POST";
    case resource::installation: return "GET, PATCH, DELETE";
    case resource::install_custom: return "POST";
    case resource::proxy: return "GET, POST, DELETE";
    case resource::tools: return "GET";
    case resource::tool: return "PATCH";
    case resource::tools_refresh: return "POST, PATCH";
    case resource::install_template: return "POST";
    case resource::authorize: return "GET";
    case resource::templates: return "GET";
    case resource::audit_events: return "GET";
    case resource::oauth_start: return "GET, POST";
    case resource::oauth_callback:
    case resource::oauth_result:
    case resource::client_metadata: return "GET";
  }
  return "";
}

std::string_view route_name(resource r) {
  switch (r) {
    case resource::installations: return "installations";
    case resource::installation: return "installation";
    case resource::install_custom: return "install_custom";
    case resource::proxy: return "proxy";
    case resource::tools: return "tools";
    case resource::tool: return "tool";
    case resource::tools_refresh: return "tools_refresh";
    case resource::install_template: return "install_template";
    case resource::authorize: return "authorize";
    case resource::templates: return "templates";
    case resource::audit_events: return "audit_events";
    case resource::oauth_start: return "oauth_start";
    case resource::oauth_callback: return "oauth_callback";
    case resource::oauth_result: return "oauth_result";
    case resource::client_metadata: return "client_metadata";
  }
  return "unknown";
}

}  // namespace mcpgate::daemon

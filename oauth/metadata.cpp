#include "oauth/metadata.hpp"

#include "auth/digest.hpp"
#include "common/text.hpp"
#include "net/url_policy.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <boost/url/encode.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>
#include <boost/url/url.hpp>

#include <openssl/rand.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace mcpgate::oauth {

namespace {

namespace json = boost::json;
namespace urls = boost::urls;

constexpr std::string_view well_known_resource = "/.well-known/oauth-protected-resource";
constexpr std::string_view well_known_oauth = "/.well-known/oauth-authorization-server";
constexpr std::string_view well_known_openid = "/.well-known/openid-configuration";

// --- URLs -------------------------------------------------------------------------

// An absolute http(s) URL split for the well-known constructions: origin
// ("https://h", "http://h:8080", "https://[::1]:8443"; scheme and host lower
// case, default port dropped) and path (percent-encoded as written; no query,
// no fragment).
struct url_parts {
  std::string origin;
  std::string path;
};

std::optional<url_parts> split_url(std::string_view text) {
  // parse_url takes an absolute-URI, which has no fragment: cut it off once
  // the whole text is known to be a URI (where '#' can only start it).
  const auto uri = urls::parse_uri(text);
  if (!uri) return std::nullopt;
  if (const auto hash = text.find('#'); hash != std::string_view::npos) text = text.substr(0, hash);
  const auto parsed = net::parse_url(text);
  if (!parsed) return std::nullopt;
  url_parts out;
  out.origin = (parsed->origin.tls ? "https://" : "http://") + parsed->host_header;
  out.path = std::string(uri->encoded_path());
  return out;
}

// The path without its terminating "/" (RFC 8414 section 3.1, RFC 9728
// section 3.1: removed before the well-known suffix is inserted).
std::string_view without_trailing_slash(std::string_view path) {
  if (!path.empty() && path.back() == '/') path.remove_suffix(1);
  return path;
}

std::string percent_encode(std::string_view s) { return urls::encode(s, urls::unreserved_chars); }

// --- JSON -------------------------------------------------------------------------

std::optional<json::object> parse_object(std::string_view text, std::string& error) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec) {
    error = "not valid JSON";
    return std::nullopt;
  }
  if (!v.is_object()) {
    error = "not a JSON object";
    return std::nullopt;
  }
  return std::move(v.get_object());
}

// The member `name` when it is a string; nullopt when absent or another type.
std::optional<std::string> string_member(const json::object& o, std::string_view name) {
  const json::value* v = o.if_contains(name);
  if (v == nullptr || !v->is_string()) return std::nullopt;
  return std::string(v->get_string());
}

// A required non-empty string member; sets `error` when it is not one.
bool required_string(const json::object& o, std::string_view name, std::string& out, std::string& error) {
  auto v = string_member(o, name);
  if (!v || v->empty()) {
    error = std::string(name) + " is missing or not a string";
    return false;
  }
  out = std::move(*v);
  return true;
}

// An optional list of strings, leniently: anything but an array is no list,
// entries that are not strings are skipped.
std::vector<std::string> string_list(const json::object& o, std::string_view name) {
  std::vector<std::string> out;
  const json::value* v = o.if_contains(name);
  if (v == nullptr || !v->is_array()) return out;
  for (const auto& item : v->get_array()) {
    if (item.is_string()) out.emplace_back(item.get_string());
  }
  return out;
}

// An absolute http(s) endpoint URL (required), or sets `error`.
bool required_endpoint(const json::object& o, std::string_view name, std::string& out, std::string& error) {
  if (!required_string(o, name, out, error)) return false;
  if (!net::parse_url(out)) {
    error = std::string(name) + " is not an absolute http(s) URL";
    return false;
  }
  return true;
}

// What RFC 6749 section 5.2 allows in an "error" code.
bool is_error_code_text(std::string_view s) {
  return !s.empty() && s.size() <= 128 &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x20 && c <= 0x7E && c != '"' && c != '\\'; });
}

// --- WWW-Authenticate (RFC 9110 section 11.6.1) -----------------------------------------

bool is_tchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// token68 also allows '/' (and trailing '=', handled by the caller).
bool is_token68_char(char c) { return is_tchar(c) || c == '/'; }

class challenge_reader {
 public:
  explicit challenge_reader(std::string_view text) : s_(text) {}

  std::optional<bearer_challenge> find_bearer() {
    std::optional<bearer_challenge> found;
    bool in_bearer = false;  // the parameters read now belong to the (first) Bearer challenge
    bool have_scheme = false;
    bool after_comma = true;  // a bare token here starts a new challenge
    for (;;) {
      skip_spaces();
      if (at_end()) break;
      if (peek() == ',') {
        ++i_;
        after_comma = true;
        continue;
      }
      const std::string_view word = read_while(is_token68_char);
      if (word.empty()) break;  // malformed: keep what was read so far
      skip_spaces();
      if (!at_end() && peek() == '=') {
        // name=value, or a token68 that ends in '=' ("Basic YWJj=").
        std::size_t equals = 0;
        while (!at_end() && peek() == '=') {
          ++i_;
          ++equals;
        }
        skip_spaces();
        if (at_end() || peek() == ',') {
          after_comma = false;  // token68
          continue;
        }
        if (equals != 1 || !have_scheme) break;  // malformed
        auto value = read_value();
        if (!value) break;
        if (in_bearer) assign(*found, word, *value);
      } else if (after_comma || !have_scheme) {
        have_scheme = true;
        in_bearer = !found && ascii_iequals(word, "bearer");
        if (in_bearer) found.emplace();
      }
      // else: a token68 after the scheme ("Negotiate abc"): nothing to keep.
      after_comma = false;
    }
    return found;
  }

 private:
  bool at_end() const { return i_ >= s_.size(); }
  char peek() const { return s_[i_]; }
  void skip_spaces() {
    while (!at_end() && (peek() == ' ' || peek() == '\t')) ++i_;
  }
  template <class Pred>
  std::string_view read_while(Pred pred) {
    const std::size_t start = i_;
    while (!at_end() && pred(peek())) ++i_;
    return s_.substr(start, i_ - start);
  }

  // A quoted-string (with quoted-pairs) or, leniently, anything up to the
  // next space or comma (servers do send unquoted URLs).
  std::optional<std::string> read_value() {
    if (peek() != '"') {
      return std::string(read_while([](char c) { return c != ' ' && c != '\t' && c != ',' && c != '"'; }));
    }
    ++i_;
    std::string out;
    while (!at_end()) {
      const char c = s_[i_++];
      if (c == '"') return out;
      if (c == '\\') {
        if (at_end()) break;
        out.push_back(s_[i_++]);
      } else {
        out.push_back(c);
      }
    }
    return std::nullopt;  // unterminated
  }

  // The first occurrence of a parameter wins.
  static void assign(bearer_challenge& c, std::string_view name, std::string value) {
    std::string* slot = nullptr;
    if (ascii_iequals(name, "resource_metadata")) slot = &c.resource_metadata;
    if (ascii_iequals(name, "scope")) slot = &c.scope;
    if (ascii_iequals(name, "error")) slot = &c.error;
    if (slot != nullptr && slot->empty()) *slot = std::move(value);
  }

  std::string_view s_;
  std::size_t i_ = 0;
};

}  // namespace

std::optional<bearer_challenge> parse_bearer_challenge(std::string_view www_authenticate) {
  return challenge_reader(www_authenticate).find_bearer();
}

std::vector<std::string> protected_resource_metadata_urls(std::string_view mcp_url) {
  const auto parts = split_url(mcp_url);
  if (!parts) return {};
  const std::string root = parts->origin + std::string(well_known_resource);
  const std::string_view path = without_trailing_slash(parts->path);
  if (path.empty()) return {root};
  return {root + std::string(path), root};
}

std::vector<std::string> authorization_server_metadata_urls(std::string_view issuer) {
  const auto parts = split_url(issuer);
  if (!parts) return {};
  const std::string& o = parts->origin;
  const std::string path(without_trailing_slash(parts->path));
  if (path.empty()) {
    return {o + std::string(well_known_oauth), o + std::string(well_known_openid)};
  }
  return {o + std::string(well_known_oauth) + path, o + std::string(well_known_openid) + path,
          o + path + std::string(well_known_openid)};
}

std::string origin_of(std::string_view url) {
  const auto parts = split_url(url);
  return parts ? parts->origin : std::string();
}

std::string canonical_resource(std::string_view url) {
  const auto parts = split_url(url);
  if (!parts) return {};
  return parts->path == "/" ? parts->origin : parts->origin + parts->path;
}

bool resource_covers(std::string_view resource, std::string_view mcp_url) {
  const auto named = split_url(resource);
  const auto server = split_url(mcp_url);
  if (!named || !server || named->origin != server->origin) return false;
  const std::string_view prefix = without_trailing_slash(named->path);
  const std::string_view path = server->path;
  if (prefix.empty()) return true;  // the whole origin
  if (path.substr(0, prefix.size()) != prefix) return false;
  return path.size() == prefix.size() || path[prefix.size()] == '/';  // whole segments only
}

std::optional<resource_metadata> parse_resource_metadata(std::string_view text, std::string& error) {
  auto o = parse_object(text, error);
  if (!o) return std::nullopt;
  resource_metadata out;
  if (const json::value* r = o->if_contains("resource"); r != nullptr) {
    if (!r->is_string()) {
      error = "resource is not a string";
      return std::nullopt;
    }
    out.resource = std::string(r->get_string());
  }
  const json::value* servers = o->if_contains("authorization_servers");
  if (servers == nullptr) {
    error = "authorization_servers is missing";
    return std::nullopt;
  }
  if (!servers->is_array() ||
      std::any_of(servers->get_array().begin(), servers->get_array().end(),
                  [](const json::value& v) { return !v.is_string() || v.get_string().empty(); })) {
    error = "authorization_servers is not a list of strings";
    return std::nullopt;
  }
  if (servers->get_array().empty()) {
    error = "authorization_servers is empty";
    return std::nullopt;
  }
  for (const auto& s : servers->get_array()) out.authorization_servers.emplace_back(s.get_string());
  out.scopes_supported = string_list(*o, "scopes_supported");
  return out;
}

std::optional<server_metadata> parse_server_metadata(std::string_view text, std::string_view expected_issuer,
                                                     std::string& error) {
  auto o = parse_object(text, error);
  if (!o) return std::nullopt;
  server_metadata out;
  if (!required_string(*o, "issuer", out.issuer, error)) return std::nullopt;
  if (out.issuer != expected_issuer) {
    error = "issuer mismatch: expected " + printable(expected_issuer) + ", got " + printable(out.issuer);
    return std::nullopt;
  }
  if (!required_endpoint(*o, "authorization_endpoint", out.authorization_endpoint, error) ||
      !required_endpoint(*o, "token_endpoint", out.token_endpoint, error)) {
    return std::nullopt;
  }
  if (auto reg = string_member(*o, "registration_endpoint"); reg && !reg->empty()) {
    if (!net::parse_url(*reg)) {
      error = "registration_endpoint is not an absolute http(s) URL";
      return std::nullopt;
    }
    out.registration_endpoint = std::move(*reg);
  }
  out.scopes_supported = string_list(*o, "scopes_supported");
  out.code_challenge_methods_supported = string_list(*o, "code_challenge_methods_supported");
  out.token_endpoint_auth_methods_supported = string_list(*o, "token_endpoint_auth_methods_supported");
  // Flags: only a JSON true counts (RFC 9207 section 3; the CIMD draft).
  const auto flag = [&o](std::string_view name) {
    const json::value* v = o->if_contains(name);
    return v != nullptr && v->is_bool() && v->get_bool();
  };
  out.iss_parameter_supported = flag("authorization_response_iss_parameter_supported");
  out.client_id_metadata_document_supported = flag("client_id_metadata_document_supported");
  const auto& methods = out.code_challenge_methods_supported;
  if (std::find(methods.begin(), methods.end(), "S256") == methods.end()) {
    error = "the authorization server does not support PKCE S256";
    return std::nullopt;
  }
  return out;
}

std::string registration_request(std::string_view client_name, std::string_view redirect_uri, std::string_view scope) {
  json::object body;
  body["client_name"] = client_name;
  body["redirect_uris"] = json::array{json::string(redirect_uri)};
  body["grant_types"] = json::array{"authorization_code", "refresh_token"};
  body["response_types"] = json::array{"code"};
  body["token_endpoint_auth_method"] = "none";
  if (!scope.empty()) body["scope"] = scope;
  return json::serialize(body);
}

std::string client_metadata_document(std::string_view client_id, std::string_view client_name,
                                     std::string_view redirect_uri) {
  json::object body;
  body["client_id"] = client_id;
  body["client_name"] = client_name;
  body["redirect_uris"] = json::array{json::string(redirect_uri)};
  body["grant_types"] = json::array{"authorization_code", "refresh_token"};
  body["response_types"] = json::array{"code"};
  body["token_endpoint_auth_method"] = "none";
  return json::serialize(body);
}

std::vector<std::string> scope_words(std::string_view scope) {
  std::vector<std::string> out;
  while (!scope.empty()) {
    const std::size_t start = scope.find_first_not_of(' ');
    if (start == std::string_view::npos) break;
    scope.remove_prefix(start);
    const std::size_t end = std::min(scope.find(' '), scope.size());
    std::string word(scope.substr(0, end));
    if (std::find(out.begin(), out.end(), word) == out.end()) out.push_back(std::move(word));
    scope.remove_prefix(end);
  }
  return out;
}

std::string scope_union(std::string_view granted, std::string_view more) {
  std::vector<std::string> words = scope_words(granted);
  for (auto& w : scope_words(more)) {
    if (std::find(words.begin(), words.end(), w) == words.end()) words.push_back(std::move(w));
  }
  std::string out;
  for (const auto& w : words) {
    if (!out.empty()) out.push_back(' ');
    out.append(w);
  }
  return out;
}

bool has_scope(std::string_view scope, std::string_view word) {
  const auto words = scope_words(scope);
  return std::find(words.begin(), words.end(), word) != words.end();
}

std::optional<registered_client> parse_registration(std::string_view text, std::string& error) {
  auto o = parse_object(text, error);
  if (!o) return std::nullopt;
  registered_client out;
  if (!required_string(*o, "client_id", out.client_id, error)) return std::nullopt;
  if (const json::value* secret = o->if_contains("client_secret"); secret != nullptr && !secret->is_null()) {
    if (!secret->is_string()) {
      error = "client_secret is not a string";
      return std::nullopt;
    }
    out.client_secret = std::string(secret->get_string());
  }
  auto method = string_member(*o, "token_endpoint_auth_method");
  if (method && !method->empty()) {
    if (*method != "none" && *method != "client_secret_basic" && *method != "client_secret_post") {
      error = "unsupported token_endpoint_auth_method " + printable(*method, 64);
      return std::nullopt;
    }
    if (*method != "none" && out.client_secret.empty()) {
      error = "token_endpoint_auth_method " + *method + " without a client_secret";
      return std::nullopt;
    }
    out.token_endpoint_auth_method = std::move(*method);
  } else {
    out.token_endpoint_auth_method = out.client_secret.empty() ? "none" : "client_secret_basic";
  }
  return out;
}

pkce_pair make_pkce() {
  pkce_pair out;
  out.verifier = random_token(32);
  out.challenge = s256_challenge(out.verifier);
  return out;
}

std::string s256_challenge(std::string_view verifier) {
  const auth::sha256_digest digest = auth::sha256(verifier);
  return auth::base64url(std::string_view(reinterpret_cast<const char*>(digest.data()), digest.size()));
}

std::string random_token(std::size_t bytes) {
  std::string raw(bytes, '\0');
  if (bytes > static_cast<std::size_t>(std::numeric_limits<int>::max()) ||
      RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(bytes)) != 1) {
    throw std::runtime_error("RAND_bytes failed");  // the CSPRNG is broken: nothing safe to do
  }
  return auth::base64url(raw);
}

std::string authorization_url(std::string_view authorization_endpoint, const authorization_request& request) {
  // The endpoint "MUST NOT include a fragment" (RFC 6749 section 3.1); one
  // given anyway is dropped rather than left to swallow the parameters.
  const auto parsed = urls::parse_uri(authorization_endpoint);
  if (!parsed) return {};
  urls::url u(*parsed);
  u.remove_fragment();
  if (!net::parse_url(u.buffer())) return {};
  const auto add = [&u](std::string_view name, std::string_view value) {
    // Both are fully percent-encoded already, so the view is valid as is.
    const std::string encoded = percent_encode(value);
    u.encoded_params().append(urls::param_pct_view(urls::pct_string_view(name), urls::pct_string_view(encoded)));
  };
  add("response_type", "code");
  add("client_id", request.client_id);
  add("redirect_uri", request.redirect_uri);
  add("state", request.state);
  add("code_challenge", request.code_challenge);
  add("code_challenge_method", "S256");
  if (!request.resource.empty()) add("resource", request.resource);
  if (!request.scope.empty()) add("scope", request.scope);
  if (!request.prompt.empty()) add("prompt", request.prompt);
  return std::string(u.buffer());
}

std::string form_encode(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::string out;
  for (const auto& [name, value] : fields) {
    if (!out.empty()) out.push_back('&');
    out.append(percent_encode(name)).append("=").append(percent_encode(value));
  }
  return out;
}

std::optional<token_response> parse_token_response(std::string_view text, std::string& error) {
  auto o = parse_object(text, error);
  if (!o) return std::nullopt;
  token_response out;
  if (!required_string(*o, "access_token", out.access_token, error)) return std::nullopt;
  if (!required_string(*o, "token_type", out.token_type, error)) return std::nullopt;
  if (!ascii_iequals(out.token_type, "bearer")) {
    error = "token_type is " + printable(out.token_type, 64) + ", not Bearer";
    return std::nullopt;
  }
  out.refresh_token = string_member(*o, "refresh_token").value_or("");
  out.scope = string_member(*o, "scope").value_or("");
  // A number of seconds; some servers send it as a string. Anything else is
  // taken as "not said" rather than failing a grant that works.
  if (const json::value* e = o->if_contains("expires_in"); e != nullptr) {
    constexpr std::int64_t max_seconds = 10LL * 365 * 24 * 3600;
    std::optional<std::int64_t> seconds;
    if (e->is_int64()) {
      seconds = e->get_int64();
    } else if (e->is_uint64()) {
      seconds = max_seconds;
    } else if (e->is_double() && std::isfinite(e->get_double())) {
      seconds = static_cast<std::int64_t>(std::clamp(e->get_double(), -1.0, static_cast<double>(max_seconds)));
    } else if (e->is_string() && !e->get_string().empty() && e->get_string().size() <= 12 &&
               std::all_of(e->get_string().begin(), e->get_string().end(),
                           [](char c) { return c >= '0' && c <= '9'; })) {
      seconds = std::stoll(std::string(e->get_string()));
    }
    if (seconds && *seconds >= 0) out.expires_in = std::chrono::seconds(std::min(*seconds, max_seconds));
  }
  return out;
}

std::string token_error_code(std::string_view text) {
  std::string ignored;
  const auto o = parse_object(text, ignored);
  if (!o) return {};
  auto code = string_member(*o, "error");
  if (!code || !is_error_code_text(*code)) return {};
  return std::move(*code);
}

}  // namespace mcpgate::oauth

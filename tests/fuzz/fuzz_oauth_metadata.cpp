// Fuzz target: the pure half of OAuth discovery (oauth/metadata.hpp).
//
// Byte 0 picks the function, the rest is its input:
//   b  parse_bearer_challenge (a WWW-Authenticate value)
//   p  protected_resource_metadata_urls, a  authorization_server_metadata_urls,
//   o  origin_of and canonical_resource (a URL)
//   r  parse_resource_metadata, s  parse_server_metadata (issuer: the
//      document's own when its first byte is even, else a fixed one),
//   g  parse_registration, t  parse_token_response and token_error_code
//      (a JSON document)
//   u  authorization_url (lines: endpoint, client_id, redirect_uri, state,
//      code_challenge, resource, scope, prompt), f  form_encode (lines: name, value...)
//   any other byte: one of the above by its value.
// Oracles: no crash, and what the header promises: an accepted document has
// its required members, as the JSON says (checked against boost::json); the
// issuer matches exactly; endpoints are absolute http(s) URLs; built URLs
// parse and carry the parameters given (percent-decoding gives them back);
// the URL helpers are idempotent and lower-case their scheme; a token error
// code is printable ASCII.
#include "net/url_policy.hpp"
#include "oauth/metadata.hpp"
#include "tests/fuzz/fuzz_check.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace {

namespace json = boost::json;
namespace oauth = mcpgate::oauth;
namespace net = mcpgate::net;

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
           return lower(x) == lower(y);
         });
}

std::optional<json::object> dom_object(std::string_view text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) return std::nullopt;
  return std::move(v.get_object());
}

std::vector<std::string> split_lines(std::string_view text) {
  std::vector<std::string> out;
  std::size_t from = 0;
  for (;;) {
    const std::size_t nl = text.find('\n', from);
    out.emplace_back(text.substr(from, nl == std::string_view::npos ? std::string_view::npos : nl - from));
    if (nl == std::string_view::npos) return out;
    from = nl + 1;
  }
}

bool is_http_scheme_lower(std::string_view url) { return url.starts_with("http://") || url.starts_with("https://"); }

void check_challenge(std::string_view text) {
  const auto c = oauth::parse_bearer_challenge(text);
  if (!c) return;
  // A Bearer challenge needs the scheme's name somewhere.
  bool named = false;
  for (std::size_t i = 0; i + 6 <= text.size() && !named; ++i) named = iequals(text.substr(i, 6), "bearer");
  FUZZ_CHECK(named);
  // Values come from the text: an unquoted one is a run of it; a quoted one
  // is never longer than the text.
  for (const std::string* v : {&c->resource_metadata, &c->scope, &c->error}) {
    FUZZ_CHECK(v->size() < text.size());
  }
}

// A host ending in "..", which no resolver takes: parse_url drops one
// trailing dot per parse, so the helpers are not idempotent on it (and need
// not be).
bool empty_last_label(std::string_view url) {
  const auto u = boost::urls::parse_uri(url);
  return u && u->host_type() == boost::urls::host_type::name && u->encoded_host().ends_with("..");
}

void check_url_helpers(std::string_view url, char which) {
  if (empty_last_label(url)) return;
  if (which == 'p') {
    const auto urls = oauth::protected_resource_metadata_urls(url);
    FUZZ_CHECK(urls.size() <= 2);
    for (const auto& u : urls) {
      FUZZ_CHECK(is_http_scheme_lower(u));
      FUZZ_CHECK(u.find("/.well-known/oauth-protected-resource") != std::string::npos);
      FUZZ_CHECK(net::parse_url(u).has_value());
      FUZZ_CHECK(oauth::origin_of(u) == oauth::origin_of(url));
    }
    if (urls.size() == 2) FUZZ_CHECK(urls[0].starts_with(urls[1]) && urls[0].size() > urls[1].size());
    FUZZ_CHECK(urls.empty() == oauth::origin_of(url).empty());
  } else if (which == 'a') {
    const auto urls = oauth::authorization_server_metadata_urls(url);
    FUZZ_CHECK(urls.empty() || urls.size() == 2 || urls.size() == 3);
    for (const auto& u : urls) {
      FUZZ_CHECK(is_http_scheme_lower(u));
      FUZZ_CHECK(u.find("/.well-known/") != std::string::npos);
      FUZZ_CHECK(net::parse_url(u).has_value());
      FUZZ_CHECK(oauth::origin_of(u) == oauth::origin_of(url));
    }
  } else {
    const std::string origin = oauth::origin_of(url);
    const std::string resource = oauth::canonical_resource(url);
    FUZZ_CHECK(origin.empty() == resource.empty());
    if (origin.empty()) return;
    FUZZ_CHECK(is_http_scheme_lower(origin));
    FUZZ_CHECK(oauth::origin_of(origin) == origin);
    FUZZ_CHECK(oauth::canonical_resource(origin) == origin);
    FUZZ_CHECK(resource.starts_with(origin));
    FUZZ_CHECK(resource.find_first_of("?#") == std::string::npos);
    FUZZ_CHECK(oauth::canonical_resource(resource) == resource);
    FUZZ_CHECK(oauth::origin_of(resource) == origin);
    const auto parsed = net::parse_url(origin);
    FUZZ_CHECK(parsed && parsed->target == "/");
  }
}

void check_resource_metadata(std::string_view text) {
  std::string error;
  const auto m = oauth::parse_resource_metadata(text, error);
  if (!m) {
    FUZZ_CHECK(!error.empty());
    return;
  }
  const auto o = dom_object(text);
  FUZZ_CHECK(o.has_value());
  const json::value* servers = o->if_contains("authorization_servers");
  FUZZ_CHECK(servers && servers->is_array() && !servers->get_array().empty());
  FUZZ_CHECK(m->authorization_servers.size() == servers->get_array().size());
  for (std::size_t i = 0; i < m->authorization_servers.size(); ++i) {
    FUZZ_CHECK(!m->authorization_servers[i].empty());
    FUZZ_CHECK(servers->get_array()[i] == json::string(m->authorization_servers[i]));
  }
  if (const json::value* r = o->if_contains("resource")) {
    FUZZ_CHECK(r->is_string() && r->get_string() == m->resource);
  } else {
    FUZZ_CHECK(m->resource.empty());
  }
}

void check_server_metadata(std::string_view text) {
  const auto o = dom_object(text);
  std::string expected = "https://auth.example.com";
  if (!text.empty() && (static_cast<unsigned char>(text[0]) % 2) == 0 && o) {
    if (const json::value* i = o->if_contains("issuer"); i && i->is_string()) expected = i->get_string();
  }
  std::string error;
  const auto m = oauth::parse_server_metadata(text, expected, error);
  if (!m) {
    FUZZ_CHECK(!error.empty());
    return;
  }
  FUZZ_CHECK(o.has_value());
  FUZZ_CHECK(m->issuer == expected);  // exact, RFC 8414 section 3.3
  FUZZ_CHECK(o->at("issuer") == json::string(m->issuer));
  FUZZ_CHECK(o->at("authorization_endpoint") == json::string(m->authorization_endpoint));
  FUZZ_CHECK(o->at("token_endpoint") == json::string(m->token_endpoint));
  FUZZ_CHECK(net::parse_url(m->authorization_endpoint).has_value());
  FUZZ_CHECK(net::parse_url(m->token_endpoint).has_value());
  FUZZ_CHECK(m->registration_endpoint.empty() || net::parse_url(m->registration_endpoint).has_value());
  const auto& methods = m->code_challenge_methods_supported;
  FUZZ_CHECK(std::find(methods.begin(), methods.end(), "S256") != methods.end());
  // The flags are true exactly when the document says true.
  const auto says_true = [&o](std::string_view name) {
    const json::value* v = o->if_contains(name);
    return v != nullptr && *v == json::value(true);
  };
  FUZZ_CHECK(m->iss_parameter_supported == says_true("authorization_response_iss_parameter_supported"));
  FUZZ_CHECK(m->client_id_metadata_document_supported == says_true("client_id_metadata_document_supported"));
}

void check_registration(std::string_view text) {
  std::string error;
  const auto c = oauth::parse_registration(text, error);
  if (!c) {
    FUZZ_CHECK(!error.empty());
    return;
  }
  const auto o = dom_object(text);
  FUZZ_CHECK(o.has_value());
  FUZZ_CHECK(!c->client_id.empty() && o->at("client_id") == json::string(c->client_id));
  const auto& method = c->token_endpoint_auth_method;
  FUZZ_CHECK(method == "none" || method == "client_secret_basic" || method == "client_secret_post");
  if (method != "none") FUZZ_CHECK(!c->client_secret.empty());
}

void check_token_response(std::string_view text) {
  std::string error;
  const auto t = oauth::parse_token_response(text, error);
  if (t) {
    const auto o = dom_object(text);
    FUZZ_CHECK(o.has_value());
    FUZZ_CHECK(!t->access_token.empty() && o->at("access_token") == json::string(t->access_token));
    FUZZ_CHECK(iequals(t->token_type, "bearer"));
    if (t->expires_in) FUZZ_CHECK(t->expires_in->count() >= 0 && t->expires_in->count() <= 10LL * 365 * 24 * 3600);
  } else {
    FUZZ_CHECK(!error.empty());
  }
  const std::string code = oauth::token_error_code(text);
  FUZZ_CHECK(code.size() <= 128);
  for (const char c : code) FUZZ_CHECK(c >= 0x20 && c <= 0x7E && c != '"' && c != '\\');
}

void check_authorization_url(std::string_view text) {
  auto lines = split_lines(text);
  lines.resize(std::max<std::size_t>(lines.size(), 8));
  oauth::authorization_request r{lines[1], lines[2], lines[3], lines[4], lines[5], lines[6], lines[7]};
  const std::string url = oauth::authorization_url(lines[0], r);
  if (url.empty()) return;
  FUZZ_CHECK(net::parse_url(url).has_value());
  FUZZ_CHECK(url.find('#') == std::string::npos);
  // Every value is in the query, percent-encoded: none can end it early.
  const auto u = boost::urls::parse_uri(url);
  FUZZ_CHECK(u.has_value());
  std::vector<std::pair<std::string, std::string>> tail;
  for (const auto& p : u->encoded_params()) tail.emplace_back(p.key.decode(), p.has_value ? p.value.decode() : "");
  std::vector<std::pair<std::string, std::string>> want{
      {"response_type", "code"}, {"client_id", r.client_id},           {"redirect_uri", r.redirect_uri},
      {"state", r.state},        {"code_challenge", r.code_challenge}, {"code_challenge_method", "S256"}};
  if (!r.resource.empty()) want.emplace_back("resource", r.resource);
  if (!r.scope.empty()) want.emplace_back("scope", r.scope);
  if (!r.prompt.empty()) want.emplace_back("prompt", r.prompt);
  FUZZ_CHECK(tail.size() >= want.size());
  FUZZ_CHECK(std::equal(want.begin(), want.end(), tail.end() - static_cast<std::ptrdiff_t>(want.size())));
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// REQUIRES: every '%' starts a "%XX" escape (checked).
std::string percent_decoded(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out.push_back(s[i]);
      continue;
    }
    FUZZ_CHECK(i + 2 < s.size() && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0);
    out.push_back(static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2])));
    i += 2;
  }
  return out;
}

void check_form(std::string_view text) {
  const auto lines = split_lines(text);
  std::vector<std::pair<std::string, std::string>> fields;
  for (std::size_t i = 0; i + 1 < lines.size(); i += 2) fields.emplace_back(lines[i], lines[i + 1]);
  const std::string body = oauth::form_encode(fields);
  // Only unreserved characters, '%', '=' and '&' are written.
  for (const char c : body) {
    const bool unreserved = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                            c == '.' || c == '_' || c == '~';
    FUZZ_CHECK(unreserved || c == '%' || c == '=' || c == '&');
  }
  // Split and decoded, it gives the fields back.
  std::vector<std::pair<std::string, std::string>> back;
  std::size_t from = 0;
  while (!body.empty() && from <= body.size()) {
    const std::size_t amp = std::min(body.find('&', from), body.size());
    const std::string_view pair = std::string_view(body).substr(from, amp - from);
    const std::size_t eq = pair.find('=');
    FUZZ_CHECK(eq != std::string_view::npos);
    back.emplace_back(percent_decoded(pair.substr(0, eq)), percent_decoded(pair.substr(eq + 1)));
    from = amp + 1;
  }
  FUZZ_CHECK(back == fields);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  static constexpr std::string_view selectors = "bpaorsgtuf";
  char which = static_cast<char>(data[0]);
  if (selectors.find(which) == std::string_view::npos) which = selectors[data[0] % selectors.size()];
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (which) {
    case 'b': check_challenge(text); break;
    case 'p':
    case 'a':
    case 'o': check_url_helpers(text, which); break;
    case 'r': check_resource_metadata(text); break;
    case 's': check_server_metadata(text); break;
    case 'g': check_registration(text); break;
    case 't': check_token_response(text); break;
    case 'u': check_authorization_url(text); break;
    case 'f': check_form(text); break;
  }
  // The PKCE challenge of any verifier is 43 base64url characters.
  const std::string challenge = oauth::s256_challenge(text);
  FUZZ_CHECK(challenge.size() == 43);
  return 0;
}

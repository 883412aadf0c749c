// Loading the YAML config: a walk over yaml-cpp's node tree that checks each
// key against the schema below and records every problem with its position,
// instead of stopping at the first.
#include "config/load.hpp"

#include <boost/url/parse.hpp>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/parser.h>
#include <yaml-cpp/yaml.h>

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <string_view>
#include <type_traits>
#include <utility>

namespace mcpgate::config {
namespace {

// A node being read, with the dotted path and the positions its problems cite.
struct value {
  YAML::Node node;
  std::string path;     // "server.limits.max_body_bytes", "projects[0].id"
  YAML::Mark key_mark;  // the key (or list item) it was found at
  YAML::Mark mark;      // the value itself; the key's when the value is empty
};

using value_reader = std::function<void(const value&)>;
using choice_list = std::vector<std::string_view>;
using name_set = std::set<std::string, std::less<>>;
enum class length { any, non_empty };

// One key a mapping may hold.
struct field {
  std::string_view key;
  value_reader read;
  bool required = false;
};

bool has_position(const YAML::Mark& m) { return m.line >= 0; }

// Any scalar's text (plain or quoted); nullopt for maps, lists and empty values.
std::optional<std::string> scalar(const YAML::Node& n) {
  if (!n.IsScalar()) return std::nullopt;
  return n.Scalar();
}

// A plain (unquoted) scalar's text: integers and booleans must be written bare.
std::optional<std::string> plain_scalar(const YAML::Node& n) {
  if (!n.IsScalar() || n.Tag() != "?") return std::nullopt;
  return n.Scalar();
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Decimal digits only (no sign, no spaces), within Int's range.
template <class Int>
std::optional<Int> parse_number(std::string_view text) {
  Int n{};
  if (text.empty() || !is_digit(text.front())) return std::nullopt;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return n;
}

template <class Int>
std::optional<Int> parse_positive(std::string_view text) {
  const auto n = parse_number<Int>(text);
  return n > 0 ? n : std::nullopt;
}

// A rate: decimal digits with an optional fraction ("20", "0.5"), at most
// a million.
std::optional<double> parse_rate(std::string_view text) {
  const auto dot = text.find('.');
  const std::string_view whole = text.substr(0, dot);
  const std::string_view fraction = dot == std::string_view::npos ? std::string_view() : text.substr(dot + 1);
  const auto digits = [](std::string_view s) { return std::all_of(s.begin(), s.end(), is_digit); };
  if (whole.empty() || !digits(whole) || (dot != std::string_view::npos && (fraction.empty() || !digits(fraction)))) {
    return std::nullopt;
  }
  double n = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc{} || end != text.data() + text.size() || n > 1e6) return std::nullopt;
  return n;
}

bool all_of_chars(std::string_view text, const std::function<bool(char)>& ok) {
  return !text.empty() && std::all_of(text.begin(), text.end(), ok);
}

bool is_lower_alnum(char c) { return (c >= 'a' && c <= 'z') || is_digit(c); }
bool is_alnum(char c) { return is_lower_alnum(c) || (c >= 'A' && c <= 'Z'); }

// A template id: [a-z0-9_-]+.
bool is_slug(std::string_view s) {
  return all_of_chars(s, [](char c) { return is_lower_alnum(c) || c == '_' || c == '-'; });
}

// An HTTP header name (RFC 9110 token).
bool is_token(std::string_view s) {
  constexpr std::string_view symbols = "!#$%&'*+-.^_`|~";
  return all_of_chars(s, [&](char c) { return is_alnum(c) || symbols.find(c) != std::string_view::npos; });
}

bool has_key_placeholder(std::string_view s) { return s.find("{key}") != std::string_view::npos; }

// REQUIRES: `name` is one of "oauth", "api_key", "none".
auth_type auth_type_named(std::string_view name) {
  return name == "oauth" ? auth_type::oauth : name == "api_key" ? auth_type::api_key : auth_type::none;
}

// An environment variable name: [A-Za-z_][A-Za-z0-9_]*.
bool is_env_name(std::string_view s) {
  return all_of_chars(s, [](char c) { return is_alnum(c) || c == '_'; }) && !is_digit(s.front());
}

// An absolute http(s) URL with a host; `base_only` also refuses userinfo, a
// query and a fragment (for URLs that paths get appended to).
bool is_http_url(std::string_view text, bool base_only) {
  const auto url = boost::urls::parse_absolute_uri(text);
  if (!url) return false;
  const auto scheme = url->scheme_id();
  const bool http = scheme == boost::urls::scheme::http || scheme == boost::urls::scheme::https;
  const bool extras = url->has_userinfo() || url->has_query() || url->has_fragment();
  return http && url->has_authority() && !url->encoded_host().empty() && !(base_only && extras);
}

bool is_ip(int family, const std::string& host) {
  unsigned char buffer[16];
  return inet_pton(family, host.c_str(), buffer) == 1;
}

// "127.0.0.1:8080", "[::1]:8080", "localhost:8080" (-> 127.0.0.1).
std::optional<listen_address> parse_listen(std::string_view text) {
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  const auto port = parse_number<std::uint16_t>(text.substr(colon + 1));
  if (!port) return std::nullopt;
  std::string host(text.substr(0, colon));
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
    if (!is_ip(AF_INET6, host)) return std::nullopt;
  } else if (host == "localhost") {
    host = "127.0.0.1";
  } else if (!is_ip(AF_INET, host)) {
    return std::nullopt;
  }
  return listen_address{host, *port};
}

// An environment id as read, for the checks that need every project first.
struct environment_ref {
  std::size_t project_index;
  std::int64_t id;
  value where;
};

struct project_ids {
  std::map<std::int64_t, std::size_t> projects;  // project id -> index of the first with it
  std::vector<environment_ref> environments;
};

// Each project gets the environment with its own id if it did not declare it.
void add_own_environments(std::vector<project>& projects) {
  for (project& p : projects) {
    const bool has_own = std::any_of(p.environments.begin(), p.environments.end(), [&](const environment& e) {
      return e.id == p.id;
    });
    if (p.id <= 0 || has_own) continue;
    const char* name = p.environments.empty() ? "production" : "default";
    p.environments.insert(p.environments.begin(), {p.id, name});
  }
}

// Where the last document read begins: its first node (else the document
// start); nothing else is kept.
class document_marks final : public YAML::EventHandler {
 public:
  YAML::Mark last_start = YAML::Mark::null_mark();

  void OnDocumentStart(const YAML::Mark& mark) override {
    last_start = mark;
    first_node_ = true;
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t) override { node(mark); }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override { node(mark); }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t, const std::string&) override { node(mark); }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
    node(mark);
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
    node(mark);
  }
  void OnMapEnd() override {}

 private:
  void node(const YAML::Mark& mark) {
    if (first_node_ && mark.line >= 0) last_start = mark;
    first_node_ = false;
  }
  bool first_node_ = false;
};

class reader {
 public:
  reader(std::string file, std::vector<problem>& problems) : file_(std::move(file)), problems_(problems) {}

  void fail(const YAML::Mark& at, std::string message) {
    const bool known = has_position(at);
    problems_.push_back({file_, known ? at.line + 1 : 0, known ? at.column + 1 : 0, std::move(message)});
  }

  void fail(const value& v, std::string_view what) {
    fail(v.mark, v.path.empty() ? std::string(what) : v.path + ": " + std::string(what));
  }

  bool reject(const value& v, std::string_view what) {
    fail(v, what);
    return false;
  }

  struct config read_config(const YAML::Node& root) {
    const value top{root, "", root.Mark(), root.Mark()};
    if (root.IsNull()) return default_config();  // an empty file: every default
    if (!root.IsMap()) {
      fail(top, "expected a mapping at the top level");
      return {};
    }
    // The defaults of storage and secrets depend on data_dir, wherever it is.
    std::string data_dir = "mcpgate-data";
    for (const auto& entry : root) {
      if (entry.first.IsScalar() && entry.first.Scalar() == "data_dir") {
        read(child(top, "data_dir", entry.first.Mark(), entry.second), data_dir);
        break;
      }
    }
    struct config c = default_config(data_dir);
    read_map(top, {
                      {"data_dir", [](const value&) {}},
                      {"server", [&](const value& v) { read_server(v, c.server); }},
                      {"storage", [&](const value& v) { read_storage(v, c.storage); }},
                      {"secrets", [&](const value& v) { read_secrets(v, c.secrets); }},
                      {"upstreams", [&](const value& v) { read_upstreams(v, c.upstreams); }},
                      {"projects", [&](const value& v) { read_projects(v, c.projects); }},
                      {"templates", [&](const value& v) { read_templates(v, c.templates); }},
                      {"proxy", [&](const value& v) { read_proxy(v, c.proxy); }},
                      {"rate_limits", [&](const value& v) { read_rate_limits(v, c.rate_limits); }},
                      {"audit", [&](const value& v) { read_audit(v, c.audit); }},
                      {"logging", [&](const value& v) { read_logging(v, c.logging); }},
                  });
    return c;
  }

 private:
  static value child(const value& parent, std::string path, const YAML::Mark& key_mark, const YAML::Node& node) {
    const YAML::Mark own = node.IsNull() && has_position(key_mark) ? key_mark : node.Mark();
    return {node, std::move(path), key_mark, has_position(own) ? own : parent.mark};
  }

  static std::string where(const value& v) { return v.path.empty() ? "at the top level" : "in " + v.path; }

  // Hands each key's value to its field's reader; unknown, repeated and
  // missing required keys are problems.
  void read_map(const value& v, std::initializer_list<field> fields) {
    if (!v.node.IsMap()) return fail(v, "expected a mapping");
    name_set seen;
    for (const auto& entry : v.node) {
      const YAML::Node& key = entry.first;
      const std::optional<std::string> name = scalar(key);
      if (!name) {
        fail(key.Mark(), "expected a plain key " + where(v));
        continue;
      }
      const auto f = std::find_if(fields.begin(), fields.end(), [&](const field& x) { return x.key == *name; });
      if (f == fields.end()) {
        fail(key.Mark(), "unknown key '" + *name + "' " + where(v));
      } else if (!seen.insert(*name).second) {
        fail(key.Mark(), "duplicate key '" + *name + "' " + where(v));
      } else {
        f->read(child(v, v.path.empty() ? *name : v.path + "." + *name, key.Mark(), entry.second));
      }
    }
    for (const field& f : fields)
      if (f.required && !seen.contains(f.key)) fail(v, "missing required key '" + std::string(f.key) + "'");
  }

  // Hands each element to `read_item`; false when `v` is not a list of that length.
  bool read_list(const value& v, length n, const value_reader& read_item) {
    const bool non_empty = n == length::non_empty;
    if (!v.node.IsSequence() || (non_empty && v.node.size() == 0))
      return reject(v, non_empty ? "expected a non-empty list" : "expected a list");
    std::size_t i = 0;
    for (const auto& item : v.node) {
      const YAML::Mark at = has_position(item.Mark()) ? item.Mark() : v.mark;
      read_item(child(v, v.path + "[" + std::to_string(i++) + "]", at, item));
    }
    return true;
  }

  // Typed scalars: on success the value is stored and true returned; on
  // failure `out` is left alone and the problem recorded.
  bool read(const value& v, std::string& out) {
    const auto s = scalar(v.node);
    if (!s || s->empty()) return reject(v, "expected a non-empty string");
    out = *s;
    return true;
  }

  bool read(const value& v, bool& out) {
    const auto s = plain_scalar(v.node);
    if (s != "true" && s != "false") return reject(v, "expected true or false");
    out = *s == "true";
    return true;
  }

  template <class Int>
    requires std::is_integral_v<Int>
  bool read(const value& v, Int& out) {
    const auto s = plain_scalar(v.node);
    const auto n = s ? parse_positive<Int>(*s) : std::nullopt;
    if (!n) return reject(v, "expected a positive integer");
    out = *n;
    return true;
  }

  bool read(const value& v, std::chrono::milliseconds& out) {
    const auto s = scalar(v.node);
    const auto d = s ? parse_duration(*s) : std::nullopt;
    if (!d || d->count() == 0) return reject(v, "expected a positive duration such as 500ms, 10s, 5m or 1h");
    out = *d;
    return true;
  }

  bool read(const value& v, std::string& out, const choice_list& choices) {
    const auto s = scalar(v.node);
    if (!s || std::find(choices.begin(), choices.end(), *s) == choices.end()) {
      std::string list;
      for (const std::string_view c : choices) list += (list.empty() ? "" : ", ") + std::string(c);
      return reject(v, "expected one of " + list);
    }
    out = *s;
    return true;
  }

  // A list of strings (each among `choices` when given) replacing `out`.
  void read_strings(const value& v, std::vector<std::string>& out, length n, const choice_list& choices = {}) {
    out.clear();
    read_list(v, n, [&](const value& item) {
      std::string s;
      if (choices.empty() ? read(item, s) : read(item, s, choices)) out.push_back(std::move(s));
    });
  }

  template <class T>
  value_reader store(T& out) {
    return [this, &out](const value& v) { read(v, out); };
  }

  value_reader store(std::string& out, choice_list choices) {
    return [this, &out, choices = std::move(choices)](const value& v) { read(v, out, choices); };
  }

  // A string that must also pass `valid`, else `expected` is the problem.
  value_reader store_checked(std::string& out, bool (*valid)(std::string_view), std::string_view expected) {
    return [this, &out, valid, expected](const value& v) {
      if (read(v, out) && !valid(out)) fail(v, expected);
    };
  }

  value_reader store_url(std::string& out) {
    const auto valid = [](std::string_view s) { return is_http_url(s, false); };
    return store_checked(out, valid, "expected an absolute http or https URL");
  }

  void read_server(const value& v, server& s) {
    read_map(v,
             {
                 {"listen", [&](const value& x) { read_listen(x, s.listen); }},
                 {"metrics_listen",
                  [&](const value& x) {
                    const auto text = scalar(x.node);
                    s.metrics_listen = text ? parse_listen(*text) : std::nullopt;
                    if (!s.metrics_listen)
                      fail(x, "expected \"host:port\" with an IP address or localhost and a port 0-65535");
                  }},
                 {"public_url", [&](const value& x) { read_public_url(x, s.public_url); }},
                 {"tls",
                  [&](const value& x) {
                    fail(x.key_mark, "server.tls is not supported in this version: terminate TLS in front of mcpgate");
                  }},
                 {"workers", [&](const value& x) { read_workers(x, s.workers); }},
                 {"allowed_hosts", [&](const value& x) { read_host_values(x, s.allowed_hosts); }},
                 {"allowed_origins", [&](const value& x) { read_origins(x, s.allowed_origins); }},
                 {"limits",
                  [&](const value& x) {
                    read_map(x, {
                                    {"max_connections", store(s.limits.max_connections)},
                                    {"max_body_bytes", store(s.limits.max_body_bytes)},
                                    {"max_header_bytes", store(s.limits.max_header_bytes)},
                                    {"max_streams_per_installation", store(s.limits.max_streams_per_installation)},
                                    {"max_upstream_requests", store(s.limits.max_upstream_requests)},
                                    {"max_buffered_bytes", store(s.limits.max_buffered_bytes)},
                                    {"max_response_bytes", store(s.limits.max_response_bytes)},
                                });
                  }},
                 {"timeouts",
                  [&](const value& x) {
                    read_map(x, {
                                    {"upstream_connect", store(s.timeouts.upstream_connect)},
                                    {"upstream_first_byte", store(s.timeouts.upstream_first_byte)},
                                    {"idle", store(s.timeouts.idle)},
                                    {"request_read", store(s.timeouts.request_read)},
                                    {"shutdown_grace", store(s.timeouts.shutdown_grace)},
                                    {"stream_idle", store(s.timeouts.stream_idle)},
                                    {"oauth_state", store(s.timeouts.oauth_state)},
                                });
                  }},
             });
  }

  void read_listen(const value& v, std::vector<listen_address>& out) {
    out.clear();
    read_list(v, length::non_empty, [&](const value& item) {
      const auto s = scalar(item.node);
      const auto address = s ? parse_listen(*s) : std::nullopt;
      if (address) out.push_back(*address);
      else fail(item, "expected \"host:port\" with an IP address or localhost and a port 0-65535");
    });
  }

  void read_public_url(const value& v, std::string& out) {
    if (!read(v, out)) return;
    if (!is_http_url(out, true)) return fail(v, "expected an absolute http or https URL without query or fragment");
    while (out.ends_with('/')) out.pop_back();
  }

  void read_origins(const value& v, std::vector<std::string>& out) {
    out.clear();
    read_list(v, length::any, [&](const value& item) {
      std::string origin;
      if (!read(item, origin)) return;
      while (origin.ends_with('/')) origin.pop_back();
      const auto after_scheme = origin.find("://");
      if (!is_http_url(origin, true) || after_scheme == std::string::npos ||
          origin.find('/', after_scheme + 3) != std::string::npos) {
        return fail(item, "expected origins like \"https://app.example.com\" (scheme, host, optional port)");
      }
      out.push_back(std::move(origin));
    });
  }

  // Host header values: "host" or "host:port", no scheme or path.
  void read_host_values(const value& v, std::vector<std::string>& out) {
    out.clear();
    read_list(v, length::any, [&](const value& item) {
      std::string host;
      if (!read(item, host)) return;
      if (host.empty() || host.find_first_of("/?#@ ") != std::string::npos || !is_http_url("http://" + host, true)) {
        return fail(item, "expected a Host header value like \"gw.example.com\" or \"gw.example.com:8080\"");
      }
      out.push_back(std::move(host));
    });
  }

  void read_workers(const value& v, unsigned& out) {
    const auto s = plain_scalar(v.node);
    const auto n = s ? parse_positive<unsigned>(*s) : std::nullopt;
    if (s == "auto") out = 0;
    else if (n) out = *n;
    else fail(v, "expected auto or a positive integer");
  }

  void read_storage(const value& v, storage& s) {
    read_map(v, {
                    {"sqlite",
                     [&](const value& x) {
                       read_map(x, {{"path", store(s.sqlite_path)}});
                     }},
                    {"postgres", [&](const value& x) { s.postgres = read_postgres(x); }},
                });
  }

  // storage.postgres. Nothing here touches the network (check-config); the
  // password file is read, and the CA file must be readable.
  postgres read_postgres(const value& v) {
    postgres p;
    std::string conninfo_env;
    bool dsn_from_file = false;
    bool conninfo_given = false;
    read_map(v,
             {
                 {"conninfo",
                  [&](const value& x) {
                    std::string text;
                    if (!read(x, text)) return;
                    conninfo_given = true;
                    if (text.starts_with("${")) return read_secret_reference(x, conninfo_env, "dsn_file");
                    if (conninfo_has_password(text)) {
                      return fail(x,
                                  "secrets must not be inline: use password_file, password: ${ENV}, or "
                                  "conninfo: ${ENV}");
                    }
                    p.conninfo = std::move(text);
                  }},
                 {"dsn_file",
                  [&](const value& x) {
                    // A file may hold secrets: read as it is.
                    std::string path;
                    if (!read(x, path)) return;
                    dsn_from_file = true;
                    std::ifstream in(path, std::ios::binary);
                    if (!in) return fail(x, "dsn_file " + path + ": " + std::strerror(errno));
                    std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
                    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
                    if (text.empty()) return fail(x, "dsn_file " + path + " is empty");
                    p.conninfo = std::move(text);
                  }},
                 {"host", store(p.host)},
                 {"port",
                  [&](const value& x) {
                    if (read(x, p.port) && p.port > 65535) fail(x, "expected a port 1-65535");
                  }},
                 {"dbname", store(p.dbname)},
                 {"user", store(p.user)},
                 {"password_file", store(p.password_file)},
                 {"password", [&](const value& x) { read_secret_reference(x, p.password_env, "password_file"); }},
                 {"sslmode", store(p.sslmode, {"disable", "allow", "prefer", "require", "verify-ca", "verify-full"})},
                 {"sslrootcert",
                  [&](const value& x) {
                    if (!read(x, p.sslrootcert)) return;
                    if (!std::ifstream(p.sslrootcert)) fail(x, p.sslrootcert + ": " + std::strerror(errno));
                  }},
                 {"pool_size",
                  [&](const value& x) {
                    if (read(x, p.pool_size) && p.pool_size > 64) fail(x, "expected a pool size of 1 to 64");
                  }},
                 {"statement_timeout", store(p.statement_timeout)},
             });
    if (!conninfo_env.empty()) {
      const char* from_env = std::getenv(conninfo_env.c_str());
      if (!from_env || !*from_env) fail(v, "conninfo: environment variable " + conninfo_env + " is not set");
      else p.conninfo = from_env;
    }
    const bool fields = !p.host.empty() || p.port != 0 || !p.dbname.empty() || !p.user.empty();
    if (conninfo_given && dsn_from_file) {
      fail(v, "give conninfo or dsn_file, not both");
    } else if (!p.conninfo.empty() && fields) {
      fail(v, "give conninfo or host/port/dbname/user, not both");
    } else if (!conninfo_given && !dsn_from_file && p.dbname.empty()) {
      fail(v, "storage.postgres needs conninfo, dsn_file or dbname");
    }
    if (!p.password_file.empty() && !p.password_env.empty()) {
      fail(v, "give password_file or password, not both");
    } else if (!p.password_env.empty()) {
      const char* from_env = std::getenv(p.password_env.c_str());
      if (!from_env || !*from_env) fail(v, "password: environment variable " + p.password_env + " is not set");
      else p.password = from_env;
    } else if (!p.password_file.empty()) {
      std::ifstream in(p.password_file, std::ios::binary);
      if (!in) {
        fail(v, "password_file " + p.password_file + ": " + std::strerror(errno));
      } else {
        std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
        while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
        if (text.empty()) fail(v, "password_file " + p.password_file + " is empty");
        p.password = std::move(text);
      }
    }
    return p;
  }

  // Whether a literal conninfo carries a password: a password keyword, or a
  // URI whose user-info has one ("postgresql://u:secret@h/db").
  static bool conninfo_has_password(std::string_view text) {
    std::string lower(text);
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
    if (lower.find("password") != std::string::npos) return true;
    const auto scheme = lower.find("://");
    if (scheme == std::string::npos) return false;
    const auto authority_end = lower.find_first_of("/?#", scheme + 3);
    const std::string_view authority = std::string_view(lower).substr(
        scheme + 3, authority_end == std::string::npos ? std::string::npos : authority_end - scheme - 3);
    const auto at = authority.rfind('@');
    return at != std::string_view::npos && authority.substr(0, at).find(':') != std::string_view::npos;
  }

  void read_secrets(const value& v, secrets& s) {
    read_map(v, {
                    {"key_files",
                     [&](const value& x) {
                       s.key_files.clear();
                       read_list(x, length::non_empty, [&](const value& item) {
                         std::string path;
                         if (read_key_file(item, path)) s.key_files.push_back(std::move(path));
                       });
                       s.generate_missing = false;
                     }},
                });
  }

  // A key file path; "${NAME}" or "${NAME}/rest" takes the start from the
  // environment at load time, so that a systemd credential can be named as
  // "${CREDENTIALS_DIRECTORY}/secret.key". "${" anywhere else is a problem
  // rather than a literal file name nobody meant.
  bool read_key_file(const value& v, std::string& out) {
    if (!read(v, out)) return false;
    if (out.find("${") == std::string::npos) return true;
    const auto close = out.find('}');
    const bool leading = out.starts_with("${") && close != std::string::npos &&
                         is_env_name(std::string_view(out).substr(2, close - 2)) &&
                         (close + 1 == out.size() || out[close + 1] == '/') &&
                         out.find("${", close) == std::string::npos;
    if (!leading) return reject(v, "expected a path, ${NAME} or ${NAME}/path (a variable only at the start)");
    const std::string name = out.substr(2, close - 2);
    const char* from_env = std::getenv(name.c_str());
    if (!from_env || !*from_env) return reject(v, "environment variable " + name + " is not set");
    out = from_env + out.substr(close + 1);
    return true;
  }

  void read_upstreams(const value& v, upstreams& u) {
    read_map(v, {
                    {"allow_private_networks", store(u.allow_private_networks)},
                    {"allow_hosts", [&](const value& x) { read_strings(x, u.allow_hosts, length::any); }},
                    {"ca_file", store(u.ca_file)},
                });
  }

  void read_proxy(const value& v, proxy& p) {
    read_map(v, {
                    {"tools_list_hide",
                     [&](const value& x) {
                       read_strings(x, p.tools_list_hide, length::any, {"needs_approval", "do_not_use", "removed"});
                     }},
                    {"filtered_list_ttl", store(p.filtered_list_ttl)},
                });
  }

  void read_rate_limits(const value& v, rate_limits& r) {
    read_map(v, {
                    {"per_key", [&](const value& x) { read_rate_limit(x, r.per_key); }},
                    {"per_installation", [&](const value& x) { read_rate_limit(x, r.per_installation); }},
                });
  }

  // {requests_per_second: 20, burst: 40}; requests_per_second 0 is off.
  void read_rate_limit(const value& v, rate_limit& out) {
    rate_limit r;
    read_map(v,
             {
                 {"requests_per_second",
                  [&](const value& x) {
                    const auto s = plain_scalar(x.node);
                    const auto n = s ? parse_rate(*s) : std::nullopt;
                    if (!n)
                      return fail(x,
                                  "expected a number of requests per second (0 turns the limit off), e.g. 20 or 0.5");
                    r.requests_per_second = *n;
                  },
                  true},
                 {"burst", store(r.burst)},
             });
    out = r;
  }

  void read_audit(const value& v, audit& a) {
    read_map(v, {
                    {"forwarded_calls", store(a.forwarded_calls, {"all", "blocked_only", "off"})},
                });
  }

  void read_logging(const value& v, logging& l) {
    read_map(v, {
                    {"level", store(l.level, {"trace", "debug", "info", "warn", "error", "critical", "off"})},
                    {"format", store(l.format, {"json", "text"})},
                });
  }

  void read_projects(const value& v, std::vector<project>& out) {
    out.clear();
    project_ids ids;
    read_list(v, length::non_empty, [&](const value& item) { out.push_back(read_project(item, out.size(), ids)); });
    check_environment_ids(out, ids);
    add_own_environments(out);
  }

  project read_project(const value& v, std::size_t index, project_ids& ids) {
    project p;
    read_map(v, {
                    {"id",
                     [&](const value& x) {
                       if (read(x, p.id) && !ids.projects.emplace(p.id, index).second)
                         fail(x, "duplicate project id " + std::to_string(p.id));
                     },
                     true},
                    {"name", store(p.name), true},
                    {"environments",
                     [&](const value& x) {
                       read_list(x, length::any,
                                 [&](const value& e) { p.environments.push_back(read_environment(e, index, ids)); });
                     }},
                });
    return p;
  }

  environment read_environment(const value& v, std::size_t project_index, project_ids& ids) {
    environment e;
    read_map(v, {
                    {"id",
                     [&](const value& x) {
                       if (read(x, e.id)) ids.environments.push_back({project_index, e.id, x});
                     },
                     true},
                    {"name", store(e.name), true},
                });
    return e;
  }

  // Environment ids are unique across projects, and an environment with a
  // project's id belongs to that project.
  void check_environment_ids(const std::vector<project>& projects, const project_ids& ids) {
    std::map<std::int64_t, std::size_t> owner;  // environment id -> project index
    for (const environment_ref& e : ids.environments) {
      const std::string id = std::to_string(e.id);
      const auto [first, fresh] = owner.emplace(e.id, e.project_index);
      const auto project = ids.projects.find(e.id);
      if (!fresh)
        fail(e.where, "duplicate environment id " + id + " (also in project " +
                          std::to_string(projects[first->second].id) + ")");
      else if (project != ids.projects.end() && project->second != e.project_index)
        fail(e.where, "environment id " + id + " is project " + id + "'s id: only that project may have it");
    }
  }

  void read_templates(const value& v, std::vector<template_entry>& out) {
    name_set ids;
    read_list(v, length::any, [&](const value& item) { out.push_back(read_template(item, ids)); });
  }

  template_entry read_template(const value& v, name_set& ids) {
    template_entry t;
    read_map(v,
             {
                 {"id",
                  [&](const value& x) {
                    if (!read(x, t.id)) return;
                    if (!is_slug(t.id)) fail(x, "expected lower-case letters, digits, '_' or '-'");
                    else if (!ids.insert(t.id).second) fail(x, "duplicate template id '" + t.id + "'");
                  },
                  true},
                 {"name", store(t.name), true},
                 {"url", store_url(t.url), true},
                 {"docs_url", store_url(t.docs_url)},
                 {"description", store(t.description)},
                 {"auth_type",
                  [&](const value& x) {
                    std::string name;
                    if (read(x, name, {"oauth", "api_key", "none"})) t.auth_type = auth_type_named(name);
                  }},
                 {"icon_key", store(t.icon_key)},
                 {"category", store(t.category, {"business", "data", "design", "dev", "infra", "productivity"})},
                 {"is_active", store(t.is_active)},
                 {"client_id", store(t.client_id)},
                 {"offline_access", store(t.offline_access)},
                 {"client_secret_file", store(t.client_secret_file)},
                 {"client_secret", [&](const value& x) { read_secret_reference(x, t.client_secret_env); }},
                 {"api_key_header", store_checked(t.api_key_header, is_token, "expected an HTTP header name")},
                 {"api_key_format",
                  store_checked(t.api_key_format, has_key_placeholder, "expected a format containing {key}")},
             });
    if (!t.client_secret_file.empty() && !t.client_secret_env.empty())
      fail(v, "give client_secret_file or client_secret, not both");
    else if ((!t.client_secret_file.empty() || !t.client_secret_env.empty()) && t.client_id.empty())
      fail(v, "a client secret needs a client_id");
    else if (!t.client_secret_file.empty() || !t.client_secret_env.empty()) read_client_secret(v, t);
    return t;
  }

  // The template's client secret, from its file or environment variable;
  // a missing or empty one is a config error (the flow would fail later).
  void read_client_secret(const value& v, template_entry& t) {
    if (!t.client_secret_env.empty()) {
      const char* from_env = std::getenv(t.client_secret_env.c_str());
      if (!from_env || !*from_env)
        return fail(v, "client_secret: environment variable " + t.client_secret_env + " is not set");
      t.client_secret = from_env;
      return;
    }
    std::ifstream in(t.client_secret_file, std::ios::binary);
    if (!in) return fail(v, "client_secret_file " + t.client_secret_file + ": " + std::strerror(errno));
    std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
    if (text.empty()) return fail(v, "client_secret_file " + t.client_secret_file + " is empty");
    t.client_secret = std::move(text);
  }

  // "${NAME}" -> NAME; anything else would be a secret written in the file.
  void read_secret_reference(const value& v, std::string& env_name, std::string_view file_key = "client_secret_file") {
    std::string s;
    if (!read(v, s)) return;
    const bool reference = s.starts_with("${") && s.ends_with('}') && is_env_name(s.substr(2, s.size() - 3));
    if (!reference) return fail(v, "secrets must not be inline: use " + std::string(file_key) + " or ${ENV}");
    env_name = s.substr(2, s.size() - 3);
  }

  std::string file_;
  std::vector<problem>& problems_;
};

}  // namespace

std::string problem::to_string() const {
  if (line <= 0) return file + ": " + message;
  return file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + message;
}

struct config default_config(const std::string& data_dir) {
  struct config c;
  c.data_dir = data_dir;
  c.storage.sqlite_path = (std::filesystem::path(data_dir) / "mcpgate.db").string();
  c.secrets.key_files = {(std::filesystem::path(data_dir) / "secret.key").string()};
  c.secrets.generate_missing = true;
  c.projects = {{1, "Default", {{1, "production"}}}};
  return c;
}

load_result load_string(const std::string& yaml, const std::string& name) {
  load_result result;
  reader r(name, result.problems);
  try {
    const YAML::Node document = YAML::Load(yaml);
    // A second document is a mistake (two files pasted together). Looked for
    // with a parser that builds nothing and stops there: LoadAll reads every
    // document, and some inputs ("\n,") yield empty documents forever.
    document_marks marks;
    std::istringstream in(yaml);
    YAML::Parser parser(in);
    if (parser.HandleNextDocument(marks) && parser.HandleNextDocument(marks)) {
      r.fail(marks.last_start, "expected a single YAML document");
    }
    struct config c = r.read_config(document);
    c.source = name;
    if (result.problems.empty()) result.value = std::move(c);
  } catch (const YAML::Exception& e) {
    r.fail(e.mark, "invalid YAML: " + e.msg);
  } catch (const std::exception& e) {
    r.fail(YAML::Mark::null_mark(), e.what());
  }
  return result;
}

load_result load_file(const std::string& path) {
  const auto unreadable = [&](int error) {
    const std::string message = "cannot read the file: " + std::string(std::strerror(error));
    return load_result{std::nullopt, {{path, 0, 0, message}}};
  };
  std::error_code ignored;
  if (std::filesystem::is_directory(path, ignored)) return unreadable(EISDIR);
  std::ifstream in(path, std::ios::binary);
  if (!in) return unreadable(errno);
  std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (in.bad()) return unreadable(EIO);
  return load_string(text, path);
}

std::vector<std::pair<std::string, std::string>> postgres_parameters(const postgres& p) {
  std::vector<std::pair<std::string, std::string>> out;
  const auto add = [&out](std::string key, std::string value) {
    if (!value.empty()) out.emplace_back(std::move(key), std::move(value));
  };
  // First, so that libpq expands it (expand_dbname) and what follows overrides it.
  add("dbname", p.conninfo.empty() ? p.dbname : p.conninfo);
  add("host", p.host);
  if (p.port != 0) add("port", std::to_string(p.port));
  add("user", p.user);
  add("password", p.password);
  add("sslmode", p.sslmode);
  add("sslrootcert", p.sslrootcert);
  add("application_name", "mcpgate");
  return out;
}

std::optional<std::chrono::milliseconds> parse_duration(const std::string& text) {
  static constexpr std::pair<std::string_view, std::int64_t> units[] =
      {{"ms", 1}, {"s", 1'000}, {"m", 60'000}, {"h", 3'600'000}};
  const auto suffix_at = std::min(text.find_first_not_of("0123456789"), text.size());
  const std::string_view suffix = std::string_view(text).substr(suffix_at);
  const auto unit = std::find_if(std::begin(units), std::end(units), [&](const auto& u) { return u.first == suffix; });
  const auto n = parse_number<std::int64_t>(std::string_view(text).substr(0, suffix_at));
  if (unit == std::end(units) || !n || *n > std::numeric_limits<std::int64_t>::max() / unit->second)
    return std::nullopt;
  return std::chrono::milliseconds(*n * unit->second);
}

}  // namespace mcpgate::config

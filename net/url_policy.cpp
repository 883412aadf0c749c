#include "net/url_policy.hpp"

#include "common/text.hpp"

#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cctype>

namespace mcpgate::net {
namespace {

namespace ip = boost::asio::ip;

// Who may admit an address of a class, besides an allow_hosts entry naming it.
enum class address_class {
  private_use,  // allow_private_networks
  never,        // nothing: never a useful upstream
  metadata,     // nothing, and allow_hosts only by naming the address itself
};

struct address_range {
  std::string_view network;
  unsigned prefix_bits;
  address_class kind;
  std::string_view what;  // completes "address X is ..."
};

// First match wins, so the single addresses come before their wider ranges.
constexpr address_range v4_ranges[] = {
    {"169.254.169.254", 32, address_class::metadata, "a cloud metadata address"},
    {"100.100.100.200", 32, address_class::metadata, "a cloud metadata address"},
    {"255.255.255.255", 32, address_class::never, "the broadcast address"},
    {"0.0.0.0", 8, address_class::never, "in 0.0.0.0/8 (unspecified)"},
    {"127.0.0.0", 8, address_class::private_use, "a loopback address"},
    {"10.0.0.0", 8, address_class::private_use, "in a private network"},
    {"172.16.0.0", 12, address_class::private_use, "in a private network"},
    {"192.168.0.0", 16, address_class::private_use, "in a private network"},
    {"169.254.0.0", 16, address_class::private_use, "link-local"},
    {"100.64.0.0", 10, address_class::private_use, "in the carrier-grade NAT range"},
    {"192.0.0.0", 24, address_class::private_use, "reserved for IETF protocol assignments"},
    {"198.18.0.0", 15, address_class::private_use, "reserved for benchmarking"},
    {"224.0.0.0", 4, address_class::never, "multicast"},
    {"240.0.0.0", 4, address_class::never, "reserved"},
};

constexpr address_range v6_ranges[] = {
    {"fd00:ec2::254", 128, address_class::metadata, "a cloud metadata address"},
    {"::1", 128, address_class::private_use, "a loopback address"},
    {"::", 128, address_class::never, "unspecified"},
    {"fc00::", 7, address_class::private_use, "in a private network (unique-local)"},
    {"fe80::", 10, address_class::private_use, "link-local"},
    {"ff00::", 8, address_class::never, "multicast"},
};

// IPv6 forms that carry an IPv4 address, which is what they reach.
struct v4_embedding {
  std::string_view network;
  unsigned prefix_bits;
  std::size_t offset;     // of the IPv4 address in the 16 bytes
  std::string_view form;  // completes "address X is <form> 10.0.0.1"
};

constexpr v4_embedding v4_embeddings[] = {
    {"::ffff:0:0", 96, 12, "the IPv4-mapped form of"},
    {"::", 96, 12, "the IPv4-compatible form of"},  // after :: and ::1 above
    {"64:ff9b::", 96, 12, "a NAT64 address for"},
    {"2002::", 16, 2, "a 6to4 address for"},
};

struct finding {
  address_class kind;
  std::string what;
};

template <std::size_t N>
bool in_prefix(const std::array<unsigned char, N>& addr, const std::array<unsigned char, N>& net, unsigned bits) {
  for (std::size_t i = 0; i < N && bits > 0; ++i) {
    const unsigned take = std::min(bits, 8u);
    const unsigned mask = (0xffu << (8 - take)) & 0xffu;
    if ((addr[i] & mask) != (net[i] & mask)) return false;
    bits -= take;
  }
  return true;
}

std::optional<finding> classify(const ip::address_v4& addr) {
  for (const auto& r : v4_ranges) {
    if (in_prefix(addr.to_bytes(), ip::make_address_v4(r.network).to_bytes(), r.prefix_bits)) {
      return finding{r.kind, std::string(r.what)};
    }
  }
  return std::nullopt;
}

std::optional<finding> classify(const ip::address_v6& addr) {
  const auto bytes = addr.to_bytes();
  for (const auto& r : v6_ranges) {
    if (in_prefix(bytes, ip::make_address_v6(r.network).to_bytes(), r.prefix_bits)) {
      return finding{r.kind, std::string(r.what)};
    }
  }
  for (const auto& e : v4_embeddings) {
    if (!in_prefix(bytes, ip::make_address_v6(e.network).to_bytes(), e.prefix_bits)) continue;
    ip::address_v4::bytes_type v4{};
    std::copy_n(bytes.begin() + static_cast<std::ptrdiff_t>(e.offset), v4.size(), v4.begin());
    const ip::address_v4 inner(v4);
    auto f = classify(inner);
    if (f) f->what = std::string(e.form) + ' ' + inner.to_string() + ", which is " + f->what;
    return f;
  }
  return std::nullopt;
}

// Lower case, without IPv6 brackets or a trailing root dot.
std::string normalize_host(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.size() > 1 && host.back() == '.') host.remove_suffix(1);
  return ascii_lower(host);
}

// Decimal digits only, 1..65535.
std::optional<std::uint16_t> parse_port(std::string_view digits) {
  if (digits.empty()) return std::nullopt;
  unsigned value = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<unsigned>(c - '0');
    if (value > 65535) return std::nullopt;
  }
  if (value == 0) return std::nullopt;
  return static_cast<std::uint16_t>(value);
}

struct allow_entry {
  std::string host;  // normalized; "*.suffix" for a sub-domain wildcard
  std::optional<std::uint16_t> port;
};

// "host", "host:port", "[v6]", "[v6]:port", "*.suffix"; a bare IPv6 address
// (two colons or more) has no port. Nullopt for an unusable entry.
std::optional<allow_entry> parse_allow_entry(std::string_view entry) {
  std::string_view host = entry;
  std::optional<std::string_view> port;
  if (entry.starts_with('[')) {
    const auto close = entry.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = entry.substr(0, close + 1);
    const std::string_view rest = entry.substr(close + 1);
    if (!rest.empty() && rest.front() != ':') return std::nullopt;
    if (!rest.empty()) port = rest.substr(1);
  } else if (std::count(entry.begin(), entry.end(), ':') == 1) {
    const auto colon = entry.find(':');
    host = entry.substr(0, colon);
    port = entry.substr(colon + 1);
  }
  allow_entry out{normalize_host(host), std::nullopt};
  if (out.host.empty()) return std::nullopt;
  if (port && !(out.port = parse_port(*port))) return std::nullopt;
  return out;
}

bool host_matches(std::string_view pattern, const std::string& host) {
  if (pattern.starts_with("*.")) {
    const std::string_view suffix = pattern.substr(1);  // ".corp.example"
    return host.size() > suffix.size() && host.ends_with(suffix);
  }
  if (pattern == host) return true;
  // IPv6 has many spellings of one address.
  boost::system::error_code ec1, ec2;
  const auto a = ip::make_address(std::string(pattern), ec1);
  const auto b = ip::make_address(host, ec2);
  return !ec1 && !ec2 && a == b;
}

bool allowed_by_entry(const ssrf_policy& policy, std::string_view host, std::uint16_t port) {
  const std::string h = normalize_host(host);
  return std::any_of(policy.allow_hosts.begin(), policy.allow_hosts.end(), [&](const std::string& entry) {
    const auto e = parse_allow_entry(entry);
    return e && (!e->port || *e->port == port) && host_matches(e->host, h);
  });
}

// A host name the system resolver takes as an IPv4 address without asking
// DNS (inet_aton forms: "2130706433", "127.1", "0x7f.0.0.1", "0177.0.0.1").
// Boost.URL calls these reg-names; they are checked as the address they are.
std::optional<ip::address_v4> numeric_ipv4(const std::string& name) {
  const bool numeric_chars = std::all_of(name.begin(), name.end(), [](char c) {
    return std::isxdigit(static_cast<unsigned char>(c)) || c == 'x' || c == 'X' || c == '.';
  });
  in_addr addr{};
  if (!numeric_chars || ::inet_aton(name.c_str(), &addr) == 0) return std::nullopt;
  return ip::address_v4(ntohl(addr.s_addr));
}

bool is_private_name(const std::string& name) {
  return name == "localhost" || name.ends_with(".localhost") || name.ends_with(".local") || name.ends_with(".internal");
}

url_verdict invalid(std::string reason) { return {url_problem::invalid, std::move(reason)}; }

url_verdict address_verdict(const ip::address& addr, std::string_view host, std::uint16_t port,
                            const ssrf_policy& policy) {
  auto reason = check_address(addr, host, port, policy);
  if (!reason) return {};
  return {url_problem::not_allowed, std::move(*reason)};
}

url_verdict check_host_name(const std::string& name, std::uint16_t port, const ssrf_policy& policy) {
  // Letters, digits, '-', '.', '_': anything else (sub-delims, decoded
  // percent-escapes, raw UTF-8) cannot be resolved and is refused outright.
  const bool plain = std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_';
  });
  if (!plain) return invalid("host name is not valid");
  // As the connect path reads it: a trailing dot dropped ("224.0." is 224.0.0.0).
  if (const auto addr = numeric_ipv4(normalize_host(name))) return address_verdict(*addr, name, port, policy);
  if (policy.allow_private_networks || allowed_by_entry(policy, name, port) || !is_private_name(normalize_host(name))) {
    return {};
  }
  return {url_problem::not_allowed, "host '" + name + "' is not allowed"};
}

}  // namespace

url_verdict check_upstream_url(std::string_view url, const ssrf_policy& policy) {
  if (url.size() > max_url_length) {
    return {url_problem::too_long, "URL is longer than " + std::to_string(max_url_length) + " characters"};
  }
  const auto parsed = boost::urls::parse_absolute_uri(url);
  if (!parsed) return invalid("not a valid absolute URL");
  const boost::urls::url_view& u = *parsed;
  // Boost.URL 1.81 takes "http://h:80x/" as port 80 and path "x/"; RFC 3986
  // wants the path after an authority to be empty or start with '/'
  // (boostorg/url#636, #680).
  if (u.has_authority() && !u.encoded_path().empty() && !u.encoded_path().starts_with('/')) {
    return invalid("not a valid absolute URL");
  }
  const auto scheme = u.scheme_id();  // compared case-insensitively
  if (scheme != boost::urls::scheme::http && scheme != boost::urls::scheme::https) {
    return invalid("scheme must be http or https");
  }
  if (!u.has_authority() || u.encoded_host().empty()) return invalid("URL must have a host");
  if (u.has_userinfo()) return invalid("URL must not contain user-info");
  std::uint16_t port = scheme == boost::urls::scheme::http ? 80 : 443;
  // port_number() wraps values over 65535, so the digits are read here.
  if (u.has_port() && !u.port().empty()) {
    const auto explicit_port = parse_port(u.port());
    if (!explicit_port) return invalid("port must be between 1 and 65535");
    port = *explicit_port;
  }
  switch (u.host_type()) {
    case boost::urls::host_type::ipv4:
      return address_verdict(ip::address_v4(u.host_ipv4_address().to_uint()), u.encoded_host(), port, policy);
    case boost::urls::host_type::ipv6:
      return address_verdict(ip::address_v6(u.host_ipv6_address().to_bytes()), u.encoded_host(), port, policy);
    case boost::urls::host_type::name: return check_host_name(u.host(), port, policy);
    default: return invalid("host must be a name or an IP address");
  }
}

std::optional<std::string> check_address(const ip::address& addr, std::string_view host, std::uint16_t port,
                                         const ssrf_policy& policy) {
  const std::string literal = addr.to_string();
  if (allowed_by_entry(policy, literal, port)) return std::nullopt;
  const auto found = addr.is_v4() ? classify(addr.to_v4()) : classify(addr.to_v6());
  if (!found) return std::nullopt;
  const bool admitted = found->kind != address_class::metadata &&
                        (allowed_by_entry(policy, host, port) ||
                         (found->kind == address_class::private_use && policy.allow_private_networks));
  if (admitted) return std::nullopt;
  return "address " + literal + " is " + found->what;
}

std::optional<parsed_url> parse_url(std::string_view url) {
  const auto parsed = boost::urls::parse_absolute_uri(url);
  if (!parsed) return std::nullopt;
  const boost::urls::url_view u = *parsed;
  const auto scheme = u.scheme_id();
  if (scheme != boost::urls::scheme::http && scheme != boost::urls::scheme::https) {
    return std::nullopt;
  }
  if (!u.has_authority() || u.encoded_host().empty() || u.has_userinfo()) return std::nullopt;
  // As check_upstream_url: a path after the authority starts with '/'
  // (Boost.URL 1.81 reads "https://h:443evil" as port 443, path "evil").
  if (!u.encoded_path().empty() && !u.encoded_path().starts_with('/')) return std::nullopt;
  parsed_url out;
  out.origin.tls = scheme == boost::urls::scheme::https;
  const std::uint16_t default_port = out.origin.tls ? 443 : 80;
  out.origin.port = default_port;
  if (u.has_port() && !u.port().empty()) {
    unsigned value = 0;
    for (char c : u.port()) {
      if (c < '0' || c > '9') return std::nullopt;
      value = value * 10 + static_cast<unsigned>(c - '0');
      if (value > 65535) return std::nullopt;
    }
    if (value == 0) return std::nullopt;
    out.origin.port = static_cast<std::uint16_t>(value);
  }
  std::string host_text;
  switch (u.host_type()) {
    case boost::urls::host_type::ipv4:
      out.origin.host = u.host_ipv4_address().to_string();
      host_text = out.origin.host;
      break;
    case boost::urls::host_type::ipv6:
      out.origin.host = ip::address_v6(u.host_ipv6_address().to_bytes()).to_string();
      host_text = '[' + out.origin.host + ']';
      break;
    case boost::urls::host_type::name: {
      // Only names that can be resolved: a percent-escape must not decode
      // to '@', ':' or '/' and so name another host in a Host header or in
      // a URL built from this one ("https://a%40evil.example").
      const std::string name = u.host();
      if (!std::all_of(name.begin(), name.end(), [](char c) {
            return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_';
          })) {
        return std::nullopt;
      }
      out.origin.host = ascii_lower(name);
      if (out.origin.host.size() > 1 && out.origin.host.back() == '.') out.origin.host.pop_back();
      host_text = out.origin.host;
      break;
    }
    default: return std::nullopt;
  }
  out.host_header = out.origin.port == default_port ? host_text : host_text + ':' + std::to_string(out.origin.port);
  out.target = u.encoded_path().empty() ? std::string("/") : std::string(u.encoded_path());
  if (u.has_query()) out.target += '?' + std::string(u.encoded_query());
  return out;
}

}  // namespace mcpgate::net

// Outbound URL rules: what an upstream MCP URL may be, and the SSRF policy.
//
// Two layers. check_upstream_url() is the static check a URL gets when a user
// stores it (scheme, length, host names and literal addresses); the connect
// path (later: net/ client) resolves the name and applies
// check_address() to every resolved address before connecting, which is what
// stops DNS rebinding.
//
// Denied unless allowed: loopback, private (RFC 1918), link-local, CGNAT
// (100.64/10), unspecified, multicast/broadcast/reserved, IPv6 unique-local
// and link-local, IPv4-mapped/compatible/NAT64/6to4 forms of any of those, the
// host names "localhost", "*.localhost", "*.local", "*.internal". Cloud
// metadata addresses (169.254.169.254, fd00:ec2::254, 100.100.100.200) are
// denied even when private networks are allowed; only an allow_hosts entry
// naming them admits them.
//
// Thread-safety: pure functions.
#pragma once

#include <boost/asio/ip/address.hpp>

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mcpgate::net {

inline constexpr std::size_t max_url_length = 2048;

struct ssrf_policy {
  bool allow_private_networks = false;
  // "127.0.0.1:9000" (host and port), "example.internal" (any port),
  // "*.corp.example" (any sub-domain, any port), "[::1]:9000".
  std::vector<std::string> allow_hosts;
};

enum class url_problem { none, invalid, too_long, not_allowed };

struct url_verdict {
  url_problem problem = url_problem::none;
  std::string reason;  // human-readable, for the API's detail/error text
  explicit operator bool() const { return problem == url_problem::none; }
};

// Absolute http(s) URL with a host, <= max_url_length, no user-info, and the
// host passes the static SSRF rules above. A host name the system resolver
// reads as an IPv4 address ("2130706433", "127.1", "0x7f.0.0.1") is checked
// as that address. allow_hosts ports default to 80/443 from the scheme.
url_verdict check_upstream_url(std::string_view url, const ssrf_policy& policy);

// For one resolved address of `host:port`: nullopt when allowed, else the
// reason ("address 10.0.0.1 is in a private network").
std::optional<std::string> check_address(const boost::asio::ip::address& addr, std::string_view host,
                                         std::uint16_t port, const ssrf_policy& policy);

// Where a connection goes. host is lower case, IPv6 without brackets.
struct origin {
  bool tls = false;
  std::string host;
  std::uint16_t port = 0;
  friend auto operator<=>(const origin&, const origin&) = default;
  friend bool operator==(const origin&, const origin&) = default;
};

struct parsed_url {
  net::origin origin;
  std::string target;       // "/path?query", "/" when empty
  std::string host_header;  // "host", "host:port", "[v6]:port"
};

// Absolute http(s) URL with a host and no user-info; nullopt otherwise. This
// is syntax only: the SSRF policy is applied by check_upstream_url() and at
// connect time.
std::optional<parsed_url> parse_url(std::string_view url);

}  // namespace mcpgate::net

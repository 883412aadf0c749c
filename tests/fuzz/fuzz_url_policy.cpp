// Fuzz target: the outbound URL rules and the SSRF policy
// (net/url_policy.hpp): check_upstream_url, check_address, parse_url.
//
// The input is a URL; its first bytes also make an IPv4 and an IPv6 address
// and a port for check_address. The address classes are implemented here
// again, independently of the policy: the host comes from Boost.URL (IP
// literals) or, for a name, from the system resolver's own numeric parser
// (getaddrinfo with AI_NUMERICHOST: "2130706433", "127.1", "0x7f.1" are
// 127.0.0.1), both for the host as written and for the host parse_url()
// hands to the connect path. Oracles:
//   - with allow_private_networks off and no allow_hosts entry naming an
//     address, nothing admitted (a URL, or an address by check_address) is
//     loopback, private, link-local, CGNAT, unspecified, multicast, broadcast
//     or a cloud metadata address (169.254.169.254, 100.100.100.200,
//     fd00:ec2::254), in IPv4 or any IPv6 form that carries IPv4
//     (mapped, compatible, NAT64, 6to4);
//   - with allow_private_networks on, a metadata address is still refused;
//   - an admitted URL parses with parse_url(), whose target starts with '/'
//     and whose host_header names the same host.
#include "net/url_policy.hpp"
#include "tests/fuzz/fuzz_check.hpp"

#include <boost/url/parse.hpp>

#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace {

namespace net = mcpgate::net;
namespace ip = boost::asio::ip;

enum class address_class { public_use, private_use, never, metadata };

using v4_bytes = std::array<std::uint8_t, 4>;
using v6_bytes = std::array<std::uint8_t, 16>;

bool in_v4(const v4_bytes& a, std::uint32_t network, unsigned bits) {
  const std::uint32_t value = (std::uint32_t{a[0]} << 24) | (std::uint32_t{a[1]} << 16) | (std::uint32_t{a[2]} << 8) |
                              std::uint32_t{a[3]};
  const std::uint32_t mask = bits == 0 ? 0 : ~std::uint32_t{0} << (32 - bits);
  return (value & mask) == (network & mask);
}

constexpr std::uint32_t v4(unsigned a, unsigned b, unsigned c, unsigned d) {
  return (a << 24) | (b << 16) | (c << 8) | d;
}

address_class classify_v4(const v4_bytes& a) {
  if (in_v4(a, v4(169, 254, 169, 254), 32) || in_v4(a, v4(100, 100, 100, 200), 32)) return address_class::metadata;
  if (in_v4(a, v4(0, 0, 0, 0), 8)) return address_class::never;           // unspecified, "this network"
  if (in_v4(a, v4(255, 255, 255, 255), 32)) return address_class::never;  // broadcast
  if (in_v4(a, v4(224, 0, 0, 0), 4)) return address_class::never;         // multicast
  if (in_v4(a, v4(127, 0, 0, 0), 8) || in_v4(a, v4(10, 0, 0, 0), 8) || in_v4(a, v4(172, 16, 0, 0), 12) ||
      in_v4(a, v4(192, 168, 0, 0), 16) || in_v4(a, v4(169, 254, 0, 0), 16) || in_v4(a, v4(100, 64, 0, 0), 10)) {
    return address_class::private_use;
  }
  return address_class::public_use;
}

// The first `bits` bits of `a` are those of `prefix` (the rest of prefix is 0).
bool in_v6(const v6_bytes& a, const v6_bytes& prefix, unsigned bits) {
  for (unsigned i = 0; i < bits; ++i) {
    const unsigned byte = i / 8, bit = 7 - i % 8;
    if (((a[byte] >> bit) & 1u) != ((prefix[byte] >> bit) & 1u)) return false;
  }
  return true;
}

v4_bytes v4_at(const v6_bytes& a, std::size_t offset) {
  return {a[offset], a[offset + 1], a[offset + 2], a[offset + 3]};
}

address_class classify_v6(const v6_bytes& a) {
  const v6_bytes zero{};
  v6_bytes metadata{0xfd, 0x00, 0x0e, 0xc2};
  metadata[14] = 0x02;
  metadata[15] = 0x54;
  v6_bytes loopback{};
  loopback[15] = 1;
  if (a == metadata) return address_class::metadata;
  if (a == loopback) return address_class::private_use;
  if (a == zero) return address_class::never;
  if (in_v6(a, v6_bytes{0xfc}, 7) || in_v6(a, v6_bytes{0xfe, 0x80}, 10)) return address_class::private_use;
  if (in_v6(a, v6_bytes{0xff}, 8)) return address_class::never;
  v6_bytes mapped{};
  mapped[10] = mapped[11] = 0xff;
  if (in_v6(a, mapped, 96) || in_v6(a, zero, 96)) return classify_v4(v4_at(a, 12));      // mapped, compatible
  if (in_v6(a, v6_bytes{0x00, 0x64, 0xff, 0x9b}, 96)) return classify_v4(v4_at(a, 12));  // NAT64
  if (in_v6(a, v6_bytes{0x20, 0x02}, 16)) return classify_v4(v4_at(a, 2));               // 6to4
  return address_class::public_use;
}

// A host name the system resolver reads as an address without asking DNS.
std::optional<address_class> numeric_host(const std::string& host) {
  if (host.empty() || host.find('\0') != std::string::npos) return std::nullopt;
  addrinfo hints{};
  hints.ai_flags = AI_NUMERICHOST;
  hints.ai_family = AF_UNSPEC;
  addrinfo* found = nullptr;
  if (::getaddrinfo(host.c_str(), nullptr, &hints, &found) != 0) return std::nullopt;
  std::optional<address_class> c;
  if (found->ai_family == AF_INET) {
    v4_bytes a;
    std::memcpy(a.data(), &reinterpret_cast<const sockaddr_in*>(found->ai_addr)->sin_addr, 4);
    c = classify_v4(a);
  } else if (found->ai_family == AF_INET6) {
    v6_bytes a;
    std::memcpy(a.data(), &reinterpret_cast<const sockaddr_in6*>(found->ai_addr)->sin6_addr, 16);
    c = classify_v6(a);
  }
  ::freeaddrinfo(found);
  return c;
}

// The classes of the addresses `url` reaches without DNS, as written and as
// parse_url() hands it to the connect path.
std::vector<address_class> url_classes(std::string_view url) {
  std::vector<address_class> out;
  const auto u = boost::urls::parse_absolute_uri(url);
  if (!u) return out;
  switch (u->host_type()) {
    case boost::urls::host_type::ipv4: {
      const auto b = u->host_ipv4_address().to_bytes();
      out.push_back(classify_v4({b[0], b[1], b[2], b[3]}));
      break;
    }
    case boost::urls::host_type::ipv6: {
      const auto b = u->host_ipv6_address().to_bytes();
      v6_bytes a;
      std::copy(b.begin(), b.end(), a.begin());
      out.push_back(classify_v6(a));
      break;
    }
    case boost::urls::host_type::name:
      if (const auto c = numeric_host(u->host())) out.push_back(*c);
      break;
    default: break;
  }
  if (const auto parsed = net::parse_url(url)) {
    if (const auto c = numeric_host(parsed->origin.host)) out.push_back(*c);
  }
  return out;
}

net::ssrf_policy strict_policy() { return {}; }
net::ssrf_policy private_policy() { return {true, {}}; }
// Entries that name no address: they must change nothing for IP literals.
net::ssrf_policy named_hosts_policy() {
  return {false, {"*.example.com", "example.org:8443", "mcp.internal", "[2001:db8::1]:443"}};
}

void check_url(std::string_view url) {
  const auto classes = url_classes(url);
  const auto admitted_by = [&](const net::ssrf_policy& p) {
    return static_cast<bool>(net::check_upstream_url(url, p));
  };

  for (const auto& policy : {strict_policy(), named_hosts_policy()}) {
    if (!admitted_by(policy)) continue;
    for (const address_class c : classes) FUZZ_CHECK(c == address_class::public_use);
  }
  if (admitted_by(private_policy())) {
    for (const address_class c : classes) FUZZ_CHECK(c != address_class::metadata);
  }

  if (!admitted_by(strict_policy())) return;
  FUZZ_CHECK(url.size() <= net::max_url_length);
  const auto parsed = net::parse_url(url);
  FUZZ_CHECK(parsed.has_value());
  FUZZ_CHECK(parsed->target.starts_with('/'));
  FUZZ_CHECK(!parsed->origin.host.empty());
  FUZZ_CHECK(parsed->origin.port != 0);
  FUZZ_CHECK(parsed->host_header.find(parsed->origin.host) != std::string::npos);
}

void check_addresses(const std::uint8_t* data, std::size_t size) {
  if (size < 18) return;
  const std::uint16_t port = static_cast<std::uint16_t>(data[16] << 8 | data[17]);
  v6_bytes b6;
  std::copy(data, data + 16, b6.begin());
  v4_bytes b4{data[0], data[1], data[2], data[3]};
  const ip::address a6 = ip::address_v6(ip::address_v6::bytes_type(b6));
  const ip::address a4 = ip::address_v4(ip::address_v4::bytes_type(b4));
  for (const auto& [addr, c] : {std::pair{a4, classify_v4(b4)}, std::pair{a6, classify_v6(b6)}}) {
    for (const std::string& host : {addr.to_string(), std::string("mcp.example.net")}) {
      if (!net::check_address(addr, host, port, strict_policy())) FUZZ_CHECK(c == address_class::public_use);
      if (!net::check_address(addr, host, port, named_hosts_policy())) FUZZ_CHECK(c == address_class::public_use);
      if (!net::check_address(addr, host, port, private_policy())) FUZZ_CHECK(c != address_class::metadata);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  check_url(std::string_view(reinterpret_cast<const char*>(data), size));
  check_addresses(data, size);
  return 0;
}

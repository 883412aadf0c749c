#include "net/url_policy.hpp"

#include <boost/test/unit_test.hpp>

#include <optional>
#include <string>

using namespace mcpgate::net;
namespace ip = boost::asio::ip;

namespace {

const ssrf_policy strict{};
const ssrf_policy allow_private{true, {}};

ssrf_policy allowing(std::vector<std::string> hosts, bool private_networks = false) {
  return ssrf_policy{private_networks, std::move(hosts)};
}

std::optional<std::string> check(std::string_view addr, const ssrf_policy& policy = strict,
                                 std::string_view host = "upstream.example", std::uint16_t port = 443) {
  return check_address(ip::make_address(addr), host, port, policy);
}

// An address of each class, the reason it gets, and whether
// allow_private_networks admits it.
struct address_case {
  const char* addr;
  const char* reason;
  bool private_admits;
};

const address_case denied_addresses[] = {
    {"127.0.0.1", "address 127.0.0.1 is a loopback address", true},
    {"127.255.255.254", "address 127.255.255.254 is a loopback address", true},
    {"10.0.0.1", "address 10.0.0.1 is in a private network", true},
    {"10.255.255.255", "address 10.255.255.255 is in a private network", true},
    {"172.16.0.1", "address 172.16.0.1 is in a private network", true},
    {"172.31.255.255", "address 172.31.255.255 is in a private network", true},
    {"192.168.1.1", "address 192.168.1.1 is in a private network", true},
    {"169.254.1.1", "address 169.254.1.1 is link-local", true},
    {"100.64.0.1", "address 100.64.0.1 is in the carrier-grade NAT range", true},
    {"100.127.255.255", "address 100.127.255.255 is in the carrier-grade NAT range", true},
    {"192.0.0.8", "address 192.0.0.8 is reserved for IETF protocol assignments", true},
    {"198.18.0.1", "address 198.18.0.1 is reserved for benchmarking", true},
    {"198.19.255.255", "address 198.19.255.255 is reserved for benchmarking", true},
    {"0.0.0.0", "address 0.0.0.0 is in 0.0.0.0/8 (unspecified)", false},
    {"0.1.2.3", "address 0.1.2.3 is in 0.0.0.0/8 (unspecified)", false},
    {"224.0.0.1", "address 224.0.0.1 is multicast", false},
    {"239.255.255.250", "address 239.255.255.250 is multicast", false},
    {"240.0.0.1", "address 240.0.0.1 is reserved", false},
    {"255.255.255.254", "address 255.255.255.254 is reserved", false},
    {"255.255.255.255", "address 255.255.255.255 is the broadcast address", false},
    {"169.254.169.254", "address 169.254.169.254 is a cloud metadata address", false},
    {"100.100.100.200", "address 100.100.100.200 is a cloud metadata address", false},
    {"::1", "address ::1 is a loopback address", true},
    {"::", "address :: is unspecified", false},
    {"fc00::1", "address fc00::1 is in a private network (unique-local)", true},
    {"fdff:ffff::1", "address fdff:ffff::1 is in a private network (unique-local)", true},
    {"fe80::1", "address fe80::1 is link-local", true},
    {"febf::1", "address febf::1 is link-local", true},
    {"ff02::1", "address ff02::1 is multicast", false},
    {"fd00:ec2::254", "address fd00:ec2::254 is a cloud metadata address", false},
    {"::ffff:127.0.0.1", "address ::ffff:127.0.0.1 is the IPv4-mapped form of 127.0.0.1, which is a loopback address",
     true},
    {"::ffff:169.254.169.254",
     "address ::ffff:169.254.169.254 is the IPv4-mapped form of 169.254.169.254, which is a cloud "
     "metadata address",
     false},
    {"::10.0.0.1", "address ::10.0.0.1 is the IPv4-compatible form of 10.0.0.1, which is in a private network", true},
    {"64:ff9b::10.0.0.1", "address 64:ff9b::a00:1 is a NAT64 address for 10.0.0.1, which is in a private network",
     true},
    {"64:ff9b::224.0.0.1", "address 64:ff9b::e000:1 is a NAT64 address for 224.0.0.1, which is multicast", false},
    {"2002:a00:1::", "address 2002:a00:1:: is a 6to4 address for 10.0.0.1, which is in a private network", true},
    {"2002:7f00:1::1", "address 2002:7f00:1::1 is a 6to4 address for 127.0.0.1, which is a loopback address", true},
};

// Public addresses, including the edges just outside the denied ranges and
// IPv6 forms that embed a public IPv4 address.
const char* const public_addresses[] = {
    "93.184.216.34",
    "8.8.8.8",
    "1.1.1.1",
    "11.0.0.1",
    "126.255.255.255",
    "128.0.0.1",
    "172.15.255.255",
    "172.32.0.0",
    "192.167.255.255",
    "192.169.0.0",
    "169.253.255.255",
    "169.255.0.0",
    "100.63.255.255",
    "100.128.0.0",
    "192.0.1.1",
    "198.17.255.255",
    "198.20.0.0",
    "223.255.255.255",
    "1.0.0.0",
    "2606:4700::1111",
    "2001:4860:4860::8888",
    "fbff:ffff::1",
    "fec0::1",
    "fe00::1",
    "feff::1",
    "::ffff:93.184.216.34",
    "64:ff9b::5db8:d822",
    "2002:5db8:d822::1",
    "64:ff9b:1::a00:1",
};

}  // namespace

BOOST_AUTO_TEST_SUITE(url_policy)

// --- check_address -----------------------------------------------------------

BOOST_AUTO_TEST_CASE(every_special_address_class_is_denied_with_its_reason) {
  for (const auto& c : denied_addresses) {
    BOOST_TEST_CONTEXT(c.addr) { BOOST_TEST(check(c.addr).value_or("allowed") == c.reason); }
  }
}

BOOST_AUTO_TEST_CASE(private_networks_option_admits_only_private_classes) {
  for (const auto& c : denied_addresses) {
    BOOST_TEST_CONTEXT(c.addr) { BOOST_TEST(!check(c.addr, allow_private).has_value() == c.private_admits); }
  }
}

BOOST_AUTO_TEST_CASE(public_addresses_are_allowed) {
  for (const char* addr : public_addresses) {
    BOOST_TEST_CONTEXT(addr) { BOOST_TEST(check(addr).value_or("allowed") == "allowed"); }
  }
}

BOOST_AUTO_TEST_CASE(metadata_address_denied_even_with_private_networks_allowed) {
  for (const char* addr : {"169.254.169.254", "100.100.100.200", "fd00:ec2::254", "::ffff:169.254.169.254",
                           "2002:a9fe:a9fe::", "64:ff9b::a9fe:a9fe"}) {
    BOOST_TEST_CONTEXT(addr) { BOOST_TEST(check(addr, allow_private).has_value()); }
  }
}

BOOST_AUTO_TEST_CASE(metadata_address_admitted_only_by_an_entry_naming_it) {
  BOOST_TEST(!check("169.254.169.254", allowing({"169.254.169.254"})));
  BOOST_TEST(!check("169.254.169.254", allowing({"169.254.169.254:443"})));
  BOOST_TEST(check("169.254.169.254", allowing({"169.254.169.254:80"})).has_value());
  BOOST_TEST(!check("fd00:ec2::254", allowing({"[fd00:ec2::254]"})));
  BOOST_TEST(!check("100.100.100.200", allowing({"100.100.100.200"})));
  // A name that resolves to a metadata address is not enough.
  BOOST_TEST(check("169.254.169.254", allowing({"*.example", "upstream.example"}), "upstream.example").has_value());
}

BOOST_AUTO_TEST_CASE(allowed_host_name_admits_its_private_addresses) {
  const ssrf_policy p = allowing({"svc.corp.internal"});
  BOOST_TEST(!check("10.0.0.5", p, "svc.corp.internal", 8080));
  BOOST_TEST(!check("127.0.0.1", p, "SVC.corp.internal.", 1));
  BOOST_TEST(check("10.0.0.5", p, "other.corp.internal", 8080).has_value());
}

BOOST_AUTO_TEST_CASE(allowed_address_admits_it_under_any_name) {
  BOOST_TEST(!check("10.0.0.5", allowing({"10.0.0.5"}), "whatever.example"));
  BOOST_TEST(!check("::1", allowing({"[0:0::1]:443"}), "whatever.example"));
  BOOST_TEST(check("10.0.0.6", allowing({"10.0.0.5"}), "whatever.example").has_value());
}

BOOST_AUTO_TEST_CASE(check_address_accepts_host_with_or_without_brackets) {
  BOOST_TEST(!check("::1", allowing({"[::1]:9000"}), "[::1]", 9000));
  BOOST_TEST(!check("::1", allowing({"[::1]:9000"}), "::1", 9000));
}

// --- check_upstream_url: shape -------------------------------------------------

BOOST_AUTO_TEST_CASE(public_http_and_https_urls_are_accepted) {
  for (const char* url :
       {"https://mcp.example.com/mcp", "http://example.com", "https://example.com:8443/v1/mcp?x=1",
        "http://93.184.216.34/", "https://[2606:4700::1111]/mcp", "http://example.com:/", "http://example.com:0080/",
        "https://example.com:65535/", "https://my_host.example.com/", "http://[::ffff:93.184.216.34]/"}) {
    const url_verdict v = check_upstream_url(url, strict);
    BOOST_TEST_CONTEXT(url << ": " << v.reason) { BOOST_TEST(static_cast<bool>(v)); }
  }
}

BOOST_AUTO_TEST_CASE(scheme_is_case_insensitive) {
  BOOST_TEST(static_cast<bool>(check_upstream_url("HTTPS://EXAMPLE.COM/MCP", strict)));
  BOOST_TEST(static_cast<bool>(check_upstream_url("Http://example.com/", strict)));
}

BOOST_AUTO_TEST_CASE(other_schemes_are_invalid) {
  for (const char* url :
       {"ftp://example.com/", "ws://example.com/", "wss://example.com/", "file:///etc/passwd", "gopher://example.com/",
        "javascript:alert(1)", "mailto:a@example.com", "httpx://example.com/"}) {
    const url_verdict v = check_upstream_url(url, strict);
    BOOST_TEST_CONTEXT(url) {
      BOOST_TEST((v.problem == url_problem::invalid));
      BOOST_TEST(v.reason == "scheme must be http or https");
    }
  }
}

BOOST_AUTO_TEST_CASE(relative_or_malformed_urls_are_invalid) {
  for (const char* url :
       {"", "/mcp", "mcp", "example.com/mcp", "//example.com/mcp", "?x=1", " https://example.com/",
        "https://example.com/ ", "https://exa mple.com/", "https://[::1/", "https://[fe80::1%25eth0]/",
        // An absolute-URI has no fragment.
        "https://example.com/mcp#section",
        // Boost.URL 1.81 alone would read port 80 and path "a/".
        "http://example.com:80a/", "http://example.com:x"}) {
    const url_verdict v = check_upstream_url(url, strict);
    BOOST_TEST_CONTEXT("'" << url << "'") {
      BOOST_TEST((v.problem == url_problem::invalid));
      BOOST_TEST(v.reason == "not a valid absolute URL");
    }
  }
}

BOOST_AUTO_TEST_CASE(url_without_host_is_invalid) {
  for (const char* url : {"http:///mcp", "https://", "http:example.com", "https://:443/"}) {
    const url_verdict v = check_upstream_url(url, strict);
    BOOST_TEST_CONTEXT(url) {
      BOOST_TEST((v.problem == url_problem::invalid));
      BOOST_TEST(v.reason == "URL must have a host");
    }
  }
}

BOOST_AUTO_TEST_CASE(user_info_is_refused) {
  for (const char* url : {"https://user:pass@example.com/", "https://user@example.com/", "https://@example.com/",
                          "https://:pw@example.com/", "http://example.com@127.0.0.1/"}) {
    const url_verdict v = check_upstream_url(url, strict);
    BOOST_TEST_CONTEXT(url) {
      BOOST_TEST((v.problem == url_problem::invalid));
      BOOST_TEST(v.reason == "URL must not contain user-info");
    }
  }
}

BOOST_AUTO_TEST_CASE(url_longer_than_2048_is_too_long) {
  const std::string base = "https://example.com/";
  const std::string longest = base + std::string(max_url_length - base.size(), 'a');
  BOOST_TEST(static_cast<bool>(check_upstream_url(longest, strict)));
  const url_verdict v = check_upstream_url(longest + 'a', strict);
  BOOST_TEST((v.problem == url_problem::too_long));
  BOOST_TEST(v.reason == "URL is longer than 2048 characters");
}

BOOST_AUTO_TEST_CASE(port_out_of_range_is_invalid) {
  // Boost.URL itself accepts any digits (its port_number() wraps 99999 to 34463).
  for (const char* url : {"http://example.com:0/", "http://example.com:65536/", "http://example.com:99999/",
                          "http://example.com:4294967377/"}) {
    const url_verdict v = check_upstream_url(url, strict);
    BOOST_TEST_CONTEXT(url) {
      BOOST_TEST((v.problem == url_problem::invalid));
      BOOST_TEST(v.reason == "port must be between 1 and 65535");
    }
  }
}

BOOST_AUTO_TEST_CASE(ipvfuture_host_is_invalid) {
  const url_verdict v = check_upstream_url("http://[v1.fe80::1+eth0]/", strict);
  BOOST_TEST((v.problem == url_problem::invalid));
  BOOST_TEST(v.reason == "host must be a name or an IP address");
}

BOOST_AUTO_TEST_CASE(host_name_with_unresolvable_characters_is_invalid) {
  // Boost.URL accepts sub-delims and percent-escapes in a reg-name; no DNS
  // name has them, so they are refused rather than passed to the resolver.
  for (const char* url : {"http://exa%00mple.com/", "http://exam!ple.com/", "http://a;b.com/", "http://b%C3%BCcher.de/",
                          "http://ex%2fample.com/"}) {
    const url_verdict v = check_upstream_url(url, strict);
    BOOST_TEST_CONTEXT(url) {
      BOOST_TEST((v.problem == url_problem::invalid));
      BOOST_TEST(v.reason == "host name is not valid");
    }
  }
}

// --- check_upstream_url: hosts ---------------------------------------------------

BOOST_AUTO_TEST_CASE(literal_address_hosts_follow_check_address) {
  for (const auto& c : denied_addresses) {
    const std::string addr = c.addr;
    const std::string url = "http://" + (addr.find(':') == std::string::npos ? addr : '[' + addr + ']') + "/mcp";
    const url_verdict v = check_upstream_url(url, strict);
    BOOST_TEST_CONTEXT(url) {
      BOOST_TEST((v.problem == url_problem::not_allowed));
      BOOST_TEST(v.reason == c.reason);
      BOOST_TEST(static_cast<bool>(check_upstream_url(url, allow_private)) == c.private_admits);
    }
  }
}

BOOST_AUTO_TEST_CASE(local_host_names_are_denied) {
  for (const char* host : {"localhost", "LOCALHOST", "localhost.", "api.localhost", "printer.local", "Printer.LOCAL",
                           "metadata.google.internal", "svc.corp.internal.", "%6cocalhost"}) {
    const url_verdict v = check_upstream_url(std::string("http://") + host + ":8080/mcp", strict);
    BOOST_TEST_CONTEXT(host) {
      BOOST_TEST((v.problem == url_problem::not_allowed));
      BOOST_TEST(v.reason.starts_with("host '"));
      BOOST_TEST(v.reason.ends_with("' is not allowed"));
    }
  }
  BOOST_TEST(check_upstream_url("http://localhost/", strict).reason == "host 'localhost' is not allowed");
  // Percent-escapes are decoded before the name is checked.
  BOOST_TEST(check_upstream_url("http://%6cocalhost/", strict).reason == "host 'localhost' is not allowed");
}

BOOST_AUTO_TEST_CASE(local_host_names_are_admitted_with_private_networks) {
  for (const char* url : {"http://localhost:3000/mcp", "http://printer.local/", "http://svc.corp.internal/"}) {
    BOOST_TEST_CONTEXT(url) { BOOST_TEST(static_cast<bool>(check_upstream_url(url, allow_private))); }
  }
}

BOOST_AUTO_TEST_CASE(names_that_only_contain_local_words_are_allowed) {
  for (const char* url : {"http://notlocalhost.com/", "http://localhost.example.com/", "http://local.example.com/",
                          "http://internal.example.com/", "http://mylocal/", "http://internalx/"}) {
    BOOST_TEST_CONTEXT(url) { BOOST_TEST(static_cast<bool>(check_upstream_url(url, strict))); }
  }
}

BOOST_AUTO_TEST_CASE(numeric_host_names_are_checked_as_the_address_they_resolve_to) {
  // Boost.URL parses these as reg-names (host_type::name), but the system
  // resolver (inet_aton rules) turns them into IPv4 addresses without DNS.
  const std::pair<const char*, const char*> cases[] = {
      {"2130706433", "address 127.0.0.1 is a loopback address"},
      {"127.1", "address 127.0.0.1 is a loopback address"},
      {"0x7f.0.0.1", "address 127.0.0.1 is a loopback address"},
      {"0X7F000001", "address 127.0.0.1 is a loopback address"},
      {"0177.0.0.1", "address 127.0.0.1 is a loopback address"},
      {"10.1", "address 10.0.0.1 is in a private network"},
      {"169.254.43518", "address 169.254.169.254 is a cloud metadata address"},
      {"0", "address 0.0.0.0 is in 0.0.0.0/8 (unspecified)"},
  };
  for (const auto& [host, reason] : cases) {
    const url_verdict v = check_upstream_url(std::string("http://") + host + "/", strict);
    BOOST_TEST_CONTEXT(host) {
      BOOST_TEST((v.problem == url_problem::not_allowed));
      BOOST_TEST(v.reason == reason);
    }
  }
  BOOST_TEST(static_cast<bool>(check_upstream_url("http://2130706433/", allow_private)));
  BOOST_TEST(static_cast<bool>(check_upstream_url("http://2130706433/", allowing({"127.0.0.1"}))));
  // 93.184.216.34 in decimal: public.
  BOOST_TEST(static_cast<bool>(check_upstream_url("http://1572395042/", strict)));
  // Not inet_aton forms: ordinary names for DNS (and check_address at connect).
  BOOST_TEST(static_cast<bool>(check_upstream_url("http://deadbeef/", strict)));
  BOOST_TEST(static_cast<bool>(check_upstream_url("http://99999999999/", strict)));
  // A trailing dot is dropped first, as the connect path drops it: "224.0."
  // is 224.0.0.0 (found by tests/fuzz).
  const url_verdict dotted = check_upstream_url("http://224.0./", strict);
  BOOST_TEST((dotted.problem == url_problem::not_allowed));
  BOOST_TEST(dotted.reason.find("224.0.0.0") != std::string::npos, dotted.reason);
  BOOST_TEST((check_upstream_url("http://127.1./", strict).problem == url_problem::not_allowed));
}

BOOST_AUTO_TEST_CASE(names_starting_with_an_ipv4_address_are_invalid) {
  // Boost.URL 1.81 reads "1.2.3.4.nip.io" as host 1.2.3.4 plus a rootless
  // path ".nip.io/"; the URL is refused rather than checked as 1.2.3.4.
  for (const char* url :
       {"http://1.2.3.4.5/", "http://93.184.216.34.attacker.example/", "http://127.0.0.1.nip.io:8080/mcp"}) {
    const url_verdict v = check_upstream_url(url, allow_private);
    BOOST_TEST_CONTEXT(url) {
      BOOST_TEST((v.problem == url_problem::invalid));
      BOOST_TEST(v.reason == "not a valid absolute URL");
    }
  }
}

// --- allow_hosts ------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(allow_host_with_port_matches_only_that_port) {
  const ssrf_policy p = allowing({"127.0.0.1:9000"});
  BOOST_TEST(static_cast<bool>(check_upstream_url("http://127.0.0.1:9000/mcp", p)));
  BOOST_TEST(!check_upstream_url("http://127.0.0.1:9001/mcp", p));
  BOOST_TEST(!check_upstream_url("http://127.0.0.1/mcp", p));
}

BOOST_AUTO_TEST_CASE(allow_host_port_defaults_from_scheme) {
  const ssrf_policy p = allowing({"10.1.2.3:80", "svc.internal:443"});
  BOOST_TEST(static_cast<bool>(check_upstream_url("http://10.1.2.3/", p)));
  BOOST_TEST(!check_upstream_url("https://10.1.2.3/", p));
  BOOST_TEST(static_cast<bool>(check_upstream_url("https://svc.internal/", p)));
  BOOST_TEST(!check_upstream_url("http://svc.internal/", p));
}

BOOST_AUTO_TEST_CASE(allow_host_without_port_matches_any_port) {
  const ssrf_policy p = allowing({"localhost", "192.168.1.10"});
  BOOST_TEST(static_cast<bool>(check_upstream_url("http://localhost:1234/", p)));
  BOOST_TEST(static_cast<bool>(check_upstream_url("https://localhost/", p)));
  BOOST_TEST(static_cast<bool>(check_upstream_url("http://192.168.1.10:8080/", p)));
  BOOST_TEST(!check_upstream_url("http://api.localhost/", p));
  BOOST_TEST(!check_upstream_url("http://192.168.1.11/", p));
}

BOOST_AUTO_TEST_CASE(allow_host_matching_is_case_insensitive) {
  BOOST_TEST(static_cast<bool>(check_upstream_url("http://mcp.example.internal/", allowing({"MCP.Example.INTERNAL"}))));
  BOOST_TEST(static_cast<bool>(check_upstream_url("http://MCP.EXAMPLE.INTERNAL/", allowing({"mcp.example.internal"}))));
}

BOOST_AUTO_TEST_CASE(wildcard_allow_host_matches_sub_domains_only) {
  const ssrf_policy p = allowing({"*.corp.internal"});
  BOOST_TEST(static_cast<bool>(check_upstream_url("http://mcp.corp.internal/", p)));
  BOOST_TEST(static_cast<bool>(check_upstream_url("http://a.b.corp.internal:8080/", p)));
  BOOST_TEST(!check_upstream_url("http://corp.internal/", p));
  BOOST_TEST(!check_upstream_url("http://xcorp.internal/", p));
  BOOST_TEST(!check_upstream_url("http://localhost/", p));

  const ssrf_policy with_port = allowing({"*.corp.internal:8443"});
  BOOST_TEST(static_cast<bool>(check_upstream_url("https://mcp.corp.internal:8443/", with_port)));
  BOOST_TEST(!check_upstream_url("https://mcp.corp.internal/", with_port));
}

BOOST_AUTO_TEST_CASE(ipv6_allow_host_uses_brackets) {
  const ssrf_policy p = allowing({"[::1]:9000"});
  BOOST_TEST(static_cast<bool>(check_upstream_url("http://[::1]:9000/", p)));
  BOOST_TEST(static_cast<bool>(check_upstream_url("http://[0:0::1]:9000/", p)));
  BOOST_TEST(!check_upstream_url("http://[::1]:9001/", p));
  BOOST_TEST(static_cast<bool>(check_upstream_url("http://[::1]:1/", allowing({"[::1]"}))));
  BOOST_TEST(static_cast<bool>(check_upstream_url("http://[FE80::1]/", allowing({"fe80::1"}))));
}

BOOST_AUTO_TEST_CASE(malformed_allow_hosts_entries_admit_nothing) {
  const ssrf_policy p = allowing({"", "[::1", "[::1]x", "[::1]:", "localhost:", "localhost:abc", "localhost:0",
                                  "localhost:65536", ":80", "[]:80"});
  BOOST_TEST(!check_upstream_url("http://localhost/", p));
  BOOST_TEST(!check_upstream_url("http://[::1]/", p));
  BOOST_TEST(!check_upstream_url("http://localhost:80/", p));
}

BOOST_AUTO_TEST_SUITE_END()

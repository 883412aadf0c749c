// upstream_pool / async_request against the scripted upstream of
// tests/support, over HTTP and HTTPS on loopback.
#include "net/upstream_client.hpp"

#include "support/scripted_upstream.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/test/unit_test.hpp>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using boost::system::error_code;
using mcpgate::net::client_error;
using namespace std::chrono_literals;

// HTTPS with this server context; plain HTTP without one.
mcpgate::test::upstream_options https(std::shared_ptr<ssl::context> tls) {
  mcpgate::test::upstream_options o;
  o.tls = std::move(tls);
  return o;
}

// The scripted upstream of tests/support (HTTPS with `tls`) answering every
// request with 200, body "hello <target>" and header X-Test: upstream,
// keeping the connection unless the request said to close it.
// close_after_response: announces keep-alive, closes anyway (as an idle
// timeout would).
class test_server {
 public:
  explicit test_server(std::shared_ptr<ssl::context> tls = nullptr, bool close_after_response = false)
      : upstream_(mcpgate::test::scripted_upstream::serve(
                      [this, close_after_response](const mcpgate::test::http_request& request) {
                        ++requests;
                        http::response<http::string_body> response{http::status::ok, 11};
                        response.set(http::field::content_type, "text/plain");
                        response.set("X-Test", "upstream");
                        response.body() = "hello " + std::string(request.target());
                        response.keep_alive(request.keep_alive());
                        response.prepare_payload();
                        std::string wire = mcpgate::test::to_wire(response);
                        return close_after_response ? mcpgate::test::answer::then_close(std::move(wire))
                                                    : mcpgate::test::answer(std::move(wire));
                      }),
                  https(std::move(tls))) {}

  std::uint16_t port() const { return upstream_.port(); }
  int accepts() const { return upstream_.accepts(); }

  std::atomic<int> requests{0};  // before upstream_, whose threads count in it

 private:
  mcpgate::test::scripted_upstream upstream_;
};

struct outcome {
  bool done = false;
  error_code ec;
  http::response<http::string_body> response;
  std::string detail;
};

// Runs the client's io_context until the request completes (deadline 10 s).
outcome get(asio::io_context& io, const std::shared_ptr<mcpgate::net::upstream_pool>& pool, const std::string& url) {
  outcome out;
  http::request<http::string_body> request{http::verb::get, "/", 11};
  mcpgate::net::request_options options;
  options.timeout = 5s;
  mcpgate::net::async_request(pool, url, std::move(request), options,
                              [&out](error_code ec, http::response<http::string_body> response, std::string detail) {
                                out.done = true;
                                out.ec = ec;
                                out.response = std::move(response);
                                out.detail = std::move(detail);
                              });
  io.restart();
  io.run_for(10s);
  BOOST_TEST_REQUIRE(out.done);
  return out;
}

std::shared_ptr<mcpgate::net::upstream_pool> make_pool(asio::io_context& io, mcpgate::net::client_options options) {
  auto pool = mcpgate::net::upstream_pool::create(io.get_executor(), std::move(options));
  BOOST_TEST_REQUIRE(pool.has_value());
  return *pool;
}

mcpgate::net::client_options private_allowed() {
  mcpgate::net::client_options options;
  options.policy.allow_private_networks = true;
  options.connect_timeout = 5s;
  return options;
}

std::string url_for(std::string_view scheme, std::string_view host, std::uint16_t port, std::string_view path = "/") {
  return std::string(scheme) + "://" + std::string(host) + ':' + std::to_string(port) + std::string(path);
}

// A throwaway self-signed certificate for localhost / 127.0.0.1, as PEM files.
struct self_signed {
  std::filesystem::path cert_file;
  std::filesystem::path key_file;

  explicit self_signed(const char* subject_alt_names = "DNS:localhost,IP:127.0.0.1") {
    const auto dir = std::filesystem::temp_directory_path();
    static int counter = 0;
    const auto tag = std::to_string(::getpid()) + '-' + std::to_string(++counter);
    cert_file = dir / ("mcpgate-upstream-test-" + tag + "-cert.pem");
    key_file = dir / ("mcpgate-upstream-test-" + tag + "-key.pem");

    EVP_PKEY* key = EVP_EC_gen("P-256");
    BOOST_TEST_REQUIRE(key != nullptr);
    X509* cert = X509_new();
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert), -60);
    X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
    X509_set_pubkey(cert, key);
    X509_NAME* name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("localhost"), -1, -1,
                               0);
    X509_set_issuer_name(cert, name);
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
    for (auto [nid, value] :
         {std::pair{NID_subject_alt_name, subject_alt_names}, std::pair{NID_basic_constraints, "critical,CA:TRUE"}}) {
      X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
      BOOST_TEST_REQUIRE(ext != nullptr);
      X509_add_ext(cert, ext, -1);
      X509_EXTENSION_free(ext);
    }
    BOOST_TEST_REQUIRE(X509_sign(cert, key, EVP_sha256()) > 0);

    BIO* out = BIO_new_file(cert_file.c_str(), "w");
    BOOST_TEST_REQUIRE(out != nullptr);
    PEM_write_bio_X509(out, cert);
    BIO_free(out);
    out = BIO_new_file(key_file.c_str(), "w");
    BOOST_TEST_REQUIRE(out != nullptr);
    PEM_write_bio_PrivateKey(out, key, nullptr, nullptr, 0, nullptr, nullptr);
    BIO_free(out);
    X509_free(cert);
    EVP_PKEY_free(key);
  }
  ~self_signed() {
    std::error_code ec;
    std::filesystem::remove(cert_file, ec);
    std::filesystem::remove(key_file, ec);
  }

  std::shared_ptr<ssl::context> server_context() const {
    auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
    ctx->use_certificate_chain_file(cert_file.string());
    ctx->use_private_key_file(key_file.string(), ssl::context::pem);
    return ctx;
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(upstream_client)

BOOST_AUTO_TEST_CASE(request_reaches_server_and_response_comes_back) {
  test_server server;
  asio::io_context io;
  auto pool = make_pool(io, private_allowed());
  const auto out = get(io, pool, url_for("http", "127.0.0.1", server.port(), "/mcp?x=1"));
  BOOST_TEST(!out.ec, out.ec.message() << ": " << out.detail);
  BOOST_TEST(out.response.result_int() == 200);
  BOOST_TEST(out.response.body() == "hello /mcp?x=1");
  BOOST_TEST(out.response["X-Test"] == "upstream");
  BOOST_TEST(server.requests == 1);
}

BOOST_AUTO_TEST_CASE(sequential_requests_reuse_one_connection) {
  test_server server;
  asio::io_context io;
  auto pool = make_pool(io, private_allowed());
  const auto first = get(io, pool, url_for("http", "127.0.0.1", server.port(), "/one"));
  BOOST_TEST(!first.ec, first.detail);
  const mcpgate::net::origin where{false, "127.0.0.1", server.port()};
  BOOST_TEST(pool->idle_count(where) == 1u);
  const auto second = get(io, pool, url_for("http", "127.0.0.1", server.port(), "/two"));
  BOOST_TEST(!second.ec, second.detail);
  BOOST_TEST(second.response.body() == "hello /two");
  BOOST_TEST(server.requests == 2);
  BOOST_TEST(server.accepts() == 1);
}

BOOST_AUTO_TEST_CASE(idle_connection_closed_by_upstream_is_not_used) {
  test_server server(nullptr, /*close_after_response=*/true);
  asio::io_context io;
  auto pool = make_pool(io, private_allowed());
  // Whether the close is seen before reuse (liveness check) or after the
  // request was written (one retry on a new connection), both succeed.
  for (const char* path : {"/one", "/two", "/three"}) {
    const auto out = get(io, pool, url_for("http", "127.0.0.1", server.port(), path));
    BOOST_TEST(!out.ec, out.ec.message() << ": " << out.detail);
    BOOST_TEST(out.response.body() == std::string("hello ") + path);
  }
  BOOST_TEST(server.requests == 3);
  BOOST_TEST(server.accepts() == 3);
}

BOOST_AUTO_TEST_CASE(default_policy_refuses_loopback_before_connecting) {
  test_server server;
  asio::io_context io;
  mcpgate::net::client_options options;
  options.connect_timeout = 5s;
  auto pool = make_pool(io, options);
  const auto out = get(io, pool, url_for("http", "127.0.0.1", server.port()));
  BOOST_TEST((out.ec == client_error::ssrf_denied));
  BOOST_TEST(out.detail.find("loopback") != std::string::npos, out.detail);

  // The connect-time check on resolved addresses, without the static URL check.
  std::optional<error_code> connect_ec;
  std::string detail;
  pool->connect({false, "localhost", server.port()},
                [&](error_code ec, std::unique_ptr<mcpgate::net::upstream_connection> conn, std::string why) {
                  connect_ec = ec;
                  detail = std::move(why);
                  BOOST_TEST(!conn);
                });
  io.restart();
  io.run_for(10s);
  BOOST_TEST_REQUIRE(connect_ec.has_value());
  BOOST_TEST((*connect_ec == client_error::ssrf_denied));
  BOOST_TEST(detail.find("loopback") != std::string::npos, detail);
  BOOST_TEST(server.accepts() == 0);
}

BOOST_AUTO_TEST_CASE(allow_hosts_entry_admits_resolved_localhost_address) {
  test_server server;
  asio::io_context io;
  mcpgate::net::client_options options;
  options.connect_timeout = 5s;
  options.policy.allow_hosts = {"127.0.0.1:" + std::to_string(server.port())};
  auto pool = make_pool(io, options);

  // localhost resolves to 127.0.0.1 (allowed by the entry) and maybe ::1 (not):
  // only the allowed address is connected to.
  std::unique_ptr<mcpgate::net::upstream_connection> conn;
  std::optional<error_code> connect_ec;
  std::string detail;
  pool->connect({false, "localhost", server.port()},
                [&](error_code ec, std::unique_ptr<mcpgate::net::upstream_connection> c, std::string why) {
                  connect_ec = ec;
                  conn = std::move(c);
                  detail = std::move(why);
                });
  io.restart();
  io.run_for(10s);
  BOOST_TEST_REQUIRE(connect_ec.has_value());
  BOOST_TEST_REQUIRE(!*connect_ec, connect_ec->message() << ": " << detail);
  BOOST_TEST_REQUIRE(conn != nullptr);
  BOOST_TEST(conn->tcp().socket().remote_endpoint().address().to_string() == "127.0.0.1");

  // The connection speaks HTTP through visit().
  http::request<http::string_body> request{http::verb::get, "/via-visit", 11};
  request.set(http::field::host, "localhost");
  http::response<http::string_body> response;
  beast::flat_buffer buffer;
  std::optional<error_code> read_ec;
  conn->tcp().expires_after(5s);
  conn->visit([&](auto& stream) {
    http::async_write(stream, request, [&](error_code ec, std::size_t) {
      if (ec) {
        read_ec = ec;
        return;
      }
      http::async_read(stream, buffer, response, [&](error_code rec, std::size_t) { read_ec = rec; });
    });
  });
  io.restart();
  io.run_for(10s);
  BOOST_TEST_REQUIRE(read_ec.has_value());
  BOOST_TEST(!*read_ec, read_ec->message());
  BOOST_TEST(response.body() == "hello /via-visit");
  BOOST_TEST(server.accepts() == 1);

  // Another port on the same address is not covered by the entry.
  const std::uint16_t other_port = server.port() == 65535 ? 65534 : server.port() + 1;
  connect_ec.reset();
  pool->connect({false, "localhost", other_port}, [&](error_code ec, std::unique_ptr<mcpgate::net::upstream_connection>,
                                                      std::string) { connect_ec = ec; });
  io.restart();
  io.run_for(10s);
  BOOST_TEST_REQUIRE(connect_ec.has_value());
  BOOST_TEST((*connect_ec == client_error::ssrf_denied));
}

BOOST_AUTO_TEST_CASE(closed_port_fails_with_connect_failed) {
  const std::uint16_t port = mcpgate::test::closed_port();  // nothing listens there
  asio::io_context io;
  auto pool = make_pool(io, private_allowed());
  const auto out = get(io, pool, url_for("http", "127.0.0.1", port));
  BOOST_TEST((out.ec == client_error::connect_failed), out.ec.message() << ": " << out.detail);
}

BOOST_AUTO_TEST_CASE(invalid_url_is_refused) {
  asio::io_context io;
  auto pool = make_pool(io, private_allowed());
  const auto out = get(io, pool, "ftp://example.com/");
  BOOST_TEST((out.ec == client_error::invalid_url));
}

BOOST_AUTO_TEST_CASE(https_to_plain_http_server_fails_with_tls_failed) {
  test_server server;
  asio::io_context io;
  auto pool = make_pool(io, private_allowed());
  const auto out = get(io, pool, url_for("https", "127.0.0.1", server.port()));
  BOOST_TEST((out.ec == client_error::tls_failed), out.ec.message() << ": " << out.detail);
}

BOOST_AUTO_TEST_CASE(https_verifies_certificate_against_ca_file) {
  const self_signed cert;
  test_server server(cert.server_context());

  {  // Not in the system trust store: verification fails.
    asio::io_context io;
    auto pool = make_pool(io, private_allowed());
    const auto out = get(io, pool, url_for("https", "localhost", server.port(), "/secure"));
    BOOST_TEST((out.ec == client_error::tls_failed), out.ec.message() << ": " << out.detail);
    BOOST_TEST(out.detail.find("certificate verify failed") != std::string::npos, out.detail);
  }
  {  // Trusted through ca_file: by name (DNS SAN) and by address (IP SAN), pooled.
    asio::io_context io;
    auto options = private_allowed();
    options.ca_file = cert.cert_file.string();
    auto pool = make_pool(io, options);
    for (const char* host : {"localhost", "127.0.0.1", "127.0.0.1"}) {
      const auto out = get(io, pool, url_for("https", host, server.port(), "/secure"));
      BOOST_TEST(!out.ec, host << ": " << out.ec.message() << ": " << out.detail);
      BOOST_TEST(out.response.body() == "hello /secure");
    }
    BOOST_TEST(server.requests == 3);
    BOOST_TEST(server.accepts() == 3);  // 1 refused above, localhost, 127.0.0.1 (reused once)
  }
}

BOOST_AUTO_TEST_CASE(certificate_for_another_name_is_refused) {
  const self_signed cert("DNS:other.example");  // trusted, but not for localhost
  test_server server(cert.server_context());
  asio::io_context io;
  auto options = private_allowed();
  options.ca_file = cert.cert_file.string();
  auto pool = make_pool(io, options);
  const auto out = get(io, pool, url_for("https", "localhost", server.port()));
  BOOST_TEST((out.ec == client_error::tls_failed), out.ec.message() << ": " << out.detail);
  BOOST_TEST(server.requests == 0);
}

BOOST_AUTO_TEST_CASE(parse_url_splits_origin_target_and_host_header) {
  const auto u = mcpgate::net::parse_url("https://Example.COM:8443/a/b?c=d");
  BOOST_TEST_REQUIRE(u.has_value());
  BOOST_TEST(u->origin.tls);
  BOOST_TEST(u->origin.host == "example.com");
  BOOST_TEST(u->origin.port == 8443);
  BOOST_TEST(u->target == "/a/b?c=d");
  BOOST_TEST(u->host_header == "example.com:8443");
  const auto v6 = mcpgate::net::parse_url("http://[::1]/");
  BOOST_TEST_REQUIRE(v6.has_value());
  BOOST_TEST(v6->origin.host == "::1");
  BOOST_TEST(v6->origin.port == 80);
  BOOST_TEST(v6->host_header == "[::1]");
  BOOST_TEST(!mcpgate::net::parse_url("http://user@host/").has_value());
  // Nothing that would name another host once written out again (found by
  // tests/fuzz): a percent-escape in the host, a path without its '/'.
  for (const char* url : {"https://a%40evil.example/mcp", "https://h%2fx/", "https://h%3a1/", "https://h:443evil",
                          "https://auth.example.com:443evil/x"}) {
    BOOST_TEST(!mcpgate::net::parse_url(url).has_value(), url);
  }
  BOOST_TEST(mcpgate::net::parse_url("https://h:443").value().target == "/");
  BOOST_TEST(!mcpgate::net::parse_url("/relative").has_value());
}

BOOST_AUTO_TEST_SUITE_END()

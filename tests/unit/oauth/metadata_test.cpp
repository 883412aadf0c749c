// The pure half of the OAuth client: challenges, well-known URLs, metadata
// documents, registration, PKCE, the authorization URL and token answers.
#include "oauth/metadata.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <boost/test/unit_test.hpp>
#include <boost/url/parse.hpp>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

namespace {

namespace json = boost::json;
using namespace mcpgate::oauth;
using strings = std::vector<std::string>;

std::string server_doc(std::string_view issuer,
                       std::string_view extra = R"(,"code_challenge_methods_supported":["S256"])") {
  return std::string(R"({"issuer":")") + std::string(issuer) +
         R"(","authorization_endpoint":"https://as.example/authorize","token_endpoint":"https://as.example/token")" +
         std::string(extra) + "}";
}

}  // namespace

BOOST_AUTO_TEST_SUITE(challenge_tests)

BOOST_AUTO_TEST_CASE(reads_quoted_bearer_parameters) {
  const auto c = parse_bearer_challenge(
      R"(Bearer resource_metadata="https://mcp.example/.well-known/oauth-protected-resource", scope="files:read files:write", error="invalid_token")");
  BOOST_TEST_REQUIRE(c.has_value());
  BOOST_TEST(c->resource_metadata == "https://mcp.example/.well-known/oauth-protected-resource");
  BOOST_TEST(c->scope == "files:read files:write");
  BOOST_TEST(c->error == "invalid_token");
}

BOOST_AUTO_TEST_CASE(finds_bearer_after_other_schemes) {
  const auto c = parse_bearer_challenge(
      R"(Basic realm="a, b", charset="UTF-8", Bearer realm="mcp", resource_metadata="https://h/rm")");
  BOOST_TEST_REQUIRE(c.has_value());
  BOOST_TEST(c->resource_metadata == "https://h/rm");
  BOOST_TEST(c->scope.empty());
}

BOOST_AUTO_TEST_CASE(skips_token68_of_another_scheme) {
  const auto c = parse_bearer_challenge("Negotiate YWJjZA==, Bearer scope=read");
  BOOST_TEST_REQUIRE(c.has_value());
  BOOST_TEST(c->scope == "read");
}

BOOST_AUTO_TEST_CASE(accepts_unquoted_values_and_any_case) {
  const auto c =
      parse_bearer_challenge("bEaReR Resource_Metadata=https://h/.well-known/oauth-protected-resource/mcp , SCOPE=a");
  BOOST_TEST_REQUIRE(c.has_value());
  BOOST_TEST(c->resource_metadata == "https://h/.well-known/oauth-protected-resource/mcp");
  BOOST_TEST(c->scope == "a");
}

BOOST_AUTO_TEST_CASE(unescapes_quoted_pairs) {
  const auto c = parse_bearer_challenge(R"(Bearer error="x\"y", scope="a\\b")");
  BOOST_TEST_REQUIRE(c.has_value());
  BOOST_TEST(c->error == "x\"y");
  BOOST_TEST(c->scope == "a\\b");
}

BOOST_AUTO_TEST_CASE(bare_bearer_is_a_challenge_without_parameters) {
  const auto c = parse_bearer_challenge("Bearer");
  BOOST_TEST_REQUIRE(c.has_value());
  BOOST_TEST(c->resource_metadata.empty());
  BOOST_TEST(c->scope.empty());
  BOOST_TEST(c->error.empty());
}

BOOST_AUTO_TEST_CASE(takes_only_the_first_bearer_challenge) {
  const auto c = parse_bearer_challenge(R"(Bearer scope="one", Bearer scope="two")");
  BOOST_TEST_REQUIRE(c.has_value());
  BOOST_TEST(c->scope == "one");
}

BOOST_AUTO_TEST_CASE(no_bearer_challenge_is_nullopt) {
  BOOST_TEST(!parse_bearer_challenge(R"(Basic realm="x")").has_value());
  BOOST_TEST(!parse_bearer_challenge("").has_value());
  BOOST_TEST(!parse_bearer_challenge("Basic realm=\"bearer\", DPoP algs=\"ES256\"").has_value());
  BOOST_TEST(!parse_bearer_challenge("Bearerish x=y").has_value());
}

BOOST_AUTO_TEST_CASE(a_parameter_of_another_scheme_is_not_taken) {
  const auto c = parse_bearer_challenge(R"(Bearer, Basic scope="not-mine")");
  BOOST_TEST_REQUIRE(c.has_value());
  BOOST_TEST(c->scope.empty());
}

BOOST_AUTO_TEST_CASE(an_unterminated_quote_keeps_what_came_before) {
  const auto c = parse_bearer_challenge(R"(Bearer scope="a", error="oops)");
  BOOST_TEST_REQUIRE(c.has_value());
  BOOST_TEST(c->scope == "a");
  BOOST_TEST(c->error.empty());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(url_tests)

BOOST_AUTO_TEST_CASE(resource_metadata_urls_with_path_then_root) {
  BOOST_TEST(protected_resource_metadata_urls("https://h/a/mcp") ==
                 (strings{"https://h/.well-known/oauth-protected-resource/a/mcp",
                          "https://h/.well-known/oauth-protected-resource"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(resource_metadata_urls_without_path) {
  BOOST_TEST(protected_resource_metadata_urls("https://h") == strings{"https://h/.well-known/oauth-protected-resource"},
             boost::test_tools::per_element());
  BOOST_TEST(protected_resource_metadata_urls("https://h/") ==
                 strings{"https://h/.well-known/oauth-protected-resource"},
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(resource_metadata_urls_drop_trailing_slash_query_and_fragment) {
  BOOST_TEST(protected_resource_metadata_urls("HTTPS://H.Example:443/mcp/?x=1#frag") ==
                 (strings{"https://h.example/.well-known/oauth-protected-resource/mcp",
                          "https://h.example/.well-known/oauth-protected-resource"}),
             boost::test_tools::per_element());
  BOOST_TEST(protected_resource_metadata_urls("http://127.0.0.1:8080/mcp") ==
                 (strings{"http://127.0.0.1:8080/.well-known/oauth-protected-resource/mcp",
                          "http://127.0.0.1:8080/.well-known/oauth-protected-resource"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(resource_metadata_urls_need_an_absolute_http_url) {
  BOOST_TEST(protected_resource_metadata_urls("ftp://h/mcp").empty());
  BOOST_TEST(protected_resource_metadata_urls("/mcp").empty());
  BOOST_TEST(protected_resource_metadata_urls("https://user@h/mcp").empty());
  BOOST_TEST(protected_resource_metadata_urls("not a url").empty());
}

BOOST_AUTO_TEST_CASE(server_metadata_urls_with_path) {
  BOOST_TEST(authorization_server_metadata_urls("https://h/tenant") ==
                 (strings{"https://h/.well-known/oauth-authorization-server/tenant",
                          "https://h/.well-known/openid-configuration/tenant",
                          "https://h/tenant/.well-known/openid-configuration"}),
             boost::test_tools::per_element());
  BOOST_TEST(authorization_server_metadata_urls("https://h/tenant/") ==
                 (strings{"https://h/.well-known/oauth-authorization-server/tenant",
                          "https://h/.well-known/openid-configuration/tenant",
                          "https://h/tenant/.well-known/openid-configuration"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(server_metadata_urls_without_path) {
  const strings expected{"https://h/.well-known/oauth-authorization-server",
                         "https://h/.well-known/openid-configuration"};
  BOOST_TEST(authorization_server_metadata_urls("https://h") == expected, boost::test_tools::per_element());
  BOOST_TEST(authorization_server_metadata_urls("https://h/") == expected, boost::test_tools::per_element());
  BOOST_TEST(authorization_server_metadata_urls("https://h?q=1") == expected, boost::test_tools::per_element());
  BOOST_TEST(authorization_server_metadata_urls("mailto:a@b").empty());
}

BOOST_AUTO_TEST_CASE(origin_drops_path_and_default_port) {
  BOOST_TEST(origin_of("https://h:8443/a/b?c") == "https://h:8443");
  BOOST_TEST(origin_of("HTTPS://Mcp.Example.com:443/mcp") == "https://mcp.example.com");
  BOOST_TEST(origin_of("http://[::1]:9000/mcp") == "http://[::1]:9000");
  BOOST_TEST(origin_of("http://h:80") == "http://h");
  BOOST_TEST(origin_of("wss://h/x").empty());
  BOOST_TEST(origin_of("").empty());
}

BOOST_AUTO_TEST_CASE(resource_covers_the_same_server_or_a_path_prefix_of_it) {
  for (const char* resource :
       {"https://h.example/api/mcp", "HTTPS://H.example:443/api/mcp", "https://h.example/api/mcp/",
        "https://h.example/api", "https://h.example/api/", "https://h.example/", "https://h.example"}) {
    BOOST_TEST(resource_covers(resource, "https://h.example/api/mcp"), resource);
  }
  for (const char* resource : {"https://evil.example/api/mcp", "http://h.example/api/mcp",
                               "https://h.example:8443/api/mcp", "https://h.example/ap", "https://h.example/apix",
                               "https://h.example/api/mcp/more", "https://h.example/other", "not a url", ""}) {
    BOOST_TEST(!resource_covers(resource, "https://h.example/api/mcp"), resource);
  }
}

BOOST_AUTO_TEST_CASE(canonical_resource_normalizes_scheme_host_and_port) {
  BOOST_TEST(canonical_resource("HTTPS://Mcp.Example.com:443/mcp") == "https://mcp.example.com/mcp");
  BOOST_TEST(canonical_resource("https://mcp.example.com/") == "https://mcp.example.com");
  BOOST_TEST(canonical_resource("https://mcp.example.com") == "https://mcp.example.com");
  BOOST_TEST(canonical_resource("https://mcp.example.com:8443/Server/MCP/?x=1#f") ==
             "https://mcp.example.com:8443/Server/MCP/");
  BOOST_TEST(canonical_resource("http://127.0.0.1:80/a%20b") == "http://127.0.0.1/a%20b");
  BOOST_TEST(canonical_resource("file:///etc/passwd").empty());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(document_tests)

BOOST_AUTO_TEST_CASE(resource_metadata_parses) {
  std::string error;
  const auto m = parse_resource_metadata(
      R"({"resource":"https://h/mcp","authorization_servers":["https://as.example","https://other"],"scopes_supported":["a","b",3],"x":1})",
      error);
  BOOST_TEST_REQUIRE(m.has_value(), error);
  BOOST_TEST(m->resource == "https://h/mcp");
  BOOST_TEST(m->authorization_servers == (strings{"https://as.example", "https://other"}),
             boost::test_tools::per_element());
  BOOST_TEST(m->scopes_supported == (strings{"a", "b"}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(resource_metadata_rejects_unusable_documents) {
  std::string error;
  BOOST_TEST(!parse_resource_metadata("<html>", error));
  BOOST_TEST(error == "not valid JSON");
  BOOST_TEST(!parse_resource_metadata("[1]", error));
  BOOST_TEST(error == "not a JSON object");
  BOOST_TEST(!parse_resource_metadata(R"({"resource":"https://h"})", error));
  BOOST_TEST(error == "authorization_servers is missing");
  BOOST_TEST(!parse_resource_metadata(R"({"authorization_servers":"https://as"})", error));
  BOOST_TEST(error == "authorization_servers is not a list of strings");
  BOOST_TEST(!parse_resource_metadata(R"({"authorization_servers":["https://as",1]})", error));
  BOOST_TEST(error == "authorization_servers is not a list of strings");
  BOOST_TEST(!parse_resource_metadata(R"({"authorization_servers":[]})", error));
  BOOST_TEST(error == "authorization_servers is empty");
}

BOOST_AUTO_TEST_CASE(server_metadata_parses) {
  std::string error;
  const auto m = parse_server_metadata(
      R"({"issuer":"https://as.example","authorization_endpoint":"https://as.example/authorize",
          "token_endpoint":"https://as.example/token","registration_endpoint":"https://as.example/register",
          "scopes_supported":["openid","mcp"],"code_challenge_methods_supported":["plain","S256"],
          "token_endpoint_auth_methods_supported":["none","client_secret_post"]})",
      "https://as.example", error);
  BOOST_TEST_REQUIRE(m.has_value(), error);
  BOOST_TEST(m->issuer == "https://as.example");
  BOOST_TEST(m->authorization_endpoint == "https://as.example/authorize");
  BOOST_TEST(m->token_endpoint == "https://as.example/token");
  BOOST_TEST(m->registration_endpoint == "https://as.example/register");
  BOOST_TEST(m->scopes_supported == (strings{"openid", "mcp"}), boost::test_tools::per_element());
  BOOST_TEST(m->token_endpoint_auth_methods_supported == (strings{"none", "client_secret_post"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(server_metadata_flags_are_true_only_when_they_say_true) {
  const auto parsed = [](std::string_view flags) {
    std::string doc = server_doc("https://as.example");
    doc.insert(doc.size() - 1, std::string(",") + std::string(flags));
    std::string error;
    auto m = parse_server_metadata(doc, "https://as.example", error);
    BOOST_TEST_REQUIRE(m.has_value(), error);
    return *m;
  };
  const auto yes =
      parsed(R"("authorization_response_iss_parameter_supported":true,"client_id_metadata_document_supported":true)");
  BOOST_TEST(yes.iss_parameter_supported);
  BOOST_TEST(yes.client_id_metadata_document_supported);
  for (const auto* flags : {R"("authorization_response_iss_parameter_supported":false)",
                            R"("authorization_response_iss_parameter_supported":"true")",
                            R"("client_id_metadata_document_supported":1)", R"("x":true)"}) {
    const auto no = parsed(flags);
    BOOST_TEST(!no.iss_parameter_supported, flags);
    BOOST_TEST(!no.client_id_metadata_document_supported, flags);
  }
}

BOOST_AUTO_TEST_CASE(the_client_metadata_document_describes_a_public_client_at_its_own_url) {
  const std::string doc = client_metadata_document("https://gw.example/oauth/client-metadata.json", "mcpgate",
                                                   "https://gw.example/api/mcp_store/oauth_redirect/");
  BOOST_TEST(boost::json::parse(doc) == boost::json::parse(R"({
      "client_id": "https://gw.example/oauth/client-metadata.json", "client_name": "mcpgate",
      "redirect_uris": ["https://gw.example/api/mcp_store/oauth_redirect/"],
      "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
      "token_endpoint_auth_method": "none"})"));
}

BOOST_AUTO_TEST_CASE(scope_words_union_and_membership) {
  BOOST_TEST(scope_words("  read  write read ") == (strings{"read", "write"}), boost::test_tools::per_element());
  BOOST_TEST(scope_words("").empty());
  BOOST_TEST(scope_union("read", "read write") == "read write");
  BOOST_TEST(scope_union("", "write offline_access") == "write offline_access");
  BOOST_TEST(scope_union("a b", "") == "a b");
  BOOST_TEST(scope_union("b  a", "a c") == "b a c");
  BOOST_TEST(has_scope("read offline_access", "offline_access"));
  BOOST_TEST(!has_scope("read offline_accessx", "offline_access"));
  BOOST_TEST(!has_scope("", "read"));
}

BOOST_AUTO_TEST_CASE(server_metadata_without_registration_endpoint) {
  std::string error;
  const auto m = parse_server_metadata(server_doc("https://as.example"), "https://as.example", error);
  BOOST_TEST_REQUIRE(m.has_value(), error);
  BOOST_TEST(m->registration_endpoint.empty());
}

BOOST_AUTO_TEST_CASE(server_metadata_issuer_must_match_exactly) {
  std::string error;
  BOOST_TEST(!parse_server_metadata(server_doc("https://as.example/"), "https://as.example", error));
  BOOST_TEST(error == "issuer mismatch: expected https://as.example, got https://as.example/");
  BOOST_TEST(!parse_server_metadata(server_doc("https://evil.example"), "https://as.example", error));
  BOOST_TEST(error == "issuer mismatch: expected https://as.example, got https://evil.example");
}

BOOST_AUTO_TEST_CASE(server_metadata_requires_s256) {
  std::string error;
  BOOST_TEST(!parse_server_metadata(server_doc("https://as", ""), "https://as", error));
  BOOST_TEST(error == "the authorization server does not support PKCE S256");
  BOOST_TEST(!parse_server_metadata(server_doc("https://as", R"(,"code_challenge_methods_supported":["plain"])"),
                                    "https://as", error));
  BOOST_TEST(error == "the authorization server does not support PKCE S256");
}

BOOST_AUTO_TEST_CASE(server_metadata_requires_endpoints) {
  std::string error;
  BOOST_TEST(!parse_server_metadata(
      R"({"issuer":"https://as","token_endpoint":"https://as/t","code_challenge_methods_supported":["S256"]})",
      "https://as", error));
  BOOST_TEST(error == "authorization_endpoint is missing or not a string");
  BOOST_TEST(!parse_server_metadata(
      R"({"issuer":"https://as","authorization_endpoint":"https://as/a","code_challenge_methods_supported":["S256"]})",
      "https://as", error));
  BOOST_TEST(error == "token_endpoint is missing or not a string");
  BOOST_TEST(!parse_server_metadata(
      R"({"issuer":"https://as","authorization_endpoint":"/a","token_endpoint":"https://as/t","code_challenge_methods_supported":["S256"]})",
      "https://as", error));
  BOOST_TEST(error == "authorization_endpoint is not an absolute http(s) URL");
  BOOST_TEST(!parse_server_metadata(R"({"authorization_endpoint":"https://as/a","token_endpoint":"https://as/t"})",
                                    "https://as", error));
  BOOST_TEST(error == "issuer is missing or not a string");
  BOOST_TEST(!parse_server_metadata("null", "https://as", error));
  BOOST_TEST(error == "not a JSON object");
}

BOOST_AUTO_TEST_CASE(registration_request_describes_a_public_client) {
  const json::value v = json::parse(registration_request("mcpgate", "https://gw/api/mcp_store/oauth_redirect/", "a b"));
  const json::object& o = v.as_object();
  BOOST_TEST(o.at("client_name").as_string() == "mcpgate");
  BOOST_TEST(o.at("redirect_uris").as_array().size() == 1u);
  BOOST_TEST(o.at("redirect_uris").as_array().at(0).as_string() == "https://gw/api/mcp_store/oauth_redirect/");
  BOOST_TEST(json::serialize(o.at("grant_types")) == R"(["authorization_code","refresh_token"])");
  BOOST_TEST(json::serialize(o.at("response_types")) == R"(["code"])");
  BOOST_TEST(o.at("token_endpoint_auth_method").as_string() == "none");
  BOOST_TEST(o.at("scope").as_string() == "a b");

  const json::value without = json::parse(registration_request("n", "https://r", ""));
  BOOST_TEST(!without.as_object().contains("scope"));
}

BOOST_AUTO_TEST_CASE(registration_answer_parses) {
  std::string error;
  auto c = parse_registration(R"({"client_id":"abc","client_id_issued_at":1})", error);
  BOOST_TEST_REQUIRE(c.has_value(), error);
  BOOST_TEST(c->client_id == "abc");
  BOOST_TEST(c->client_secret.empty());
  BOOST_TEST(c->token_endpoint_auth_method == "none");

  c = parse_registration(R"({"client_id":"abc","client_secret":"s3cret"})", error);
  BOOST_TEST_REQUIRE(c.has_value(), error);
  BOOST_TEST(c->client_secret == "s3cret");
  BOOST_TEST(c->token_endpoint_auth_method == "client_secret_basic");

  c = parse_registration(R"({"client_id":"abc","client_secret":"s","token_endpoint_auth_method":"client_secret_post"})",
                         error);
  BOOST_TEST_REQUIRE(c.has_value(), error);
  BOOST_TEST(c->token_endpoint_auth_method == "client_secret_post");
}

BOOST_AUTO_TEST_CASE(registration_answer_rejects_unusable_documents) {
  std::string error;
  BOOST_TEST(!parse_registration(R"({"client_secret":"s"})", error));
  BOOST_TEST(error == "client_id is missing or not a string");
  BOOST_TEST(!parse_registration(R"({"client_id":""})", error));
  BOOST_TEST(!parse_registration(R"({"client_id":"a","token_endpoint_auth_method":"private_key_jwt"})", error));
  BOOST_TEST(error == "unsupported token_endpoint_auth_method private_key_jwt");
  BOOST_TEST(!parse_registration(R"({"client_id":"a","token_endpoint_auth_method":"client_secret_basic"})", error));
  BOOST_TEST(!parse_registration("oops", error));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(pkce_tests)

BOOST_AUTO_TEST_CASE(s256_matches_rfc7636_appendix_b) {
  BOOST_TEST(s256_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") ==
             "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
  // SHA-256 of the empty string, base64url: the padding is dropped.
  BOOST_TEST(s256_challenge("") == "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU");
}

BOOST_AUTO_TEST_CASE(verifier_is_43_unreserved_characters) {
  std::set<std::string> seen;
  for (int i = 0; i < 20; ++i) {
    const pkce_pair p = make_pkce();
    BOOST_TEST(p.verifier.size() == 43u);
    BOOST_TEST(std::all_of(p.verifier.begin(), p.verifier.end(), [](char c) {
      return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    }));
    BOOST_TEST(p.challenge == s256_challenge(p.verifier));
    BOOST_TEST(p.challenge.size() == 43u);
    seen.insert(p.verifier);
  }
  BOOST_TEST(seen.size() == 20u);
}

BOOST_AUTO_TEST_CASE(random_token_length_follows_bytes) {
  BOOST_TEST(random_token().size() == 43u);
  BOOST_TEST(random_token(16).size() == 22u);
  BOOST_TEST(random_token(0).empty());
  BOOST_TEST(random_token() != random_token());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(request_tests)

authorization_request sample_request() {
  authorization_request r;
  r.client_id = "client 1";
  r.redirect_uri = "https://gw.example/api/mcp_store/oauth_redirect/";
  r.state = "st_ate-1";
  r.code_challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
  r.resource = "https://mcp.example/mcp";
  r.scope = "read write&x=y";
  return r;
}

BOOST_AUTO_TEST_CASE(authorization_url_encodes_every_value) {
  const std::string url = authorization_url("https://as.example/authorize", sample_request());
  BOOST_TEST(url ==
             "https://as.example/authorize?response_type=code&client_id=client%201"
             "&redirect_uri=https%3A%2F%2Fgw.example%2Fapi%2Fmcp_store%2Foauth_redirect%2F&state=st_ate-1"
             "&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256"
             "&resource=https%3A%2F%2Fmcp.example%2Fmcp&scope=read%20write%26x%3Dy");
}

BOOST_AUTO_TEST_CASE(authorization_url_keeps_the_endpoint_query) {
  authorization_request r = sample_request();
  r.scope.clear();
  const std::string url = authorization_url("https://as.example/oauth/authorize?tenant=a%20b&x=1#frag", r);
  BOOST_TEST(url.rfind("https://as.example/oauth/authorize?tenant=a%20b&x=1&response_type=code&", 0) == 0, url);
  BOOST_TEST(url.find("scope=") == std::string::npos);
  BOOST_TEST(url.find('#') == std::string::npos);
  // What the authorization server reads back.
  const auto parsed = boost::urls::parse_uri(url);
  BOOST_TEST_REQUIRE(parsed.has_value());
  const auto params = parsed->params();
  BOOST_TEST((*params.find("client_id")).value == "client 1");
  BOOST_TEST((*params.find("redirect_uri")).value == "https://gw.example/api/mcp_store/oauth_redirect/");
  BOOST_TEST((*params.find("tenant")).value == "a b");
}

BOOST_AUTO_TEST_CASE(authorization_url_adds_a_prompt_only_when_given) {
  authorization_request r = sample_request();
  BOOST_TEST(authorization_url("https://as.example/authorize", r).find("prompt=") == std::string::npos);
  r.prompt = "consent";
  BOOST_TEST(authorization_url("https://as.example/authorize", r).ends_with("&prompt=consent"));
}

BOOST_AUTO_TEST_CASE(authorization_url_of_a_bad_endpoint_is_empty) {
  BOOST_TEST(authorization_url("/authorize", sample_request()).empty());
  BOOST_TEST(authorization_url("javascript:alert(1)", sample_request()).empty());
}

BOOST_AUTO_TEST_CASE(form_encode_escapes_names_and_values) {
  BOOST_TEST(form_encode({{"grant_type", "authorization_code"}, {"code", "a+b/c=d&e f"}, {"redirect uri", "~._-"}}) ==
             "grant_type=authorization_code&code=a%2Bb%2Fc%3Dd%26e%20f&redirect%20uri=~._-");
  BOOST_TEST(form_encode({}).empty());
  BOOST_TEST(form_encode({{"k", ""}}) == "k=");
  BOOST_TEST(form_encode({{"u", "\xc3\xa9"}}) == "u=%C3%A9");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(token_response_tests)

BOOST_AUTO_TEST_CASE(parses_a_full_answer) {
  std::string error;
  const auto t = parse_token_response(
      R"({"access_token":"at","token_type":"bearer","expires_in":3600,"refresh_token":"rt","scope":"a b"})", error);
  BOOST_TEST_REQUIRE(t.has_value(), error);
  BOOST_TEST(t->access_token == "at");
  BOOST_TEST(t->token_type == "bearer");
  BOOST_TEST(t->refresh_token == "rt");
  BOOST_TEST(t->scope == "a b");
  BOOST_TEST_REQUIRE(t->expires_in.has_value());
  BOOST_TEST(t->expires_in->count() == 3600);
}

BOOST_AUTO_TEST_CASE(parses_a_minimal_answer) {
  std::string error;
  const auto t = parse_token_response(R"({"access_token":"at","token_type":"Bearer"})", error);
  BOOST_TEST_REQUIRE(t.has_value(), error);
  BOOST_TEST(t->refresh_token.empty());
  BOOST_TEST(!t->expires_in.has_value());
}

BOOST_AUTO_TEST_CASE(expires_in_as_string_or_nonsense) {
  std::string error;
  auto t = parse_token_response(R"({"access_token":"at","token_type":"Bearer","expires_in":"120"})", error);
  BOOST_TEST_REQUIRE(t.has_value());
  BOOST_TEST(t->expires_in.value().count() == 120);
  t = parse_token_response(R"({"access_token":"at","token_type":"Bearer","expires_in":"soon"})", error);
  BOOST_TEST_REQUIRE(t.has_value());
  BOOST_TEST(!t->expires_in.has_value());
  t = parse_token_response(R"({"access_token":"at","token_type":"Bearer","expires_in":-5})", error);
  BOOST_TEST_REQUIRE(t.has_value());
  BOOST_TEST(!t->expires_in.has_value());
  t = parse_token_response(R"({"access_token":"at","token_type":"Bearer","expires_in":59.9})", error);
  BOOST_TEST_REQUIRE(t.has_value());
  BOOST_TEST(t->expires_in.value().count() == 59);
}

BOOST_AUTO_TEST_CASE(rejects_unusable_answers) {
  std::string error;
  BOOST_TEST(!parse_token_response(R"({"token_type":"Bearer"})", error));
  BOOST_TEST(error == "access_token is missing or not a string");
  BOOST_TEST(!parse_token_response(R"({"access_token":"at"})", error));
  BOOST_TEST(error == "token_type is missing or not a string");
  BOOST_TEST(!parse_token_response(R"({"access_token":"at","token_type":"mac"})", error));
  BOOST_TEST(error == "token_type is mac, not Bearer");
  BOOST_TEST(!parse_token_response("access_token=at&token_type=bearer", error));
  BOOST_TEST(error == "not valid JSON");
}

BOOST_AUTO_TEST_CASE(error_code_of_an_error_answer) {
  BOOST_TEST(token_error_code(R"({"error":"invalid_grant","error_description":"expired"})") == "invalid_grant");
  BOOST_TEST(token_error_code(R"({"error_description":"x"})").empty());
  BOOST_TEST(token_error_code("<html>").empty());
  BOOST_TEST(token_error_code(R"({"error":7})").empty());
  BOOST_TEST(token_error_code(R"({"error":"bad\nline"})").empty());
}

BOOST_AUTO_TEST_SUITE_END()

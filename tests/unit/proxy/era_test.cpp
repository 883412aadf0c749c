// check_protocol and decoded_header_value: which era a body is, and the
// 2026-07-28 header rules (spec: protocol-2026.md), on crafted bodies.
#include "proxy/era.hpp"

#include <boost/json/array.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <boost/test/unit_test.hpp>

#include <string>

using namespace mcpgate::proxy;
namespace json = boost::json;

namespace {

constexpr std::string_view modern = "2026-07-28";

inspection inspected_body(const std::string& body) {
  auto r = inspect_jsonrpc(body);
  BOOST_TEST_REQUIRE(r.has_value(), body);
  return *r;
}

// A modern request: method, params (JSON members, no braces) and _meta's version.
std::string modern_request(std::string_view method, const std::string& params, std::string_view version = modern,
                           std::string_view id = "5") {
  std::string meta = R"("_meta":{"io.modelcontextprotocol/protocolVersion":")" + std::string(version) +
                     R"(","io.modelcontextprotocol/clientInfo":{"name":"t","version":"1"}})";
  return R"({"jsonrpc":"2.0","id":)" + std::string(id) + R"(,"method":")" + std::string(method) + R"(","params":{)" +
         (params.empty() ? meta : params + "," + meta) + "}}";
}

std::string modern_call(std::string_view name) {
  return modern_request("tools/call", R"("name":")" + std::string(name) + R"(")");
}

era_check check_era(const std::string& body, protocol_headers headers) {
  return check_protocol(inspected_body(body), headers);
}

// The refusal's JSON-RPC error code, asserting its shape and status 400.
int refused_code(const era_check& c, const json::value& id) {
  BOOST_TEST_REQUIRE(c.refusal.has_value());
  BOOST_TEST(c.refusal->status == 400u);
  const json::value answer = json::parse(c.refusal->body);
  BOOST_TEST(answer.at("jsonrpc") == "2.0");
  BOOST_TEST(answer.at("id") == id);
  return static_cast<int>(answer.at("error").at("code").as_int64());
}

std::string refused_message(const era_check& c) {
  return std::string(json::parse(c.refusal->body).at("error").at("message").as_string());
}

}  // namespace

BOOST_AUTO_TEST_SUITE(protocol_era_rules)

BOOST_AUTO_TEST_CASE(legacy_requests_are_left_alone) {
  // No version anywhere, a legacy header, initialize with any protocolVersion
  // in its params (negotiation is the upstream's), a batch.
  const std::string plain = R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"}})";
  const std::string init =
      R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2099-01-01","capabilities":{}}})";
  const std::string batch = "[" + plain + "]";
  for (const auto& [body, version] :
       {std::pair{plain, ""}, std::pair{plain, "2025-06-18"}, std::pair{init, ""}, std::pair{batch, "2025-03-26"}}) {
    const auto c = check_era(body, {version, "", ""});
    BOOST_TEST((c.era == protocol_era::legacy), body);
    BOOST_TEST(!c.refusal.has_value(), body);
  }
}

BOOST_AUTO_TEST_CASE(a_legacy_requests_mirror_headers_must_match_as_sent) {
  const std::string call = R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo"}})";
  BOOST_TEST(!check_era(call, {"", "tools/call", "echo"}).refusal.has_value());
  BOOST_TEST(!check_era(call, {"", "", ""}).refusal.has_value());  // not required
  const auto method = check_era(call, {"", "tools/list", ""});
  BOOST_TEST_REQUIRE(method.refusal.has_value());
  BOOST_TEST(method.refusal->status == 400u);
  BOOST_TEST(json::parse(method.refusal->body) ==
             json::parse(R"({"error":"Mcp-Method header does not match the request body"})"));
  const auto name = check_era(call, {"2025-06-18", "tools/call", " echo"});  // compared as sent
  BOOST_TEST_REQUIRE(name.refusal.has_value());
  BOOST_TEST(json::parse(name.refusal->body) ==
             json::parse(R"({"error":"Mcp-Name header does not match the request body"})"));
  // A batch mirrors nothing.
  BOOST_TEST(!check_era("[" + call + "]", {"", "ping", "x"}).refusal.has_value());
}

BOOST_AUTO_TEST_CASE(an_unknown_version_gets_32022_with_what_is_supported) {
  const auto in_header = check_era(R"({"jsonrpc":"2.0","id":"a","method":"tools/list"})", {"2030-01-01", "", ""});
  BOOST_TEST(refused_code(in_header, "a") == -32022);
  const json::value data = json::parse(in_header.refusal->body).at("error").at("data");
  BOOST_TEST(data.at("requested") == "2030-01-01");
  const json::array& supported = data.at("supported").as_array();
  BOOST_TEST(supported.size() == 5u);
  BOOST_TEST(supported.back() == "2026-07-28");
  BOOST_TEST(supported.front() == "2024-11-05");

  const auto in_meta = check_era(modern_request("tools/list", "", "2026-13-01"), {"", "tools/list", ""});
  BOOST_TEST(refused_code(in_meta, 5) == -32022);
}

BOOST_AUTO_TEST_CASE(a_modern_request_with_its_headers_passes) {
  const auto c = check_era(modern_call("echo"), {modern, "tools/call", "echo"});
  BOOST_TEST((c.era == protocol_era::modern));
  BOOST_TEST(!c.refusal.has_value());
  // Either place makes it modern: here the header alone (a notification
  // carries no _meta).
  const auto n = check_era(R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}})",
                           {modern, "notifications/cancelled", ""});
  BOOST_TEST((n.era == protocol_era::modern));
  BOOST_TEST(!n.refusal.has_value());
}

BOOST_AUTO_TEST_CASE(the_version_header_is_required_and_must_match_meta) {
  const auto missing = check_era(modern_call("echo"), {"", "tools/call", "echo"});
  BOOST_TEST((missing.era == protocol_era::modern));
  BOOST_TEST(refused_code(missing, 5) == -32020);
  BOOST_TEST(refused_message(missing) == "Missing MCP-Protocol-Version header");

  // A modern header, a request whose _meta names another known version.
  const auto other = check_era(modern_request("tools/list", "", "2025-11-25"), {modern, "tools/list", ""});
  BOOST_TEST(refused_code(other, 5) == -32020);
  BOOST_TEST(refused_message(other) == "MCP-Protocol-Version header does not match params._meta");

  // A mismatch wins over an unknown version: header 2026-07-28, _meta v999.
  const auto unknown_meta =
      check_era(modern_request("server/discover", "", "v999.0.0"), {modern, "server/discover", ""});
  BOOST_TEST(refused_code(unknown_meta, 5) == -32020);

  // A request without _meta's version under a modern header is modern and
  // goes on: the upstream owns that answer (-32602, invalid params).
  const auto no_meta = check_era(R"({"jsonrpc":"2.0","id":9,"method":"tools/list","params":{}})",
                                 {modern, "tools/list", ""});
  BOOST_TEST((no_meta.era == protocol_era::modern));
  BOOST_TEST(!no_meta.refusal.has_value());
}

BOOST_AUTO_TEST_CASE(data_supported_names_the_upstreams_version_when_known) {
  const std::string body = modern_request("server/discover", "", "v999.0.0");
  const auto known = check_protocol(inspected_body(body), {"v999.0.0", "server/discover", ""}, "2026-07-28");
  BOOST_TEST(refused_code(known, 5) == -32022);
  const json::value data = json::parse(known.refusal->body).at("error").at("data");
  BOOST_TEST(data.at("supported") == json::array{"2026-07-28"});
  BOOST_TEST(data.at("requested") == "v999.0.0");
  // A version the gateway itself does not know is not offered.
  const auto odd = check_protocol(inspected_body(body), {"v999.0.0", "server/discover", ""}, "1999-01-01");
  BOOST_TEST(json::parse(odd.refusal->body).at("error").at("data").at("supported").as_array().size() == 5u);
}

BOOST_AUTO_TEST_CASE(mcp_method_is_required_and_must_match) {
  const auto missing = check_era(modern_call("echo"), {modern, "", "echo"});
  BOOST_TEST(refused_code(missing, 5) == -32020);
  BOOST_TEST(refused_message(missing) == "Missing Mcp-Method header");
  const auto other = check_era(modern_call("echo"), {modern, "tools/list", "echo"});
  BOOST_TEST(refused_message(other) == "Mcp-Method header does not match the request body");
  // Values are case-sensitive.
  BOOST_TEST(check_era(modern_call("echo"), {modern, "Tools/Call", "echo"}).refusal.has_value());
}

BOOST_AUTO_TEST_CASE(mcp_name_mirrors_the_right_member_per_method) {
  struct row {
    std::string body;
    std::string name;
  };
  for (const auto& [body, name] : {
           row{modern_call("echo"), "echo"},
           row{modern_request("prompts/get", R"("name":"greet")"), "greet"},
           row{modern_request("resources/read", R"("uri":"file:///a b")"), "file:///a b"},
           row{modern_request("tasks/get", R"("taskId":"t-1")"), "t-1"},
           row{modern_request("tasks/update", R"("taskId":"t-2")"), "t-2"},
           row{modern_request("tasks/cancel", R"("taskId":"t-3")"), "t-3"},
       }) {
    const std::string method(json::parse(body).at("method").as_string());
    BOOST_TEST(!check_era(body, {modern, method, name}).refusal.has_value(), body);
    const auto missing = check_era(body, {modern, method, ""});
    BOOST_TEST(refused_code(missing, 5) == -32020, body);
    BOOST_TEST(refused_message(missing) == "Missing Mcp-Name header", body);
    const auto other = check_era(body, {modern, method, name + "x"});
    BOOST_TEST(refused_message(other) == "Mcp-Name header does not match the request body", body);
  }
  // Methods without a name need none, and one sent along is not compared.
  BOOST_TEST(!check_era(modern_request("tools/list", ""), {modern, "tools/list", "whatever"}).refusal.has_value());
  // A tools/call without params.name cannot match any Mcp-Name.
  BOOST_TEST(
      check_era(modern_request("tools/call", R"("arguments":{})"), {modern, "tools/call", "echo"}).refusal.has_value());
}

BOOST_AUTO_TEST_CASE(values_are_trimmed_and_base64_decoded) {
  BOOST_TEST(!check_era(modern_call("echo"), {" 2026-07-28\t", "  tools/call ", "\techo "}).refusal.has_value());
  // "=?base64?...?=" of the UTF-8 name "héllo wörld" (not plain ASCII).
  const std::string name = "h\xC3\xA9llo w\xC3\xB6rld";
  BOOST_TEST(
      !check_era(modern_call(name), {modern, "tools/call", "=?base64?aMOpbGxvIHfDtnJsZA==?="}).refusal.has_value());
  // The encoded form of a plain name compares equal too.
  BOOST_TEST(!check_era(modern_call("echo"), {modern, "tools/call", "=?base64?ZWNobw==?="}).refusal.has_value());
  // A payload that is not base64 matches nothing.
  BOOST_TEST(check_era(modern_call("echo"), {modern, "tools/call", "=?base64?ZWNobw?="}).refusal.has_value());
  BOOST_TEST(check_era(modern_call("echo"), {modern, "tools/call", "=?base64?!!!!?="}).refusal.has_value());
}

BOOST_AUTO_TEST_CASE(a_modern_batch_is_refused) {
  const std::string body = "[" + modern_call("echo") + "]";
  const auto c = check_era(body, {modern, "", ""});
  BOOST_TEST((c.era == protocol_era::modern));
  BOOST_TEST(refused_code(c, nullptr) == -32600);
}

BOOST_AUTO_TEST_CASE(decoded_header_value_forms) {
  BOOST_TEST(decoded_header_value("  plain ").value() == "plain");
  BOOST_TEST(decoded_header_value("=?base64?YQ==?=").value() == "a");
  BOOST_TEST(decoded_header_value("=?base64?"
                                  "?=")
                 .value() == "");
  BOOST_TEST(!decoded_header_value("=?base64?YQ=?=").has_value());  // bad padding
  // Markers are case-sensitive: an upper-case one is a plain value.
  BOOST_TEST(decoded_header_value("=?BASE64?YQ==?=").value() == "=?BASE64?YQ==?=");
}

BOOST_AUTO_TEST_SUITE_END()

#include "proxy/answers.hpp"

#include "common/mcp_names.hpp"

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <boost/url/encode.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>

#include <algorithm>
#include <vector>

namespace mcpgate::proxy {

namespace json = boost::json;
namespace urls = boost::urls;

net::http_response proxy_error(unsigned status, std::string_view message) {
  return net::http_response::json(status, json::serialize(json::object{{"error", message}}));
}

net::http_response too_many(std::chrono::milliseconds wait, std::string_view message) {
  net::http_response out = proxy_error(429, message);
  out.headers.emplace_back("Retry-After", std::to_string(std::max<long long>(1, (wait.count() + 999) / 1000)));
  return out;
}

net::http_response overloaded_answer() {
  net::http_response out = proxy_error(503, "The gateway is overloaded; try again shortly");
  out.headers.emplace_back("Retry-After", "1");
  return out;
}

std::optional<net::http_response> jsonrpc_errors(const std::optional<inspection>& message, const std::string& error) {
  std::vector<std::string> answers;
  if (message) {
    for (const auto& m : message->messages) {
      if (m.kind != message_kind::request) continue;
      answers.push_back(R"({"jsonrpc":"2.0","id":)" + jsonrpc_id_text(m) + R"(,"error":)" + error + "}");
    }
  }
  if (answers.empty()) return std::nullopt;
  if (!message->is_batch) return net::http_response::json(200, std::move(answers.front()));
  std::string batch = "[";
  for (std::size_t i = 0; i < answers.size(); ++i) batch.append(i ? "," : "").append(answers[i]);
  batch += "]";
  return net::http_response::json(200, std::move(batch));
}

namespace {

std::string reauthorize_url(std::string_view public_url, const registry::installation& inst) {
  return std::string(public_url) + "/api/environments/" + std::to_string(inst.environment_id) +
         "/mcp_server_installations/authorize/?installation_id=" + inst.id;
}

}  // namespace

net::http_response needs_reauth(std::string_view public_url, const registry::installation& inst,
                                const std::optional<inspection>& message, const std::string& reason) {
  json::object data{{"reason", reason}};
  if (inst.auth_type == "oauth") data["authorize_url"] = reauthorize_url(public_url, inst);
  // Built as text so that a numeric id comes back exactly as written.
  const std::string error = json::serialize(
      json::object{{"code", -32003}, {"message", "Installation needs re-authentication"}, {"data", data}});
  if (auto answer = jsonrpc_errors(message, error)) return std::move(*answer);
  return proxy_error(409, "Installation needs re-authentication: " + reason);
}

net::http_response insufficient_scope(std::string_view public_url, const registry::installation& inst,
                                      const std::optional<inspection>& message, const std::string& required_scope) {
  const json::object data{
      {"reason", "insufficient_scope"},
      {"required_scope", required_scope},
      {"authorize_url",
       reauthorize_url(public_url, inst) + "&scope=" + urls::encode(required_scope, urls::unreserved_chars)},
  };
  const std::string error = json::serialize(
      json::object{{"code", -32003}, {"message", "Installation needs a wider authorization"}, {"data", data}});
  if (auto answer = jsonrpc_errors(message, error)) return std::move(*answer);
  return proxy_error(409, "The upstream MCP server needs a wider authorization (scope " + required_scope +
                              "): authorize the installation again");
}

std::string uninspectable_error() {
  return json::serialize(json::object{
      {"code", -32603},
      {"message", "The upstream's answer could not be inspected"},
      {"data",
       json::object{{"reason", "The answer to tools/list is not valid JSON, so the gateway cannot filter it"}}}});
}

std::string uninspectable_message(const std::optional<inspection>& message) {
  std::string id = "null";
  if (message) {
    for (const auto& m : message->messages) {
      if (m.kind == message_kind::request && m.method && *m.method == method_tools_list) {
        id = jsonrpc_id_text(m);
        break;
      }
    }
  }
  return R"({"jsonrpc":"2.0","id":)" + id + R"(,"error":)" + uninspectable_error() + "}";
}

}  // namespace mcpgate::proxy

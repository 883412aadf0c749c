#include "proxy/era.hpp"

#include "auth/digest.hpp"
#include "common/mcp_names.hpp"
#include "proxy/approval.hpp"
#include "proxy/json_text.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include <algorithm>

namespace mcpgate::proxy {
namespace {

namespace json = boost::json;

bool is_known(std::string_view version) {
  return std::find(known_protocol_versions.begin(), known_protocol_versions.end(), version) !=
         known_protocol_versions.end();
}

bool is_modern(std::string_view version) { return version == modern_protocol_version; }

std::string_view trimmed(std::string_view s) {
  const auto first = s.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  return s.substr(first, s.find_last_not_of(" \t") - first + 1);
}

// A JSON-RPC error with this HTTP status; the id as written in the request
// ("null" for a batch or a notification).
era_refusal error_answer(unsigned status, const std::string& id, int code, std::string_view message,
                         const json::object* data = nullptr) {
  json::object error{{"code", code}, {"message", message}};
  if (data != nullptr) error["data"] = *data;
  return {status, R"({"jsonrpc":"2.0","id":)" + id + R"(,"error":)" + write_json(error) + "}"};
}

std::string id_of(const inspection& body) {
  if (body.is_batch || body.messages.empty()) return "null";
  return jsonrpc_id_text(body.messages.front());
}

// -32022 for a version the gateway does not know, wherever it was named.
// data.supported: the version the upstream was last seen speaking when the
// gateway knows it (an agent should not be sent to a version the upstream
// lacks), else every version the gateway knows.
std::optional<era_refusal> unknown_version(const inspection& body, std::string_view header,
                                           std::string_view upstream_version) {
  std::optional<std::string_view> unknown;
  if (!header.empty() && !is_known(header)) unknown = header;
  for (const auto& m : body.messages) {
    if (!unknown && m.protocol_version && !is_known(*m.protocol_version)) unknown = *m.protocol_version;
  }
  if (!unknown) return std::nullopt;
  json::array supported;
  if (is_known(upstream_version)) {
    supported.emplace_back(upstream_version);
  } else {
    for (const auto v : known_protocol_versions) supported.emplace_back(v);
  }
  const json::object data{{"supported", supported}, {"requested", *unknown}};
  return error_answer(400, id_of(body), error_unsupported_version, "Unsupported protocol version", &data);
}

bool names_modern(const inspection& body, std::string_view header) {
  if (is_modern(header)) return true;
  return std::any_of(body.messages.begin(), body.messages.end(),
                     [](const message_info& m) { return m.protocol_version && is_modern(*m.protocol_version); });
}

bool needs_name(std::string_view method) {
  return method == method_tools_call || method == method_prompts_get || method == method_resources_read ||
         method == method_tasks_get || method == method_tasks_update || method == method_tasks_cancel;
}

// The revision's header rules for one modern message; nullopt: they hold.
std::optional<std::string> header_problem(const message_info& m, const protocol_headers& headers,
                                          std::string_view version) {
  if (version.empty()) return "Missing MCP-Protocol-Version header";
  if (!m.method) return std::nullopt;  // not a request or notification: nothing to mirror
  if (trimmed(headers.method).empty()) return "Missing Mcp-Method header";
  if (decoded_header_value(headers.method) != *m.method) return "Mcp-Method header does not match the request body";
  if (!needs_name(*m.method)) return std::nullopt;
  if (trimmed(headers.name).empty()) return "Missing Mcp-Name header";
  const auto name = decoded_header_value(headers.name);
  if (!name || !m.mirrored_param || *name != *m.mirrored_param)
    return "Mcp-Name header does not match the request body";
  return std::nullopt;
}

// A legacy request's mirror headers must say what the checked body says: an
// upstream may route on them. Compared as sent; a batch has nothing for them
// to mirror (they are not forwarded with one).
std::optional<era_refusal> legacy_mirror_problem(const inspection& body, const protocol_headers& headers) {
  if (body.is_batch) return std::nullopt;
  const message_info& m = body.messages.front();
  const auto refused = [](std::string_view message) {
    return era_refusal{400, write_json(json::object{{"error", message}})};
  };
  if (!headers.method.empty() && (!m.method || headers.method != *m.method)) {
    return refused("Mcp-Method header does not match the request body");
  }
  if (!headers.name.empty() && m.method && *m.method == method_tools_call &&
      (!m.tool_name || headers.name != *m.tool_name)) {
    return refused("Mcp-Name header does not match the request body");
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> decoded_header_value(std::string_view raw) {
  const std::string_view value = trimmed(raw);
  constexpr std::string_view open = "=?base64?";
  constexpr std::string_view close = "?=";
  if (value.size() < open.size() + close.size() || value.substr(0, open.size()) != open ||
      value.substr(value.size() - close.size()) != close) {
    return std::string(value);
  }
  return auth::base64_decode(value.substr(open.size(), value.size() - open.size() - close.size()));
}

era_check check_protocol(const inspection& body, const protocol_headers& headers, std::string_view upstream_version) {
  era_check out;
  const std::string_view version = trimmed(headers.version);
  // The header against _meta first, as a server checks them: two different
  // versions are a mismatch even when one of them is unknown.
  if (!body.is_batch && !version.empty()) {
    const message_info& m = body.messages.front();
    if (m.protocol_version && *m.protocol_version != version) {
      out.era = names_modern(body, version) ? protocol_era::modern : protocol_era::legacy;
      out.refusal = error_answer(400, id_of(body), error_header_mismatch,
                                 "MCP-Protocol-Version header does not match params._meta");
      return out;
    }
  }
  if (auto refused = unknown_version(body, version, upstream_version)) {
    out.refusal = std::move(refused);
    return out;
  }
  if (!names_modern(body, version)) {
    out.refusal = legacy_mirror_problem(body, headers);
    return out;
  }
  out.era = protocol_era::modern;
  if (body.is_batch) {
    out.refusal = error_answer(400, "null", -32600, "Invalid Request: protocol revision 2026-07-28 has no batches");
    return out;
  }
  if (auto problem = header_problem(body.messages.front(), headers, version)) {
    out.refusal = error_answer(400, id_of(body), error_header_mismatch, *problem);
  }
  return out;
}

}  // namespace mcpgate::proxy

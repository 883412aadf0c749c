// Which protocol era a proxied POST belongs to, and the header rules of the
// 2026-07-28 revision (spec: protocol-2026.md "Which era a request is" and
// "The proxy for modern requests", step 2).
//
//   era_check seen = check_protocol(body, headers);
//   if (seen.refusal) return *seen.refusal;       // 400, nothing goes upstream
//   call.modern = seen.era == protocol_era::modern;
//
// Per request, never per installation: a body whose MCP-Protocol-Version
// header or params._meta protocol version names 2026-07-28 is modern; any
// other (initialize, a session, an older or no version) is legacy and keeps
// the checks it always had: a Mcp-Method or Mcp-Name (tools/call) header
// that is sent must equal the body's method or params.name as sent, else
// 400 {"error": ...}. A version the
// gateway does not know, in either place: 400, -32022, data.supported.
//
// An MCP-Protocol-Version header and a params._meta version that differ:
// 400, -32020 (checked first, as a server checks them).
//
// For a modern request (one message; the revision has no batches):
//   MCP-Protocol-Version  required (a request without _meta's version goes
//                         on: the upstream answers it, -32602)
//   Mcp-Method            required on a request or notification; equal to "method"
//   Mcp-Name              required for tools/call and prompts/get (= params.name),
//                         resources/read (= params.uri), tasks/get|update|cancel
//                         (= params.taskId)
// A missing or different one: HTTP 400 with -32020 and the request's id.
// Values are compared after trimming surrounding whitespace and decoding a
// "=?base64?...?=" value (the revision's form for a value that is not plain
// ASCII); header names are case-insensitive (the HTTP layer's lookup).
//
// Thread-safety: pure functions.
#pragma once

#include "proxy/jsonrpc_inspector.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace mcpgate::proxy {

enum class protocol_era { legacy, modern };

// The request's header values the era rules read ("" when absent).
struct protocol_headers {
  std::string_view version;  // MCP-Protocol-Version
  std::string_view method;   // Mcp-Method
  std::string_view name;     // Mcp-Name
};

// The gateway's answer in the upstream's place: a JSON-RPC error message.
struct era_refusal {
  unsigned status = 400;
  std::string body;  // application/json
};

struct era_check {
  protocol_era era = protocol_era::legacy;
  std::optional<era_refusal> refusal;  // set: answer this, forward nothing
};

// `body`: the inspected JSON-RPC body of a POST. `upstream_version`: the
// version the installation's upstream was last seen speaking ("" when not
// known), the one data.supported names when the gateway knows it.
era_check check_protocol(const inspection& body, const protocol_headers& headers,
                         std::string_view upstream_version = {});

// A header value as the revision carries it: surrounding spaces and tabs
// trimmed, "=?base64?<standard base64>?=" decoded; nullopt when that form's
// payload is not base64.
std::optional<std::string> decoded_header_value(std::string_view raw);

}  // namespace mcpgate::proxy

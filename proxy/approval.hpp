// Tool approval on the proxy path (spec: proxy.md, "Tool approval"): which
// tools/call messages of a POST body may reach the upstream, and what the
// gateway answers in their place.
//
//   unknown, removed, or params.name missing  -> -32601 "Tool '<n>' not found"
//   needs_approval                            -> -32001 "Tool '<n>' requires approval before it can be called"
//   do_not_use                                -> -32002 "Tool '<n>' has been disabled by the user"
//   approved                                  -> forwarded
//
// For a request of protocol 2026-07-28 (spec: protocol-2026.md, step 4):
//
//   unknown, removed, or params.name missing  -> -32602 "Unknown tool: <n>"
//   needs_approval, do_not_use                -> a CallToolResult with isError, the
//                                                sentence above as its text and
//                                                _meta["dev.mcpgate/approval"] =
//                                                {"state": ..., "tool": ...}
//
// Batches: nothing blocked, forwarded; only tools/call items and every one
// blocked, an array of their errors; anything else with a blocked item, every
// request in it answered -32000 (the upstream sees none of it).
//
// Thread-safety: pure functions.
#pragma once

#include "proxy/era.hpp"
#include "proxy/jsonrpc_inspector.hpp"

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mcpgate::proxy {

// The registry's approval_state of a tool of the installation; nullopt when it
// has no such tool or the tool is removed.
using tool_state_lookup = std::function<std::optional<std::string_view>(std::string_view tool_name)>;

struct blocked_call {
  std::string tool_name;  // "" when params.name was missing
  std::string state;      // "needs_approval", "do_not_use", or "unknown"
};

struct approval_outcome {
  bool forward = true;  // false: answer in the upstream's place
  // When !forward: the JSON-RPC answer (HTTP 200). Empty when nothing in the
  // body expects an answer (notifications only): HTTP 202 then.
  std::string answer;
  // The tools/call messages that were refused (for the audit trail).
  std::vector<blocked_call> blocked;
};

approval_outcome apply_tool_approval(const inspection& body, const tool_state_lookup& state_of,
                                     protocol_era era = protocol_era::legacy);

// The message's "id" as JSON text: a number exactly as written, a string
// re-escaped, "null" when absent or invalid.
std::string jsonrpc_id_text(const message_info& m);

}  // namespace mcpgate::proxy

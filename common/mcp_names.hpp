// The Model Context Protocol's names as mcpgate uses them: JSON-RPC method
// names, notification names, HTTP header names and the protocol version the
// gateway's own clients speak. Every other file refers to these constants
// rather than spelling the strings again. In common/ because both the data
// path (proxy/) and the OAuth client's discovery probe (oauth/) speak MCP.
// Thread-safe: constants only.
#pragma once

#include <string_view>

namespace mcpgate {

// JSON-RPC version every MCP message carries in its "jsonrpc" member.
inline constexpr std::string_view jsonrpc_version = "2.0";

// The protocol revision the gateway's own clients (the tool sync, the OAuth
// discovery probe) ask for in their initialize.
inline constexpr std::string_view client_protocol_version = "2025-06-18";

// Methods (requests from the client).
inline constexpr std::string_view method_initialize = "initialize";
inline constexpr std::string_view method_ping = "ping";
inline constexpr std::string_view method_tools_list = "tools/list";
inline constexpr std::string_view method_tools_call = "tools/call";

// Notifications.
inline constexpr std::string_view notification_initialized = "notifications/initialized";
inline constexpr std::string_view notification_tools_list_changed = "notifications/tools/list_changed";

// Streamable HTTP headers.
inline constexpr std::string_view header_mcp_session_id = "Mcp-Session-Id";
inline constexpr std::string_view header_mcp_protocol_version = "MCP-Protocol-Version";
inline constexpr std::string_view header_last_event_id = "Last-Event-ID";
inline constexpr std::string_view header_mcp_method = "Mcp-Method";
inline constexpr std::string_view header_mcp_name = "Mcp-Name";
inline constexpr std::string_view header_mcp_param_prefix = "Mcp-Param-";

}  // namespace mcpgate

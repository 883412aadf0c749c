// The Model Context Protocol's names as mcpgate uses them: JSON-RPC method
// names, notification names, HTTP header names and the protocol version the
// gateway's own clients speak. Every other file refers to these constants
// rather than spelling the strings again. In common/ because both the data
// path (proxy/) and the OAuth client's discovery probe (oauth/) speak MCP.
// Thread-safe: constants only.
#pragma once

#include <array>
#include <string_view>

namespace mcpgate {

// JSON-RPC version every MCP message carries in its "jsonrpc" member.
inline constexpr std::string_view jsonrpc_version = "2.0";

// The protocol revision the gateway's own clients (the tool sync, the OAuth
// discovery probe) ask for in their initialize.
inline constexpr std::string_view client_protocol_version = "2025-06-18";

// The stateless revision (spec: protocol-2026.md): a request that names it
// (or a later one the gateway knows) is "modern"; every other request is
// "legacy" and handled as before it.
inline constexpr std::string_view modern_protocol_version = "2026-07-28";
// The revisions the gateway accepts, oldest first. A request naming any
// other gets -32022 with these in data.supported.
inline constexpr std::array<std::string_view, 5> known_protocol_versions = {"2024-11-05", "2025-03-26", "2025-06-18",
                                                                            "2025-11-25", "2026-07-28"};

// Methods (requests from the client).
inline constexpr std::string_view method_initialize = "initialize";
inline constexpr std::string_view method_ping = "ping";
inline constexpr std::string_view method_tools_list = "tools/list";
inline constexpr std::string_view method_tools_call = "tools/call";
inline constexpr std::string_view method_prompts_get = "prompts/get";
inline constexpr std::string_view method_resources_read = "resources/read";
inline constexpr std::string_view method_server_discover = "server/discover";
inline constexpr std::string_view method_subscriptions_listen = "subscriptions/listen";
inline constexpr std::string_view method_tasks_get = "tasks/get";
inline constexpr std::string_view method_tasks_update = "tasks/update";
inline constexpr std::string_view method_tasks_cancel = "tasks/cancel";

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

// params._meta keys of the 2026-07-28 revision.
inline constexpr std::string_view meta_protocol_version = "io.modelcontextprotocol/protocolVersion";
inline constexpr std::string_view meta_client_capabilities = "io.modelcontextprotocol/clientCapabilities";
inline constexpr std::string_view meta_client_info = "io.modelcontextprotocol/clientInfo";
inline constexpr std::string_view meta_subscription_id = "io.modelcontextprotocol/subscriptionId";
// The gateway's own _meta key on a refused modern tools/call's result.
inline constexpr std::string_view meta_approval = "dev.mcpgate/approval";

// JSON-RPC error codes of the 2026-07-28 revision.
inline constexpr int error_header_mismatch = -32020;      // HTTP 400
inline constexpr int error_missing_capability = -32021;   // HTTP 400
inline constexpr int error_unsupported_version = -32022;  // HTTP 400, data.supported

}  // namespace mcpgate

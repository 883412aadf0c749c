// The JSON-RPC inspector: reads one proxied POST body (a JSON-RPC message
// object, or a batch array of them) and reports, per message, what the
// approval filter and the header checks need: "jsonrpc", "id", "method", the
// message's kind, the params member the Mcp-Name header mirrors (for
// tools/call, the tool's name) and the protocol version in "params._meta". It never builds a DOM and never
// modifies the bytes: it runs boost::json::basic_parser over the body once,
// keeps only the few strings it needs, and skips everything else (a huge
// "arguments" costs one O(n) pass and no copy), so the caller forwards the
// original bytes untouched.
//
// The parse is strict RFC 8259 (valid UTF-8, no comments, no trailing commas)
// but for one thing mainstream parsers accept: a \u escape of a lone UTF-16
// surrogate, decoded to its WTF-8 bytes (json_text.hpp), so a name compares
// exactly as the upstream reads it. It is bounded in depth by
// inspector_max_depth. A key the approval filter reads
// ("jsonrpc", "id", "method", "params", "result", "error"; "name", "uri",
// "taskId" or "_meta" directly inside "params"; the protocol version inside
// "params._meta") that appears twice in one message is rejected: parsers
// disagree on which copy wins, and the upstream must see the name we checked.
//
// Thread-safety: inspect_jsonrpc is a stateless function; any number of
// threads may call it at once.
#pragma once

#include "common/error.hpp"

#include <boost/system/error_code.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace mcpgate::proxy {

// Deepest nesting of objects and arrays accepted; deeper input is rejected.
inline constexpr std::size_t inspector_max_depth = 64;

// Why a body was rejected. All of them mean "400, Request body must be valid
// JSON" at the HTTP edge; the reason is for logs and tests.
enum class inspect_error {
  ok = 0,
  invalid_json,              // not RFC 8259 JSON (syntax, truncation, bad UTF-8)
  not_object_or_array,       // valid JSON, but a scalar at the top
  empty_batch,               // "[]"
  batch_element_not_object,  // "[1]", "[[]]", ...
  too_deep,                  // nesting beyond inspector_max_depth
  duplicate_key,             // a key the filter reads appears twice in one message
};

const boost::system::error_category& inspect_category() noexcept;

inline boost::system::error_code make_error_code(inspect_error e) noexcept {
  return {static_cast<int>(e), inspect_category()};
}

// What the "id" member was.
enum class id_kind {
  absent,   // no "id" member
  null,     // "id": null
  number,   // "id": 12 (id_text holds the number as written, e.g. "12", "1.5e3")
  string,   // "id": "a" (id_text holds the decoded string, escapes resolved)
  invalid,  // "id": true / {} / [] (not allowed by JSON-RPC)
};

enum class message_kind {
  request,       // "method" is a string and "id" is present
  notification,  // "method" is a string and there is no "id"
  response,      // no "method", an "id", and "result" or "error"
  invalid,       // anything else (non-string method, bad id type, method + result, ...)
};

struct message_info {
  bool has_jsonrpc_2_0 = false;  // "jsonrpc": "2.0" was present
  id_kind id = id_kind::absent;
  std::string id_text;                // see id_kind; empty for absent / null / invalid
  std::optional<std::string> method;  // set only when "method" is a string
  message_kind kind = message_kind::invalid;
  // For method tools/call only: "params.name" when params is an object whose
  // own "name" member is a string (decoded). Never a "name" nested deeper.
  std::optional<std::string> tool_name;
  // The params member the Mcp-Name header mirrors (protocol 2026-07-28):
  // "name" for tools/call and prompts/get, "uri" for resources/read,
  // "taskId" for tasks/get, tasks/update and tasks/cancel; when it is a
  // string (decoded). nullopt for other methods.
  std::optional<std::string> mirrored_param;
  // params._meta["io.modelcontextprotocol/protocolVersion"] when it is a
  // string (a request of the 2026-07-28 revision carries it).
  std::optional<std::string> protocol_version;
};

struct inspection {
  bool is_batch = false;               // the body was an array
  std::vector<message_info> messages;  // in body order; exactly one unless is_batch
};

// Inspects `body`. On failure the error's category is inspect_category() and
// its value an inspect_error.
result<inspection> inspect_jsonrpc(std::string_view body);

}  // namespace mcpgate::proxy

namespace boost::system {
template <>
struct is_error_code_enum<mcpgate::proxy::inspect_error> : std::true_type {};
}  // namespace boost::system

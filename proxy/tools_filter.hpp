// The tools/list filter (spec: proxy.md, "Tool approval"): the answer to a
// tools/list request loses the tools the user must not see (do_not_use,
// removed, ...) before it reaches the agent; pagination cursors and every
// other member pass through untouched.
//
// Only answers to tools/list come here, never tools/call traffic. The message
// is validated as strict RFC 8259 JSON (lone surrogate escapes accepted, as
// mainstream parsers accept them: json_text.hpp), then its structure is
// walked over the original bytes: the filtered message is the original text with the hidden
// array elements cut out, so everything else (the id, numbers as written, key
// order, escapes, whitespace, other result members, other tool fields) is kept
// byte for byte. Tool names are compared decoded ("\u0061" is "a").
//
// Duplicate keys, which parsers resolve differently, cannot smuggle a tool
// through: every "result" member that is an object, every "tools" array in it,
// and every "name" of a tool is looked at; a tool is hidden when any of its
// string names is.
//
// Thread-safety: a pure function; any number of threads may call it at once
// (`hidden` is called on the caller's thread, once per tool name).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mcpgate::proxy {

enum class tools_list_verdict {
  // Not JSON (or nested beyond what is inspected): it may hold tools the
  // agent must not see, so it must not be forwarded (fail closed).
  unreadable,
  // Valid JSON without a result.tools array (an error answer, say):
  // forward it as it is.
  no_tools,
  // A tools/list result: `names` and `filtered` below.
  tools,
};

// The outcome of looking at one JSON-RPC message that answers tools/list.
struct tools_list_answer {
  tools_list_verdict verdict = tools_list_verdict::unreadable;
  // Every tool name the answer listed (in order, decoded), before filtering.
  // Tools without a string "name" are neither listed here nor hidden.
  std::vector<std::string> names;
  // The message without the hidden tools; nullopt when nothing was hidden
  // (forward the original bytes then).
  std::optional<std::string> filtered;
};

// `message`: one JSON-RPC response object (text). The verdict is no_tools
// when it is valid JSON but not a response (an object without "method") with
// a "result" object whose "tools" is an array. A batch (an array of such
// objects) is handled element by element, the names of all of them in
// order. `hidden(name)` says which tools to drop.
//
// private_ttl_ms (for an answer to a request of protocol 2026-07-28): a
// result that lost a tool also gets cacheScope "private" and a ttlMs of at
// most this (each replaced, or added when the upstream gave none), so that
// no shared cache serves one user's filtered list to another.
tools_list_answer filter_tools_list(std::string_view message, const std::function<bool(std::string_view)>& hidden,
                                    std::optional<std::uint64_t> private_ttl_ms = std::nullopt);

}  // namespace mcpgate::proxy

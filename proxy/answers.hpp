// The answers the gateway gives in the upstream's place on the proxy route
// (spec: proxy.md "Errors"): the proxy's own {"error": ...} body, JSON-RPC
// errors carrying the request's id for a JSON-RPC body, and the
// re-authentication answer.
//
// Thread-safety: pure functions.
#pragma once

#include "net/http_types.hpp"
#include "proxy/approval.hpp"
#include "proxy/jsonrpc_inspector.hpp"
#include "registry/types.hpp"

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace mcpgate::proxy {

// {"error": message} with this status, the proxy's error body.
net::http_response proxy_error(unsigned status, std::string_view message);

// 429 with Retry-After (whole seconds, at least 1).
net::http_response too_many(std::chrono::milliseconds wait, std::string_view message);

// 503 with Retry-After: 1: the gateway sheds new work to stay within its caps.
net::http_response overloaded_answer();

// The gateway's answer in the upstream's place: a JSON-RPC error `error`
// (an object's text) for every request in the body, HTTP 200; nullopt when
// the body holds no request (notifications, responses, or no JSON-RPC body).
std::optional<net::http_response> jsonrpc_errors(const std::optional<inspection>& message, const std::string& error);

// Spec step 6: no usable upstream credential. Never HTTP 401 (that would
// send the agent into OAuth discovery against the gateway): JSON-RPC
// requests get a -32003 error (with authorize_url for an oauth
// installation), anything else 409.
net::http_response needs_reauth(std::string_view public_url, const registry::installation& inst,
                                const std::optional<inspection>& message, const std::string& reason);

// Scope step-up: the upstream answered 403 insufficient_scope. Like
// needs_reauth (-32003, or 409), with data.reason "insufficient_scope",
// data.required_scope (the challenge's scope) and data.authorize_url for a
// flow that asks for that scope on top of the granted one.
net::http_response insufficient_scope(std::string_view public_url, const registry::installation& inst,
                                      const std::optional<inspection>& message, const std::string& required_scope);

// The JSON-RPC error object (text) that stands in for an upstream answer to
// tools/list the filter could not read (fail closed: it may list tools the
// agent must not see).
std::string uninspectable_error();

// The same error as a whole JSON-RPC message, with the id of the body's
// first tools/list request (null when there is none: a GET stream).
std::string uninspectable_message(const std::optional<inspection>& message);

}  // namespace mcpgate::proxy

// The proxied request's admission, the first step of its chain (proxy/
// steps.hpp lists the rest): the DNS-rebinding defence (Host, Origin) and the
// agent's key. The REST front (daemon/rest.cpp) runs both for the proxy
// route, then the checks every API route shares (environment, project
// restriction, method, scope), then handle_proxy. The management API uses
// authenticate() too, without the key cache.
//
// Thread-safety: stateless; runs on the connection's shard.
#pragma once

#include "net/http_types.hpp"
#include "proxy/context.hpp"
#include "registry/types.hpp"

#include <boost/asio/awaitable.hpp>

#include <memory>
#include <optional>
#include <string_view>
#include <variant>

namespace mcpgate::proxy {

// A 403 when Host is not one the gateway answers to, or Origin is present
// and not allowed; nullopt when the request may go on.
std::optional<net::http_response> check_rebinding(const options& settings, const net::http_request& req);

// "Bearer <key>" (scheme case-insensitive); "" when absent or another scheme.
std::string_view bearer_token(std::string_view authorization);

// The caller's API key, or the answer refusing the request (401, or 503 when
// the store cannot say). `cached`: trust a key seen within the cache's key
// TTL (the proxy, the hot path); otherwise the store is asked every time.
boost::asio::awaitable<std::variant<std::shared_ptr<const registry::api_key>, net::http_response>> authenticate(
    const context& ctx, const net::http_request& req, bool cached);

}  // namespace mcpgate::proxy

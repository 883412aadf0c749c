// The gateway's own MCP client: lists an upstream's tools (the tools sync,
// spec: management-api.md "Refresh rules"), in either protocol era (spec:
// protocol-2026.md "The tool sync speaks both eras").
//
//   auto op = list_upstream_tools(pool, url, credential, options);
//   tools_listing listing = co_await std::move(op);
//   if (listing.ec == mcp_client_error::unauthorized) ...  // needs re-authentication
//   record(listing.protocol_version);                      // options.known_version next time
//
// Each step is one HTTP exchange bounded by options.step_timeout (first
// byte, then between body pieces).
//
// The modern era (2026-07-28, stateless): every POST carries params._meta
// (io.modelcontextprotocol/protocolVersion, .../clientCapabilities,
// .../clientInfo) and the headers MCP-Protocol-Version and Mcp-Method;
// there is no initialize, no session and no DELETE.
//   1. POST server/discover; its result's supportedVersions must name a
//      modern revision the gateway speaks (the newest one named is spoken);
//   2. POST tools/list, again with params.cursor while nextCursor is given.
// The legacy era: one Streamable HTTP session.
//   1. POST initialize (protocolVersion 2025-06-18); the answer's
//      Mcp-Session-Id (if any) and negotiated protocolVersion go on every
//      later request (Mcp-Session-Id, MCP-Protocol-Version headers);
//   2. POST notifications/initialized (any 2xx; the body is not read);
//   3. POST tools/list, paged as above;
//   4. DELETE, when there is a session (its outcome is ignored).
// tools/list pages: at most options.max_pages; a cursor seen before is an
// error; a server whose capabilities lack tools may answer -32601 (no tools).
//
// Which era: options.known_version is what the last successful listing
// spoke (tools_listing::protocol_version, recorded on the installation).
//   - none: server/discover first. A result naming a modern revision: the
//     modern era. A failure as a legacy server fails it (HTTP 400, 404 or
//     405, or a JSON-RPC error, unless it is one of the 2026 revision's own:
//     -32020, -32021, or -32022 naming a modern revision the gateway
//     speaks), or a result naming none: the legacy era. Anything else (401,
//     another status, a malformed answer, a transport failure) is the
//     listing's failure: no fallback.
//   - a modern revision: its tools/list at once; when the first page fails
//     as a legacy server fails it, or comes without resultType (which every
//     2026 result has; a legacy server that does not keep sessions lists so),
//     the upstream is probed again as above.
//   - another one: the handshake; when initialize fails as a 2026-only
//     server fails it (HTTP 404 or 405, -32601, -32020..-32022), then
//     server/discover, and the modern era if it answers as a 2026 server
//     (else the handshake's failure stands).
// The JSON-RPC error in the body of a 400, 404 or 405 is read to tell the
// eras apart; other error statuses are not read.
//
// Every request carries "Accept: application/json, text/event-stream" and,
// when the credential is not empty, "Authorization: Bearer <credential>"
// (or the header and format the options name).
// An answer is either application/json (a JSON-RPC response or a batch
// holding it) or text/event-stream (the events' data are read until the
// response whose id is the request's; notifications and server requests are
// ignored; the stream is closed as soon as the response is there).
//
// Failures: `ec` is an mcp_client_error (HTTP 401 is `unauthorized`, its own
// value), or the net/Asio code of the transport (net::client_error::timeout
// when a step overran step_timeout, connect_failed, ssrf_denied, ...).
// `detail` is one human-readable line that names the step
// ("tools/list: upstream answered HTTP 500"); it never holds the credential.
// After a fallback from one era to the other, the failure reported is the
// later step's (a legacy server's "initialize: ..." rather than the probe's).
//
// Tools: entries without a string "name" are skipped, and so is a name seen
// before (the first one stays); order is the upstream's. title is "title",
// else annotations.title, else ""; input_schema is inputSchema serialized
// ("{}" when absent or null); annotations is the annotations object
// serialized ("{}" when absent or not an object).
//
// Thread-safety: runs on the pool's executor (a client_options::single_thread
// pool, as net/upstream_exchange.hpp requires). The url is copied when the
// function is called; pool and credential are held by the operation.
#pragma once

#include "net/upstream_client.hpp"
#include "net/url_policy.hpp"
#include "registry/types.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/system/error_code.hpp>

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace mcpgate::proxy {

enum class mcp_client_error {
  ok = 0,
  unauthorized,        // the upstream answered HTTP 401: the credential is refused
  http_status,         // another status than 2xx (or 401)
  jsonrpc_error,       // the upstream answered the request with a JSON-RPC error
  malformed_answer,    // not a JSON-RPC response to the request (content type, JSON, shape)
  answer_too_large,    // one answer passed max_answer_bytes
  too_many_pages,      // still a nextCursor after max_pages pages
  cursor_loop,         // the upstream gave a cursor it had given before
  invalid_credential,  // the credential cannot be sent as a header value (control characters)
};

const boost::system::error_category& mcp_client_category() noexcept;

inline boost::system::error_code make_error_code(mcp_client_error e) noexcept {
  return {static_cast<int>(e), mcp_client_category()};
}

struct mcp_client_options {
  std::chrono::milliseconds step_timeout{30'000};   // per HTTP exchange (first byte and between pieces)
  std::size_t max_pages = 100;                      // tools/list pages followed at most
  std::size_t max_answer_bytes = 16 * 1024 * 1024;  // one answer (JSON body or SSE stream) at most
  // How the credential is presented: `credential_header: <format with {key}
  // replaced>` (a template may name another header, e.g. X-Api-Key: {key}).
  std::string credential_header = "Authorization";
  std::string credential_format = "Bearer {key}";
  // The revision the upstream spoke last time (tools_listing::protocol_version
  // of the last listing that succeeded); "" when unknown: probe first.
  std::string known_version{};
};

struct tools_listing {
  boost::system::error_code ec;
  std::string detail;                        // when ec: what failed, naming the step
  std::vector<registry::listed_tool> tools;  // when !ec: every tool listed, in the upstream's order
  // When !ec: the revision the listing was made in: a modern one
  // ("2026-07-28") or the one a legacy initialize negotiated.
  std::string protocol_version;
};

// credential: "" for none, else sent as "Authorization: Bearer <credential>".
// `url` has been parsed and put through the SSRF policy by the caller (the
// pool applies it again to every resolved address).
boost::asio::awaitable<tools_listing> list_upstream_tools(std::shared_ptr<net::upstream_pool> pool,
                                                          const net::parsed_url& url, std::string credential,
                                                          mcp_client_options options = {});

}  // namespace mcpgate::proxy

namespace boost::system {
template <>
struct is_error_code_enum<mcpgate::proxy::mcp_client_error> : std::true_type {};
}  // namespace boost::system

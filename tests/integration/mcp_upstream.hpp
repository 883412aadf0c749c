// A scripted MCP server on top of fake_upstream, for the tools tests: it
// speaks enough of the Streamable HTTP transport for the gateway's own MCP
// client (the tools sync) and for agents proxied through the gateway.
//
//   POST initialize                  -> 200 JSON result (protocolVersion, capabilities, serverInfo)
//                                       with an Mcp-Session-Id header
//   POST notifications/initialized   -> 202, no body
//   POST tools/list                  -> the current tool list, cut into pages of
//                                       page_size with nextCursor "page-N"; a
//                                       params.cursor continues from there
//   POST tools/call                  -> 200 result {"content":[{"type":"text","text":"called <name>"}]}
//   POST another request             -> 200 JSON-RPC result {}
//   POST notification(s) only        -> 202, no body
//   POST a batch                     -> the array of the answers to its requests
//   DELETE                           -> 200, no body
//   GET                              -> 405 (no server-initiated stream)
// Answers are JSON unless sse_answers is set (then one SSE event holding the
// JSON-RPC message). fail_status != 0 answers every POST with that status
// (body {"error":"scripted failure"}).
//
// That is the legacy era (mcp_era::legacy, the default). set_era() makes it
// a server of the stateless 2026-07-28 revision (spec: protocol-2026.md):
//   mcp_era::modern  2026-07-28 only:
//     GET, DELETE                    -> 405
//     POST initialize                -> 404, JSON-RPC -32601
//     POST another request that does not name 2026-07-28 (MCP-Protocol-Version
//       header or params._meta)      -> 400, -32022 with data.supported ["2026-07-28"]
//     POST a 2026 request whose MCP-Protocol-Version header differs from its
//       _meta version, or whose Mcp-Method header differs from its method
//                                    -> 400, -32020
//     POST server/discover           -> supportedVersions ["2026-07-28"], capabilities
//                                       {tools:{listChanged:true}}, serverInfo
//     POST tools/list                -> pages as above, with resultType "complete",
//                                       ttlMs 60000 and cacheScope "public"
//     POST tools/call                -> as above, with resultType "complete"
//     POST any other method          -> 404, -32601
//     POST a batch                   -> 400, -32600; notification(s) -> 202
//     never an Mcp-Session-Id
//   mcp_era::dual    both on one endpoint, per request: a POST naming
//     2026-07-28 is answered as in modern, anything else as in legacy.
// set_modern_tools() gives 2026 requests another tool list than set_tools()
// (a dual server that offers a tool to 2026 clients only).
//
// Every request is still recorded by the fake_upstream (requests()); the
// helpers below pick the JSON-RPC methods out of them.
//
// Thread-safety: the settings may be changed from the test's thread while the
// upstream serves (guarded by a mutex inside).
#pragma once

#include "fake_upstream.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace mcpgate::it {

struct mcp_tool {
  std::string name;
  std::string title;        // "" = no title member
  std::string description;  // "" = no description member
  boost::json::object input_schema{{"type", "object"}};
  boost::json::object annotations;  // empty = no annotations member
};

// A tool with only its name.
inline mcp_tool named(std::string name) {
  mcp_tool t;
  t.name = std::move(name);
  return t;
}

// Which protocol eras an mcp_upstream speaks.
enum class mcp_era {
  legacy,  // initialize and sessions (2025-06-18 and before): the default
  modern,  // 2026-07-28 only: stateless
  dual,    // both, chosen per request
};

class mcp_upstream {
 public:
  explicit mcp_upstream(fake_upstream& server);
  ~mcp_upstream();  // restores fake_upstream's default handler
  mcp_upstream(const mcp_upstream&) = delete;
  mcp_upstream& operator=(const mcp_upstream&) = delete;

  void set_tools(std::vector<mcp_tool> tools);
  void set_page_size(std::size_t n);      // 0 = everything in one page (default)
  void set_sse_answers(bool on);          // answer POSTs as text/event-stream
  void set_fail_status(unsigned status);  // 0 = answer normally (default)
  void set_era(mcp_era era);
  // What 2026 requests list; until called, the set_tools() list.
  void set_modern_tools(std::vector<mcp_tool> tools);

 private:
  struct state;
  fake_upstream& server_;
  std::shared_ptr<state> state_;
};

// The JSON-RPC "method" of each recorded POST (one entry per message of a
// batch; "" for a body that is not JSON-RPC), and "DELETE"/"GET" for those
// methods, in arrival order.
std::vector<std::string> methods_received(const fake_upstream& server);
// How many tools/call messages for this tool name the upstream received.
std::size_t calls_received(const fake_upstream& server, const std::string& tool_name);

// install() for an upstream that is an mcp_upstream: installs, then clears
// what the install's tools sync sent the upstream from its records, so a test
// sees only its own traffic.
std::string install_mcp(api_client& client, fake_upstream& server, const std::string& url, const std::string& auth_type,
                        const std::string& api_key = "");

}  // namespace mcpgate::it

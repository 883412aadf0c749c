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

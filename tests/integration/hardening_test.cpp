// The findings of an attacker's probe, each pinned by what a client sees:
//
//   - chunk extensions or a trailer section that never end are cut at the
//     header limit (431, closed) and memory stays flat;
//   - Transfer-Encoding other than exactly "chunked" is 400 and close, so a
//     body is never read as the next request;
//   - duplicate Host or Origin, a missing Host and obs-fold are 400;
//   - 100 Continue only after the key was accepted;
//   - GET and DELETE bodies are refused on the proxy, never forwarded;
//   - answers to tools/list with lone surrogate escapes are filtered, and
//     answers that cannot be read are refused (fail closed);
//   - a stored credential with control characters is refused when stored,
//     and one that cannot be sent takes the re-authentication path;
//   - a full disk is 503 "storage full", /readyz says so and recovers;
//   - refused connections are logged once a second with a count;
//   - rate limits (429 + Retry-After) and the caps that shed load (503).
#include "fake_upstream.hpp"

#include "auth/secret_box.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <csignal>
#include <mutex>
#include <string>
#include <vector>

using namespace mcpgate::it;

namespace {

// "Host: 127.0.0.1:PORT\r\n" and a request line; the rest is the test's.
std::string head_of(std::string_view method, std::string_view target, std::uint16_t port) {
  return std::string(method) + " " + std::string(target) + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
         "\r\n";
}

// Counts lines of `text` that contain `needle`.
std::size_t lines_with(const std::string& text, std::string_view needle) {
  std::size_t n = 0;
  std::size_t at = 0;
  while (at < text.size()) {
    std::size_t end = text.find('\n', at);
    if (end == std::string::npos) end = text.size();
    if (std::string_view(text).substr(at, end - at).find(needle) != std::string_view::npos) ++n;
    at = end + 1;
  }
  return n;
}

// The answer to the one request `bytes` hold, and whether the connection
// then closed without anything more (no second answer).
struct raw_outcome {
  std::optional<reply> head;
  std::string rest;
  bool closed_after = false;
};

raw_outcome send_raw(std::uint16_t port, std::string_view bytes) {
  agent_stream agent(port);
  raw_outcome out;
  BOOST_TEST_REQUIRE(agent.send(bytes));
  out.head = agent.read_head();
  if (!out.head) return out;
  const auto body = agent.read_rest();
  if (body) out.rest = *body;
  std::string more;
  const auto next = agent.read_body(more, std::chrono::milliseconds(3000));
  out.closed_after = next == agent_stream::read_status::closed || next == agent_stream::read_status::error ||
                     next == agent_stream::read_status::end;
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------
BOOST_AUTO_TEST_SUITE(hardening_http)

// A body is read only for a caller whose key was accepted (see
// a_body_is_not_awaited_without_a_valid_key): the limits below hold for
// them too.
std::string authorized(const std::string& secret) { return "Authorization: Bearer " + secret + "\r\n"; }

BOOST_FIXTURE_TEST_CASE(a_chunk_extension_that_never_ends_is_cut_at_the_header_limit, default_gateway) {
  const api_key key = create_key("alice", "*");
  agent_stream agent(port());
  std::string bytes = head_of("POST", p1, port()) + authorized(key.secret) + "Transfer-Encoding: chunked\r\n\r\n2;";
  bytes += std::string(20 * 1024, 'a');  // past max_header_bytes (16 KiB), no end of line
  BOOST_TEST_REQUIRE(agent.send(bytes));
  const auto head = agent.read_head();
  BOOST_TEST_REQUIRE(head.has_value(), "no answer: the extension was buffered without limit");
  BOOST_TEST(head->status == 431u);
  BOOST_TEST(head->header("Connection") == "close");
}

BOOST_FIXTURE_TEST_CASE(a_trailer_section_that_never_ends_is_cut_at_the_header_limit, default_gateway) {
  const api_key key = create_key("alice", "*");
  agent_stream agent(port());
  std::string bytes = head_of("POST", p1, port()) + authorized(key.secret) +
                      "Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n";
  for (int i = 0; i < 2000; ++i) bytes += "X-Trailer-" + std::to_string(i) + ": padding\r\n";  // ~50 KiB, no end
  BOOST_TEST_REQUIRE(agent.send(bytes));
  const auto head = agent.read_head();
  BOOST_TEST_REQUIRE(head.has_value(), "no answer: the trailer was buffered without limit");
  BOOST_TEST(head->status == 431u);
}

// 32 MiB of one chunk extension: before, the daemon's memory grew with it
// (600 MiB took it from 64 to 724 MiB); now the request is cut at 16 KiB.
BOOST_FIXTURE_TEST_CASE(an_extension_flood_leaves_memory_flat, default_gateway) {
  const api_key key = create_key("alice", "*");
  const std::uint64_t before = resident_bytes(process().pid());
  BOOST_TEST_REQUIRE(before > 0u);
  agent_stream agent(port());
  BOOST_TEST_REQUIRE(agent.send(head_of("POST", p1, port()) + authorized(key.secret) +
                                "Transfer-Encoding: chunked\r\n\r\n2;"));
  const std::string piece(64 * 1024, 'a');
  std::size_t sent = 0;
  while (sent < 32u * 1024 * 1024 && agent.send(piece)) sent += piece.size();
  const std::uint64_t after = resident_bytes(process().pid());
  BOOST_TEST_MESSAGE("sent " << sent << " bytes; RSS " << before / 1024 << " KiB -> " << after / 1024 << " KiB");
  BOOST_TEST(after < before + 16u * 1024 * 1024, "RSS grew by " << (after - before) / 1024 << " KiB");
  // And the daemon still answers.
  BOOST_TEST(anonymous().get("/healthz").status == 200u);
}

BOOST_FIXTURE_TEST_CASE(transfer_encoding_other_than_chunked_is_400_and_close, default_gateway) {
  // The body is itself a request: read as "no body", it would be answered too.
  const std::string smuggled = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port()) + "\r\n\r\n";
  for (const std::string_view te : {"Transfer-Encoding: xchunked\r\n", "Transfer-Encoding: identity\r\n",
                                    "Transfer-Encoding: chunked, identity\r\n", "Transfer-Encoding: gzip, chunked\r\n",
                                    "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"}) {
    const auto outcome = send_raw(port(), head_of("POST", p1, port()) + std::string(te) + "\r\n" + smuggled);
    BOOST_TEST_REQUIRE(outcome.head.has_value(), te);
    BOOST_TEST(outcome.head->status == 400u, te);
    BOOST_TEST(outcome.rest.find("\"ok\"") == std::string::npos, te);
    BOOST_TEST(outcome.closed_after, "a second answer came after " << te);
  }
  // Exactly "chunked", any case and spacing, still works.
  const auto fine = send_raw(port(),
                             head_of("GET", "/healthz", port()) + "Transfer-Encoding:  Chunked \r\n\r\n0\r\n\r\n");
  BOOST_TEST_REQUIRE(fine.head.has_value());
  BOOST_TEST(fine.head->status == 200u);
}

BOOST_FIXTURE_TEST_CASE(duplicate_host_or_origin_missing_host_and_obs_fold_are_400, default_gateway) {
  const std::string host = "Host: 127.0.0.1:" + std::to_string(port()) + "\r\n";
  const std::string line = "GET /healthz HTTP/1.1\r\n";
  for (const std::string& request : {
           line + host + host + "\r\n",
           line + host + "Host: evil.example\r\n\r\n",
           line + host + "Origin: http://127.0.0.1\r\nOrigin: http://evil.example\r\n\r\n",
           line + "\r\n",                              // no Host at all
           line + host + "X-Folded: a\r\n b\r\n\r\n",  // obs-fold
           line + "Host: 127.0.0.1:" + std::to_string(port()) + "\r\n\tx\r\n\r\n",
       }) {
    const auto outcome = send_raw(port(), request);
    BOOST_TEST_REQUIRE(outcome.head.has_value(), request);
    BOOST_TEST(outcome.head->status == 400u, request);
  }
  const auto fine = send_raw(port(), line + host + "Origin: http://127.0.0.1\r\n\r\n");
  BOOST_TEST_REQUIRE(fine.head.has_value());
  BOOST_TEST(fine.head->status == 200u);
  // HTTP/1.0 needs no Host.
  const auto old = send_raw(port(), "GET /healthz HTTP/1.0\r\n\r\n");
  BOOST_TEST_REQUIRE(old.head.has_value());
  BOOST_TEST(old.head->status == 200u);
}

BOOST_FIXTURE_TEST_CASE(continue_is_sent_only_after_the_key_is_accepted, default_gateway) {
  const api_key key = create_key("alice", "*");
  const std::string body = json::serialize(json::object{{"url", "http://127.0.0.1:9/a"}, {"auth_type", "none"}});
  const auto ask = [&](const std::string& secret) {
    return head_of("POST", p1, port()) + "Authorization: Bearer " + secret +
           "\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\n\r\n";
  };
  {
    agent_stream agent(port());
    BOOST_TEST_REQUIRE(agent.send(ask("mcpg_not_a_key")));
    const auto first = agent.read_head();
    BOOST_TEST_REQUIRE(first.has_value());
    BOOST_TEST(first->status == 401u, "the body was invited before the key was checked");
  }
  {
    agent_stream agent(port());
    BOOST_TEST_REQUIRE(agent.send(ask(key.secret)));
    const auto first = agent.read_head();
    BOOST_TEST_REQUIRE(first.has_value());
    BOOST_TEST(first->status == 100u);
    BOOST_TEST_REQUIRE(agent.send(body));
    const auto second = agent.read_head();
    BOOST_TEST_REQUIRE(second.has_value());
    BOOST_TEST(second->status == 201u);
  }
}

// A body still to come is held only for a caller whose key was accepted:
// without one, the answer comes at once and no byte of the body is awaited.
BOOST_FIXTURE_TEST_CASE(a_body_is_not_awaited_without_a_valid_key, default_gateway) {
  agent_stream agent(port());
  BOOST_TEST_REQUIRE(agent.send(head_of("POST", p1, port()) +
                                "Authorization: Bearer mcpg_not_a_key\r\nContent-Type: application/json\r\n"
                                "Content-Length: 60000\r\n\r\n{\"url\":"));
  const auto head = agent.read_head(std::chrono::milliseconds(5000));
  BOOST_TEST_REQUIRE(head.has_value(), "the gateway waited for the body of an unauthenticated request");
  BOOST_TEST(head->status == 401u);
  // The same on the proxy route.
  agent_stream proxy(port());
  BOOST_TEST_REQUIRE(proxy.send(head_of("POST", proxy_path(e1, "0190a0a0-0000-7000-8000-000000000000"), port()) +
                                "Content-Type: application/json\r\nContent-Length: 60000\r\n\r\n{"));
  const auto proxied = proxy.read_head(std::chrono::milliseconds(5000));
  BOOST_TEST_REQUIRE(proxied.has_value());
  BOOST_TEST(proxied->status == 401u);
}

// One line a second per kind, with how many were left out, however many
// connections the cap refuses.
BOOST_AUTO_TEST_CASE(refused_connections_are_logged_once_a_second_with_a_count) {
  gateway_options options;
  options.max_connections = 2;
  gateway gw(options);
  agent_stream a(gw.port());
  agent_stream b(gw.port());
  BOOST_TEST_REQUIRE(a.send(head_of("GET", "/healthz", gw.port()) + "\r\n"));
  BOOST_TEST_REQUIRE(b.send(head_of("GET", "/healthz", gw.port()) + "\r\n"));
  BOOST_TEST_REQUIRE(a.read_head().has_value());
  BOOST_TEST_REQUIRE(b.read_head().has_value());
  const auto started = steady::now();
  int refused = 0;
  for (; refused < 300; ++refused) {
    agent_stream c(gw.port());
    c.send(head_of("GET", "/healthz", gw.port()) + "\r\n");
    BOOST_TEST_REQUIRE(!c.read_head(std::chrono::milliseconds(5000)).has_value());
  }
  // Refusing more until the summary of the left-out ones is written (the
  // next line after a second says how many there were).
  const auto deadline = steady::now() + std::chrono::seconds(20);
  while (gw.all_logs().find("more like this") == std::string::npos && steady::now() < deadline) {
    agent_stream c(gw.port());
    c.send(head_of("GET", "/healthz", gw.port()) + "\r\n");
    (void)c.read_head(std::chrono::milliseconds(200));
    ++refused;
  }
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(steady::now() - started).count();
  const std::string logs = gw.all_logs();
  const std::size_t lines = lines_with(logs, "connection limit (2) reached");
  BOOST_TEST_MESSAGE(refused << " connections refused in " << seconds << " s, " << lines << " log lines");
  BOOST_TEST(lines >= 1u);
  BOOST_TEST(lines <= static_cast<std::size_t>(seconds) + 2u);
  BOOST_TEST(logs.find("more like this since the last such line") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------
// The proxy's edges, against a loopback upstream scripted here.
namespace {

// An MCP upstream whose tools/list answer is text the test writes (lone
// surrogate escapes, JSON that is not JSON), as JSON or as one SSE event.
struct scripted_mcp {
  std::mutex mu;
  std::string tools_result = R"({"tools":[]})";  // the "result" member's text; guarded by mu
  bool sse = false;                              // guarded by mu
  std::string broken_answer;                     // when set, the whole tools/list body; guarded by mu

  void serve(fake_exchange& ex) {
    const auto& req = ex.request();
    if (req.method != "POST") {
      ex.respond(req.method == "DELETE" ? 200 : 405, {}, "");
      return;
    }
    // Boost.JSON refuses lone surrogate escapes, which this upstream must
    // take (as a JavaScript server does): they are blanked for the parse.
    std::string readable = req.body;
    for (std::size_t at = readable.find("\\ud"); at != std::string::npos; at = readable.find("\\ud", at + 1)) {
      readable.replace(at, 6, "\\u0020");
    }
    boost::system::error_code ec;
    const json::value message = json::parse(readable, ec);
    if (ec || !message.is_object() || !message.as_object().contains("method")) {
      ex.respond(202, {}, "");
      return;
    }
    const std::string method(message.at("method").as_string());
    const std::string id = message.as_object().contains("id") ? json::serialize(message.at("id")) : "null";
    if (!message.as_object().contains("id")) {
      ex.respond(202, {}, "");
      return;
    }
    std::string result = "{}";
    std::lock_guard lock(mu);
    if (method == "initialize") {
      result =
          R"({"protocolVersion":"2025-06-18","capabilities":{"tools":{}},"serverInfo":{"name":"s","version":"1"}})";
    } else if (method == "tools/list") {
      result = tools_result;
    } else if (method == "tools/call") {
      result = R"({"content":[{"type":"text","text":"called"}]})";
    }
    std::string body = R"({"jsonrpc":"2.0","id":)" + id + R"(,"result":)" + result + "}";
    if (method == "tools/list" && !broken_answer.empty()) body = broken_answer;
    if (sse && method == "tools/list") {
      ex.respond(200, {{"Content-Type", "text/event-stream"}}, "event: message\ndata: " + body + "\n\n");
    } else {
      ex.respond_json(200, body, {{"Mcp-Session-Id", "s-1"}});
    }
  }
};

struct proxy_edges : gateway {
  proxy_edges() : gateway(proxy_options()), key(create_key("alice", "*")), alice(client(key)) {
    upstream.on_request([this](fake_exchange& ex) { mcp.serve(ex); });
  }

  // Installs the upstream with its current tools (a sync runs in the install).
  void install_it() {
    id = install(alice, upstream.url("/mcp"), "api_key", "upstream-key");
    upstream.clear_records();
  }

  reply rpc(const std::string& body) { return alice.send("POST", proxy_path(e1, id), body, json_headers); }

  void set_state(const std::string& tool, std::string_view state) {
    const reply r = alice.patch(item_of(e1, id) + "/tools/" + tool, json::object{{"approval_state", state}});
    BOOST_TEST_REQUIRE(r.status == 200u, r);
  }

  fake_upstream upstream;
  scripted_mcp mcp;
  api_key key;
  api_client alice;
  std::string id;
};

// A tools/list answer whose descriptions end in a cut emoji.
const std::string lone_tools =
    R"({"tools":[{"name":"visible","description":"cut \ud83d","inputSchema":{"type":"object"}},)"
    R"({"name":"secret","description":"\udc00 also","inputSchema":{"type":"object"}}]})";

}  // namespace

BOOST_AUTO_TEST_SUITE(hardening_proxy)

BOOST_FIXTURE_TEST_CASE(get_and_delete_bodies_are_refused_and_never_forwarded, proxy_edges) {
  install_it();
  const std::string call = R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"secret"}})";
  for (const std::string_view method : {"GET", "DELETE"}) {
    const reply r = alice.send(method, proxy_path(e1, id), call, json_headers);
    BOOST_TEST(is_proxy_error(r, 400, "A " + std::string(method) + " request must not have a body"), method);
  }
  BOOST_TEST(upstream.request_count() == 0u);
  // Without a body they go through.
  BOOST_TEST(alice.send("DELETE", proxy_path(e1, id)).status == 200u);
  BOOST_TEST(upstream.request_count() == 1u);
}

BOOST_FIXTURE_TEST_CASE(a_tools_list_answer_with_lone_surrogates_is_filtered, proxy_edges) {
  {
    std::lock_guard lock(mcp.mu);
    mcp.tools_result = lone_tools;
  }
  install_it();
  // The sync read the answer (lone surrogates and all): both tools known.
  const reply tools = alice.get(item_of(e1, id) + "/tools");
  BOOST_TEST_REQUIRE(tools.status == 200u, tools);
  BOOST_TEST(lines_with(tools.body, R"("tool_name":"secret")") == 1u, tools);
  BOOST_TEST(lines_with(tools.body, R"("tool_name":"visible")") == 1u, tools);
  // Written back as the escape it was: valid UTF-8 on the wire.
  BOOST_TEST(tools.body.find(R"(cut \ud83d)") != std::string::npos, tools);
  set_state("secret", "do_not_use");
  for (const bool sse : {false, true}) {
    {
      std::lock_guard lock(mcp.mu);
      mcp.sse = sse;
    }
    const reply r = rpc(R"({"jsonrpc":"2.0","id":7,"method":"tools/list"})");
    BOOST_TEST_REQUIRE(r.status == 200u, r);
    BOOST_TEST(r.body.find("secret") == std::string::npos, "the hidden tool reached the agent: " << r.body);
    // The kept tool as the upstream wrote it, escape and all.
    BOOST_TEST(r.body.find(R"("name":"visible","description":"cut \ud83d")") != std::string::npos, r.body);
  }
}

BOOST_FIXTURE_TEST_CASE(an_unreadable_tools_list_answer_is_refused_not_forwarded, proxy_edges) {
  install_it();
  {
    std::lock_guard lock(mcp.mu);
    mcp.broken_answer = R"({"jsonrpc":"2.0","id":7,"result":{"tools":[{"name":"secret"},]}})";
  }
  for (const bool sse : {false, true}) {
    {
      std::lock_guard lock(mcp.mu);
      mcp.sse = sse;
    }
    const reply r = rpc(R"({"jsonrpc":"2.0","id":7,"method":"tools/list"})");
    BOOST_TEST_REQUIRE(r.status == 200u, r);
    BOOST_TEST(r.body.find("secret") == std::string::npos, "an answer nobody could filter reached the agent");
    const std::string data = sse ? r.body.substr(r.body.find("data: ") + 6) : r.body;
    const json::value answer = json::parse(data.substr(0, data.find('\n')));
    BOOST_TEST(answer.at("id") == json::value(7));
    BOOST_TEST(answer.at("error").at("code") == json::value(-32603));
    BOOST_TEST(string_of(answer.at("error"), "message") == "The upstream's answer could not be inspected");
  }
}

BOOST_FIXTURE_TEST_CASE(a_call_with_lone_surrogates_is_judged_by_its_exact_name, proxy_edges) {
  {
    std::lock_guard lock(mcp.mu);
    mcp.tools_result = R"({"tools":[{"name":"x\ufffd","inputSchema":{"type":"object"}},)"
                       R"({"name":"x\ud800","inputSchema":{"type":"object"}}]})";
  }
  install_it();
  // "x\ufffd" approved; "x\ud800" (another tool to the upstream's parser) not.
  set_state("x%EF%BF%BD", "approved");
  set_state("x%ED%A0%80", "do_not_use");
  const reply ok =
      rpc(R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x\ufffd","arguments":{"t":"\ud83d"}}})");
  BOOST_TEST(ok.status == 200u, ok);
  BOOST_TEST(ok.body.find("called") != std::string::npos, ok);
  const reply blocked = rpc(R"({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"x\ud800"}})");
  BOOST_TEST_REQUIRE(blocked.status == 200u, blocked);
  BOOST_TEST(blocked.body.find(R"("code":-32002)") != std::string::npos, blocked);
  // The refusal names the tool as the agent wrote it, in valid JSON.
  BOOST_TEST(blocked.body.find(R"(Tool 'x\ud800' has been disabled by the user)") != std::string::npos, blocked);
  BOOST_TEST(upstream.request_count() == 1u);  // the approved call only
}

BOOST_FIXTURE_TEST_CASE(api_keys_with_control_characters_are_refused_when_stored, proxy_edges) {
  const std::int64_t before = count_of(alice, e1);
  for (const std::string& bad :
       {std::string("a\r\nX-Evil: 1"), std::string("a\nb"), std::string("a\rb"), std::string("a\0b", 3),
        std::string("a\x0b"
                    "b"),
        std::string("a\x7f"
                    "b"),
        std::string("a\tb")}) {
    const reply r = alice.post(e1 + "/install_custom",
                               json::object{{"name", "X"},
                                            {"url", upstream.url("/k" + std::to_string(bad.size()))},
                                            {"auth_type", "api_key"},
                                            {"api_key", bad}});
    BOOST_TEST(is_validation_error(r, "invalid", "api_key"), hex(bad));
  }
  BOOST_TEST(count_of(alice, e1) == before);
  BOOST_TEST(upstream.request_count() == 0u);
}

// A key stored before the check (or an access token from an authorization
// server) that no header can carry: -32003, never a request without it.
BOOST_FIXTURE_TEST_CASE(an_unusable_stored_key_takes_the_reauth_path, proxy_edges) {
  install_it();
  // Replace the stored key with one holding CR LF, sealed as the daemon seals.
  const auto ring = mcpgate::auth::key_ring::from_files({(data_dir() / "secret.key").string()}, false);
  BOOST_TEST_REQUIRE(ring.has_value());
  const std::string sealed = ring->seal("good\r\nX-Injected: 1", "installation:" + id + ":api_key");
  BOOST_TEST_REQUIRE(gateway_db(data_dir(), gateway_db::access::read_write)
                         .execute("UPDATE installation_secrets SET sealed = ?1 WHERE installation_id = ?2",
                                  {db_blob{sealed}, id}) == 1);
  // The cache learns of the change with the next write through the API.
  BOOST_TEST_REQUIRE(alice.patch(item_of(e1, id), json::object{{"description", "x"}}).status == 200u);

  const reply r = rpc(R"({"jsonrpc":"2.0","id":5,"method":"tools/list"})");
  BOOST_TEST_REQUIRE(r.status == 200u, r);
  BOOST_TEST(r.json().at("error").at("code") == json::value(-32003), r);
  BOOST_TEST(string_of(r.json().at("error").at("data"), "reason") ==
             "The stored credential cannot be sent in an HTTP header");
  BOOST_TEST(alice.send("GET", proxy_path(e1, id)).status == 409u);
  BOOST_TEST(upstream.request_count() == 0u);
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------
// Storage that fails under the daemon: a file size limit (prlimit on the
// running daemon) makes every write that grows a file fail as a full disk
// would, without privileges.
BOOST_AUTO_TEST_SUITE(hardening_storage)

BOOST_FIXTURE_TEST_CASE(a_full_disk_is_503_storage_full_and_readyz_recovers_by_itself, proxy_edges) {
  install_it();
  const std::string pid = std::to_string(process().pid());
  const auto limit = [&](const std::string& value) {
    const command_result r = run_command({"/usr/bin/prlimit", "--pid", pid, "--fsize=" + value});
    BOOST_TEST_REQUIRE(r.exit_code == 0, r);
  };
  limit("1:");  // soft limit 1 byte: no file can grow
  const reply full = alice.post(e1, json::object{{"url", "http://127.0.0.1:9/full"}, {"auth_type", "none"}});
  BOOST_TEST(is_error(full, 503, "server_error", "storage_full"), full);
  BOOST_TEST(string_of(full.json(), "detail") == "The change was not saved: storage full.");
  BOOST_TEST(full.header("Retry-After") == "5");
  const reply not_ready = anonymous().get("/readyz");
  BOOST_TEST(not_ready.status == 503u, not_ready);
  BOOST_TEST(string_of(not_ready.json(), "reason") == "storage full", not_ready);
  // Reads and the proxy go on.
  BOOST_TEST(alice.get(e1).status == 200u);
  BOOST_TEST(rpc(R"({"jsonrpc":"2.0","id":1,"method":"ping"})").status == 200u);

  limit("unlimited:");
  const auto deadline = steady::now() + io_deadline;
  unsigned status = 0;
  while ((status = anonymous().get("/readyz").status) != 200u && steady::now() < deadline) {
  }
  BOOST_TEST(status == 200u);
  BOOST_TEST(alice.post(e1, json::object{{"url", "http://127.0.0.1:9/after"}, {"auth_type", "none"}}).status == 201u);
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------
// Fairness and overload: rate limits from the YAML (reloadable), and the
// caps above which new work is shed before memory grows.
namespace {

gateway_options with(std::string extra_yaml, std::string extra_limits = "") {
  gateway_options o = proxy_options();
  o.extra_yaml = std::move(extra_yaml);
  o.extra_limits = std::move(extra_limits);
  return o;
}

struct limited : gateway {
  explicit limited(gateway_options o) : gateway(std::move(o)), key(create_key("alice", "*")), alice(client(key)) {}
  api_key key;
  api_client alice;
};

}  // namespace

BOOST_AUTO_TEST_SUITE(hardening_limits)

BOOST_AUTO_TEST_CASE(an_installation_over_its_rate_gets_429_with_retry_after) {
  limited gw(with("rate_limits: { per_installation: { requests_per_second: 0.1, burst: 2 } }\n"));
  fake_upstream upstream;
  const std::string id = install(gw.alice, upstream, upstream.url("/mcp"), "none");
  const std::string ping = R"({"jsonrpc":"2.0","id":1,"method":"ping"})";
  BOOST_TEST(gw.alice.send("POST", proxy_path(e1, id), ping, json_headers).status == 200u);
  BOOST_TEST(gw.alice.send("POST", proxy_path(e1, id), ping, json_headers).status == 200u);
  const reply third = gw.alice.send("POST", proxy_path(e1, id), ping, json_headers);
  BOOST_TEST(is_proxy_error(third, 429, "Rate limit exceeded for this installation"), third);
  const int retry = std::stoi("0" + third.header("Retry-After"));
  BOOST_TEST(retry >= 1);
  BOOST_TEST(retry <= 10);
  BOOST_TEST(upstream.request_count() == 2u);
  // Another installation has its own bucket.
  const std::string other = install(gw.alice, upstream, upstream.url("/other"), "none");
  BOOST_TEST(gw.alice.send("POST", proxy_path(e1, other), ping, json_headers).status == 200u);
  const reply metrics = gw.anonymous().get("/metrics");
  BOOST_TEST(metrics.body.find("mcpgate_shed_requests_total{reason=\"installation_rate\"} 1") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_key_rate_is_off_by_default_and_follows_a_reload) {
  limited gw(with(""));
  for (int i = 0; i < 20; ++i) BOOST_TEST_REQUIRE(gw.alice.get(e1).status == 200u);
  // Turned on by a reload: the management API throttles as DRF does.
  write_file(gw.config_path(),
             config_yaml(gw.data_dir(), with("rate_limits: { per_key: { requests_per_second: 0.1, burst: 1 } }\n")));
  gw.process().send_signal(SIGHUP);
  BOOST_TEST_REQUIRE(gw.process().wait_for_stderr("config reload #1 applied", io_deadline));
  BOOST_TEST(gw.alice.get(e1).status == 200u);
  const reply throttled = gw.alice.get(e1);
  BOOST_TEST(is_error(throttled, 429, "throttled_error", "throttled"), throttled);
  BOOST_TEST(string_of(throttled.json(), "detail").starts_with("Request was throttled. Expected available in "));
  BOOST_TEST(!throttled.header("Retry-After").empty());
  // Another key is not throttled.
  api_client bob = gw.client(gw.create_key("bob", "*"));
  BOOST_TEST(bob.get(e1).status == 200u);
  // And turned off again.
  write_file(gw.config_path(), config_yaml(gw.data_dir(), with("")));
  gw.process().send_signal(SIGHUP);
  BOOST_TEST_REQUIRE(gw.process().wait_for_stderr("config reload #2 applied", io_deadline));
  BOOST_TEST(gw.alice.get(e1).status == 200u);
}

// max_upstream_requests: 1: with one call in flight, the next is shed.
BOOST_AUTO_TEST_CASE(beyond_the_upstream_cap_new_work_is_shed_with_503) {
  limited gw(with("", "max_upstream_requests: 1"));
  fake_upstream upstream;
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  std::atomic<int> arrived{0};
  const std::string id = install(gw.alice, upstream, upstream.url("/mcp"), "none");
  upstream.on_request([&](fake_exchange& ex) {
    ++arrived;
    std::unique_lock lock(mu);
    cv.wait_for(lock, io_deadline, [&] { return release; });
    ex.respond_json(200, R"({"jsonrpc":"2.0","id":1,"result":{}})");
  });
  agent_stream first(gw.port());
  BOOST_TEST_REQUIRE(first.send(raw_request("POST", proxy_path(e1, id), gw.port(), gw.key.secret, json_headers,
                                            R"({"jsonrpc":"2.0","id":1,"method":"ping"})")));
  BOOST_TEST_REQUIRE(upstream.wait_for_requests(1, io_deadline));
  const reply shed = gw.alice.send("POST", proxy_path(e1, id), R"({"jsonrpc":"2.0","id":2,"method":"ping"})",
                                   json_headers);
  BOOST_TEST(is_proxy_error(shed, 503, "The gateway is overloaded; try again shortly"), shed);
  BOOST_TEST(shed.header("Retry-After") == "1");
  {
    std::lock_guard lock(mu);
    release = true;
  }
  cv.notify_all();
  const auto head = first.read_head();
  BOOST_TEST_REQUIRE(head.has_value());
  BOOST_TEST(head->status == 200u);
  BOOST_TEST(arrived.load() == 1);
  // The slot is back.
  BOOST_TEST(gw.alice.send("POST", proxy_path(e1, id), R"({"jsonrpc":"2.0","id":3,"method":"ping"})", json_headers)
                 .status == 200u);
}

// max_buffered_bytes: 128 KiB: an answer bigger than what is left, or a
// request body, is shed with 503 before it is held.
BOOST_AUTO_TEST_CASE(bodies_over_the_memory_budget_are_shed_with_503) {
  gateway_options o = with("", "max_buffered_bytes: 131072");
  o.max_body_bytes = 1048576;
  limited gw(o);
  fake_upstream upstream;
  const std::string id = install(gw.alice, upstream, upstream.url("/mcp"), "none");
  const std::string big = R"({"jsonrpc":"2.0","id":1,"result":{"pad":")" + std::string(300 * 1024, 'x') + "\"}}";
  upstream.on_request([&](fake_exchange& ex) {
    if (ex.request().body.find("\"big\"") != std::string::npos) {
      ex.respond_json(200, big);
    } else {
      ex.respond_json(200, R"({"jsonrpc":"2.0","id":1,"result":{}})");
    }
  });
  const reply shed = gw.alice.send("POST", proxy_path(e1, id), R"({"jsonrpc":"2.0","id":1,"method":"big"})",
                                   json_headers);
  BOOST_TEST(is_proxy_error(shed, 503, "The gateway is overloaded; try again shortly"), shed);
  BOOST_TEST(shed.header("Retry-After") == "1");
  // A request body over the budget (within max_body_bytes): shed, closed.
  const std::string padded = R"({"jsonrpc":"2.0","id":2,"method":"ping","params":{"pad":")" +
                             std::string(200 * 1024, 'y') + "\"}}";
  const reply body_shed = gw.alice.send("POST", proxy_path(e1, id), padded, json_headers);
  BOOST_TEST(is_proxy_error(body_shed, 503, "The gateway is overloaded; try again shortly"), body_shed);
  // What fits still works, and nothing stays held.
  gw.alice.disconnect();
  BOOST_TEST(gw.alice.send("POST", proxy_path(e1, id), R"({"jsonrpc":"2.0","id":3,"method":"ping"})", json_headers)
                 .status == 200u);
  const reply metrics = gw.anonymous().get("/metrics");
  // The answer (shed by the proxy) and the body (by the server).
  BOOST_TEST(metrics.body.find("mcpgate_shed_requests_total{reason=\"memory\"} 2") != std::string::npos, metrics.body);
}

BOOST_AUTO_TEST_SUITE_END()

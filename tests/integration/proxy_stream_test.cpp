// The proxy endpoint, streaming side: SSE relayed event by event as the
// upstream sends it, the agent's disconnect closing the upstream request,
// GET (Last-Event-ID, an upstream's 405) and DELETE passed through,
// backpressure from a slow agent to the upstream, and the per-installation
// stream cap.
#include "fake_upstream.hpp"

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <utility>

using namespace mcpgate::it;

namespace {

const header_list post_headers{{"Content-Type", "application/json"}, {"Accept", "application/json, text/event-stream"}};
std::string progress_event(int i) {
  return "id: " + std::to_string(i) +
         "\nevent: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":"
         "{\"progressToken\":\"t\",\"progress\":" +
         std::to_string(i) + "}}\n\n";
}

// Event i of the backpressure stream: about 16 KiB, its content derived
// from i so that a lost, repeated or reordered byte shows.
std::string bulk_event(std::size_t i) {
  std::string data(16'000, static_cast<char>('a' + i % 26));
  const std::string mark = std::to_string(i);
  data.replace(0, mark.size(), mark);
  return "id: " + std::to_string(i) + "\ndata: " + data + "\n\n";
}

std::size_t bulk_event_size(std::size_t i) {
  return std::string_view("id: \ndata: \n\n").size() + std::to_string(i).size() + 16'000;  // bulk_event(i).size()
}

struct two_streams_gateway : gateway {
  two_streams_gateway()
      : gateway([] {
          gateway_options o = proxy_options();
          o.extra_limits = "max_streams_per_installation: 2";
          return o;
        }()) {}
};

// Lets the upstream's handler thread wait for what the test's thread saw:
// the test allows a count (events the agent holds), the handler waits until
// that count is reached. close() makes every wait return false at once, so
// that a test failing half way leaves no handler waiting out its deadline
// (see gate_closer).
class step_gate {
 public:
  void allow(int n) {
    {
      std::lock_guard lock(mu_);
      allowed_ = std::max(allowed_, n);
    }
    changed_.notify_all();
  }
  // True once allow(n) or more was called; false after `within`, or once closed.
  bool wait(int n, std::chrono::milliseconds within) {
    std::unique_lock lock(mu_);
    changed_.wait_for(lock, within, [&] { return closed_ || allowed_ >= n; });
    return !closed_ && allowed_ >= n;
  }
  void close() {
    {
      std::lock_guard lock(mu_);
      closed_ = true;
    }
    changed_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable changed_;
  int allowed_ = 0;      // guarded by mu_
  bool closed_ = false;  // guarded by mu_
};

// Closes a step_gate when the test ends, passed or not. Declared after the
// fake_upstream (and the gate before it): it goes first, so the handler stops
// waiting before the upstream joins its thread.
struct gate_closer {
  step_gate& gate;
  ~gate_closer() { gate.close(); }
};

// Holds a GET stream open: the head, then a comment every 200 ms until the
// gateway goes away.
void hold_stream(fake_exchange& ex) {
  if (!ex.start_chunked(200, {{"Content-Type", "text/event-stream"}})) return;
  while (ex.pause(std::chrono::milliseconds(200))) {
    if (!ex.write_chunk(": keep-alive\n\n")) return;
  }
}

}  // namespace

// ---------------------------------------------------------------------------
BOOST_FIXTURE_TEST_SUITE(proxy_streaming, proxy_gateway)

BOOST_AUTO_TEST_CASE(sse_events_reach_the_agent_as_the_upstream_sends_them) {
  // Declared before the upstream, whose handler thread uses them.
  std::mutex mu;
  std::vector<steady::time_point> sent;  // guarded by mu: when event i was handed to the kernel
  step_gate agent_holds;                 // how many events the agent has received
  constexpr int events = 5;
  fake_upstream upstream;
  const gate_closer closer{agent_holds};
  upstream.on_request([&](fake_exchange& ex) {
    if (!ex.start_chunked(200, {{"Content-Type", "text/event-stream"}, {"Mcp-Session-Id", "stream-session"}})) return;
    for (int i = 0; i < events; ++i) {
      // Event i is written only once the agent holds event i - 1: a gateway
      // that held an event back (until more bytes, or the end) would never
      // deliver it, and the test fails at the deadline, however fast or slow
      // the machine.
      if (i > 0 && !agent_holds.wait(i, io_deadline)) return;
      if (!ex.write_chunk(progress_event(i))) return;
      std::lock_guard lock(mu);
      sent.push_back(steady::now());
    }
    ex.end_chunked();
  });
  const api_key key = create_key("alice", "*");
  auto alice = client(key);
  const std::string id = install(alice, upstream, upstream.url(), "api_key", "k");

  agent_stream agent(port());
  BOOST_TEST_REQUIRE(
      agent.send(raw_request("POST", proxy_path(e1, id), port(), key.secret, post_headers,
                             R"({"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"x"}})")));
  const auto head = agent.read_head();
  BOOST_TEST_REQUIRE(head.has_value());
  BOOST_TEST(head->status == 200u);
  BOOST_TEST(head->header("Content-Type").starts_with("text/event-stream"), *head);
  BOOST_TEST(head->header("Cache-Control").find("no-cache") != std::string::npos, *head);
  BOOST_TEST(head->header("X-Accel-Buffering") == "no", *head);
  BOOST_TEST(head->header("Mcp-Session-Id") == "stream-session", *head);

  std::vector<steady::time_point> arrived;
  for (int i = 0; i < events; ++i) {
    const auto event = agent.next_event();
    BOOST_TEST_REQUIRE(event.has_value(),
                       "event " << i << " did not arrive (the upstream sends nothing more until it does)");
    BOOST_TEST(event->text == progress_event(i));
    arrived.push_back(event->arrived);
    agent_holds.allow(i + 1);
  }
  const auto rest = agent.read_rest();
  BOOST_TEST_REQUIRE(rest.has_value(), "the relayed stream did not end");
  BOOST_TEST(rest->empty(), "after the events: " << *rest);

  std::lock_guard lock(mu);
  BOOST_TEST_REQUIRE(sent.size() == static_cast<std::size_t>(events));
  for (int i = 0; i < events; ++i) {
    BOOST_TEST_MESSAGE(
        "sse: event " << i << " reached the agent "
                      << std::chrono::duration_cast<std::chrono::microseconds>(arrived[i] - sent[i]).count()
                      << " us after the upstream sent it");
  }
  // The order the gate enforces: each event reached the agent before the
  // upstream sent the next.
  for (int i = 0; i + 1 < events; ++i) {
    BOOST_TEST((arrived[i] < sent[i + 1]),
               "event " << i << " reached the agent after the upstream sent event " << i + 1);
  }
}

BOOST_AUTO_TEST_CASE(the_agent_closing_its_stream_closes_the_upstream_request) {
  fake_upstream upstream;
  upstream.on_request(hold_stream);
  const api_key key = create_key("alice", "*");
  auto alice = client(key);
  const std::string id = install(alice, upstream, upstream.url(), "api_key", "k");

  agent_stream agent(port());
  BOOST_TEST_REQUIRE(agent.send(raw_request("GET", proxy_path(e1, id), port(), key.secret, sse_headers)));
  const auto head = agent.read_head();
  BOOST_TEST_REQUIRE(head.has_value());
  BOOST_TEST(head->status == 200u, *head);
  BOOST_TEST_REQUIRE(upstream.wait_for_requests(1, io_deadline));
  const recorded_request got = upstream.requests().at(0);
  BOOST_TEST(got.method == "GET");
  BOOST_TEST(got.header("Accept").value_or("").find("text/event-stream") != std::string::npos, got);

  // Cause and effect: the upstream's connection is open while the agent
  // stays, and closes once the agent left. io_deadline only ends a hang.
  for (const auto& e : upstream.events()) {
    BOOST_TEST_REQUIRE(!(e.kind == connection_event_kind::peer_closed && e.connection == got.connection),
                       "the upstream connection closed while the agent was still there");
  }
  const auto closed_at = steady::now();
  agent.close();
  const auto event = upstream.wait_for_event(connection_event_kind::peer_closed, got.connection, io_deadline);
  BOOST_TEST_REQUIRE(event.has_value(), "the upstream connection stayed open after the agent left");
  BOOST_TEST((event->at >= closed_at), "the upstream connection closed before the agent left");
  const auto after = std::chrono::duration_cast<std::chrono::milliseconds>(event->at - closed_at).count();
  BOOST_TEST_MESSAGE("disconnect: the upstream saw its connection closed " << after << " ms after the agent left");
}

BOOST_AUTO_TEST_CASE(get_passes_last_event_id_and_the_stream) {
  fake_upstream upstream;
  upstream.on_request([](fake_exchange& ex) {
    if (!ex.start_chunked(200, {{"Content-Type", "text/event-stream"}})) return;
    if (!ex.write_chunk("id: evt-42\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\"}\n\n")) return;
    ex.end_chunked();
  });
  const api_key key = create_key("alice", "*");
  auto alice = client(key);
  const std::string id = install(alice, upstream, upstream.url(), "api_key", "k");
  const reply r = alice.send("GET", proxy_path(e1, id), "",
                             {{"Accept", "text/event-stream"}, {"Last-Event-ID", "evt-41"}, {"Mcp-Session-Id", "s1"}});
  BOOST_TEST(r.status == 200u, r);
  BOOST_TEST(r.header("Content-Type").starts_with("text/event-stream"), r);
  BOOST_TEST(r.body == "id: evt-42\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\"}\n\n");
  BOOST_TEST_REQUIRE(upstream.wait_for_requests(1, io_deadline));
  const recorded_request got = upstream.requests().at(0);
  BOOST_TEST(got.method == "GET");
  BOOST_TEST(got.header("Last-Event-ID").value_or("<absent>") == "evt-41", got);
  BOOST_TEST(got.header("Mcp-Session-Id").value_or("<absent>") == "s1", got);
  BOOST_TEST(got.header("Authorization").value_or("<absent>") == "Bearer k", got);
  BOOST_TEST(got.body.empty());
}

BOOST_AUTO_TEST_CASE(an_upstream_405_on_get_passes_through) {
  fake_upstream upstream;
  upstream.on_request([](fake_exchange& ex) {
    ex.respond(405, {{"Allow", "POST, DELETE"}, {"Content-Type", "text/plain"}}, "no SSE stream here");
  });
  auto alice = client(create_key("alice", "*"));
  const std::string id = install(alice, upstream, upstream.url(), "none");
  const reply r = alice.send("GET", proxy_path(e1, id), "", sse_headers);
  BOOST_TEST(r.status == 405u, r);
  BOOST_TEST(upstream.request_count() == 1u);
}

BOOST_AUTO_TEST_CASE(delete_passes_the_session_and_the_upstreams_status) {
  fake_upstream upstream;
  upstream.on_request([](fake_exchange& ex) {
    const bool known = ex.request().header("Mcp-Session-Id").value_or("") == "live-session";
    ex.respond(known ? 204 : 404, {}, "");
  });
  auto alice = client(create_key("alice", "*"));
  const std::string id = install(alice, upstream, upstream.url(), "api_key", "k");
  const reply ended = alice.send("DELETE", proxy_path(e1, id), "", {{"Mcp-Session-Id", "live-session"}});
  BOOST_TEST(ended.status == 204u, ended);
  const reply unknown = alice.send("DELETE", proxy_path(e1, id), "", {{"Mcp-Session-Id", "gone-session"}});
  BOOST_TEST(unknown.status == 404u, unknown);
  BOOST_TEST_REQUIRE(upstream.wait_for_requests(2, io_deadline));
  const auto got = upstream.requests();
  BOOST_TEST(got.at(0).method == "DELETE");
  BOOST_TEST(got.at(0).header("Mcp-Session-Id").value_or("<absent>") == "live-session", got.at(0));
  BOOST_TEST(got.at(0).header("Authorization").value_or("<absent>") == "Bearer k", got.at(0));
  BOOST_TEST(got.at(1).header("Mcp-Session-Id").value_or("<absent>") == "gone-session", got.at(1));
}

BOOST_AUTO_TEST_CASE(a_slow_agent_stalls_the_upstream_instead_of_filling_the_gateways_memory) {
  constexpr std::size_t total_events = 1536;  // about 24 MiB
  constexpr std::size_t stall_limit = 16u << 20;
  // Small kernel buffers at both ends, so what piles up is the gateway's.
  std::atomic<bool> finished{false};  // before the upstream, whose handler thread sets it
  fake_upstream upstream(fake_upstream_options{.send_buffer = 64 * 1024});
  upstream.on_request([&](fake_exchange& ex) {
    if (!ex.start_chunked(200, {{"Content-Type", "text/event-stream"}})) return;
    for (std::size_t i = 0; i < total_events; ++i) {
      if (!ex.write_chunk(bulk_event(i))) return;
    }
    if (ex.end_chunked()) finished = true;
  });
  const api_key key = create_key("alice", "*");
  auto alice = client(key);
  const std::string id = install(alice, upstream, upstream.url(), "none");
  const std::uint64_t rss_before = resident_bytes(process().pid());

  agent_stream agent(port(), 64 * 1024);
  BOOST_TEST_REQUIRE(agent.send(raw_request("GET", proxy_path(e1, id), port(), key.secret, sse_headers)));
  const auto head = agent.read_head();
  BOOST_TEST_REQUIRE(head.has_value());
  BOOST_TEST_REQUIRE(head->status == 200u, *head);

  // The agent reads nothing more: the upstream's writes must block.
  const auto stall_start = steady::now();
  const bool blocked = upstream.wait_for_blocked_write(std::chrono::seconds(1), std::chrono::seconds(30));
  const std::uint64_t sent_while_stalled = upstream.body_bytes_sent();
  const std::uint64_t rss_stalled = resident_bytes(process().pid());
  BOOST_TEST(blocked, "the upstream never blocked; it wrote " << sent_while_stalled << " bytes");
  BOOST_TEST(sent_while_stalled < stall_limit,
             "the upstream wrote " << sent_while_stalled << " bytes while the agent read nothing");
  BOOST_TEST_MESSAGE("backpressure: upstream blocked after "
                     << ms_since(stall_start) << " ms and " << (sent_while_stalled >> 10) << " KiB; gateway RSS "
                     << (rss_before >> 20) << " MiB -> " << (rss_stalled >> 20) << " MiB");
  BOOST_TEST(rss_stalled < rss_before + (100u << 20),
             "gateway RSS grew from " << (rss_before >> 20) << " MiB to " << (rss_stalled >> 20) << " MiB");

  // Now the agent reads everything, and gets every byte in order.
  std::string expected;
  std::size_t next_event = 0;
  std::uint64_t received = 0;
  std::string piece;
  const auto read_start = steady::now();
  const auto deadline = read_start + std::chrono::seconds(60);
  for (;;) {
    piece.clear();
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now());
    const auto status = agent.read_body(piece, std::max(left, std::chrono::milliseconds(1)));
    if (status == agent_stream::read_status::end) break;
    BOOST_TEST_REQUIRE((status == agent_stream::read_status::data),
                       "the stream broke off after "
                           << received << " bytes (status " << static_cast<int>(status) << ")");
    while (expected.size() < piece.size() && next_event < total_events) expected += bulk_event(next_event++);
    BOOST_TEST_REQUIRE(expected.compare(0, piece.size(), piece) == 0,
                       "bytes differ within " << received << " .. " << received + piece.size());
    expected.erase(0, piece.size());
    received += piece.size();
  }
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < total_events; ++i) total += bulk_event_size(i);
  BOOST_TEST_MESSAGE("backpressure: the agent read "
                     << (received >> 20) << " MiB in " << ms_since(read_start) << " ms, in chunks of "
                     << received / std::max<std::uint64_t>(1, agent.chunks_received()) << " bytes on average");
  BOOST_TEST(received == total);
  BOOST_TEST(expected.empty());
  BOOST_TEST(next_event == total_events);
  BOOST_TEST(finished.load());
}

BOOST_AUTO_TEST_SUITE_END()

// ---------------------------------------------------------------------------
BOOST_FIXTURE_TEST_SUITE(proxy_stream_cap, two_streams_gateway)

namespace {

// Two GET streams held open on one installation; the tests then try a third
// request. The upstream answers a POST that gets through at once.
struct capped_installation {
  explicit capped_installation(gateway& gw) : gw_(gw), key_(gw.create_key("alice", "*")) {
    upstream.on_request([](fake_exchange& ex) {
      if (ex.request().method == "GET") return hold_stream(ex);
      ex.respond_json(200, R"({"jsonrpc":"2.0","id":1,"result":{}})");
    });
    auto alice = gw.client(key_);
    id_ = install(alice, upstream, upstream.url(), "none");
    for (auto* s : {&first_, &second_}) {
      auto [stream, head] = open("GET");
      BOOST_TEST_REQUIRE(head.status == 200u, head);
      *s = std::move(stream);
    }
    BOOST_TEST_REQUIRE(upstream.wait_for_requests(2, io_deadline));
  }

  std::pair<std::unique_ptr<agent_stream>, reply> open(std::string_view method) {
    auto s = std::make_unique<agent_stream>(gw_.port());
    const std::string target = proxy_path(e1, id_);
    BOOST_TEST_REQUIRE(s->send(method == "GET" ? raw_request("GET", target, gw_.port(), key_.secret, sse_headers)
                                               : raw_request("POST", target, gw_.port(), key_.secret, post_headers,
                                                             R"({"jsonrpc":"2.0","id":1,"method":"ping"})")));
    auto head = s->read_head();
    BOOST_TEST_REQUIRE(head.has_value(), method << ": no response head");
    return {std::move(s), *head};
  }

  fake_upstream upstream;

 private:
  gateway& gw_;
  api_key key_;
  std::string id_;
  std::unique_ptr<agent_stream> first_, second_;
};

}  // namespace

BOOST_AUTO_TEST_CASE(a_get_stream_over_the_per_installation_cap_is_429) {
  capped_installation capped(*this);
  auto [third, head] = capped.open("GET");
  BOOST_TEST(head.status == 429u, head);
  BOOST_TEST(capped.upstream.request_count() == 2u);
}

// The contract (and config.hpp's comment on max_streams_per_installation)
// caps concurrent proxied *requests*, SSE streams included.
BOOST_AUTO_TEST_CASE(a_post_while_the_cap_is_reached_is_429) {
  capped_installation capped(*this);
  auto [post, head] = capped.open("POST");
  BOOST_TEST(head.status == 429u, head);
  BOOST_TEST(capped.upstream.request_count() == 2u);
}

BOOST_AUTO_TEST_SUITE_END()

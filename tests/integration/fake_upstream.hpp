// The two ends of a proxied exchange that the harness does not have:
//
// fake_upstream: an in-process HTTP/1.1 server on loopback (port 0) playing an
// upstream MCP server. Each test scripts it with one handler that sees every
// request and answers it (JSON, a chunked SSE stream written at the pace the
// handler chooses, nothing at all, or a closed connection). It records every
// request it received and what happened to its connections, and tests wait
// for those records on a condition variable with a deadline.
//
// agent_stream: an agent's raw connection to the gateway that reads the
// response head, then the body piece by piece (de-chunked) or event by event,
// noting when each piece arrived.
//
// And the proxy tests' shorthands: a gateway that lets the proxy reach a
// loopback upstream, installing one, proxy paths, the proxy's error body.
//
// Thread-safety: fake_upstream runs an accept thread and one thread per
// connection; its public functions may be called from any thread. The
// handler runs on the connection's thread, one request at a time per
// connection; a fake_exchange belongs to that thread. agent_stream
// belongs to the test's thread. Nothing here sleeps to synchronise: reads and
// waits poll() with deadlines; fake_exchange::pause() is the upstream's own
// pacing between the events it sends, and it returns early when the peer goes.
#pragma once

#include "harness.hpp"

#include <boost/test/tools/assertion_result.hpp>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace mcpgate::it {

struct recorded_request {
  int connection = 0;  // 1, 2, ... in accept order
  std::string method;
  std::string target;
  header_list headers;  // as received, in order
  std::string body;     // de-chunked
  steady::time_point at;

  // The first header named `name` (case-insensitive); nullopt when absent.
  std::optional<std::string> header(std::string_view name) const;
  std::size_t header_count(std::string_view name) const;
};
std::ostream& operator<<(std::ostream& os, const recorded_request& r);

enum class connection_event_kind {
  accepted,
  // The peer (the gateway) closed or reset the connection: seen as EOF or an
  // error on read, or a failed write.
  peer_closed,
};

struct connection_event {
  int connection = 0;
  connection_event_kind kind = connection_event_kind::accepted;
  steady::time_point at;
};

class fake_upstream;

// One request being answered. Every write blocks until the kernel took the
// bytes (or fails once the peer is gone or the server stops).
class fake_exchange {
 public:
  const recorded_request& request() const { return request_; }

  // A whole response with Content-Length. Header names are written as given.
  bool respond(unsigned status, const header_list& headers, std::string_view body);
  // respond() with Content-Type: application/json plus `extra`.
  bool respond_json(unsigned status, std::string_view body, const header_list& extra = {});
  // The head of a chunked response (Transfer-Encoding: chunked is added).
  bool start_chunked(unsigned status, const header_list& headers);
  // One chunk (nothing is written for an empty `data`); false when the write
  // failed. Body bytes the kernel accepted are counted in
  // fake_upstream::body_bytes_sent().
  bool write_chunk(std::string_view data);
  // The last chunk; the connection may then serve another request.
  bool end_chunked();
  // The upstream's pause between two things it sends: waits `period`; returns
  // false early when the peer closes the connection or the server stops.
  bool pause(std::chrono::milliseconds period);
  // Sends nothing and waits for the peer to close the connection: true when
  // it did within `within`.
  bool wait_for_peer_close(std::chrono::milliseconds within);
  // Ends the exchange by closing the connection without (more of) an answer.
  void close_connection() { close_ = true; }

 private:
  friend class fake_upstream;
  fake_exchange(fake_upstream& server, int fd, int connection, recorded_request request)
      : server_(server), fd_(fd), connection_(connection), request_(std::move(request)) {}
  bool send_all(std::string_view bytes, bool count_as_body);
  bool wait_for_close_until(steady::time_point deadline, bool& closed);

  fake_upstream& server_;
  int fd_;
  int connection_;
  recorded_request request_;
  bool responded_ = false;
  bool close_ = false;
  bool failed_ = false;
};

struct fake_upstream_options {
  std::string bind_address = "127.0.0.1";  // or "::1"
  // SO_SNDBUF for accepted connections (0: the kernel's default): keeps the
  // kernel's own buffering small in the backpressure test.
  int send_buffer = 0;
};

class fake_upstream {
 public:
  using handler = std::function<void(fake_exchange&)>;

  // Listens on bind_address, port 0, with answer_default as the handler.
  explicit fake_upstream(fake_upstream_options options = {});
  // Stops accepting, shuts every connection down (which ends blocked writes
  // and pauses), joins the threads.
  ~fake_upstream();
  fake_upstream(const fake_upstream&) = delete;
  fake_upstream& operator=(const fake_upstream&) = delete;

  std::uint16_t port() const { return port_; }
  // "http://127.0.0.1:PORT" (brackets for IPv6).
  std::string base_url() const;
  // base_url() + path.
  std::string url(std::string_view path = "/mcp") const;

  // The default handler: answers every request 200
  // {"jsonrpc":"2.0","id":1,"result":{}}.
  static void answer_default(fake_exchange& ex);

  // Replaces the handler for requests that arrive from now on.
  void on_request(handler h);
  // on_request(h), and the handler it replaced.
  handler replace_handler(handler h);

  // Forgets every recorded request and connection event, and counts accepted
  // connections from 0 again (the next one is connection 1). For the traffic
  // of an install's tools sync, which the test did not ask for. A connection
  // that is still open keeps its old number, so a test that looks at
  // connection numbers clears only once the earlier connections are closed
  // (install() below sees to that).
  void clear_records();

  std::vector<recorded_request> requests() const;
  std::size_t request_count() const;
  // True once at least n requests were received; false at the deadline.
  bool wait_for_requests(std::size_t n, std::chrono::milliseconds within) const;
  std::vector<connection_event> events() const;
  // The first event of this kind on this connection (connection 0: any
  // connection), waiting up to `within` for it.
  std::optional<connection_event> wait_for_event(connection_event_kind kind, int connection,
                                                 std::chrono::milliseconds within) const;
  int connections_accepted() const;

  // Body bytes of chunked responses that the kernel accepted, all
  // connections together.
  std::uint64_t body_bytes_sent() const { return body_bytes_sent_.load(); }
  // True once one write has been blocked (not completed) for at least
  // `blocked_for`; false when `within` passes first.
  bool wait_for_blocked_write(std::chrono::milliseconds blocked_for, std::chrono::milliseconds within) const;

 private:
  friend class fake_exchange;
  void accept_loop();
  void serve(int fd, int connection);
  void record_event(int connection, connection_event_kind kind);
  // A write of the exchange on `connection` starts (true) or ends (false).
  void note_write(int connection, bool started);

  // Constant after construction.
  fake_upstream_options options_;
  int listen_fd_ = -1;
  int stop_fd_ = -1;  // eventfd, readable once stopping
  std::uint16_t port_ = 0;
  std::thread acceptor_;

  std::atomic<std::uint64_t> body_bytes_sent_{0};
  std::atomic<bool> stopping_{false};

  mutable std::mutex mu_;
  mutable std::condition_variable changed_;
  handler handler_;                                  // guarded by mu_
  std::vector<recorded_request> requests_;           // guarded by mu_
  std::vector<connection_event> events_;             // guarded by mu_
  std::set<int> open_fds_;                           // guarded by mu_
  std::vector<std::thread> connection_threads_;      // guarded by mu_
  std::map<int, steady::time_point> writing_since_;  // guarded by mu_: connection -> start of its write
  int accepted_ = 0;                                 // guarded by mu_
};

// A chunked-transfer decoder fed with raw body bytes.
class chunked_decoder {
 public:
  // Appends the decoded part of `in` to `out`; false on a framing error.
  bool feed(std::string_view in, std::string& out);
  bool done() const { return state_ == state::done; }
  // Chunks with data seen so far.
  std::uint64_t chunks() const { return chunks_; }

 private:
  enum class state { size, size_ext, size_lf, data, data_cr, data_lf, trailer, trailer_lf, done };
  state state_ = state::size;
  std::uint64_t remaining_ = 0;
  bool size_digits_ = false;
  bool trailer_empty_ = true;
  std::uint64_t chunks_ = 0;
};

// The agent's side of one request through the gateway, read incrementally.
class agent_stream {
 public:
  // Connects to 127.0.0.1:port. receive_buffer > 0 sets SO_RCVBUF before
  // connecting (small windows for the backpressure test).
  explicit agent_stream(std::uint16_t port, int receive_buffer = 0);
  ~agent_stream();
  agent_stream(const agent_stream&) = delete;
  agent_stream& operator=(const agent_stream&) = delete;

  bool send(std::string_view bytes);
  // The response head (status and headers; body empty); nullopt on EOF,
  // error or deadline.
  std::optional<reply> read_head(std::chrono::milliseconds within = io_deadline);

  enum class read_status { data, end, closed, timeout, error };
  // Waits for more body bytes and appends the decoded ones to `out` (data),
  // or reports the end of the body (end), EOF before it (closed), the
  // deadline (timeout) or a framing error.
  read_status read_body(std::string& out, std::chrono::milliseconds within = io_deadline);
  // The next complete SSE event (up to and including its blank line) and
  // when its last byte arrived; nullopt when the body ends or the deadline
  // passes first.
  struct event {
    std::string text;
    steady::time_point arrived;
  };
  std::optional<event> next_event(std::chrono::milliseconds within = io_deadline);
  // The whole rest of the body (until its end); nullopt when it does not end
  // within `within`.
  std::optional<std::string> read_rest(std::chrono::milliseconds within = io_deadline);

  void close();
  bool is_open() const { return fd_ >= 0; }
  // Data chunks of a chunked body received so far.
  std::uint64_t chunks_received() const { return chunks_.chunks(); }

 private:
  // Reads once into raw_; 0 on EOF, -1 on error, -2 at the deadline.
  long fill(steady::time_point deadline);
  read_status decode(std::string& out);

  int fd_ = -1;
  std::string raw_;               // received, not yet consumed
  std::string pending_;           // decoded body not yet returned as an event
  steady::time_point arrived_{};  // when the last body bytes arrived
  enum class framing { none, chunked, length, until_close } framing_ = framing::none;
  std::uint64_t remaining_ = 0;  // framing::length
  chunked_decoder chunks_;
  bool body_done_ = false;
};

// "POST /target HTTP/1.1" with Host 127.0.0.1:port, Authorization: Bearer
// secret (when not empty), `headers`, and Content-Length for the body.
std::string raw_request(std::string_view method, const std::string& target, std::uint16_t port,
                        const std::string& secret, const header_list& headers, std::string_view body = "");

// A TCP port on 127.0.0.1 that nothing listens on: bound, then closed.
std::uint16_t closed_port();

// Resident set size of a process in bytes (VmRSS); 0 when unknown.
std::uint64_t resident_bytes(pid_t pid);

// Proxy test shorthands ----------------------------------------------------------

// The proxy tests' gateway: private networks allowed (the upstream is on
// loopback), anything else as `options` says.
gateway_options proxy_options(gateway_options options = {});

struct proxy_gateway : gateway {
  proxy_gateway() : gateway(proxy_options()) {}
};

// install_custom in environment 1; the new installation's id. api_key is
// sent only for auth_type "api_key". The install runs a tools sync against
// the URL before answering 201; this overload is for a URL that no
// fake_upstream serves (a closed port), whose sync simply fails.
std::string install(api_client& client, const std::string& url, const std::string& auth_type,
                    const std::string& api_key = "");
// install() of an upstream that `upstream` serves, leaving it as the test
// scripted it: while the install runs, every request is answered 503 with
// "Connection: close" (the sync fails at once and leaves no connection open,
// the installation has no tools), then the test's handler is put back and the
// records are cleared, so the test sees only its own traffic and connections
// counted from 1.
std::string install(api_client& client, fake_upstream& upstream, const std::string& url, const std::string& auth_type,
                    const std::string& api_key = "");

// "/api/environments/1/mcp_server_installations/<id>/proxy" (+ "/").
std::string proxy_path(const std::string& collection, const std::string& installation_id, bool trailing_slash = true);

// status, Content-Type application/json, and a body that is exactly
// {"error": message} (or, with prefix, an "error" starting with message).
boost::test_tools::assertion_result is_proxy_error(const reply& r, unsigned status, std::string_view message,
                                                   bool prefix = false);

}  // namespace mcpgate::it

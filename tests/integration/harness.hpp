// The integration harness: the real mcpgate binary (MCPGATE_BINARY) in a child
// process, listening on port 0 with its own temporary data folder, and a small
// blocking HTTP/1.1 client on Beast whose every wait has a deadline.
//
// Nothing here sleeps to synchronise: the daemon's readiness is its banner on
// stdout, its exit is a pidfd becoming readable, a log line is waited for on a
// condition variable, and every socket operation runs under a Beast timeout.
//
// Thread-safety: every object belongs to the test that made it. The only
// other thread is daemon_process's drain thread, which appends the child's
// stdout/stderr to buffers guarded by a mutex.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <boost/test/tools/assertion_result.hpp>

#include <sys/types.h>

struct sqlite3;

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

namespace mcpgate::it {

namespace fs = std::filesystem;
namespace json = boost::json;
namespace http = boost::beast::http;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

// Deadlines, generous for a loaded 2-core machine under sanitizers; a test
// that passes never waits for one of them.
inline constexpr std::chrono::milliseconds startup_deadline = 30s;
inline constexpr std::chrono::milliseconds exit_deadline = 20s;
inline constexpr std::chrono::milliseconds command_deadline = 30s;
inline constexpr std::chrono::milliseconds io_deadline = 15s;

// A fresh folder under $TMPDIR (or /tmp), removed with everything in it.
class temp_dir {
 public:
  temp_dir();
  ~temp_dir();
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// The whole content of a file ("" when it does not exist).
std::string read_file(const fs::path& path);
void write_file(const fs::path& path, std::string_view text);

struct command_result {
  int exit_code = -1;  // -1 when killed by a signal or timed out
  bool timed_out = false;
  std::string out;
  std::string err;
};
std::ostream& operator<<(std::ostream& os, const command_result& r);

// Runs `args` (argv[0] a path) to completion, within `within`; a command
// still running then is killed and reported as timed_out.
command_result run_command(const std::vector<std::string>& args, std::chrono::milliseconds within = command_deadline);
// Runs the mcpgate binary with these arguments.
command_result run_mcpgate(std::vector<std::string> args);

// One child process with stdout and stderr captured.
class daemon_process {
 public:
  explicit daemon_process(const std::vector<std::string>& args);
  // Kills (SIGKILL) and reaps the child if it is still running.
  ~daemon_process();
  daemon_process(const daemon_process&) = delete;
  daemon_process& operator=(const daemon_process&) = delete;

  pid_t pid() const { return pid_; }
  void send_signal(int signo) const;
  // The line of stdout that starts with `prefix` (without the newline), once
  // it is complete; nullopt if the child closes stdout or the deadline passes.
  std::optional<std::string> wait_for_stdout_line(std::string_view prefix, std::chrono::milliseconds within);
  // True once stderr contains `needle`; false at the deadline or at EOF.
  bool wait_for_stderr(std::string_view needle, std::chrono::milliseconds within);
  // The child's wait status once it has exited; nullopt at the deadline.
  std::optional<int> wait_exit(std::chrono::milliseconds within);
  // SIGKILL and reap.
  void kill_hard();
  bool exited() const { return reaped_; }
  std::string out() const;
  std::string err() const;

 private:
  void drain();

  pid_t pid_ = -1;
  int pidfd_ = -1;
  int out_fd_ = -1;
  int err_fd_ = -1;
  bool reaped_ = false;
  std::thread drainer_;

  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::string out_;   // guarded by mu_
  std::string err_;   // guarded by mu_
  bool eof_ = false;  // guarded by mu_: both pipes closed
};

// "exit 0", "exit 3", "signal 9".
std::string describe_wait_status(int status);

// One HTTP response as the tests see it.
struct reply {
  unsigned status = 0;
  http::fields headers;
  std::string body;
  bool keep_alive = true;

  std::string header(std::string_view name) const;
  // The body as JSON; throws std::runtime_error (naming the body) if it is not.
  json::value json() const;
  // The body as a JSON object; throws if it is not one.
  json::object object() const;
};
std::ostream& operator<<(std::ostream& os, const reply& r);

// One TCP connection to 127.0.0.1:port. Every operation gets `timeout`
// unless it says otherwise; a timed-out operation closes the connection.
class http_connection {
 public:
  explicit http_connection(std::uint16_t port, std::chrono::milliseconds timeout = io_deadline);
  http_connection(const http_connection&) = delete;
  http_connection& operator=(const http_connection&) = delete;

  boost::system::error_code write(std::string_view bytes);
  boost::system::error_code write(http::request<http::string_body>& request);
  // Reads one response (a 1xx interim response counts as one). Throws
  // std::runtime_error on a transport error or timeout.
  reply read();
  // Reads one response; the error instead when there is none.
  std::pair<std::optional<reply>, boost::system::error_code> try_read();

  enum class close_outcome { closed, still_open, got_data };
  // Waits up to `within` for the peer to close the connection without
  // sending anything more.
  close_outcome wait_for_close(std::chrono::milliseconds within);

  bool is_open() const;
  std::uint16_t local_port() const { return local_port_; }

 private:
  // Starts an operation on the stream, then runs the io_context until it
  // completes; the stream's own timer bounds it.
  template <class Start>
  boost::system::error_code run(Start&& start, std::size_t* transferred = nullptr);

  boost::asio::io_context ioc_;
  boost::beast::tcp_stream stream_;
  boost::beast::flat_buffer buffer_;
  std::chrono::milliseconds timeout_;
  std::uint16_t local_port_ = 0;
};
std::ostream& operator<<(std::ostream& os, http_connection::close_outcome outcome);

using header_list = std::vector<std::pair<std::string, std::string>>;
// "<what>: <strerror(errno)>", for the exception a failed system call throws.
std::string errno_text(const char* what);
// What an agent sends with a JSON-RPC POST.
inline const header_list json_headers{{"Content-Type", "application/json"},
                                      {"Accept", "application/json, text/event-stream"}};
// What an agent sends to open the server's event stream (GET).
inline const header_list sse_headers{{"Accept", "text/event-stream"}};

// A keep-alive client of the management API with one key (or none). It
// opens a new connection only when the previous one was closed.
class api_client {
 public:
  explicit api_client(std::uint16_t port, std::string secret = "");

  reply get(const std::string& target);
  reply post(const std::string& target, const json::value& body);
  reply patch(const std::string& target, const json::value& body);
  reply del(const std::string& target);
  // Any method, a raw body (Content-Type: application/json when non-empty),
  // extra headers; Authorization: Bearer <secret> unless the secret is "".
  reply send(std::string_view method, const std::string& target, std::string body = "", const header_list& extra = {});

  int connections_opened() const { return connections_opened_; }
  // Closes the connection; the next request opens a new one.
  void disconnect();
  http_connection& connection();

 private:
  std::uint16_t port_;
  std::string secret_;
  std::unique_ptr<http_connection> connection_;
  int connections_opened_ = 0;
};

struct api_key {
  std::string id;
  std::string secret;
};

// The key in the output of `mcpgate keys create`: the ID from "Created API
// key ID ..." and the line that is exactly the secret; nullopt if absent.
std::optional<api_key> parse_created_key(const std::string& out);

struct gateway_options {
  std::string idle = "30s";
  std::string request_read = "10s";
  std::string shutdown_grace = "10s";
  std::size_t max_body_bytes = 65536;
  std::size_t max_connections = 0;  // 0 = the daemon's default
  std::string public_url;           // "" = derived from the listener
  // For the proxy tests. Whole lines added under server: ("  allowed_origins:
  // [...]\n"); entries added inside server.timeouts and server.limits
  // ("upstream_first_byte: 1s, stream_idle: 5s"); the whole upstreams line
  // ("" = the default below).
  std::string extra_server_yaml;
  std::string extra_timeouts;
  std::string extra_limits;
  std::string upstreams_yaml;
  // Whole top-level sections appended to the config ("templates:\n  - ...").
  std::string extra_yaml;
};

// A daemon with its own data folder and config:
//   projects 1 (environments 1 and 3) and 2 (environment 2);
//   upstreams.allow_hosts ["127.0.0.1:9"], private networks denied (unless
//   options.upstreams_yaml says otherwise).
// Started by the constructor; the destructor stops it with SIGTERM and fails
// the test unless it exits 0 within exit_deadline.
class gateway {
 public:
  explicit gateway(gateway_options options = {});
  ~gateway();
  gateway(const gateway&) = delete;
  gateway& operator=(const gateway&) = delete;

  void start();
  // SIGTERM, then expect_clean_exit().
  void stop();
  // The test fails unless the daemon (already signalled) exits 0 within
  // exit_deadline; a daemon still running then is killed.
  void expect_clean_exit();
  void restart();
  bool running() const { return process_ != nullptr; }

  // `mcpgate keys create` with this config; fails the test if it fails.
  api_key create_key(const std::string& user, const std::string& scopes, const std::string& projects = "");
  // `mcpgate keys revoke`; fails the test if it fails.
  void revoke_key(const std::string& id);

  api_client client(const api_key& key) const { return api_client(port_, key.secret); }
  api_client anonymous() const { return api_client(port_); }

  std::uint16_t port() const { return port_; }
  // "http://127.0.0.1:PORT", from the banner.
  const std::string& base_url() const { return base_url_; }
  const fs::path& data_dir() const { return data_dir_; }
  const fs::path& config_path() const { return config_path_; }
  daemon_process& process() { return *process_; }
  // Everything the daemon wrote to stderr, over every start of it so far.
  std::string all_logs() const { return previous_logs_ + (process_ ? process_->err() : std::string()); }

 private:
  temp_dir root_;
  gateway_options options_;
  fs::path data_dir_;
  fs::path config_path_;
  std::unique_ptr<daemon_process> process_;
  std::string previous_logs_;  // stderr of earlier runs, shown on failure
  std::string base_url_;
  std::uint16_t port_ = 0;
};

// The daemon's SQLite database, opened beside it --------------------------------

// One column of a row read with gateway_db.
struct db_value {
  bool null = true;
  std::int64_t integer = 0;  // the column as an integer (0 for NULL)
  std::string text;          // the column's text or blob bytes ("" for NULL)
};
using db_row = std::vector<db_value>;

// A blob bound to a statement (a std::string is bound as text).
struct db_blob {
  std::string bytes;
};
// A value for ?1, ?2, ... of a statement, in order.
using db_param = std::variant<std::int64_t, std::string, db_blob>;

// One row of audit_events.
struct audit_row {
  std::string id;
  std::int64_t environment_id = 0;
  std::int64_t user_id = 0;
  std::string installation_id;
  std::string event_type;
  std::string tool_name;
  std::string detail;
  std::int64_t created_at = 0;
};

// The database of a gateway (mcpgate.db in its data folder), opened while the
// daemon runs, for what the API does not show (sealed secrets, audit rows
// and users as stored) or cannot do (a key's scopes rewritten, a secret
// replaced). A busy database is waited for up to 5 s. Every failure (open,
// prepare, step) fails the test (REQUIRE), naming the statement and
// SQLite's message. Belongs to the test's thread.
class gateway_db {
 public:
  enum class access { read_only, read_write };

  // The database in `data_dir` (gateway::data_dir()); it must exist.
  explicit gateway_db(const fs::path& data_dir, access mode = access::read_only);
  ~gateway_db();
  gateway_db(const gateway_db&) = delete;
  gateway_db& operator=(const gateway_db&) = delete;

  // Every row of `sql` with `params` bound to ?1, ?2, ...
  std::vector<db_row> query(std::string_view sql, const std::vector<db_param>& params = {});
  // The first row; nullopt when there is none.
  std::optional<db_row> query_one(std::string_view sql, const std::vector<db_param>& params = {});
  // The first column of the one row of `sql` ("SELECT count(*) ...").
  std::int64_t query_int(std::string_view sql, const std::vector<db_param>& params = {});
  // Runs a statement that writes; the number of rows it changed.
  std::int64_t execute(std::string_view sql, const std::vector<db_param>& params = {});

  // users.id of this user name; nullopt when there is no such user.
  std::optional<std::int64_t> user_id(const std::string& name);
  // installation_secrets.sealed of this installation and kind ("api_key",
  // "access_token", ...); nullopt when there is none.
  std::optional<std::string> sealed_secret(const std::string& installation_id, const std::string& kind);
  // The audit_events of one installation and type, oldest first.
  std::vector<audit_row> audit_rows(const std::string& installation_id, const std::string& event_type);

 private:
  fs::path path_;
  sqlite3* db_ = nullptr;
};

// The config file gateway writes for these options.
std::string config_yaml(const fs::path& data_dir, const gateway_options& options);

// Boost.Test fixtures (default constructible).
struct default_gateway : gateway {
  default_gateway() : gateway(gateway_options{}) {}
};

// "/api/projects/1/mcp_server_installations" and the like.
std::string projects_collection(std::int64_t project_id);
std::string environments_collection(std::int64_t environment_id);
std::string item_of(const std::string& collection, const std::string& installation_id);
// Project 1's installations, and environment 1's: the collections most
// tests use.
inline const std::string p1 = projects_collection(1);
inline const std::string e1 = environments_collection(1);

// The error body contract: status, Content-Type application/json, exactly
// the keys type, code, detail (a non-empty string) and attr (the given name,
// or null when `attr` is nullopt).
// The reply's body as a JSON object when its status is `status` and its
// Content-Type JSON; otherwise why not.
std::variant<json::object, std::string> json_error_body(const reply& r, unsigned status);
boost::test_tools::assertion_result is_error(const reply& r, unsigned status, std::string_view type,
                                             std::string_view code, std::optional<std::string> attr = std::nullopt);
// is_error(r, 400, "validation_error", code, attr).
boost::test_tools::assertion_result is_validation_error(const reply& r, std::string_view code, const std::string& attr);
// Every field of the installation object present, with its type; id a
// UUIDv7, timestamps ISO 8601 UTC.
boost::test_tools::assertion_result is_installation(const json::value& v);

// Management API shorthands; each fails the test (REQUIRE) on a surprise.
json::object body_with_url(const std::string& url);
// POSTs `body` to `collection`; the installation, which must be 201.
json::object create_installation(api_client& client, const std::string& collection, const json::object& body);
// create_installation with {"url": url, "auth_type": "none"}.
json::object create_url(api_client& client, const std::string& collection, const std::string& url);
std::string id_of(const json::object& installation);
// The "count" of a 200 list of `collection`.
std::int64_t count_of(api_client& client, const std::string& collection);
// The timestamp member `key` in microseconds since the epoch.
std::int64_t micros_of(const json::object& installation, std::string_view key);
std::int64_t now_micros();
// The origin-form target of an absolute next/previous link, after checking
// that it starts with `base_url`.
std::string target_of_link(const json::value& link, const std::string& base_url);
std::string repeated(std::string_view unit, std::size_t times);
// "ff c3 28": raw bytes for messages.
std::string hex(std::string_view bytes);

bool is_uuid_v7(std::string_view text);
// Microseconds since the epoch for "YYYY-MM-DDTHH:MM:SS[.ffffff]Z".
std::optional<std::int64_t> iso8601_micros(std::string_view text);
// The browser's side of an OAuth start URL (spec: oauth.md "Starting a
// flow"). GET shows the confirm page and, on the first visit, sets the
// flow's cookie ("name=value", "" when none was set); the form's fields.
struct confirm_form {
  reply page;
  std::string cookie;
  std::string state;
  std::string csrf;
};
confirm_form open_start_page(api_client& browser, const std::string& start_target);
// The value="..." of the form's input `name` in an HTML page, "" when absent.
std::string form_input(const std::string& page, const std::string& name);
// POSTs the form back as its own browser does: application/x-www-form-urlencoded,
// `cookie` and `origin` (each left out when "").
reply post_confirm(api_client& browser, const std::string& state, const std::string& csrf, const std::string& cookie,
                   const std::string& origin);
// The query parameter `name` of a URL ("" when absent; not decoded).
std::string query_param(const std::string& url, const std::string& name);

// The string member `key` of an object; "" when absent or not a string.
std::string string_of(const json::value& object, std::string_view key);
// Milliseconds from `start` until now.
std::int64_t ms_since(steady::time_point start);

}  // namespace mcpgate::it

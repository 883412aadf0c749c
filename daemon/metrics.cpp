#include "daemon/metrics.hpp"

#include <array>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

namespace mcpgate::daemon::metrics {
namespace {

// Upper bounds of the latency histogram's buckets, in seconds.
constexpr std::array<double, 14> bounds{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                        0.1,    0.25,  0.5,    1.0,   2.5,   5.0,   10.0};

using by_name = std::map<std::string, std::uint64_t, std::less<>>;

struct histogram {
  std::array<std::uint64_t, bounds.size() + 1> buckets{};  // the last one is +Inf; not cumulative here
  double sum = 0;
  std::uint64_t count = 0;

  void observe(double seconds) {
    std::size_t i = 0;
    while (i < bounds.size() && seconds > bounds[i]) ++i;
    ++buckets[i];
    sum += seconds;
    ++count;
  }
  void add(const histogram& other) {
    for (std::size_t i = 0; i < buckets.size(); ++i) buckets[i] += other.buckets[i];
    sum += other.sum;
    count += other.count;
  }
};

// One thread's counts. Only that thread writes; render() reads under the lock.
struct block {
  std::mutex mu;
  std::map<std::string, std::map<unsigned, std::uint64_t>, std::less<>> requests;  // route -> status -> n
  histogram proxy_latency;
  std::map<std::string, by_name, std::less<>> upstream_errors;  // installation -> kind -> n
  std::map<std::string, by_name, std::less<>> tool_calls;       // decision -> state -> n
  by_name refreshes;                                             // outcome -> n
  by_name shed;                                                  // reason -> n
};

struct registry {
  std::mutex mu;
  std::vector<std::shared_ptr<block>> blocks;  // guarded by mu; a thread's block outlives it
  std::atomic<std::int64_t> open_streams{0};
  std::atomic<std::uint64_t> reloads_applied{0};
  std::atomic<std::uint64_t> reloads_rejected{0};
};

registry& the_registry() {
  static registry r;
  return r;
}

block& my_block() {
  thread_local const std::shared_ptr<block> mine = [] {
    auto b = std::make_shared<block>();
    registry& r = the_registry();
    std::lock_guard lock(r.mu);
    r.blocks.push_back(b);
    return b;
  }();
  return *mine;
}

std::uint64_t& slot(by_name& counts, std::string_view name) {
  auto it = counts.find(name);
  if (it == counts.end()) it = counts.emplace(std::string(name), 0).first;
  return it->second;
}

by_name& slot(std::map<std::string, by_name, std::less<>>& counts, std::string_view name) {
  auto it = counts.find(name);
  if (it == counts.end()) it = counts.emplace(std::string(name), by_name{}).first;
  return it->second;
}

// A label value as the text format wants it: backslash, quote and newline escaped.
std::string label(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (const char c : value) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out.push_back(c);
  }
  return out;
}

std::string number(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

void family(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  out.append("# HELP ").append(name).append(" ").append(help).append("\n");
  out.append("# TYPE ").append(name).append(" ").append(type).append("\n");
}

}  // namespace

void count_request(std::string_view route, unsigned status, std::chrono::steady_clock::duration latency,
                   bool proxied) {
  block& b = my_block();
  std::lock_guard lock(b.mu);
  auto it = b.requests.find(route);
  if (it == b.requests.end()) it = b.requests.emplace(std::string(route), std::map<unsigned, std::uint64_t>{}).first;
  ++it->second[status];
  if (proxied) b.proxy_latency.observe(std::chrono::duration<double>(latency).count());
}

void count_upstream_error(std::string_view installation_id, std::string_view kind) {
  block& b = my_block();
  std::lock_guard lock(b.mu);
  ++slot(slot(b.upstream_errors, installation_id), kind);
}

void count_tool_call(std::string_view decision, std::string_view state) {
  block& b = my_block();
  std::lock_guard lock(b.mu);
  ++slot(slot(b.tool_calls, decision), state);
}

void count_refresh(std::string_view outcome) {
  block& b = my_block();
  std::lock_guard lock(b.mu);
  ++slot(b.refreshes, outcome);
}

void count_shed(std::string_view reason) {
  block& b = my_block();
  std::lock_guard lock(b.mu);
  ++slot(b.shed, reason);
}

void count_reload(bool applied) {
  registry& r = the_registry();
  (applied ? r.reloads_applied : r.reloads_rejected).fetch_add(1, std::memory_order_relaxed);
}

void stream_opened() { the_registry().open_streams.fetch_add(1, std::memory_order_relaxed); }
void stream_closed() { the_registry().open_streams.fetch_sub(1, std::memory_order_relaxed); }

std::string render(std::size_t open_connections, std::string_view version) {
  // Everything added up over the threads' blocks first.
  std::map<std::string, std::map<unsigned, std::uint64_t>, std::less<>> requests;
  histogram latency;
  std::map<std::string, by_name, std::less<>> upstream_errors;
  std::map<std::string, by_name, std::less<>> tool_calls;
  by_name refreshes;
  by_name shed;
  registry& r = the_registry();
  {
    std::lock_guard lock(r.mu);
    for (const auto& b : r.blocks) {
      std::lock_guard block_lock(b->mu);
      for (const auto& [route, statuses] : b->requests) {
        for (const auto& [status, n] : statuses) requests[route][status] += n;
      }
      latency.add(b->proxy_latency);
      for (const auto& [id, kinds] : b->upstream_errors) {
        for (const auto& [kind, n] : kinds) upstream_errors[id][kind] += n;
      }
      for (const auto& [decision, states] : b->tool_calls) {
        for (const auto& [state, n] : states) tool_calls[decision][state] += n;
      }
      for (const auto& [outcome, n] : b->refreshes) refreshes[outcome] += n;
      for (const auto& [reason, n] : b->shed) shed[reason] += n;
    }
  }

  std::string out;
  out.reserve(4096);
  family(out, "mcpgate_http_requests_total", "counter", "Requests answered, by route and HTTP status.");
  for (const auto& [route, statuses] : requests) {
    for (const auto& [status, n] : statuses) {
      out.append("mcpgate_http_requests_total{route=\"").append(label(route)).append("\",status=\"");
      out.append(std::to_string(status)).append("\"} ").append(std::to_string(n)).append("\n");
    }
  }

  family(out, "mcpgate_proxy_request_duration_seconds", "histogram",
         "Proxied requests: time from arrival to the response head.");
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < latency.buckets.size(); ++i) {
    cumulative += latency.buckets[i];
    const std::string le = i < bounds.size() ? number(bounds[i]) : "+Inf";
    out.append("mcpgate_proxy_request_duration_seconds_bucket{le=\"").append(le).append("\"} ");
    out.append(std::to_string(cumulative)).append("\n");
  }
  out.append("mcpgate_proxy_request_duration_seconds_sum ").append(number(latency.sum)).append("\n");
  out.append("mcpgate_proxy_request_duration_seconds_count ").append(std::to_string(latency.count)).append("\n");

  family(out, "mcpgate_upstream_errors_total", "counter",
         "Proxied requests the upstream failed, by installation and kind.");
  for (const auto& [id, kinds] : upstream_errors) {
    for (const auto& [kind, n] : kinds) {
      out.append("mcpgate_upstream_errors_total{installation=\"").append(label(id)).append("\",kind=\"");
      out.append(label(kind)).append("\"} ").append(std::to_string(n)).append("\n");
    }
  }

  family(out, "mcpgate_proxy_open_streams", "gauge", "SSE streams being relayed to agents now.");
  out.append("mcpgate_proxy_open_streams ")
      .append(std::to_string(r.open_streams.load(std::memory_order_relaxed)))
      .append("\n");

  family(out, "mcpgate_tool_calls_total", "counter", "tools/call requests by decision and tool state.");
  for (const auto& [decision, states] : tool_calls) {
    for (const auto& [state, n] : states) {
      out.append("mcpgate_tool_calls_total{decision=\"").append(label(decision)).append("\",state=\"");
      out.append(label(state)).append("\"} ").append(std::to_string(n)).append("\n");
    }
  }

  family(out, "mcpgate_token_refreshes_total", "counter", "OAuth token refreshes by outcome.");
  for (const auto& [outcome, n] : refreshes) {
    out.append("mcpgate_token_refreshes_total{outcome=\"").append(label(outcome)).append("\"} ");
    out.append(std::to_string(n)).append("\n");
  }

  family(out, "mcpgate_shed_requests_total", "counter",
         "Requests refused by a rate limit (429) or to stay within a cap (503), by reason.");
  for (const auto& [reason, n] : shed) {
    out.append("mcpgate_shed_requests_total{reason=\"").append(label(reason)).append("\"} ");
    out.append(std::to_string(n)).append("\n");
  }

  family(out, "mcpgate_config_reloads_total", "counter", "Config reloads (SIGHUP) by outcome.");
  out.append("mcpgate_config_reloads_total{outcome=\"applied\"} ")
      .append(std::to_string(r.reloads_applied.load(std::memory_order_relaxed)))
      .append("\n");
  out.append("mcpgate_config_reloads_total{outcome=\"rejected\"} ")
      .append(std::to_string(r.reloads_rejected.load(std::memory_order_relaxed)))
      .append("\n");

  family(out, "mcpgate_open_connections", "gauge", "Client connections open now.");
  out.append("mcpgate_open_connections ").append(std::to_string(open_connections)).append("\n");

  family(out, "mcpgate_build_info", "gauge", "Always 1; the version is a label.");
  out.append("mcpgate_build_info{version=\"").append(label(version)).append("\"} 1\n");
  return out;
}

}  // namespace mcpgate::daemon::metrics

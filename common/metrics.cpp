#include "common/metrics.hpp"

#include <array>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

namespace mcpgate::metrics {
namespace {

// Upper bounds of the latency histogram's buckets, in seconds.
constexpr std::array<double, 14> bounds{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                        0.1,    0.25,  0.5,    1.0,   2.5,  5.0,   10.0};

// A count only its thread writes: a plain load and store, no lock and no
// locked instruction; render() reads it from another thread at any time.
struct counter {
  std::atomic<std::uint64_t> n{0};
  void bump() { n.store(n.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed); }
  std::uint64_t value() const { return n.load(std::memory_order_relaxed); }
};

using by_name = std::map<std::string, counter, std::less<>>;
using totals = std::map<std::string, std::uint64_t, std::less<>>;

struct histogram {
  std::array<counter, bounds.size() + 1> buckets{};  // the last one is +Inf; not cumulative here
  std::atomic<double> sum{0};
  counter count;

  void observe(double seconds) {
    std::size_t i = 0;
    while (i < bounds.size() && seconds > bounds[i]) ++i;
    buckets[i].bump();
    sum.store(sum.load(std::memory_order_relaxed) + seconds, std::memory_order_relaxed);
    count.bump();
  }
};

struct histogram_totals {
  std::array<std::uint64_t, bounds.size() + 1> buckets{};
  double sum = 0;
  std::uint64_t count = 0;

  void add(const histogram& h) {
    for (std::size_t i = 0; i < buckets.size(); ++i) buckets[i] += h.buckets[i].value();
    sum += h.sum.load(std::memory_order_relaxed);
    count += h.count.value();
  }
};

// One thread's counts. Only that thread writes. It looks a counter up
// without the lock (nobody else changes the maps) and bumps it; it takes
// `mu` only to add a counter, so that render(), which reads under `mu`,
// never sees a map being changed. Once its counters exist, the request path
// takes no lock at all.
struct block {
  std::mutex mu;
  std::map<std::string, std::map<unsigned, counter>, std::less<>> requests;  // route -> status -> n
  histogram proxy_latency;
  std::map<std::string, by_name, std::less<>> upstream_errors;  // installation -> kind -> n
  std::map<std::string, by_name, std::less<>> tool_calls;       // decision -> state -> n
  by_name refreshes;                                            // outcome -> n
  by_name shed;                                                 // reason -> n
};

struct registry {
  std::mutex mu;
  std::vector<std::shared_ptr<block>> blocks;  // guarded by mu; a thread's block outlives it
  std::atomic<std::int64_t> open_streams{0};
  std::atomic<std::uint64_t> reloads_applied{0};
  std::atomic<std::uint64_t> reloads_rejected{0};
  std::atomic<std::uint64_t> audit_dropped{0};
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

// The entry for `key` in one of the block's maps, added (under the block's
// lock) when missing. REQUIRES: called by the block's own thread.
template <class Map, class Key>
typename Map::mapped_type& entry(block& b, Map& map, const Key& key) {
  auto it = map.find(key);
  if (it != map.end()) return it->second;
  std::lock_guard lock(b.mu);
  return map.try_emplace(typename Map::key_type(key)).first->second;
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

void count_request(std::string_view route, unsigned status, std::chrono::steady_clock::duration latency, bool proxied) {
  block& b = my_block();
  entry(b, entry(b, b.requests, route), status).bump();
  if (proxied) b.proxy_latency.observe(std::chrono::duration<double>(latency).count());
}

void count_upstream_error(std::string_view installation_id, std::string_view kind) {
  block& b = my_block();
  entry(b, entry(b, b.upstream_errors, installation_id), kind).bump();
}

void count_tool_call(std::string_view decision, std::string_view state) {
  block& b = my_block();
  entry(b, entry(b, b.tool_calls, decision), state).bump();
}

void count_refresh(std::string_view outcome) {
  block& b = my_block();
  entry(b, b.refreshes, outcome).bump();
}

void count_shed(std::string_view reason) {
  block& b = my_block();
  entry(b, b.shed, reason).bump();
}

void count_audit_dropped(std::size_t records) {
  the_registry().audit_dropped.fetch_add(records, std::memory_order_relaxed);
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
  histogram_totals latency;
  std::map<std::string, totals, std::less<>> upstream_errors;
  std::map<std::string, totals, std::less<>> tool_calls;
  totals refreshes;
  totals shed;
  registry& r = the_registry();
  {
    std::lock_guard lock(r.mu);
    for (const auto& b : r.blocks) {
      std::lock_guard block_lock(b->mu);
      for (const auto& [route, statuses] : b->requests) {
        for (const auto& [status, n] : statuses) requests[route][status] += n.value();
      }
      latency.add(b->proxy_latency);
      for (const auto& [id, kinds] : b->upstream_errors) {
        for (const auto& [kind, n] : kinds) upstream_errors[id][kind] += n.value();
      }
      for (const auto& [decision, states] : b->tool_calls) {
        for (const auto& [state, n] : states) tool_calls[decision][state] += n.value();
      }
      for (const auto& [outcome, n] : b->refreshes) refreshes[outcome] += n.value();
      for (const auto& [reason, n] : b->shed) shed[reason] += n.value();
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

  family(out, "mcpgate_audit_records_dropped_total", "counter",
         "Audit records of forwarded tools/calls dropped because too many were waiting for the store.");
  out.append("mcpgate_audit_records_dropped_total ")
      .append(std::to_string(r.audit_dropped.load(std::memory_order_relaxed)))
      .append("\n");

  family(out, "mcpgate_open_connections", "gauge", "Client connections open now.");
  out.append("mcpgate_open_connections ").append(std::to_string(open_connections)).append("\n");

  family(out, "mcpgate_build_info", "gauge", "Always 1; the version is a label.");
  out.append("mcpgate_build_info{version=\"").append(label(version)).append("\"} 1\n");
  return out;
}

}  // namespace mcpgate::metrics

// Prometheus metrics: what the daemon counts, and the text exposition format
// (version 0.0.4) that GET /metrics answers.
//
// Series (all prefixed mcpgate_):
//   http_requests_total{route,status}          counter, every answered request
//   proxy_request_duration_seconds{...}         histogram, proxied requests:
//                                               arrival to the response head
//   upstream_errors_total{installation,kind}    counter, proxy answers 502/504
//   proxy_open_streams                          gauge, SSE streams being relayed
//   tool_calls_total{decision,state}            counter, forwarded / blocked (by state)
//   token_refreshes_total{outcome}              counter, refreshed / rejected / failed
//   config_reloads_total{outcome}               counter, applied / rejected
//   shed_requests_total{reason}                 counter, refused by a rate limit or a cap
//                                               (key_rate, installation_rate, upstream_requests,
//                                               memory)
//   audit_records_dropped_total                 counter, forwarded-call records not kept
//                                               (the store fell too far behind)
//   open_connections                            gauge, client connections
//   build_info{version}                         gauge, 1
//
// Thread-safety: every function may be called from any thread. Counting is
// done in the calling thread's own block, without a lock once the series
// exists, so the hot path shares no cache line and no lock with another
// shard; render() visits every block.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

namespace mcpgate::metrics {

// One answered request. `route` is a fixed name (daemon/router.hpp's
// resources, "healthz", "readyz", "metrics", "unknown"); `proxied` adds the
// latency to the proxy histogram.
void count_request(std::string_view route, unsigned status, std::chrono::steady_clock::duration latency, bool proxied);
// A proxied request the upstream failed: "unreachable", "timeout", "too_large", "refresh",
// "uninspectable" (an answer to tools/list that is not JSON).
void count_upstream_error(std::string_view installation_id, std::string_view kind);
// decision "forwarded" (state "approved" or the state it had) or "blocked" (state why).
void count_tool_call(std::string_view decision, std::string_view state);
// "refreshed", "rejected" or "failed".
void count_refresh(std::string_view outcome);
void count_reload(bool applied);
// A request refused to keep the gateway fair and within its limits.
void count_shed(std::string_view reason);
// Audit records of forwarded calls dropped because too many waited for the store.
void count_audit_dropped(std::size_t records);
void stream_opened();
void stream_closed();

// The whole exposition, `open_connections` and `version` included.
std::string render(std::size_t open_connections, std::string_view version);

}  // namespace mcpgate::metrics

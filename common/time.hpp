// Wall-clock helpers. Thread-safe (pure functions).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace mcpgate {

using sys_time = std::chrono::system_clock::time_point;

// "2026-11-27T22:10:09.123456Z": ISO 8601, UTC, microseconds, as the API returns.
std::string to_iso8601(sys_time t);

// Microseconds since the Unix epoch, the store's representation of time.
std::int64_t to_unix_micros(sys_time t);
sys_time from_unix_micros(std::int64_t us);

}  // namespace mcpgate

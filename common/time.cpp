#include "common/time.hpp"

#include <cstdio>
#include <ctime>

namespace mcpgate {

std::int64_t to_unix_micros(sys_time t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}

sys_time from_unix_micros(std::int64_t us) {
  return sys_time(std::chrono::duration_cast<sys_time::duration>(std::chrono::microseconds(us)));
}

std::string to_iso8601(sys_time t) {
  const std::int64_t us = to_unix_micros(t);
  std::int64_t secs = us / 1'000'000;
  std::int64_t frac = us % 1'000'000;
  if (frac < 0) {
    frac += 1'000'000;
    secs -= 1;
  }
  const std::time_t tt = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[96];  // generous: the compiler cannot bound tm_year
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<long long>(frac));
  return buf;
}

}  // namespace mcpgate

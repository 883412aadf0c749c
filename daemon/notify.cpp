#include "daemon/notify.hpp"

#include <systemd/sd-daemon.h>

#include <cinttypes>
#include <ctime>
#include <string>

namespace mcpgate::daemon::notify {

void ready() { sd_notify(0, "READY=1"); }

void reloading() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  const auto usec = static_cast<std::uint64_t>(now.tv_sec) * 1'000'000u +
                    static_cast<std::uint64_t>(now.tv_nsec) / 1000u;
  sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%" PRIu64, usec);
}

void stopping() { sd_notify(0, "STOPPING=1"); }

void watchdog() { sd_notify(0, "WATCHDOG=1"); }

void status(std::string_view text) {
  std::string line = "STATUS=";
  for (const char c : text) line.push_back(c == '\n' ? ' ' : c);
  sd_notify(0, line.c_str());
}

std::optional<std::chrono::microseconds> watchdog_interval() {
  std::uint64_t usec = 0;
  // > 0 only when WATCHDOG_USEC is set (and WATCHDOG_PID, if set, is ours).
  if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return std::nullopt;
  return std::chrono::microseconds(usec / 2);
}

}  // namespace mcpgate::daemon::notify

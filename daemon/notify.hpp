// The systemd notify protocol (sd_notify(3)), for a Type=notify unit.
//
// Every call is a no-op when NOTIFY_SOCKET is not set (not under systemd, or
// not Type=notify), so the daemon calls them unconditionally. Thread-safety:
// any thread.
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

namespace mcpgate::daemon::notify {

// READY=1: listeners and store are up, or a reload is over.
void ready();
// RELOADING=1 with MONOTONIC_USEC (the CLOCK_MONOTONIC time of the request,
// which systemd's notify-reload needs to tell reloads apart).
void reloading();
// STOPPING=1: shutdown has begun.
void stopping();
// WATCHDOG=1: the event loop is alive.
void watchdog();
// STATUS=...: one line shown by `systemctl status`.
void status(std::string_view text);

// How often to send WATCHDOG=1: half of WATCHDOG_USEC when the watchdog is
// on for this process; nullopt otherwise.
std::optional<std::chrono::microseconds> watchdog_interval();

}  // namespace mcpgate::daemon::notify

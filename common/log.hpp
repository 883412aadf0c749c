// Process-wide logging to stderr (journald captures it under systemd).
//
// Two formats (logging.format): "json", one JSON object per line
// ({"time","level","msg"} for a message; an event's own members instead of
// "msg" for log_event()), for machines; and "text", a timestamp, the level
// and the message, for people. Nothing logs a secret: callers pass ids,
// never keys or tokens.
//
// Thread-safe: spdlog's sinks are the multi-threaded variants; the format is
// chosen once, before the threads start.
#pragma once

#include <boost/json/object.hpp>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

namespace mcpgate {

// Sets the global logger: stderr, the given level ("trace".."critical",
// "off") and format ("json" or "text"). Returns false (and leaves the level
// unchanged) for an unknown level name.
bool init_logging(std::string_view level, std::string_view format = "text");

// Changes the level of the global logger; false for an unknown name.
bool set_log_level(std::string_view level);

// One structured event: {"time","level","event":<event>, <fields>...} in
// JSON, "<event> key=value ..." in text.
void log_event(spdlog::level::level_enum level, std::string_view event, const boost::json::object& fields);

// A message others can make the daemon repeat at will (connections refused
// at the cap, an upstream that is down, a store that is full): at most one
// line per `every` for its kind. The line that is written says how many like
// it were left out since the previous one; a left-out call costs a lock and
// no formatting. One object per kind, usually a function-local static.
//
// Thread-safety: any thread.
class summarised_log {
 public:
  explicit summarised_log(spdlog::level::level_enum level = spdlog::level::warn,
                          std::chrono::steady_clock::duration every = std::chrono::seconds(1))
      : level_(level), every_(every) {}

  template <class... Args>
  void operator()(spdlog::format_string_t<Args...> format, Args&&... args) {
    if (!spdlog::should_log(level_)) return;
    std::uint64_t left_out = 0;
    if (!take_turn(left_out)) return;
    std::string line = fmt::format(format, std::forward<Args>(args)...);
    if (left_out > 0) line += fmt::format(" ({} more like this since the last such line)", left_out);
    spdlog::log(level_, "{}", line);
  }

  // How many calls were left out in all (tests, metrics).
  std::uint64_t left_out_total() const;

 private:
  // True when this call may write; `left_out` is then the count since the
  // last written line.
  bool take_turn(std::uint64_t& left_out);

  const spdlog::level::level_enum level_;
  const std::chrono::steady_clock::duration every_;
  mutable std::mutex mu_;
  std::chrono::steady_clock::time_point last_{};  // guarded by mu_
  std::uint64_t pending_ = 0;                     // guarded by mu_: left out since last_
  std::uint64_t total_ = 0;                       // guarded by mu_
  bool written_ = false;                          // guarded by mu_
};

}  // namespace mcpgate

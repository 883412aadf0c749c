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

#include <string_view>

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

}  // namespace mcpgate

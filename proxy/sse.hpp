// Server-Sent Events framing for the relay (spec: proxy.md, "Forwarding": a
// text/event-stream answer is relayed event by event, and only an event that
// carries the answer to tools/list is inspected and filtered).
//
// sse_splitter cuts a text/event-stream body, fed in pieces of any size split
// at any byte, into its events, each exactly as received: the relay forwards
// an event it does not change byte for byte. Line ends are "\n", "\r\n" or
// "\r" (mixed freely). An event is its field and comment lines up to and
// including the blank line that ends it; blank lines that come before any
// field are handed out on their own as soon as they arrive (they carry no
// event, but nothing is held back), so the concatenation of everything
// next_event() returns is exactly the bytes fed so far, minus an event still
// incomplete.
//
// One "\r\n" may be cut in two when a piece ends right after the "\r" of an
// event's final blank line: the event is handed out at once rather than
// waiting for the next byte, and the "\n" comes out alone with the next piece
// (an empty line to any SSE parser, so nothing changes for the agent).
//
// event_data() and replace_event_data() read and rewrite one event per the
// WHATWG SSE parsing rules: the field name is what precedes the first ':' (the
// whole line without one), one space after the ':' is not part of the value,
// lines starting with ':' are comments, a leading UTF-8 BOM is skipped.
//
// Thread-safety: an sse_splitter is used by one thread at a time; the free
// functions are pure.
#pragma once

#include <cstddef>
#include <deque>
#include <optional>
#include <string>
#include <string_view>

namespace mcpgate::proxy {

// A bound that suits the relay: the largest non-SSE answer it reads whole.
inline constexpr std::size_t sse_default_max_event_bytes = 16 * 1024 * 1024;

class sse_splitter {
 public:
  // An event (or a run of blank lines) longer than max_event_bytes puts the
  // splitter in the overflowed state.
  explicit sse_splitter(std::size_t max_event_bytes);

  // Adds the next bytes of the stream. Call next_event() until it returns
  // nullopt after each feed(): complete events are held until taken. Once
  // overflowed(), the buffered bytes are released and feed() does nothing.
  void feed(std::string_view piece);

  // The next complete event (or blank-line run), its raw bytes including the
  // terminating blank line; nullopt when none is complete yet (or after an
  // overflow).
  std::optional<std::string> next_event();

  // True once an event grew past max_event_bytes: the stream cannot be
  // relayed event by event any more (the caller ends it).
  bool overflowed() const { return overflowed_; }

  // Every byte fed and not yet returned by next_event() (an incomplete event
  // at the end of the stream, to forward as it is), and a fresh start.
  std::string take_remainder();

 private:
  void scan();
  void push_unit(std::size_t end);
  void overflow();

  std::size_t max_event_bytes_;
  std::string buffer_;
  std::size_t head_ = 0;          // start of the next unit to hand out
  std::size_t cut_ = 0;           // end of the last complete unit found
  std::size_t scanned_ = 0;       // bytes of buffer_ looked at
  std::deque<std::size_t> ends_;  // ends of the complete units not handed out
  bool in_event_ = false;         // the pending unit has a field or comment line
  bool line_empty_ = true;        // nothing of the current line seen yet
  bool after_cr_ = false;         // the last byte seen was a "\r" line end
  bool overflowed_ = false;
};

// The event's data: its data lines' values joined with "\n" ("" when it has
// none).
std::string event_data(std::string_view raw_event);

// The event with its data lines replaced by new_data, one "data: " line per
// line of new_data (split at "\n", "\r\n" and "\r": an SSE line cannot hold a
// line break). The other lines (id:, event:, retry:, comments, unknown fields)
// and every line end are kept as they were; the new data lines take the place
// of the first data line (before the blank line ending the event when there
// was none) and use that line's line end.
std::string replace_event_data(std::string_view raw_event, std::string_view new_data);

}  // namespace mcpgate::proxy

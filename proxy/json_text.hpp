// JSON text as the gateway's peers read it.
//
// Boost.JSON 1.81 refuses a \u escape of a lone UTF-16 surrogate ("\ud800"
// without its pair, as a cut emoji leaves it). JavaScript's JSON.parse,
// Python's json and most mainstream parsers accept it, and JSON.stringify
// writes it. A gateway that refuses what its peers accept either fails open
// (an answer it cannot inspect is forwarded anyway) or breaks a working
// server, so every parse of a peer's JSON accepts lone surrogates too:
//
//   - The text is first parsed strictly (the fast path: nothing changes for
//     ordinary input).
//   - If that fails and the text holds lone surrogate escapes, a copy with
//     each replaced by "\ufffd" (same length, so offsets hold) must parse
//     strictly: everything else, raw UTF-8 included, is as strict as ever.
//   - The values then come from a copy where each lone surrogate escape is
//     replaced by the surrogate's WTF-8 bytes (ED A0 80 for U+D800), parsed
//     with allow_invalid_utf8. Valid UTF-8 never holds those bytes, so the
//     decoded strings stay distinct: "a\ud800" never equals "a\ufffd" or
//     "a", and a tool name compares exactly as the upstream's parser sees it.
//   - write_json() turns such bytes back into \u escapes, so what the
//     gateway writes is valid UTF-8 and says what the peer said.
//
// Thread-safety: pure functions.
#pragma once

#include <boost/json/parse_options.hpp>
#include <boost/json/value.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace mcpgate::proxy {

// True when `text` holds a \u escape of a UTF-16 surrogate that is not half
// of a high-low pair. Only escapes are looked at (a backslash outside a
// string makes the text invalid anyway).
bool has_lone_surrogate(std::string_view text);

// `text` with each lone surrogate escape replaced by "\ufffd" (same length).
std::string lone_surrogates_replaced(std::string_view text);

// `text` with each lone surrogate escape replaced by its WTF-8 bytes; parse
// the result with allow_invalid_utf8 only after lone_surrogates_replaced()
// of the same text parsed strictly.
std::string lone_surrogates_as_wtf8(std::string_view text);

// boost::json::parse that also accepts lone surrogate escapes (see above).
// nullopt when the text is not JSON under `options`.
std::optional<boost::json::value> read_json(std::string_view text, const boost::json::parse_options& options = {});

// boost::json::serialize, with WTF-8 surrogates (from read_json) written as
// \u escapes.
std::string write_json(const boost::json::value& v);

// `text` with WTF-8 surrogate bytes written as \u escapes (a no-op for
// valid UTF-8). REQUIRES: the bytes are inside JSON strings.
std::string escape_wtf8_surrogates(std::string text);

}  // namespace mcpgate::proxy

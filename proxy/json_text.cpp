#include "proxy/json_text.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <cstdint>
#include <vector>

namespace mcpgate::proxy {
namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The code unit of a "\uXXXX" escape whose 'u' is at text[at]; -1 if the
// four hex digits are not there.
long code_unit_at(std::string_view text, std::size_t at) {
  if (at + 4 >= text.size()) return -1;
  long unit = 0;
  for (std::size_t i = at + 1; i <= at + 4; ++i) {
    const int d = hex_digit(text[i]);
    if (d < 0) return -1;
    unit = unit * 16 + d;
  }
  return unit;
}

bool is_high(long unit) { return unit >= 0xD800 && unit <= 0xDBFF; }
bool is_low(long unit) { return unit >= 0xDC00 && unit <= 0xDFFF; }

// Where each lone surrogate escape starts (its backslash), and its unit.
struct lone_escape {
  std::size_t at;
  long unit;
};

std::vector<lone_escape> lone_escapes(std::string_view text) {
  std::vector<lone_escape> found;
  std::size_t i = text.find('\\');
  while (i != std::string_view::npos && i < text.size()) {
    std::size_t j = i;
    while (j < text.size() && text[j] == '\\') ++j;
    // A run of backslashes: pairs are escaped backslashes; an odd one out
    // escapes the character after the run.
    if ((j - i) % 2 == 0 || j >= text.size() || text[j] != 'u') {
      i = text.find('\\', j);
      continue;
    }
    const std::size_t escape = j - 1;  // the backslash of "\uXXXX"
    const long unit = code_unit_at(text, j);
    if (unit < 0) {
      i = text.find('\\', j);
      continue;
    }
    std::size_t next = j + 5;
    if (is_high(unit)) {
      const bool paired = next + 1 < text.size() && text[next] == '\\' && text[next + 1] == 'u' &&
                          is_low(code_unit_at(text, next + 1));
      if (paired) {
        next += 6;
      } else {
        found.push_back({escape, unit});
      }
    } else if (is_low(unit)) {
      found.push_back({escape, unit});
    }
    i = text.find('\\', next);
  }
  return found;
}

// The WTF-8 encoding of a surrogate code unit (three bytes, ED A0..BF xx).
void append_wtf8(std::string& out, long unit) {
  out.push_back(static_cast<char>(0xE0 | (unit >> 12)));
  out.push_back(static_cast<char>(0x80 | ((unit >> 6) & 0x3F)));
  out.push_back(static_cast<char>(0x80 | (unit & 0x3F)));
}

}  // namespace

bool has_lone_surrogate(std::string_view text) {
  if (text.find("\\u") == std::string_view::npos) return false;
  return !lone_escapes(text).empty();
}

std::string lone_surrogates_replaced(std::string_view text) {
  std::string out(text);
  for (const auto& e : lone_escapes(text)) out.replace(e.at, 6, "\\ufffd");
  return out;
}

std::string lone_surrogates_as_wtf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t from = 0;
  for (const auto& e : lone_escapes(text)) {
    out.append(text.substr(from, e.at - from));
    append_wtf8(out, e.unit);
    from = e.at + 6;
  }
  out.append(text.substr(from));
  return out;
}

std::optional<boost::json::value> read_json(std::string_view text, const boost::json::parse_options& options) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(text, ec, {}, options);
  if (!ec) return v;
  if (!has_lone_surrogate(text)) return std::nullopt;
  // Everything but the lone surrogates must be strictly valid.
  (void)boost::json::parse(lone_surrogates_replaced(text), ec, {}, options);
  if (ec) return std::nullopt;
  boost::json::parse_options lenient = options;
  lenient.allow_invalid_utf8 = true;
  v = boost::json::parse(lone_surrogates_as_wtf8(text), ec, {}, lenient);
  if (ec) return std::nullopt;
  return v;
}

std::string escape_wtf8_surrogates(std::string text) {
  // ED A0..BF xx: a surrogate in WTF-8; never part of valid UTF-8.
  std::size_t at = text.find('\xED');
  if (at == std::string::npos) return text;
  std::string out;
  out.reserve(text.size() + 8);
  std::size_t from = 0;
  constexpr char hex[] = "0123456789abcdef";
  for (; at != std::string::npos; at = text.find('\xED', at + 1)) {
    if (at + 2 >= text.size()) break;
    const auto b1 = static_cast<unsigned char>(text[at + 1]);
    const auto b2 = static_cast<unsigned char>(text[at + 2]);
    if (b1 < 0xA0 || b1 > 0xBF || (b2 & 0xC0) != 0x80) continue;
    const unsigned unit = 0xD000u | ((b1 & 0x3Fu) << 6) | (b2 & 0x3Fu);
    out.append(text, from, at - from);
    out += "\\u";
    for (int shift = 12; shift >= 0; shift -= 4) out.push_back(hex[(unit >> shift) & 0xF]);
    from = at + 3;
    at += 2;
  }
  if (from == 0) return text;
  out.append(text, from, std::string::npos);
  return out;
}

std::string write_json(const boost::json::value& v) { return escape_wtf8_surrogates(boost::json::serialize(v)); }

}  // namespace mcpgate::proxy

#include "proxy/tools_filter.hpp"

#include "proxy/json_text.hpp"

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/parse_options.hpp>
#include <boost/json/string_view.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <utility>

namespace mcpgate::proxy {

namespace {

// Nesting accepted in an answer; deeper input cannot be inspected (and is
// never forwarded). Tool input schemas nest, so this is far above the
// request inspector's limit.
constexpr std::size_t max_depth = 4096;

// basic_parser handler that accepts everything: the parse only validates.
struct validator {
  static constexpr std::size_t max_object_size = std::numeric_limits<std::size_t>::max();
  static constexpr std::size_t max_array_size = std::numeric_limits<std::size_t>::max();
  static constexpr std::size_t max_key_size = std::numeric_limits<std::size_t>::max();
  static constexpr std::size_t max_string_size = std::numeric_limits<std::size_t>::max();

  bool on_document_begin(boost::system::error_code&) { return true; }
  bool on_document_end(boost::system::error_code&) { return true; }
  bool on_object_begin(boost::system::error_code&) { return true; }
  bool on_object_end(std::size_t, boost::system::error_code&) { return true; }
  bool on_array_begin(boost::system::error_code&) { return true; }
  bool on_array_end(std::size_t, boost::system::error_code&) { return true; }
  bool on_key_part(boost::json::string_view, std::size_t, boost::system::error_code&) { return true; }
  bool on_key(boost::json::string_view, std::size_t, boost::system::error_code&) { return true; }
  bool on_string_part(boost::json::string_view, std::size_t, boost::system::error_code&) { return true; }
  bool on_string(boost::json::string_view, std::size_t, boost::system::error_code&) { return true; }
  bool on_number_part(boost::json::string_view, boost::system::error_code&) { return true; }
  bool on_int64(std::int64_t, boost::json::string_view, boost::system::error_code&) { return true; }
  bool on_uint64(std::uint64_t, boost::json::string_view, boost::system::error_code&) { return true; }
  bool on_double(double, boost::json::string_view, boost::system::error_code&) { return true; }
  bool on_bool(bool, boost::system::error_code&) { return true; }
  bool on_null(boost::system::error_code&) { return true; }
  bool on_comment_part(boost::json::string_view, boost::system::error_code&) { return true; }
  bool on_comment(boost::json::string_view, boost::system::error_code&) { return true; }
};

bool strictly_valid(std::string_view text) {
  boost::json::parse_options options;
  options.max_depth = max_depth;
  boost::json::basic_parser<validator> parser(options);
  boost::system::error_code ec;
  const std::size_t used = parser.write_some(false, text.data(), text.size(), ec);
  return !ec && used == text.size();
}

// Valid JSON, lone surrogate escapes allowed (json_text.hpp): the
// replacement keeps every offset, so the walk runs over the original text.
bool valid_json(std::string_view text) {
  if (strictly_valid(text)) return true;
  return has_lone_surrogate(text) && strictly_valid(lone_surrogates_replaced(text));
}

bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// A half-open byte range of the text.
struct span {
  std::size_t begin = 0;
  std::size_t end = 0;
};

struct member {
  span key;  // the key's string token, quotes included
  span value;
};

// Walks text that valid_json() accepted: every token is well formed, so the
// walk only needs to find where values begin and end. Iterative, no
// recursion, one pass over the bytes it skips.
class walker {
 public:
  explicit walker(std::string_view text) : text_(text) {}

  std::size_t skip_ws(std::size_t p) const {
    while (p < text_.size() && is_ws(text_[p])) ++p;
    return p;
  }

  char at(std::size_t p) const { return p < text_.size() ? text_[p] : '\0'; }

  // The end of the string token starting at p (its opening quote).
  std::size_t string_end(std::size_t p) const {
    ++p;
    for (;;) {
      p = text_.find_first_of("\"\\", p);
      if (p == std::string_view::npos) return text_.size();
      if (text_[p] == '"') return p + 1;
      p += 2;  // a backslash and the character it escapes
    }
  }

  // The end of the value starting at p.
  std::size_t value_end(std::size_t p) const {
    const char c = at(p);
    if (c == '"') return string_end(p);
    if (c == '{' || c == '[') {
      std::size_t depth = 0;
      while (p < text_.size()) {
        p = text_.find_first_of("\"{}[]", p);
        if (p == std::string_view::npos) return text_.size();
        switch (text_[p]) {
          case '"': p = string_end(p); continue;
          case '{':
          case '[': ++depth; break;
          default:
            if (--depth == 0) return p + 1;
            break;
        }
        ++p;
      }
      return p;
    }
    while (p < text_.size() && !is_ws(text_[p]) && text_[p] != ',' && text_[p] != '}' && text_[p] != ']') ++p;
    return p;
  }

  // The members of the object whose '{' is at p.
  std::vector<member> members(std::size_t p) const {
    std::vector<member> out;
    p = skip_ws(p + 1);
    while (at(p) == '"') {
      member m;
      m.key = {p, string_end(p)};
      p = skip_ws(skip_ws(m.key.end) + 1);  // past the ':'
      m.value = {p, value_end(p)};
      out.push_back(m);
      p = skip_ws(m.value.end);
      if (at(p) != ',') break;
      p = skip_ws(p + 1);
    }
    return out;
  }

  // The elements of the array whose '[' is at p.
  std::vector<span> elements(std::size_t p) const {
    std::vector<span> out;
    p = skip_ws(p + 1);
    if (at(p) == ']') return out;
    while (p < text_.size()) {
      const span e{p, value_end(p)};
      out.push_back(e);
      p = skip_ws(e.end);
      if (at(p) != ',') break;
      p = skip_ws(p + 1);
    }
    return out;
  }

  // The decoded contents of the string token `s`.
  std::string decode(span s) const {
    const std::string_view token = text_.substr(s.begin, s.end - s.begin);
    const std::string_view inner = token.substr(1, token.size() - 2);
    if (inner.find('\\') == std::string_view::npos) return std::string(inner);
    const auto v = read_json(token);
    if (!v || !v->is_string()) return std::string(inner);  // cannot happen on validated text
    return std::string(v->get_string());
  }

  bool key_is(const member& m, std::string_view key) const {
    const std::string_view token = text_.substr(m.key.begin, m.key.end - m.key.begin);
    // Fast path: the key as written, without escapes.
    if (token.size() == key.size() + 2 && token.substr(1, key.size()) == key) return true;
    if (token.find('\\') == std::string_view::npos) return false;
    return decode(m.key) == key;
  }

  std::string_view slice(std::size_t begin, std::size_t end) const { return text_.substr(begin, end - begin); }

 private:
  std::string_view text_;
};

// A replacement of text[begin, end) by `text`.
struct edit {
  std::size_t begin = 0;
  std::size_t end = 0;
  std::string text;
};

class tools_filter {
 public:
  tools_filter(std::string_view message, const std::function<bool(std::string_view)>& hidden,
               std::optional<std::uint64_t> private_ttl_ms)
      : message_(message), walk_(message), hidden_(hidden), private_ttl_ms_(private_ttl_ms) {}

  tools_list_answer run() {
    if (!valid_json(message_)) {
      answer_.verdict = tools_list_verdict::unreadable;
      return std::move(answer_);
    }
    const std::size_t start = walk_.skip_ws(0);
    if (walk_.at(start) == '{') {
      response(start);
    } else if (walk_.at(start) == '[') {
      for (const span& e : walk_.elements(start)) {
        if (walk_.at(e.begin) == '{') response(e.begin);
      }
    }
    if (!found_tools_) {
      answer_.verdict = tools_list_verdict::no_tools;
      return std::move(answer_);
    }
    answer_.verdict = tools_list_verdict::tools;
    if (!edits_.empty()) answer_.filtered = apply_edits();
    return std::move(answer_);
  }

 private:
  // One message object, at p.
  void response(std::size_t p) {
    const std::vector<member> members = walk_.members(p);
    const auto is_method = [&](const member& m) { return walk_.key_is(m, "method"); };
    if (std::any_of(members.begin(), members.end(), is_method)) return;  // a request or notification
    for (const member& m : members) {
      if (walk_.at(m.value.begin) != '{' || !walk_.key_is(m, "result")) continue;
      const std::vector<member> result = walk_.members(m.value.begin);
      bool any_hidden = false;
      for (const member& r : result) {
        if (walk_.at(r.value.begin) != '[' || !walk_.key_is(r, "tools")) continue;
        found_tools_ = true;
        any_hidden = tools(r.value) || any_hidden;
      }
      if (any_hidden && private_ttl_ms_) make_private(m.value.begin, result);
    }
  }

  // A filtered result may not be cached for anyone else, nor for long:
  // cacheScope "private", ttlMs at most private_ttl_ms_ (each set when the
  // upstream gave none).
  void make_private(std::size_t open, const std::vector<member>& result) {
    const std::string cap = std::to_string(*private_ttl_ms_);
    std::string missing;
    bool scope_seen = false;
    bool ttl_seen = false;
    for (const member& r : result) {
      if (walk_.key_is(r, "cacheScope")) {
        scope_seen = true;
        edits_.push_back({r.value.begin, r.value.end, R"("private")"});
      } else if (walk_.key_is(r, "ttlMs")) {
        ttl_seen = true;
        const std::string_view text = walk_.slice(r.value.begin, r.value.end);
        std::uint64_t ttl = 0;
        const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), ttl);
        const bool within = ec == std::errc{} && end == text.data() + text.size() && ttl <= *private_ttl_ms_;
        if (!within) edits_.push_back({r.value.begin, r.value.end, cap});
      }
    }
    if (!scope_seen) missing += R"("cacheScope":"private",)";
    if (!ttl_seen) missing += R"("ttlMs":)" + cap + ",";
    // The result has a member (its tools) for the comma to go before.
    if (!missing.empty()) edits_.push_back({open + 1, open + 1, std::move(missing)});
  }

  // One result.tools array; true when a tool was hidden.
  bool tools(span array) {
    const std::vector<span> elements = walk_.elements(array.begin);
    std::vector<bool> hide(elements.size(), false);
    bool any_hidden = false;
    for (std::size_t i = 0; i < elements.size(); ++i) {
      if (walk_.at(elements[i].begin) != '{') continue;
      for (const member& m : walk_.members(elements[i].begin)) {
        if (walk_.at(m.value.begin) != '"' || !walk_.key_is(m, "name")) continue;
        std::string name = walk_.decode(m.value);
        if (hidden_(name)) hide[i] = true;
        answer_.names.push_back(std::move(name));
      }
      any_hidden = any_hidden || hide[i];
    }
    if (!any_hidden) return false;

    // The array's inside, rebuilt from the kept elements: the whitespace
    // before the first element, each kept element with the separator that
    // followed the previous kept one, the whitespace before the ']'.
    const std::size_t inside = array.begin + 1;
    const std::size_t close = array.end - 1;
    edit e{inside, close, {}};
    e.text.append(walk_.slice(inside, elements.front().begin));
    std::optional<std::size_t> previous;
    for (std::size_t i = 0; i < elements.size(); ++i) {
      if (hide[i]) continue;
      if (previous) e.text.append(walk_.slice(elements[*previous].end, elements[*previous + 1].begin));
      e.text.append(walk_.slice(elements[i].begin, elements[i].end));
      previous = i;
    }
    e.text.append(walk_.slice(elements.back().end, close));
    edits_.push_back(std::move(e));
    return true;
  }

  std::string apply_edits() {
    // In text order; they never overlap (an insertion at a result's '{'
    // comes before the edits inside it).
    std::stable_sort(edits_.begin(), edits_.end(), [](const edit& a, const edit& b) { return a.begin < b.begin; });
    std::string out;
    std::size_t size = message_.size();
    for (const edit& e : edits_) size = size - (e.end - e.begin) + e.text.size();
    out.reserve(size);
    std::size_t at = 0;
    for (const edit& e : edits_) {
      out.append(message_.substr(at, e.begin - at));
      out.append(e.text);
      at = e.end;
    }
    out.append(message_.substr(at));
    return out;
  }

  std::string_view message_;
  walker walk_;
  const std::function<bool(std::string_view)>& hidden_;
  const std::optional<std::uint64_t> private_ttl_ms_;
  tools_list_answer answer_;
  bool found_tools_ = false;
  std::vector<edit> edits_;
};

}  // namespace

tools_list_answer filter_tools_list(std::string_view message, const std::function<bool(std::string_view)>& hidden,
                                    std::optional<std::uint64_t> private_ttl_ms) {
  return tools_filter(message, hidden, private_ttl_ms).run();
}

}  // namespace mcpgate::proxy

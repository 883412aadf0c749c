// An oracle's JSON reader for the fuzz targets: a DOM that keeps what
// boost::json::value cannot, every duplicate key in document order and every
// number exactly as written, so that two texts can be compared member by
// member. Lone surrogate escapes are accepted exactly as proxy::read_json
// accepts them (decoded to WTF-8 bytes).
//
// Thread-safety: pure functions.
#pragma once

#include "proxy/json_text.hpp"

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/parse_options.hpp>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mcpgate::fuzz {

struct json_node {
  enum class kind { object, array, string, number, boolean, null };
  kind type = kind::null;
  std::string text;                 // string: decoded; number: as written; boolean: "true"/"false"
  std::vector<std::string> keys;    // object: one per member, in order, duplicates kept
  std::vector<json_node> children;  // object: the members' values; array: the elements

  bool operator==(const json_node&) const = default;
};

namespace detail {

class tree_builder {
 public:
  static constexpr std::size_t max_object_size = std::numeric_limits<std::size_t>::max();
  static constexpr std::size_t max_array_size = std::numeric_limits<std::size_t>::max();
  static constexpr std::size_t max_key_size = std::numeric_limits<std::size_t>::max();
  static constexpr std::size_t max_string_size = std::numeric_limits<std::size_t>::max();

  json_node root;

  bool on_document_begin(boost::system::error_code&) { return true; }
  bool on_document_end(boost::system::error_code&) { return true; }
  bool on_object_begin(boost::system::error_code&) { return open(json_node::kind::object); }
  bool on_object_end(std::size_t, boost::system::error_code&) { return close(); }
  bool on_array_begin(boost::system::error_code&) { return open(json_node::kind::array); }
  bool on_array_end(std::size_t, boost::system::error_code&) { return close(); }
  bool on_key_part(boost::json::string_view s, std::size_t, boost::system::error_code&) {
    key_.append(s.data(), s.size());
    return true;
  }
  bool on_key(boost::json::string_view s, std::size_t, boost::system::error_code&) {
    key_.append(s.data(), s.size());
    open_.back()->keys.push_back(std::move(key_));
    key_.clear();
    return true;
  }
  bool on_string_part(boost::json::string_view s, std::size_t, boost::system::error_code&) {
    text_.append(s.data(), s.size());
    return true;
  }
  bool on_string(boost::json::string_view s, std::size_t, boost::system::error_code&) {
    text_.append(s.data(), s.size());
    return scalar(json_node::kind::string);
  }
  bool on_number_part(boost::json::string_view s, boost::system::error_code&) {
    text_.append(s.data(), s.size());
    return true;
  }
  bool on_int64(std::int64_t, boost::json::string_view s, boost::system::error_code&) { return number(s); }
  bool on_uint64(std::uint64_t, boost::json::string_view s, boost::system::error_code&) { return number(s); }
  bool on_double(double, boost::json::string_view s, boost::system::error_code&) { return number(s); }
  bool on_bool(bool b, boost::system::error_code&) {
    text_ = b ? "true" : "false";
    return scalar(json_node::kind::boolean);
  }
  bool on_null(boost::system::error_code&) { return scalar(json_node::kind::null); }
  bool on_comment_part(boost::json::string_view, boost::system::error_code&) { return true; }
  bool on_comment(boost::json::string_view, boost::system::error_code&) { return true; }

 private:
  // The node the next value becomes. A parent's children do not move while
  // one of them is open: only the innermost open node grows.
  json_node& add() {
    if (open_.empty()) return root;
    open_.back()->children.emplace_back();
    return open_.back()->children.back();
  }
  bool open(json_node::kind k) {
    json_node& n = add();
    n.type = k;
    open_.push_back(&n);
    return true;
  }
  bool close() {
    open_.pop_back();
    return true;
  }
  bool scalar(json_node::kind k) {
    json_node& n = add();
    n.type = k;
    n.text = std::move(text_);
    text_.clear();
    return true;
  }
  bool number(boost::json::string_view s) {
    text_.append(s.data(), s.size());
    return scalar(json_node::kind::number);
  }

  std::vector<json_node*> open_;
  std::string key_;
  std::string text_;
};

inline std::optional<json_node> parse_strictly(std::string_view text, std::size_t max_depth, bool allow_invalid_utf8) {
  boost::json::parse_options options;
  options.max_depth = max_depth;
  options.allow_invalid_utf8 = allow_invalid_utf8;
  boost::json::basic_parser<tree_builder> parser(options);
  boost::system::error_code ec;
  const std::size_t used = parser.write_some(false, text.data(), text.size(), ec);
  if (ec || used != text.size()) return std::nullopt;
  return std::move(parser.handler().root);
}

}  // namespace detail

// `text` as a tree; nullopt when it is not JSON (lone surrogates allowed).
inline std::optional<json_node> parse_tree(std::string_view text, std::size_t max_depth) {
  if (auto strict = detail::parse_strictly(text, max_depth, false)) return strict;
  if (!proxy::has_lone_surrogate(text)) return std::nullopt;
  if (!detail::parse_strictly(proxy::lone_surrogates_replaced(text), max_depth, false)) return std::nullopt;
  return detail::parse_strictly(proxy::lone_surrogates_as_wtf8(text), max_depth, true);
}

}  // namespace mcpgate::fuzz

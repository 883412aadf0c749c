// Reading JSON request bodies into typed values, with DRF-style field errors.
//
// A handler parses the body once (parse_json_object), then pulls each field
// through a field_reader, which remembers the first problem with the field it
// concerns (attr) so the answer names it. Thread-safety: plain values.
#pragma once

#include "net/api_error.hpp"

#include <boost/json/object.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace mcpgate::daemon::api {

// Malformed JSON or invalid UTF-8: 400 parse_error. Valid JSON that is not an
// object: 400 invalid_input.
std::variant<boost::json::object, net::api_error> parse_json_object(std::string_view body);

class field_reader {
 public:
  explicit field_reader(const boost::json::object& body) : body_(body) {}

  bool has(std::string_view name) const { return body_.contains(name); }

  // nullopt when absent or wrong (then error() is set). `allow_blank`: ""
  // is accepted; otherwise it is a "blank" error.
  // A credential sent upstream in a header (an API key): as string(), and
  // no control character (CR, LF, NUL, DEL, ...), which no header value
  // can carry.
  std::optional<std::string> credential(std::string_view name, std::size_t max_length);

  std::optional<std::string> string(std::string_view name, std::size_t max_length, bool allow_blank = true);
  std::optional<bool> boolean(std::string_view name);
  // A string that must be one of `choices`.
  std::optional<std::string> choice(std::string_view name, std::initializer_list<std::string_view> choices);

  // Records a problem unless one is recorded already.
  void fail(net::api_error e);
  // A "required" error for `name` when it is absent.
  void require(std::string_view name);

  const std::optional<net::api_error>& error() const { return error_; }

 private:
  const boost::json::value* present(std::string_view name);

  const boost::json::object& body_;
  std::optional<net::api_error> error_;
};

}  // namespace mcpgate::daemon::api

#include "daemon/api/request_body.hpp"

#include "common/text.hpp"

#include <boost/json/parse.hpp>

#include <algorithm>

namespace mcpgate::daemon::api {

std::variant<boost::json::object, net::api_error> parse_json_object(std::string_view body) {
  boost::system::error_code ec;
  boost::json::value value = boost::json::parse(body, ec);
  if (ec) return net::parse_error("JSON parse error - " + ec.message());
  if (!value.is_object()) {
    return net::api_error{400, "validation_error", "invalid_input", "Expected a JSON object.", std::nullopt};
  }
  return std::move(value.as_object());
}

void field_reader::fail(net::api_error e) {
  if (!error_) error_ = std::move(e);
}

void field_reader::require(std::string_view name) {
  if (!has(name)) fail(net::validation_error(std::string(name), "required", "This field is required."));
}

const boost::json::value* field_reader::present(std::string_view name) {
  const auto* value = body_.if_contains(name);
  if (value && value->is_null()) {
    fail(net::validation_error(std::string(name), "null", "This field may not be null."));
    return nullptr;
  }
  return value;
}

std::optional<std::string> field_reader::string(std::string_view name, std::size_t max_length, bool allow_blank) {
  const auto* value = present(name);
  if (!value) return std::nullopt;
  if (!value->is_string()) {
    fail(net::validation_error(std::string(name), "invalid", "Not a valid string."));
    return std::nullopt;
  }
  std::string text(value->as_string());
  if (!allow_blank && text.empty()) {
    fail(net::validation_error(std::string(name), "blank", "This field may not be blank."));
    return std::nullopt;
  }
  // Length in characters (code points), as the API documents it.
  const auto chars = static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xc0) != 0x80;
  }));
  if (chars > max_length) {
    fail(net::validation_error(std::string(name), "max_length",
                               "Ensure this field has no more than " + std::to_string(max_length) + " characters."));
    return std::nullopt;
  }
  return text;
}

std::optional<std::string> field_reader::credential(std::string_view name, std::size_t max_length) {
  auto text = string(name, max_length);
  if (text && std::any_of(text->begin(), text->end(), [](char c) { return is_control_char(c); })) {
    fail(net::validation_error(std::string(name), "invalid",
                               "Must not contain control characters (line breaks, tabs, NUL or DEL): it is sent in an "
                               "HTTP header."));
    return std::nullopt;
  }
  return text;
}

std::optional<bool> field_reader::boolean(std::string_view name) {
  const auto* value = present(name);
  if (!value) return std::nullopt;
  if (!value->is_bool()) {
    fail(net::validation_error(std::string(name), "invalid", "Must be a valid boolean."));
    return std::nullopt;
  }
  return value->as_bool();
}

std::optional<std::string> field_reader::choice(std::string_view name,
                                                std::initializer_list<std::string_view> choices) {
  const auto* value = present(name);
  if (!value) return std::nullopt;
  if (value->is_string() &&
      std::find(choices.begin(), choices.end(), std::string_view(value->as_string())) != choices.end()) {
    return std::string(value->as_string());
  }
  const std::string shown = value->is_string() ? std::string(value->as_string()) : "value";
  fail(net::validation_error(std::string(name), "invalid_choice", "\"" + shown + "\" is not a valid choice."));
  return std::nullopt;
}

}  // namespace mcpgate::daemon::api

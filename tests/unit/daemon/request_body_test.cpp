#include "daemon/api/request_body.hpp"

#include <boost/json/parse.hpp>
#include <boost/test/unit_test.hpp>

using namespace mcpgate::daemon::api;
using namespace mcpgate::net;

namespace {

boost::json::object object_of(std::string_view text) { return boost::json::parse(text).as_object(); }

}  // namespace

BOOST_AUTO_TEST_SUITE(request_body)

BOOST_AUTO_TEST_CASE(malformed_json_is_a_parse_error) {
  const auto parsed = parse_json_object("{\"url\": ");
  const auto* error = std::get_if<api_error>(&parsed);
  BOOST_TEST_REQUIRE(error != nullptr);
  BOOST_TEST(error->status == 400u);
  BOOST_TEST(error->code == "parse_error");
  BOOST_TEST(!error->attr.has_value());
}

BOOST_AUTO_TEST_CASE(invalid_utf8_is_a_parse_error) {
  const auto parsed = parse_json_object("{\"url\": \"\xff\xfe\"}");
  const auto* error = std::get_if<api_error>(&parsed);
  BOOST_TEST_REQUIRE(error != nullptr);
  BOOST_TEST(error->code == "parse_error");
}

BOOST_AUTO_TEST_CASE(json_that_is_not_an_object_is_invalid_input) {
  for (const char* body : {"[]", "1", "\"x\"", "null"}) {
    const auto parsed = parse_json_object(body);
    const auto* error = std::get_if<api_error>(&parsed);
    BOOST_TEST_REQUIRE(error != nullptr);
    BOOST_TEST(error->code == "invalid_input");
  }
}

BOOST_AUTO_TEST_CASE(reports_the_first_problem_with_its_field) {
  const auto body = object_of(R"({"a": 1, "b": null, "c": "x"})");
  field_reader fields(body);
  BOOST_TEST(!fields.string("a", 10).has_value());
  BOOST_TEST(!fields.string("b", 10).has_value());
  BOOST_TEST_REQUIRE(fields.error().has_value());
  BOOST_TEST(*fields.error()->attr == "a");
  BOOST_TEST(fields.error()->code == "invalid");
}

BOOST_AUTO_TEST_CASE(reads_each_kind_of_field) {
  const auto body = object_of(R"({"s": "héllo", "b": true, "c": "api_key", "blank": ""})");
  field_reader fields(body);
  BOOST_TEST(*fields.string("s", 5) == "héllo");  // 5 characters, 6 bytes
  BOOST_TEST(*fields.boolean("b") == true);
  BOOST_TEST(*fields.choice("c", {"oauth", "api_key"}) == "api_key");
  BOOST_TEST(!fields.string("missing", 5).has_value());
  BOOST_TEST(!fields.error().has_value());
  BOOST_TEST(!fields.string("blank", 5, false).has_value());
  BOOST_TEST(fields.error()->code == "blank");
}

BOOST_AUTO_TEST_CASE(flags_null_too_long_wrong_type_bad_choice_and_missing) {
  struct expectation {
    const char* body;
    const char* code;
  };
  for (const auto& e : {expectation{R"({"f": null})", "null"}, expectation{R"({"f": "toolong"})", "max_length"},
                        expectation{R"({"f": 3})", "invalid"}}) {
    const auto body = object_of(e.body);
    field_reader fields(body);
    (void)fields.string("f", 3);
    BOOST_TEST_REQUIRE(fields.error().has_value());
    BOOST_TEST(fields.error()->code == e.code);
    BOOST_TEST(*fields.error()->attr == "f");
  }
  const auto body = object_of(R"({"c": "other", "b": "yes"})");
  field_reader choices(body);
  (void)choices.choice("c", {"oauth"});
  BOOST_TEST(choices.error()->code == "invalid_choice");
  field_reader booleans(body);
  (void)booleans.boolean("b");
  BOOST_TEST(booleans.error()->code == "invalid");
  field_reader required(body);
  required.require("url");
  BOOST_TEST(required.error()->code == "required");
  BOOST_TEST(*required.error()->attr == "url");
}

BOOST_AUTO_TEST_CASE(error_body_has_the_four_fields) {
  const auto resp = validation_error("url", "unique", "dup").to_response();
  BOOST_TEST(resp.status == 400u);
  const auto body = boost::json::parse(resp.body).as_object();
  BOOST_TEST(body.at("type").as_string() == "validation_error");
  BOOST_TEST(body.at("code").as_string() == "unique");
  BOOST_TEST(body.at("detail").as_string() == "dup");
  BOOST_TEST(body.at("attr").as_string() == "url");
  BOOST_TEST(boost::json::parse(not_found().to_response().body).at("attr").is_null());
}

BOOST_AUTO_TEST_SUITE_END()

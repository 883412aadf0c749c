// JSON text as the gateway's peers read it: lone surrogate escapes found
// exactly (escaped backslashes are not escapes), replaced without moving
// offsets, decoded to WTF-8, and written back as the escapes they were.
#include "proxy/json_text.hpp"

#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>
#include <boost/test/unit_test.hpp>

#include <string>
#include <string_view>

using namespace mcpgate::proxy;
namespace json = boost::json;

BOOST_AUTO_TEST_SUITE(json_text)

BOOST_AUTO_TEST_CASE(finds_only_lone_surrogate_escapes) {
  for (const std::string_view lone : {R"("\ud800")", R"("\uDBFF")", R"("\udc00")", R"("a\ud83dx")", R"("\ude00\ud83d")",
                                      R"("\ud83d\u0041")", R"("\\\ud800")", R"("\ud800\\udc00")"}) {
    BOOST_TEST(has_lone_surrogate(lone), lone);
  }
  for (const std::string_view fine : {R"("\ud83d\ude00")", R"("\\ud800")", R"("\\\\ud800")", R"("\u0041")",
                                      R"("ud800")", R"("\ud8")", "", R"("\")"}) {
    BOOST_TEST(!has_lone_surrogate(fine), fine);
  }
}

BOOST_AUTO_TEST_CASE(replacement_keeps_every_offset) {
  const std::string text = R"({"a":"x\ud800y","b":"\ud83d\ude00","c":"\\ud800","d":"\udfff"})";
  const std::string replaced = lone_surrogates_replaced(text);
  BOOST_TEST(replaced.size() == text.size());
  BOOST_TEST(replaced == R"({"a":"x\ufffdy","b":"\ud83d\ude00","c":"\\ud800","d":"\ufffd"})");
}

BOOST_AUTO_TEST_CASE(reads_lone_surrogates_as_wtf8) {
  const auto v = read_json(R"({"name":"odd\ud800","pair":"\ud83d\ude00","tail":"\udfff"})");
  BOOST_TEST_REQUIRE(v.has_value());
  BOOST_TEST(std::string(v->at("name").as_string()) == "odd\xED\xA0\x80");
  BOOST_TEST(std::string(v->at("pair").as_string()) == "\xF0\x9F\x98\x80");
  BOOST_TEST(std::string(v->at("tail").as_string()) == "\xED\xBF\xBF");
  // Lone surrogates in keys too.
  const auto k = read_json(R"({"\udc00":1})");
  BOOST_TEST_REQUIRE(k.has_value());
  BOOST_TEST(k->as_object().contains("\xED\xB0\x80"));
}

BOOST_AUTO_TEST_CASE(everything_else_stays_strict) {
  for (const std::string_view bad : {
           R"({"a":"\ud800",})",                  // trailing comma
           "{\"a\":\"\\ud800\",\"b\":\"\xC3\"}",  // invalid UTF-8 beside it
           "{\"a\":\"\xED\xA0\x80\"}",            // a surrogate in raw bytes is not UTF-8
           R"({"a":"\ud800\u12"})",               // a bad escape after it
           R"({"a":"\ud800")",                    // truncated
       }) {
    BOOST_TEST(!read_json(bad).has_value(), bad);
  }
  BOOST_TEST(read_json(R"({"a":1})").has_value());
}

BOOST_AUTO_TEST_CASE(writes_surrogates_back_as_escapes) {
  const auto v = read_json(R"({"d":"cut \ud83d here","e":"\udc00\ud800","ok":"caf\u00e9 \ud83d\ude00"})");
  BOOST_TEST_REQUIRE(v.has_value());
  const std::string text = write_json(*v);
  BOOST_TEST(text == "{\"d\":\"cut \\ud83d here\",\"e\":\"\\udc00\\ud800\",\"ok\":\"caf\xC3\xA9 \xF0\x9F\x98\x80\"}");
  // And the text reads back to the same value.
  const auto again = read_json(text);
  BOOST_TEST_REQUIRE(again.has_value());
  BOOST_TEST(*again == *v);
  // Valid UTF-8 is left alone, bytes that only look like a start included.
  BOOST_TEST(escape_wtf8_surrogates("\"\xED\x9F\xBF\"") == "\"\xED\x9F\xBF\"");  // U+D7FF
  BOOST_TEST(write_json(json::string("plain")) == R"("plain")");
}

BOOST_AUTO_TEST_SUITE_END()

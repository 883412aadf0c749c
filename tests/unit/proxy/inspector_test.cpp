#include "proxy/jsonrpc_inspector.hpp"

#include "proxy/mcp_names.hpp"

#include <boost/test/unit_test.hpp>

#include <ostream>
#include <string>
#include <string_view>

using namespace mcpgate::proxy;

// Printable enums, for BOOST_TEST's failure messages.
namespace mcpgate::proxy {
std::ostream& operator<<(std::ostream& os, inspect_error e) {
  return os << make_error_code(e).message();
}
std::ostream& operator<<(std::ostream& os, id_kind k) {
  return os << "id_kind(" << static_cast<int>(k) << ")";
}
std::ostream& operator<<(std::ostream& os, message_kind k) {
  return os << "message_kind(" << static_cast<int>(k) << ")";
}
}  // namespace mcpgate::proxy

namespace {

// Inspects a body that must be accepted and hold exactly one message.
message_info one(std::string_view body) {
  const auto r = inspect_jsonrpc(body);
  BOOST_TEST_REQUIRE(r.has_value(), "rejected: " << body.substr(0, 200));
  BOOST_TEST_REQUIRE(!r->is_batch);
  BOOST_TEST_REQUIRE(r->messages.size() == 1u);
  return r->messages.front();
}

inspect_error rejection(std::string_view body) {
  const auto r = inspect_jsonrpc(body);
  if (r.has_value()) return inspect_error::ok;
  BOOST_TEST((r.error().category() == inspect_category()));
  return static_cast<inspect_error>(r.error().value());
}

std::string nested(std::size_t levels) {
  return std::string(levels, '[') + std::string(levels, ']');
}

}  // namespace

BOOST_AUTO_TEST_SUITE(jsonrpc_inspector)

BOOST_AUTO_TEST_CASE(finds_tool_name_in_tools_call) {
  const auto m = one(
      R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_weather","arguments":{"city":"Oslo"}}})");
  BOOST_TEST(m.has_jsonrpc_2_0);
  BOOST_TEST(m.kind == message_kind::request);
  BOOST_TEST(m.method.value() == method_tools_call);
  BOOST_TEST(m.tool_name.value() == "get_weather");
  BOOST_TEST(m.id == id_kind::number);
  BOOST_TEST(m.id_text == "1");
}

BOOST_AUTO_TEST_CASE(ignores_name_nested_in_arguments) {
  auto m = one(
      R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"arguments":{"name":"evil"},"name":"good"}})");
  BOOST_TEST(m.tool_name.value() == "good");

  m = one(
      R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"good","arguments":{"name":"evil","x":[{"name":"evil2"}]}}})");
  BOOST_TEST(m.tool_name.value() == "good");

  m = one(
      R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"arguments":{"name":"evil"}}})");
  BOOST_TEST(!m.tool_name.has_value());

  // A "name" beside params, or in _meta, is not params.name either.
  m = one(
      R"({"jsonrpc":"2.0","id":1,"name":"evil","method":"tools/call","params":{"_meta":{"name":"evil"}}})");
  BOOST_TEST(!m.tool_name.has_value());
}

BOOST_AUTO_TEST_CASE(params_before_method) {
  const auto m =
      one(R"({"params":{"name":"search","arguments":{}},"id":"a","method":"tools/call","jsonrpc":"2.0"})");
  BOOST_TEST(m.tool_name.value() == "search");
  BOOST_TEST(m.method.value() == "tools/call");
  BOOST_TEST(m.has_jsonrpc_2_0);
  BOOST_TEST(m.kind == message_kind::request);
}

BOOST_AUTO_TEST_CASE(escaped_and_unicode_names) {
  auto m = one(R"({"jsonrpc":"2.0","id":1,"method":"tools\/call","params":{"name":"\u0041bc"}})");
  BOOST_TEST(m.method.value() == "tools/call");
  BOOST_TEST(m.tool_name.value() == "Abc");

  // A surrogate pair decodes to one 4-byte UTF-8 sequence.
  m = one(R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x\ud83d\ude00"}})");
  BOOST_TEST(m.tool_name.value() == "x\xF0\x9F\x98\x80");

  // Raw UTF-8 passes through as written.
  m = one("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"caf\xC3\xA9\"}}");
  BOOST_TEST(m.tool_name.value() == "caf\xC3\xA9");

  // Escaped keys are the same keys.
  m = one(
      R"({"jsonrpc":"2.0","\u0069d":7,"m\u0065thod":"tools/call","p\u0061rams":{"n\u0061me":"t\"q"}})");
  BOOST_TEST(m.id == id_kind::number);
  BOOST_TEST(m.tool_name.value() == "t\"q");

  // Invalid UTF-8 and lone surrogates are not JSON.
  BOOST_TEST(rejection("{\"method\":\"tools/call\",\"params\":{\"name\":\"\xC3\"}}") ==
             inspect_error::invalid_json);
}

BOOST_AUTO_TEST_CASE(whitespace_everywhere) {
  const auto m = one(
      " \r\n\t{ \"jsonrpc\" :\t\"2.0\" ,\n \"id\"\r\n: 42 , \"method\" : \"tools/call\" , \"params\" "
      ": { \"arguments\" : { } , \"name\" : \"ws\" } } \n\t ");
  BOOST_TEST(m.tool_name.value() == "ws");
  BOOST_TEST(m.id_text == "42");
}

BOOST_AUTO_TEST_CASE(missing_params_name) {
  auto m = one(R"({"jsonrpc":"2.0","id":1,"method":"tools/call"})");
  BOOST_TEST(m.kind == message_kind::request);
  BOOST_TEST(!m.tool_name.has_value());

  m = one(R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"arguments":{}}})");
  BOOST_TEST(!m.tool_name.has_value());

  m = one(R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":12}})");
  BOOST_TEST(!m.tool_name.has_value());

  m = one(R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":{"name":"x"}}})");
  BOOST_TEST(!m.tool_name.has_value());

  m = one(R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":["name","x"]})");
  BOOST_TEST(!m.tool_name.has_value());

  // Only tools/call reports a tool name.
  m = one(R"({"jsonrpc":"2.0","id":1,"method":"prompts/get","params":{"name":"p"}})");
  BOOST_TEST(m.method.value() == "prompts/get");
  BOOST_TEST(!m.tool_name.has_value());
}

BOOST_AUTO_TEST_CASE(batch_of_mixed_messages) {
  const auto r = inspect_jsonrpc(R"([
    {"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a"}},
    {"jsonrpc":"2.0","method":"notifications/initialized"},
    {"jsonrpc":"2.0","id":"r","result":{"name":"not a tool"}},
    {"jsonrpc":"2.0","id":2,"method":"tools/list","params":{"cursor":"c"}},
    {"id":3,"method":"tools/call","params":{"name":"b"}}
  ])");
  BOOST_TEST_REQUIRE(r.has_value());
  BOOST_TEST(r->is_batch);
  BOOST_TEST_REQUIRE(r->messages.size() == 5u);
  const auto& m = r->messages;
  BOOST_TEST(m[0].kind == message_kind::request);
  BOOST_TEST(m[0].tool_name.value() == "a");
  BOOST_TEST(m[1].kind == message_kind::notification);
  BOOST_TEST(m[1].method.value() == notification_initialized);
  BOOST_TEST(m[2].kind == message_kind::response);
  BOOST_TEST(!m[2].tool_name.has_value());
  BOOST_TEST(m[3].method.value() == method_tools_list);
  BOOST_TEST(!m[3].tool_name.has_value());
  BOOST_TEST(m[4].tool_name.value() == "b");
  BOOST_TEST(!m[4].has_jsonrpc_2_0);
  BOOST_TEST(m[4].id_text == "3");
}

BOOST_AUTO_TEST_CASE(empty_batch_rejected) {
  BOOST_TEST(rejection("[]") == inspect_error::empty_batch);
  BOOST_TEST(rejection(" [ \n ] ") == inspect_error::empty_batch);
}

BOOST_AUTO_TEST_CASE(batch_element_not_object_rejected) {
  BOOST_TEST(rejection("[1]") == inspect_error::batch_element_not_object);
  BOOST_TEST(rejection(R"(["s"])") == inspect_error::batch_element_not_object);
  BOOST_TEST(rejection("[null]") == inspect_error::batch_element_not_object);
  BOOST_TEST(rejection(R"([{"id":1,"method":"ping"},[]])") ==
             inspect_error::batch_element_not_object);
  BOOST_TEST(rejection(R"([{"id":1,"method":"ping"},true])") ==
             inspect_error::batch_element_not_object);
}

BOOST_AUTO_TEST_CASE(invalid_json_rejected) {
  for (const std::string_view body :
       {"", " ", "{", "}", "{'id':1}", R"({"id":1,})", R"({"id":1 /* c */})", R"({"id":01})",
        R"({"id":NaN})", R"({"id":1} x)", "{}{}", R"({"id":1}])", R"({id:1})", "nul",
        R"({"a":"\x"})", "{\"a\":\"tab\there\"}"}) {
    BOOST_TEST((rejection(body) == inspect_error::invalid_json), "accepted: " << body);
  }
}

BOOST_AUTO_TEST_CASE(truncated_input_rejected) {
  const std::string body =
      R"({"jsonrpc":"2.0","id":12.5,"method":"tools/call","params":{"name":"\u0041b","arguments":{"a":[1,true,null,"x"]}}})";
  BOOST_TEST_REQUIRE(inspect_jsonrpc(body).has_value());
  for (std::size_t n = 0; n < body.size(); ++n) {
    BOOST_TEST((rejection(std::string_view(body).substr(0, n)) == inspect_error::invalid_json),
               "accepted prefix of " << n);
  }
}

BOOST_AUTO_TEST_CASE(scalar_top_level_rejected) {
  for (const std::string_view body : {"1", "-2.5", R"("s")", "null", "true", "false", " 7 "}) {
    BOOST_TEST((rejection(body) == inspect_error::not_object_or_array), "accepted: " << body);
  }
}

BOOST_AUTO_TEST_CASE(deep_nesting_rejected) {
  // Message object, params, arguments: 3 levels, plus the arrays.
  auto body_with_depth = [](std::size_t depth) {
    return R"({"id":1,"method":"tools/call","params":{"name":"t","arguments":{"a":)" +
           nested(depth - 3) + "}}}";
  };
  BOOST_TEST(inspect_jsonrpc(body_with_depth(inspector_max_depth)).has_value());
  BOOST_TEST(rejection(body_with_depth(inspector_max_depth + 1)) == inspect_error::too_deep);
  BOOST_TEST(rejection(R"({"a":)" + nested(100000) + "}") == inspect_error::too_deep);
  BOOST_TEST(rejection(R"([{"a":)" + std::string(100000, '[')) == inspect_error::too_deep);
  std::string objects;
  for (int i = 0; i < 100000; ++i) objects += R"({"params":)";
  BOOST_TEST(rejection(objects) == inspect_error::too_deep);
  // A batch of arrays is refused before depth matters.
  BOOST_TEST(rejection(nested(100000)) == inspect_error::batch_element_not_object);
}

BOOST_AUTO_TEST_CASE(large_arguments) {
  const std::string big(5 * 1024 * 1024, 'x');
  std::string array = "[";
  for (int i = 0; i < 100000; ++i) array += (i == 0 ? "" : ",") + std::to_string(i);
  array += "]";
  const std::string body = R"({"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"arguments":{"blob":")" +
                           big + R"(","list":)" + array + R"(,"name":"evil"},"name":"big_tool"}})";
  const auto m = one(body);
  BOOST_TEST(m.tool_name.value() == "big_tool");
  BOOST_TEST(m.id_text == "9");

  // The same with the name first and escapes inside the big string.
  std::string escaped;
  for (int i = 0; i < 200000; ++i) escaped += "ab\\n\\u0041";
  const auto m2 = one(R"({"method":"tools/call","params":{"name":"first","arguments":{"s":")" +
                      escaped + R"("}},"id":1})");
  BOOST_TEST(m2.tool_name.value() == "first");
}

BOOST_AUTO_TEST_CASE(long_strings_arriving_in_parts) {
  // Escapes make the parser decode through its buffer, so a long string
  // reaches the handler in several parts.
  std::string name;
  std::string encoded;
  for (int i = 0; i < 5000; ++i) {
    name += "a\"b";
    encoded += "a\\\"b";
  }
  const auto m = one(R"({"method":"tools/call","id":"x","params":{"name":")" + encoded + R"("}})");
  BOOST_TEST(m.tool_name.value() == name);

  const auto m2 = one(R"({"method":"tools/call","id":")" + encoded + R"(","params":{"name":"n"}})");
  BOOST_TEST(m2.id == id_kind::string);
  BOOST_TEST(m2.id_text == name);

  // A long key that merely starts like an interesting one is not that key.
  const auto m3 =
      one(R"({"method":"tools/call","id":1,"params":{"name)" + encoded + R"(":"evil"}})");
  BOOST_TEST(!m3.tool_name.has_value());
}

BOOST_AUTO_TEST_CASE(id_kinds) {
  auto m = one(R"({"jsonrpc":"2.0","id":-17,"method":"ping"})");
  BOOST_TEST(m.id == id_kind::number);
  BOOST_TEST(m.id_text == "-17");
  BOOST_TEST(m.kind == message_kind::request);

  m = one(R"({"jsonrpc":"2.0","id":1.5e3,"method":"ping"})");
  BOOST_TEST(m.id == id_kind::number);
  BOOST_TEST(m.id_text == "1.5e3");

  m = one(R"({"jsonrpc":"2.0","id":18446744073709551616,"method":"ping"})");
  BOOST_TEST(m.id == id_kind::number);
  BOOST_TEST(m.id_text == "18446744073709551616");

  m = one(R"({"jsonrpc":"2.0","id":"abc-1","method":"ping"})");
  BOOST_TEST(m.id == id_kind::string);
  BOOST_TEST(m.id_text == "abc-1");

  m = one(R"({"jsonrpc":"2.0","id":"","method":"ping"})");
  BOOST_TEST(m.id == id_kind::string);
  BOOST_TEST(m.id_text == "");

  m = one(R"({"jsonrpc":"2.0","id":null,"method":"ping"})");
  BOOST_TEST(m.id == id_kind::null);
  BOOST_TEST(m.kind == message_kind::request);

  m = one(R"({"jsonrpc":"2.0","method":"notifications/tools/list_changed"})");
  BOOST_TEST(m.id == id_kind::absent);
  BOOST_TEST(m.kind == message_kind::notification);
  BOOST_TEST(m.method.value() == notification_tools_list_changed);

  for (const std::string_view body : {R"({"id":true,"method":"ping"})", R"({"id":{},"method":"ping"})",
                                      R"({"id":[1],"method":"ping"})"}) {
    m = one(body);
    BOOST_TEST(m.id == id_kind::invalid);
    BOOST_TEST(m.kind == message_kind::invalid);
  }
}

BOOST_AUTO_TEST_CASE(response_objects) {
  auto m = one(R"({"jsonrpc":"2.0","id":3,"result":{"tools":[{"name":"x"}]}})");
  BOOST_TEST(m.kind == message_kind::response);
  BOOST_TEST(!m.method.has_value());
  BOOST_TEST(m.id_text == "3");

  m = one(R"({"jsonrpc":"2.0","id":"e","error":{"code":-32601,"message":"nope"}})");
  BOOST_TEST(m.kind == message_kind::response);
  BOOST_TEST(m.id == id_kind::string);

  m = one(R"({"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"parse"}})");
  BOOST_TEST(m.kind == message_kind::response);
  BOOST_TEST(m.id == id_kind::null);
}

BOOST_AUTO_TEST_CASE(malformed_messages_are_reported_as_invalid) {
  BOOST_TEST((one("{}").kind == message_kind::invalid));
  BOOST_TEST((one(R"({"jsonrpc":"2.0","id":1})").kind == message_kind::invalid));
  BOOST_TEST((one(R"({"jsonrpc":"2.0","result":1})").kind == message_kind::invalid));
  BOOST_TEST((one(R"({"id":1,"method":"ping","result":1})").kind == message_kind::invalid));
  const auto m = one(R"({"id":1,"method":7})");
  BOOST_TEST(m.kind == message_kind::invalid);
  BOOST_TEST(!m.method.has_value());
  BOOST_TEST(!one(R"({"jsonrpc":"2.00","id":1,"method":"ping"})").has_jsonrpc_2_0);
  BOOST_TEST(!one(R"({"jsonrpc":2.0,"id":1,"method":"ping"})").has_jsonrpc_2_0);
}

BOOST_AUTO_TEST_CASE(duplicate_keys_the_filter_reads_are_rejected) {
  for (const std::string_view body : {
           R"({"id":1,"method":"tools/call","params":{"name":"ok","name":"evil"}})",
           R"({"id":1,"method":"tools/call","method":"ping","params":{"name":"ok"}})",
           R"({"id":1,"method":"ping","params":{},"params":{"name":"x"}})",
           R"({"id":1,"id":2,"method":"ping"})",
           R"({"jsonrpc":"2.0","jsonrpc":"2.0","id":1,"method":"ping"})",
           R"({"id":1,"result":1,"result":2})",
       }) {
    BOOST_TEST((rejection(body) == inspect_error::duplicate_key), "accepted: " << body);
  }
  // Duplicates the filter does not read, or nested ones, are left alone.
  const auto m = one(
      R"({"id":1,"x":1,"x":2,"method":"tools/call","params":{"name":"t","arguments":{"name":"a","name":"b"}}})");
  BOOST_TEST(m.tool_name.value() == "t");
}

BOOST_AUTO_TEST_CASE(reasons_have_messages) {
  BOOST_TEST(make_error_code(inspect_error::empty_batch).message() == "batch is empty");
  BOOST_TEST(std::string(inspect_category().name()) == "mcpgate.jsonrpc_inspector");
}

BOOST_AUTO_TEST_SUITE_END()

#include "proxy/jsonrpc_inspector.hpp"

#include "common/mcp_names.hpp"

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdlib>
#include <new>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

using namespace mcpgate;
using namespace mcpgate::proxy;

// Printable enums, for BOOST_TEST's failure messages.
namespace mcpgate::proxy {
std::ostream& operator<<(std::ostream& os, inspect_error e) { return os << make_error_code(e).message(); }
std::ostream& operator<<(std::ostream& os, id_kind k) { return os << "id_kind(" << static_cast<int>(k) << ")"; }
std::ostream& operator<<(std::ostream& os, message_kind k) {
  return os << "message_kind(" << static_cast<int>(k) << ")";
}
}  // namespace mcpgate::proxy

// Counting the bytes the inspector allocates: the global allocation functions
// are replaced (for this whole test executable) by thin wrappers over
// malloc/free that add to a per-thread counter while one is installed. Every
// non-aligned form is replaced, so new and delete stay paired under ASan.
namespace {
thread_local std::size_t* allocation_counter = nullptr;

void* counted_alloc(std::size_t n) {
  if (allocation_counter != nullptr) *allocation_counter += n;
  return std::malloc(n == 0 ? 1 : n);
}
}  // namespace

void* operator new(std::size_t n) {
  if (void* p = counted_alloc(n)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) {
  if (void* p = counted_alloc(n)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return counted_alloc(n); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return counted_alloc(n); }
// GCC sees free() on memory from operator new once these are inlined; here
// that is the point (both sides are malloc/free).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
#pragma GCC diagnostic pop

namespace {

// Bytes allocated on this thread while it lives.
class allocation_scope {
 public:
  allocation_scope() { allocation_counter = &bytes_; }
  ~allocation_scope() { allocation_counter = nullptr; }
  allocation_scope(const allocation_scope&) = delete;
  allocation_scope& operator=(const allocation_scope&) = delete;
  std::size_t bytes() const { return bytes_; }

 private:
  std::size_t bytes_ = 0;
};

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

std::string nested(std::size_t levels) { return std::string(levels, '[') + std::string(levels, ']'); }

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
  auto m =
      one(R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"arguments":{"name":"evil"},"name":"good"}})");
  BOOST_TEST(m.tool_name.value() == "good");

  m = one(
      R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"good","arguments":{"name":"evil","x":[{"name":"evil2"}]}}})");
  BOOST_TEST(m.tool_name.value() == "good");

  m = one(R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"arguments":{"name":"evil"}}})");
  BOOST_TEST(!m.tool_name.has_value());

  // A "name" beside params, or in _meta, is not params.name either.
  m = one(R"({"jsonrpc":"2.0","id":1,"name":"evil","method":"tools/call","params":{"_meta":{"name":"evil"}}})");
  BOOST_TEST(!m.tool_name.has_value());
}

BOOST_AUTO_TEST_CASE(params_before_method) {
  const auto m = one(R"({"params":{"name":"search","arguments":{}},"id":"a","method":"tools/call","jsonrpc":"2.0"})");
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
  m = one(R"({"jsonrpc":"2.0","\u0069d":7,"m\u0065thod":"tools/call","p\u0061rams":{"n\u0061me":"t\"q"}})");
  BOOST_TEST(m.id == id_kind::number);
  BOOST_TEST(m.tool_name.value() == "t\"q");

  // Invalid UTF-8 is not JSON, also beside a lone surrogate escape (which
  // is read: see escaped_characters_in_the_name).
  BOOST_TEST(rejection("{\"method\":\"tools/call\",\"params\":{\"name\":\"\xC3\"}}") == inspect_error::invalid_json);
  BOOST_TEST(rejection("{\"method\":\"tools/call\",\"params\":{\"name\":\"\\ud800\",\"x\":\"\xC3\"}}") ==
             inspect_error::invalid_json);
  // A duplicate key is found past a lone surrogate too.
  BOOST_TEST(rejection(R"({"method":"tools/call","params":{"name":"\ud800","name":"b"}})") ==
             inspect_error::duplicate_key);
}

BOOST_AUTO_TEST_CASE(whitespace_everywhere) {
  const auto m =
      one(" \r\n\t{ \"jsonrpc\" :\t\"2.0\" ,\n \"id\"\r\n: 42 , \"method\" : \"tools/call\" , \"params\" "
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
  BOOST_TEST(rejection(R"([{"id":1,"method":"ping"},[]])") == inspect_error::batch_element_not_object);
  BOOST_TEST(rejection(R"([{"id":1,"method":"ping"},true])") == inspect_error::batch_element_not_object);
}

BOOST_AUTO_TEST_CASE(invalid_json_rejected) {
  for (const std::string_view body :
       {"", " ", "{", "}", "{'id':1}", R"({"id":1,})", R"({"id":1 /* c */})", R"({"id":01})", R"({"id":NaN})",
        R"({"id":1} x)", "{}{}", R"({"id":1}])", R"({id:1})", "nul", R"({"a":"\x"})", "{\"a\":\"tab\there\"}"}) {
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
    return R"({"id":1,"method":"tools/call","params":{"name":"t","arguments":{"a":)" + nested(depth - 3) + "}}}";
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
  const std::string body = R"({"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"arguments":{"blob":")" + big +
                           R"(","list":)" + array + R"(,"name":"evil"},"name":"big_tool"}})";
  const auto m = one(body);
  BOOST_TEST(m.tool_name.value() == "big_tool");
  BOOST_TEST(m.id_text == "9");

  // The same with the name first and escapes inside the big string.
  std::string escaped;
  for (int i = 0; i < 200000; ++i) escaped += "ab\\n\\u0041";
  const auto m2 = one(R"({"method":"tools/call","params":{"name":"first","arguments":{"s":")" + escaped +
                      R"("}},"id":1})");
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
  const auto m3 = one(R"({"method":"tools/call","id":1,"params":{"name)" + encoded + R"(":"evil"}})");
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

  for (const std::string_view body :
       {R"({"id":true,"method":"ping"})", R"({"id":{},"method":"ping"})", R"({"id":[1],"method":"ping"})"}) {
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
  const auto m =
      one(R"({"id":1,"x":1,"x":2,"method":"tools/call","params":{"name":"t","arguments":{"name":"a","name":"b"}}})");
  BOOST_TEST(m.tool_name.value() == "t");
}

// --- tools/call's tool name, the hard cases ---

BOOST_AUTO_TEST_CASE(name_inside_arguments_never_counts) {
  const std::string head = R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{)";
  // "name" inside "arguments", before and after the real params.name, at
  // several depths, and inside objects that look like params themselves.
  for (const std::string& params : {
           std::string(R"("arguments":{"name":"evil"},"name":"real")"),
           std::string(R"("name":"real","arguments":{"name":"evil"})"),
           std::string(R"("arguments":{"params":{"name":"evil"}},"name":"real","extra":{"name":"evil2"})"),
           std::string(R"("arguments":[{"name":"evil"},["name","evil"]],"name":"real")"),
           std::string(R"("arguments":{"a":{"b":{"c":{"name":"evil"}}}},"name":"real","z":{"name":1})"),
           std::string(R"("_meta":{"name":"evil"},"name":"real","arguments":{"name":null})"),
           std::string(R"("\u0061rguments":{"name":"evil"},"name":"real")"),
       }) {
    const auto m = one(head + params + "}}");
    BOOST_TEST(m.tool_name.value() == "real", params);
  }
  // No params.name at all: a "name" anywhere below does not stand in for it.
  for (const std::string& params : {
           std::string(R"("arguments":{"name":"evil"})"),
           std::string(R"("arguments":{"name":"evil"},"other":{"name":"evil"})"),
           std::string(R"("arguments":{"params":{"name":"evil"}})"),
           std::string(R"("arguments":[{"name":"evil"}])"),
           std::string(R"("names":"evil","nam":"evil","Name":"evil","name ":"evil")"),
       }) {
    const auto m = one(head + params + "}}");
    BOOST_TEST(!m.tool_name.has_value(), params);
    BOOST_TEST(m.kind == message_kind::request);
  }
}

BOOST_AUTO_TEST_CASE(escaped_characters_in_the_name) {
  struct example {
    std::string_view encoded;
    std::string_view decoded;
  };
  for (const auto& [encoded, decoded] : std::array<example, 10>{{
           {R"(a\"b)", "a\"b"},
           {R"(a\\b)", "a\\b"},
           {R"(caf\u00e9)", "caf\xC3\xA9"},
           {R"(caf\u00E9)", "caf\xC3\xA9"},
           {R"(\ud83d\ude00)", "\xF0\x9F\x98\x80"},
           {R"(x\uD834\uDD1Ey)", "x\xF0\x9D\x84\x9Ey"},  // U+1D11E
           {R"(a\/b)", "a/b"},
           {R"(\b\f\n\r\t)", "\b\f\n\r\t"},
           {R"(\u20ac\u0041)",
            "\xE2\x82\xAC"
            "A"},
           {R"(nul\u0000byte)", std::string_view("nul\0byte", 8)},
       }}) {
    const auto m = one(R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":")" + std::string(encoded) +
                       R"("}})");
    BOOST_TEST(m.tool_name.value() == decoded, encoded);
  }
  // An escaped method name is the same method.
  const auto m = one(R"({"id":1,"method":"tools\u002fcall","params":{"name":"t"}})");
  BOOST_TEST(m.method.value() == method_tools_call);
  BOOST_TEST(m.tool_name.value() == "t");
  // A key with a NUL after "name" is another key.
  BOOST_TEST(!one(R"({"id":1,"method":"tools/call","params":{"name\u0000":"t"}})").tool_name.has_value());
  // Lone or reversed surrogates, which JavaScript's JSON.parse accepts, are
  // read too, each as its WTF-8 bytes: never the same name as one without
  // it, nor as U+FFFD.
  for (const auto& [encoded, decoded] : std::array<example, 5>{{
           {R"(\ud83d)", "\xED\xA0\xBD"},
           {R"(\ud83dx)", "\xED\xA0\xBDx"},
           {R"(\ude00)", "\xED\xB8\x80"},
           {R"(\ude00\ud83d)", "\xED\xB8\x80\xED\xA0\xBD"},
           {R"(\ud83d\u0041)",
            "\xED\xA0\xBD"
            "A"},
       }}) {
    const auto lone =
        one(R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":")" + std::string(encoded) + R"("}})");
    BOOST_TEST(lone.tool_name.value() == decoded, encoded);
  }
  // Bad escapes are not JSON.
  for (const std::string_view bad : {R"(\u12)", R"(\U0041)", R"(\')", R"(\ud83d\u12)"}) {
    BOOST_TEST((rejection(R"({"id":1,"method":"tools/call","params":{"name":")" + std::string(bad) + R"("}})") ==
                inspect_error::invalid_json),
               "accepted: " << bad);
  }
}

BOOST_AUTO_TEST_CASE(unicode_names_in_raw_utf8) {
  for (const std::string_view name : {
           std::string_view("\xC3\xA9t\xC3\xA9"),                         // 2-byte sequences
           std::string_view("\xE5\xA4\xA9\xE6\xB0\x94"),                  // 3-byte (CJK)
           std::string_view("\xF0\x9F\x98\x80_tool"),                     // 4-byte (emoji)
           std::string_view("\xD0\xBF\xD0\xBE\xD0\xB8\xD1\x81\xD0\xBA"),  // Cyrillic
       }) {
    const auto m = one("{\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"" + std::string(name) + "\"}}");
    BOOST_TEST(m.tool_name.value() == name);
  }
  // The escaped and the raw spelling decode to the same bytes.
  BOOST_TEST(one(R"({"id":1,"method":"tools/call","params":{"name":"\u5929\u6c14"}})").tool_name.value() ==
             "\xE5\xA4\xA9\xE6\xB0\x94");
  // Overlong forms, surrogates encoded in UTF-8, cut sequences: not UTF-8.
  for (const std::string_view bad :
       {std::string_view("\xC0\xAF"), std::string_view("\xED\xA0\x80"), std::string_view("\xE5\xA4"),
        std::string_view("\xF8\x88\x80\x80\x80"), std::string_view("\xFF")}) {
    BOOST_TEST((rejection("{\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"" + std::string(bad) + "\"}}") ==
                inspect_error::invalid_json));
  }
}

BOOST_AUTO_TEST_CASE(every_member_order) {
  std::array<std::string, 4> members = {R"("jsonrpc":"2.0")", R"("id":"x7")", R"("method":"tools/call")",
                                        R"("params":{"arguments":{"name":"evil"},"name":"good"})"};
  std::sort(members.begin(), members.end());
  int orders = 0;
  do {
    const std::string body = "{" + members[0] + "," + members[1] + "," + members[2] + "," + members[3] + "}";
    const auto m = one(body);
    BOOST_TEST(m.tool_name.value() == "good", body);
    BOOST_TEST(m.kind == message_kind::request, body);
    BOOST_TEST(m.has_jsonrpc_2_0, body);
    BOOST_TEST(m.id == id_kind::string, body);
    BOOST_TEST(m.id_text == "x7", body);
    ++orders;
  } while (std::next_permutation(members.begin(), members.end()));
  BOOST_TEST(orders == 24);

  // params before method, id last, and "arguments" before "name".
  const auto m = one(R"({"params":{"arguments":{"q":1},"name":"late"},"method":"tools/call","jsonrpc":"2.0","id":5})");
  BOOST_TEST(m.tool_name.value() == "late");
  BOOST_TEST(m.id_text == "5");
}

BOOST_AUTO_TEST_CASE(whitespace_between_every_token) {
  for (const std::string_view ws : {" ", "\r\n", "\t", " \r\n\t ", "\n\n\r\n\t\t  \r\n"}) {
    const std::string w(ws);
    const std::string body =
        w + "{" + w + "\"params\"" + w + ":" + w + "{" + w + "\"arguments\"" + w + ":" + w + "{" + w + "\"name\"" + w +
        ":" + w + "\"evil\"" + w + "," + w + "\"n\"" + w + ":" + w + "[" + w + "1" + w + "," + w + "true" + w + "]" +
        w + "}" + w + "," + w + "\"name\"" + w + ":" + w + "\"spaced\"" + w + "}" + w + "," + w + "\"method\"" + w +
        ":" + w + "\"tools/call\"" + w + "," + w + "\"jsonrpc\"" + w + ":" + w + "\"2.0\"" + w + "," + w + "\"id\"" +
        w + ":" + w + "-3" + w + "}" + w;
    const auto m = one(body);
    BOOST_TEST(m.tool_name.value() == "spaced");
    BOOST_TEST(m.id_text == "-3");
    BOOST_TEST(m.has_jsonrpc_2_0);

    const auto r = inspect_jsonrpc(w + "[" + w + body + w + "," + w + body + w + "]" + w);
    BOOST_TEST_REQUIRE(r.has_value());
    BOOST_TEST_REQUIRE(r->messages.size() == 2u);
    BOOST_TEST(r->messages[1].tool_name.value() == "spaced");
  }
  // Whitespace inside the name is part of it; other "whitespace" is not JSON's.
  BOOST_TEST(one(R"({"id":1,"method":"tools/call","params":{"name":" a b "}})").tool_name.value() == " a b ");
  BOOST_TEST(rejection("{\"id\":1,\f\"method\":\"ping\"}") == inspect_error::invalid_json);
  BOOST_TEST(rejection("{\"id\":1,\v\"method\":\"ping\"}") == inspect_error::invalid_json);
  BOOST_TEST(rejection("{\"id\":1,\xC2\xA0\"method\":\"ping\"}") == inspect_error::invalid_json);
}

BOOST_AUTO_TEST_CASE(eight_mebibytes_of_nested_arguments) {
  // A nested, name-laden payload well inside the depth limit, with escapes
  // and long strings, grown past 8 MiB.
  const std::string unit =
      R"({"name":"evil","params":{"name":"evil2"},"list":[1,-2.5e3,true,null,"\u00e9\"\\",{"name":"x","deep":)"
      R"([[[{"name":"y","s":"0123456789abcdef0123456789abcdef"}]]]}],"text":")" +
      std::string(200, 'q') + R"("})";
  std::string items;
  while (items.size() < 8u * 1024 * 1024) {
    if (!items.empty()) items += ',';
    items += unit;
  }
  const std::string arguments = R"({"items":[)" + items + R"(],"name":"evil3"})";
  BOOST_TEST_REQUIRE(arguments.size() > 8u * 1024 * 1024);

  struct example {
    std::string body;
    std::string_view name;
  };
  for (const auto& [body, name] : std::array<example, 2>{{
           {R"({"jsonrpc":"2.0","id":77,"method":"tools/call","params":{"arguments":)" + arguments +
                R"(,"name":"after"}})",
            "after"},
           {R"({"params":{"name":"before","arguments":)" + arguments + R"(},"method":"tools/call","id":77})", "before"},
       }}) {
    std::size_t allocated = 0;
    std::optional<mcpgate::result<inspection>> r;
    {
      const allocation_scope scope;
      r.emplace(inspect_jsonrpc(body));
      allocated = scope.bytes();
    }
    BOOST_TEST_REQUIRE(r->has_value());
    BOOST_TEST_REQUIRE((*r)->messages.size() == 1u);
    const auto& m = (*r)->messages.front();
    BOOST_TEST(m.tool_name.value() == name);
    BOOST_TEST(m.id_text == "77");
    // Linear and copy-free: what the inspector allocates is bounded by the
    // few strings it keeps, never proportional to "arguments".
    BOOST_TEST(allocated < 64u * 1024, "allocated " << allocated << " bytes for a " << body.size() << "-byte body");
  }
}

BOOST_AUTO_TEST_CASE(name_that_is_not_a_string_is_unset) {
  for (const std::string_view value :
       {"12", "-1.5e2", "0", "null", "true", "false", "{}", R"({"name":"x"})", "[]", R"(["x"])", R"([{"name":"x"}])"}) {
    for (const bool args_first : {false, true}) {
      const std::string params = args_first ? R"("arguments":{"name":"evil"},"name":)" + std::string(value)
                                            : R"("name":)" + std::string(value) + R"(,"arguments":{"name":"evil"})";
      const auto m = one(R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{)" + params + "}}");
      BOOST_TEST(!m.tool_name.has_value(), params);
      BOOST_TEST(m.kind == message_kind::request, params);
    }
  }
}

BOOST_AUTO_TEST_CASE(duplicate_params_name_is_rejected) {
  for (const std::string_view params : {
           R"("name":"a","name":"a")",
           R"("name":"ok","arguments":{},"name":"evil")",
           R"("name":1,"name":"evil")",
           R"("name":"ok","name":null)",
           R"("name":{"name":"x"},"name":"evil")",
           R"("name":"ok","n\u0061me":"evil")",
       }) {
    BOOST_TEST((rejection(R"({"id":1,"method":"tools/call","params":{)" + std::string(params) + "}}") ==
                inspect_error::duplicate_key),
               "accepted: " << params);
    // The same in a batch, after a clean message.
    BOOST_TEST((rejection(R"([{"id":0,"method":"ping"},{"id":1,"method":"tools/call","params":{)" +
                          std::string(params) + "}}]") == inspect_error::duplicate_key),
               "accepted in a batch: " << params);
  }
  // The same name in two messages of a batch is no duplicate.
  const auto r = inspect_jsonrpc(
      R"([{"id":1,"method":"tools/call","params":{"name":"a"}},{"id":2,"method":"tools/call","params":{"name":"a"}}])");
  BOOST_TEST_REQUIRE(r.has_value());
  BOOST_TEST(r->messages[1].tool_name.value() == "a");
}

BOOST_AUTO_TEST_CASE(batch_reports_tool_name_per_message) {
  const auto r = inspect_jsonrpc(R"([
    {"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"first","arguments":{"name":"x"}}},
    {"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"arguments":{"name":"not_me"}}},
    {"jsonrpc":"2.0","id":3,"method":"prompts/get","params":{"name":"prompt"}},
    {"jsonrpc":"2.0","method":"tools/call","params":{"name":"as_notification"}},
    {"jsonrpc":"2.0","id":4,"method":"tools/call"},
    {"params":{"name":"reordered"},"id":5,"method":"tools/call"},
    {"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":7}},
    {"jsonrpc":"2.0","id":7,"result":{"tools":[{"name":"listed"}]}},
    {"jsonrpc":"2.0","id":8,"method":"tools/list"},
    {"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"last"}}
  ])");
  BOOST_TEST_REQUIRE(r.has_value());
  BOOST_TEST(r->is_batch);
  BOOST_TEST_REQUIRE(r->messages.size() == 10u);
  const auto& m = r->messages;
  BOOST_TEST(m[0].tool_name.value() == "first");
  BOOST_TEST(!m[1].tool_name.has_value());  // nothing carried over from m[0]
  BOOST_TEST(!m[2].tool_name.has_value());
  BOOST_TEST(m[2].method.value() == "prompts/get");
  BOOST_TEST(m[3].tool_name.value() == "as_notification");
  BOOST_TEST(m[3].kind == message_kind::notification);
  BOOST_TEST(!m[4].tool_name.has_value());
  BOOST_TEST(m[5].tool_name.value() == "reordered");
  BOOST_TEST(!m[6].tool_name.has_value());
  BOOST_TEST(m[7].kind == message_kind::response);
  BOOST_TEST(!m[7].tool_name.has_value());
  BOOST_TEST(m[8].method.value() == method_tools_list);
  BOOST_TEST(!m[8].tool_name.has_value());
  BOOST_TEST(m[9].tool_name.value() == "last");
  for (std::size_t i = 0; i < m.size(); ++i) {
    if (i != 3 && i != 7) BOOST_TEST((m[i].kind == message_kind::request), i);
  }
}

BOOST_AUTO_TEST_CASE(every_truncation_is_rejected) {
  for (
      const std::string& body : {
          std::string(R"([{"jsonrpc":"2.0","id":"a\"b","method":"tools/call","params":{"name":"caf\u00e9\ud83d\ude00",)"
                      R"("arguments":{"n":[-1.5e-3,0,true,false,null,{}]}}},{"id":2,"method":"ping"}])"),
          std::string("{\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"\xE5\xA4\xA9\xF0\x9F\x98\x80\"}}"),
      }) {
    BOOST_TEST_REQUIRE(inspect_jsonrpc(body).has_value());
    for (std::size_t n = 0; n < body.size(); ++n) {
      BOOST_TEST((rejection(std::string_view(body).substr(0, n)) == inspect_error::invalid_json),
                 "accepted prefix of " << n);
    }
  }
}

BOOST_AUTO_TEST_CASE(reasons_have_messages) {
  BOOST_TEST(make_error_code(inspect_error::empty_batch).message() == "batch is empty");
  BOOST_TEST(std::string(inspect_category().name()) == "mcpgate.jsonrpc_inspector");
}

BOOST_AUTO_TEST_CASE(keeps_what_the_2026_header_rules_compare) {
  const auto tools = one(
      R"({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"_meta":{"x":{"io.modelcontextprotocol/protocolVersion":"no"},)"
      R"("io.modelcontextprotocol/protocolVersion":"2026-07-28"},"name":"echo","uri":"u","arguments":{"name":"deep"}}})");
  BOOST_TEST(tools.tool_name.value() == "echo");
  BOOST_TEST(tools.mirrored_param.value() == "echo");
  BOOST_TEST(tools.protocol_version.value() == "2026-07-28");

  // The method may come after params: the member is picked once it is known.
  const auto resource =
      one(R"({"params":{"uri":"file:///x","name":"n"},"id":1,"jsonrpc":"2.0","method":"resources/read"})");
  BOOST_TEST(resource.mirrored_param.value() == "file:///x");
  BOOST_TEST(!resource.tool_name.has_value());
  BOOST_TEST(!resource.protocol_version.has_value());

  BOOST_TEST(one(R"({"jsonrpc":"2.0","id":1,"method":"prompts/get","params":{"name":"p"}})").mirrored_param.value() ==
             "p");
  for (const char* method : {"tasks/get", "tasks/update", "tasks/cancel"}) {
    const std::string body = std::string(R"({"jsonrpc":"2.0","id":1,"method":")") + method +
                             R"(","params":{"taskId":"\u0074-1"}})";
    BOOST_TEST(one(body).mirrored_param.value() == "t-1", method);
  }
  // Other methods mirror nothing; non-string values are not kept.
  BOOST_TEST(
      !one(R"({"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"name":"x"}})").mirrored_param.has_value());
  const auto numbers = one(
      R"({"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":7,"_meta":{"io.modelcontextprotocol/protocolVersion":20260728}}})");
  BOOST_TEST(!numbers.mirrored_param.has_value());
  BOOST_TEST(!numbers.protocol_version.has_value());
  // A _meta that is not an object is just another member.
  BOOST_TEST(
      !one(R"({"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":"x"}})").protocol_version.has_value());
}

BOOST_AUTO_TEST_CASE(refuses_two_copies_of_what_the_header_rules_compare) {
  for (
      const char* body : {
          R"({"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"a","uri":"b"}})",
          R"({"jsonrpc":"2.0","id":1,"method":"tasks/get","params":{"taskId":"a","taskId":"b"}})",
          R"({"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{},"_meta":{}}})",
          R"({"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"a",)"
          R"("io.modelcontextprotocol/protocolVersion":"b"}}})",
      }) {
    BOOST_TEST(rejection(body) == inspect_error::duplicate_key, body);
  }
}

BOOST_AUTO_TEST_SUITE_END()

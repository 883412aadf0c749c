#include "proxy/tools_filter.hpp"

#include "proxy/json_text.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <boost/test/unit_test.hpp>

#include <cstddef>
#include <functional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

using namespace mcpgate::proxy;
namespace json = boost::json;

namespace {

// Hides the tools whose decoded name is in `names`, and records every call.
struct hide_set {
  std::set<std::string, std::less<>> names;
  std::vector<std::string> asked;

  std::function<bool(std::string_view)> predicate() {
    return [this](std::string_view name) {
      asked.emplace_back(name);
      return names.contains(name);
    };
  }
};

std::vector<std::string> list(std::initializer_list<std::string_view> names) { return {names.begin(), names.end()}; }

// Filters a message that must be a tools/list answer.
tools_list_answer filter(std::string_view message, std::set<std::string, std::less<>> hidden) {
  hide_set h{std::move(hidden), {}};
  auto r = filter_tools_list(message, h.predicate());
  BOOST_TEST_REQUIRE((r.verdict == tools_list_verdict::tools), "not a tools/list answer: " << message);
  if (r.filtered) {
    json::parse_options options;
    options.max_depth = 4096;
    BOOST_TEST(read_json(*r.filtered, options).has_value(),
               "filtered output is not JSON: " << r.filtered->substr(0, 300));
  }
  return r;
}

bool never(std::string_view) { return false; }

}  // namespace

BOOST_AUTO_TEST_SUITE(tools_filter)

BOOST_AUTO_TEST_CASE(drops_hidden_tools_and_keeps_everything_else) {
  const std::string message =
      R"({"jsonrpc":"2.0","id":18446744073709551616,"result":{"tools":[)"
      R"({"name":"echo","description":"Echo \u00e9\/","inputSchema":{"type":"object","properties":{"name":{"type":"string"}}}},)"
      R"({"name":"do_not_use_me","inputSchema":{"type":"object"},"annotations":{"title":"X","n":1.0}},)"
      R"({"title":"Add","name":"add","inputSchema":{"type":"object"},"_meta":{"k":[1,2.50,-0]}})"
      R"(],"nextCursor":"c\u0031","_meta":{"x":1E3}},"extra":true})";
  hide_set h{{"do_not_use_me"}, {}};
  const auto r = filter_tools_list(message, h.predicate());
  BOOST_TEST_REQUIRE((r.verdict == tools_list_verdict::tools));
  BOOST_TEST(r.names == list({"echo", "do_not_use_me", "add"}), boost::test_tools::per_element());
  BOOST_TEST(h.asked == r.names, boost::test_tools::per_element());
  BOOST_TEST_REQUIRE(r.filtered.has_value());
  // Byte for byte the original minus the hidden element (numbers, escapes,
  // key order, the id that no double can hold).
  BOOST_TEST(
      *r.filtered ==
      R"({"jsonrpc":"2.0","id":18446744073709551616,"result":{"tools":[)"
      R"({"name":"echo","description":"Echo \u00e9\/","inputSchema":{"type":"object","properties":{"name":{"type":"string"}}}},)"
      R"({"title":"Add","name":"add","inputSchema":{"type":"object"},"_meta":{"k":[1,2.50,-0]}})"
      R"(],"nextCursor":"c\u0031","_meta":{"x":1E3}},"extra":true})");
}

BOOST_AUTO_TEST_CASE(nothing_hidden_means_forward_the_original) {
  const auto r = filter(R"({"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"a"},{"name":"b"}],"nextCursor":"n"}})",
                        {"zzz"});
  BOOST_TEST(r.names == list({"a", "b"}), boost::test_tools::per_element());
  BOOST_TEST(!r.filtered.has_value());

  const auto empty = filter(R"({"jsonrpc":"2.0","id":1,"result":{"tools":[]}})", {"a"});
  BOOST_TEST(empty.names.empty());
  BOOST_TEST(!empty.filtered.has_value());
}

BOOST_AUTO_TEST_CASE(every_subset_of_five_tools) {
  const std::vector<std::string> names = {"t0", "t1", "t2", "t3", "t4"};
  const std::string message = R"({"id":"q","result":{"nextCursor":"abc","tools":[ {"name":"t0","x":[1]} ,)"
                              "\n  {\"x\":{\"y\":\"]}\"},\"name\":\"t1\"},{\"name\":\"t2\"}\t,{\"name\":\"t3\"},\r\n"
                              R"({"name":"t4","inputSchema":{"type":"object"}} ],"z":null}})";
  const json::value original = json::parse(message);
  for (unsigned mask = 0; mask < 32; ++mask) {
    std::set<std::string, std::less<>> hidden;
    json::value want = original;
    json::array& want_tools = want.at("result").at("tools").as_array();
    for (std::size_t i = 5; i-- > 0;) {
      if ((mask & (1u << i)) != 0) {
        hidden.insert(names[i]);
        want_tools.erase(want_tools.begin() + static_cast<std::ptrdiff_t>(i));
      }
    }
    const auto r = filter(message, hidden);
    BOOST_TEST(r.names == names, boost::test_tools::per_element());
    if (mask == 0) {
      BOOST_TEST(!r.filtered.has_value());
      continue;
    }
    BOOST_TEST_REQUIRE(r.filtered.has_value());
    BOOST_TEST(json::parse(*r.filtered) == want, "mask " << mask << ": " << *r.filtered);
  }
}

BOOST_AUTO_TEST_CASE(whitespace_of_a_pretty_printed_answer_is_kept) {
  const std::string message =
      "{\n  \"jsonrpc\": \"2.0\",\n  \"id\": 2,\n  \"result\": {\n    \"tools\": [\n      {\"name\": \"a\"},\n"
      "      {\"name\": \"hide\"},\n      {\"name\": \"b\"}\n    ]\n  }\n}\n";
  const auto r = filter(message, {"hide"});
  BOOST_TEST(r.filtered.value() ==
             "{\n  \"jsonrpc\": \"2.0\",\n  \"id\": 2,\n  \"result\": {\n    \"tools\": [\n      {\"name\": \"a\"},\n"
             "      {\"name\": \"b\"}\n    ]\n  }\n}\n");
  const auto all = filter(message, {"a", "hide", "b"});
  BOOST_TEST(all.filtered.value() ==
             "{\n  \"jsonrpc\": \"2.0\",\n  \"id\": 2,\n  \"result\": {\n    \"tools\": [\n      \n    ]\n  }\n}\n");
}

BOOST_AUTO_TEST_CASE(names_are_compared_decoded) {
  const std::string message =
      R"({"jsonrpc":"2.0","id":1,"result":{"t\u006fols":[{"n\u0061me":"do\u005fnot\u005fuse"},)"
      R"({"name":"caf\u00e9"},{"name":"x\ud83d\ude00"},{"name":"q\"uote\\"},{"name":"keep"}]}})";
  hide_set h{{"do_not_use", "caf\xC3\xA9", "x\xF0\x9F\x98\x80", "q\"uote\\"}, {}};
  const auto r = filter_tools_list(message, h.predicate());
  BOOST_TEST_REQUIRE((r.verdict == tools_list_verdict::tools));
  BOOST_TEST(r.names == list({"do_not_use", "caf\xC3\xA9", "x\xF0\x9F\x98\x80", "q\"uote\\", "keep"}),
             boost::test_tools::per_element());
  BOOST_TEST(r.filtered.value() == R"({"jsonrpc":"2.0","id":1,"result":{"t\u006fols":[{"name":"keep"}]}})");

  // The escaped key "r\u0065sult" is "result" too; raw UTF-8 names as well.
  const auto raw = filter("{\"id\":1,\"r\\u0065sult\":{\"tools\":[{\"name\":\"\xE5\xA4\xA9\"},{\"name\":\"b\"}]}}",
                          {"\xE5\xA4\xA9"});
  BOOST_TEST(raw.filtered.value() == "{\"id\":1,\"r\\u0065sult\":{\"tools\":[{\"name\":\"b\"}]}}");
  // Only the exact decoded name matches.
  const auto near = filter(R"({"id":1,"result":{"tools":[{"name":"do_not_use "},{"name":"Do_not_use"}]}})",
                           {"do_not_use"});
  BOOST_TEST(!near.filtered.has_value());
}

BOOST_AUTO_TEST_CASE(tools_without_a_string_name_are_kept_and_not_listed) {
  const auto r = filter(R"({"id":1,"result":{"tools":[{"name":1},"name",{"title":"x"},null,[{"name":"h"}],)"
                        R"({"name":{"name":"h"}},{"inputSchema":{"name":"h"}},{"name":"h"}]}})",
                        {"h"});
  BOOST_TEST(r.names == list({"h"}), boost::test_tools::per_element());
  BOOST_TEST(r.filtered.value() == R"({"id":1,"result":{"tools":[{"name":1},"name",{"title":"x"},null,[{"name":"h"}],)"
                                   R"({"name":{"name":"h"}},{"inputSchema":{"name":"h"}}]}})");
}

BOOST_AUTO_TEST_CASE(duplicate_keys_do_not_smuggle_a_tool) {
  // A tool with two names is hidden when either is.
  auto r = filter(R"({"id":1,"result":{"tools":[{"name":"ok","name":"secret"},{"name":"b"}]}})", {"secret"});
  BOOST_TEST(r.names == list({"ok", "secret", "b"}), boost::test_tools::per_element());
  BOOST_TEST(r.filtered.value() == R"({"id":1,"result":{"tools":[{"name":"b"}]}})");
  r = filter(R"({"id":1,"result":{"tools":[{"name":"secret","name":"ok"}]}})", {"secret"});
  BOOST_TEST(r.filtered.value() == R"({"id":1,"result":{"tools":[]}})");

  // Two "tools" arrays, two "result" objects: every one is filtered.
  r = filter(R"({"id":1,"result":{"tools":[{"name":"secret"},{"name":"a"}],"tools":[{"name":"b"},{"name":"secret"}]}})",
             {"secret"});
  BOOST_TEST(r.names == list({"secret", "a", "b", "secret"}), boost::test_tools::per_element());
  BOOST_TEST(r.filtered.value() == R"({"id":1,"result":{"tools":[{"name":"a"}],"tools":[{"name":"b"}]}})");
  r = filter(R"({"result":{"tools":[{"name":"secret"}]},"id":1,"result":{"tools":[{"name":"secret"},{"name":"c"}]}})",
             {"secret"});
  BOOST_TEST(r.filtered.value() == R"({"result":{"tools":[]},"id":1,"result":{"tools":[{"name":"c"}]}})");
}

BOOST_AUTO_TEST_CASE(valid_json_without_a_tools_result_is_forwarded_as_it_is) {
  for (const std::string_view message : {
           R"({"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"Method not found"}})",
           R"({"jsonrpc":"2.0","id":1,"error":{"code":-32000,"message":"x","data":{"tools":[{"name":"h"}]}}})",
           R"({"jsonrpc":"2.0","id":1,"result":{}})",
           R"({"jsonrpc":"2.0","id":1,"result":{"prompts":[{"name":"h"}]}})",
           R"({"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"{\"tools\":[]}"}]}})",
           R"({"jsonrpc":"2.0","id":1,"result":{"tools":{"name":"h"}}})",
           R"({"jsonrpc":"2.0","id":1,"result":{"tools":"h"}})",
           R"({"jsonrpc":"2.0","id":1,"result":{"tools":null}})",
           R"({"jsonrpc":"2.0","id":1,"result":[{"tools":[{"name":"h"}]}]})",
           R"({"jsonrpc":"2.0","id":1,"result":null})",
           R"({"jsonrpc":"2.0","id":1,"result":{"nested":{"tools":[{"name":"h"}]}}})",
           R"({"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"cursor":"c"}})",
           R"({"jsonrpc":"2.0","method":"notifications/tools/list_changed"})",
           R"({"jsonrpc":"2.0","id":1,"method":"x","result":{"tools":[{"name":"h"}]}})",
           R"("tools")",
           "42",
           "[]",
           "[1,2]",
       }) {
    const auto r = filter_tools_list(message, never);
    BOOST_TEST((r.verdict == tools_list_verdict::no_tools), message);
    BOOST_TEST(!r.filtered.has_value(), message);
  }
}

// Fail closed: what cannot be read may list tools the agent must not see.
BOOST_AUTO_TEST_CASE(what_is_not_json_is_unreadable) {
  for (const std::string_view message : {
           R"({"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"h"}]}} trailing)",
           R"({"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"h"},]}})",
           R"({"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"h"}])",
           "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"tools\":[{\"name\":\"\xC3\"}]}}",
           R"({"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"h","x":"\ud800\x"}]}})",
           "",
           "{",
           "<html>502 Bad Gateway</html>",
       }) {
    BOOST_TEST((filter_tools_list(message, never).verdict == tools_list_verdict::unreadable), message);
  }
  // Nesting beyond what is inspected.
  const std::string deep = R"({"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"h","inputSchema":)" +
                           std::string(5000, '[') + std::string(5000, ']') + "}]}}";
  BOOST_TEST((filter_tools_list(deep, never).verdict == tools_list_verdict::unreadable));
}

// JavaScript's JSON.parse accepts a lone surrogate escape (a cut emoji), so
// the filter must too: anywhere in the answer, in a hidden tool's name too.
BOOST_AUTO_TEST_CASE(lone_surrogate_escapes_are_read_not_declined) {
  const std::string message =
      R"({"jsonrpc":"2.0","id":1,"result":{"tools":[)"
      R"({"name":"kept","description":"cut emoji \ud83d"},)"
      R"({"name":"secret","description":"\udc00 low first"},)"
      R"({"name":"odd\ud800","inputSchema":{"type":"object"}})"
      R"(]}})";
  hide_set h{{"secret", std::string("odd\xED\xA0\x80")}, {}};
  const auto r = filter_tools_list(message, h.predicate());
  BOOST_TEST_REQUIRE((r.verdict == tools_list_verdict::tools));
  // A lone surrogate decodes to its WTF-8 bytes: never equal to U+FFFD or to
  // a name without it.
  BOOST_TEST(r.names == list({"kept", "secret", "odd\xED\xA0\x80"}), boost::test_tools::per_element());
  BOOST_TEST_REQUIRE(r.filtered.has_value());
  BOOST_TEST(*r.filtered == R"({"jsonrpc":"2.0","id":1,"result":{"tools":[)"
                            R"({"name":"kept","description":"cut emoji \ud83d"})"
                            R"(]}})");
}

BOOST_AUTO_TEST_CASE(a_batch_of_answers_is_filtered_too) {
  const auto r = filter(R"([{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"h"},{"name":"a"}]}},)"
                        R"({"jsonrpc":"2.0","id":2,"result":{}},)"
                        R"({"jsonrpc":"2.0","id":3,"result":{"tools":[{"name":"b"},{"name":"h"}]}}])",
                        {"h"});
  BOOST_TEST(r.names == list({"h", "a", "b", "h"}), boost::test_tools::per_element());
  BOOST_TEST(r.filtered.value() == R"([{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"a"}]}},)"
                                   R"({"jsonrpc":"2.0","id":2,"result":{}},)"
                                   R"({"jsonrpc":"2.0","id":3,"result":{"tools":[{"name":"b"}]}}])");
}

BOOST_AUTO_TEST_CASE(strings_with_brackets_and_escapes_do_not_confuse_the_walk) {
  const std::string message =
      R"({"id":"]}","result":{"a":"\"]}[{","tools":[{"description":"\\\"}],{\"name\":\"x\"}","name":"h"},)"
      R"({"name":"k","d":"[[[\\"}],"nextCursor":"}]\\"}})";
  const auto r = filter(message, {"h"});
  BOOST_TEST(r.names == list({"h", "k"}), boost::test_tools::per_element());
  BOOST_TEST(r.filtered.value() ==
             R"({"id":"]}","result":{"a":"\"]}[{","tools":[{"name":"k","d":"[[[\\"}],"nextCursor":"}]\\"}})");
}

BOOST_AUTO_TEST_CASE(deeply_nested_schemas_are_fine) {
  std::string schema;
  for (int i = 0; i < 1000; ++i) schema += R"({"items":)";
  schema += "{}";
  for (int i = 0; i < 1000; ++i) schema += "}";
  const auto r = filter(R"({"id":1,"result":{"tools":[{"name":"h","inputSchema":)" + schema +
                            R"(},{"name":"k","inputSchema":)" + schema + "}]}}",
                        {"h"});
  BOOST_TEST(r.filtered.value() == R"({"id":1,"result":{"tools":[{"name":"k","inputSchema":)" + schema + "}]}}");
}

BOOST_AUTO_TEST_CASE(a_filtered_modern_list_becomes_private) {
  hide_set h{{"b"}, {}};
  const auto hidden = h.predicate();
  // Public and long-lived upstream: private, ttlMs cut to the cap; the rest kept.
  const auto cut = filter_tools_list(
      R"({"jsonrpc":"2.0","id":1,"result":{"resultType":"complete","tools":[{"name":"a"},{"name":"b"}],"cacheScope":"public","ttlMs":300000}})",
      hidden, 60000);
  BOOST_TEST(
      cut.filtered.value() ==
      R"({"jsonrpc":"2.0","id":1,"result":{"resultType":"complete","tools":[{"name":"a"}],"cacheScope":"private","ttlMs":60000}})");
  // A shorter ttlMs stays; a missing scope and ttl are added.
  const auto short_ttl = filter_tools_list(R"({"id":1,"result":{"tools":[{"name":"b"}],"ttlMs":5000}})", hidden, 60000);
  BOOST_TEST(short_ttl.filtered.value() == R"({"id":1,"result":{"cacheScope":"private","tools":[],"ttlMs":5000}})");
  const auto none = filter_tools_list(R"({"id":1,"result":{"tools":[{"name":"b"}]}})", hidden, 60000);
  BOOST_TEST(none.filtered.value() == R"({"id":1,"result":{"cacheScope":"private","ttlMs":60000,"tools":[]}})");
  // A ttlMs that is not a whole number within the cap is replaced.
  for (const char* ttl : {"-1", "1.5", "\"10\"", "null", "99999999999999999999999"}) {
    const auto odd = filter_tools_list(std::string(R"({"id":1,"result":{"tools":[{"name":"b"}],"ttlMs":)") + ttl + "}}",
                                       hidden, 60000);
    BOOST_TEST(json::parse(odd.filtered.value()).at("result").at("ttlMs") == 60000, ttl);
  }
}

BOOST_AUTO_TEST_CASE(an_unfiltered_or_legacy_list_keeps_its_cache_hints) {
  hide_set h{{"b"}, {}};
  const auto hidden = h.predicate();
  const std::string kept = R"({"id":1,"result":{"tools":[{"name":"a"}],"cacheScope":"public","ttlMs":300000}})";
  BOOST_TEST(!filter_tools_list(kept, hidden, 60000).filtered.has_value());
  // Without a cap (a legacy request) only the tool goes.
  const auto legacy =
      filter_tools_list(R"({"id":1,"result":{"tools":[{"name":"b"}],"cacheScope":"public","ttlMs":300000}})", hidden);
  BOOST_TEST(legacy.filtered.value() == R"({"id":1,"result":{"tools":[],"cacheScope":"public","ttlMs":300000}})");
}

BOOST_AUTO_TEST_SUITE_END()

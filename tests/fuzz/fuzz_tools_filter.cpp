// Fuzz target: the tools/list filter (proxy/tools_filter.hpp).
//
// The input is one upstream answer. Tools are hidden by name: "no_*",
// "gone_*" and names containing "secret" always, "ok_*" never, others by a
// hash. Oracles, against an independent parse that keeps duplicate keys
// (json_tree.hpp):
//   - unreadable exactly when the text is not JSON within the filter's depth
//     limit (proxy::read_json agrees);
//   - tools exactly when some message without "method" has a "result" object
//     with a "tools" array (every duplicate counts), and `names` lists every
//     string "name" of every tool element, in order;
//   - `filtered` set exactly when some tool has a hidden name; then it is
//     JSON, and it is the original document with exactly the hidden tool
//     elements removed (every other member, duplicate, number and string
//     unchanged), so no hidden tool survives in any result.tools array.
#include "proxy/json_text.hpp"
#include "proxy/tools_filter.hpp"
#include "tests/fuzz/fuzz_check.hpp"
#include "tests/fuzz/json_tree.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace {

namespace proxy = mcpgate::proxy;
using mcpgate::fuzz::json_node;

// The filter's own nesting limit (tools_filter.cpp, max_depth).
constexpr std::size_t filter_max_depth = 4096;

bool hidden(std::string_view name) {
  if (name.starts_with("ok_")) return false;
  if (name.starts_with("no_") || name.starts_with("gone_") || name.find("secret") != std::string_view::npos)
    return true;
  return mcpgate::fuzz::fnv1a(name) % 3 == 0;
}

struct walk_result {
  bool found_tools = false;
  std::vector<std::string> names;
  bool any_hidden = false;
};

// The tool elements of one result.tools array: names listed, hidden ones
// removed from `array` when `cut`.
void walk_tools(json_node& array, walk_result& out, bool cut) {
  std::vector<json_node> kept;
  std::vector<json_node> elements = std::move(array.children);
  for (json_node& e : elements) {
    bool hide = false;
    if (e.type == json_node::kind::object) {
      for (std::size_t i = 0; i < e.keys.size(); ++i) {
        if (e.keys[i] != "name" || e.children[i].type != json_node::kind::string) continue;
        out.names.push_back(e.children[i].text);
        hide = hide || hidden(e.children[i].text);
      }
    }
    out.any_hidden = out.any_hidden || hide;
    if (!(cut && hide)) kept.push_back(std::move(e));
  }
  array.children = std::move(kept);
}

void walk_message(json_node& message, walk_result& out, bool cut) {
  for (const std::string& k : message.keys) {
    if (k == "method") return;  // a request or notification, not an answer
  }
  for (std::size_t i = 0; i < message.keys.size(); ++i) {
    json_node& result = message.children[i];
    if (message.keys[i] != "result" || result.type != json_node::kind::object) continue;
    for (std::size_t j = 0; j < result.keys.size(); ++j) {
      if (result.keys[j] != "tools" || result.children[j].type != json_node::kind::array) continue;
      out.found_tools = true;
      walk_tools(result.children[j], out, cut);
    }
  }
}

// What the filter should have seen in `doc`; with `cut`, `doc` loses the
// hidden tools.
walk_result walk(json_node& doc, bool cut) {
  walk_result out;
  if (doc.type == json_node::kind::object) {
    walk_message(doc, out, cut);
  } else if (doc.type == json_node::kind::array) {
    for (json_node& e : doc.children) {
      if (e.type == json_node::kind::object) walk_message(e, out, cut);
    }
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view message(reinterpret_cast<const char*>(data), size);
  const proxy::tools_list_answer answer = proxy::filter_tools_list(message, hidden);

  boost::json::parse_options options;
  options.max_depth = filter_max_depth;
  const bool readable = proxy::read_json(message, options).has_value();
  FUZZ_CHECK(readable == (answer.verdict != proxy::tools_list_verdict::unreadable));
  auto tree = mcpgate::fuzz::parse_tree(message, filter_max_depth);
  FUZZ_CHECK(tree.has_value() == readable);
  if (!readable) {
    FUZZ_CHECK(answer.names.empty() && !answer.filtered);
    return 0;
  }

  const walk_result expected = walk(*tree, true);  // *tree is now the expected filtered document
  FUZZ_CHECK((answer.verdict == proxy::tools_list_verdict::tools) == expected.found_tools);
  FUZZ_CHECK(answer.names == expected.names);
  FUZZ_CHECK(answer.filtered.has_value() == expected.any_hidden);
  if (!answer.filtered) {
    for (const std::string& name : answer.names) FUZZ_CHECK(!hidden(name));
    return 0;
  }

  FUZZ_CHECK(proxy::read_json(*answer.filtered, options).has_value());
  auto filtered = mcpgate::fuzz::parse_tree(*answer.filtered, filter_max_depth);
  FUZZ_CHECK(filtered.has_value());
  FUZZ_CHECK(*filtered == *tree);
  // Said once more, as the property that matters: nothing hidden is left.
  const walk_result left = walk(*filtered, false);
  FUZZ_CHECK(!left.any_hidden);
  return 0;
}

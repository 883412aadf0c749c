#include "proxy/sse.hpp"

#include "proxy/tools_filter.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <boost/test/unit_test.hpp>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

using namespace mcpgate::proxy;

namespace {

// Everything the splitter hands out for `pieces`, in order.
std::vector<std::string> split(const std::vector<std::string_view>& pieces, std::size_t max = 1 << 20) {
  sse_splitter s(max);
  std::vector<std::string> out;
  for (const std::string_view piece : pieces) {
    s.feed(piece);
    BOOST_TEST_REQUIRE(!s.overflowed());
    while (auto e = s.next_event()) out.push_back(std::move(*e));
  }
  return out;
}

std::string concat(const std::vector<std::string>& units) {
  std::string all;
  for (const auto& u : units) all += u;
  return all;
}

bool blank_only(std::string_view unit) { return unit.find_first_not_of("\r\n") == std::string_view::npos; }

// The events with fields, each without its trailing line ends: what must not
// depend on where the stream was cut.
std::vector<std::string> events(const std::vector<std::string>& units) {
  std::vector<std::string> out;
  for (const auto& u : units) {
    if (blank_only(u)) continue;
    out.push_back(u.substr(0, u.find_last_not_of("\r\n") + 1));
  }
  return out;
}

// A stream with every kind of line: comments, id/event/retry, multi-line data,
// a field without a colon, unknown fields; "\n" line ends only.
const std::string lf_stream =
    ": keep-alive comment\n"
    "\n"
    "event: message\n"
    "id: 1\n"
    "data: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n"
    "\n"
    "data: line one\n"
    "data:line two\n"
    "data:  three\n"
    "data\n"
    "retry: 1500\n"
    "\n"
    "id\n"
    "weird: field: with colons\n"
    ":comment\n"
    "data: last\n"
    "\n";

const std::vector<std::string> lf_events = {
    ": keep-alive comment\n\n",
    "event: message\nid: 1\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n\n",
    "data: line one\ndata:line two\ndata:  three\ndata\nretry: 1500\n\n",
    "id\nweird: field: with colons\n:comment\ndata: last\n\n",
};

// The same kinds of events with "\r\n", "\r" and blank lines between events.
const std::string mixed_stream =
    "\r\n"
    "event: message\r\n"
    "data: a\r\n"
    "data: b\r\n"
    "\r\n"
    "\n"
    "id: 7\r"
    "data: c\r"
    "\r"
    ": ping\n"
    "\r\n"
    "data: d\r\n"
    "event: e\n"
    "\r"
    "\r\n"
    "data: {}\r\n"
    "\r\n";

}  // namespace

BOOST_AUTO_TEST_SUITE(sse)

BOOST_AUTO_TEST_CASE(whole_stream_gives_each_event_as_received) {
  const auto units = split({lf_stream});
  BOOST_TEST(units == lf_events, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(every_split_point_reassembles_identically) {
  for (const std::string* stream : {&lf_stream, &mixed_stream}) {
    const std::string_view all(*stream);
    const auto whole = split({all});
    BOOST_TEST(concat(whole) == all);
    for (std::size_t a = 0; a <= all.size(); ++a) {
      // Two pieces cut at a, then three pieces cut at a and every later b.
      auto units = split({all.substr(0, a), all.substr(a)});
      BOOST_TEST(concat(units) == all, "cut at " << a);
      BOOST_TEST(events(units) == events(whole), boost::test_tools::per_element());
      if (stream == &lf_stream) BOOST_TEST(units == whole, boost::test_tools::per_element());
      for (std::size_t b = a; b <= all.size(); ++b) {
        units = split({all.substr(0, a), all.substr(a, b - a), all.substr(b)});
        if (concat(units) != all || events(units) != events(whole)) {
          BOOST_TEST(false, "cut at " << a << " and " << b);
        }
      }
    }
    // One byte at a time.
    std::vector<std::string_view> bytes;
    for (std::size_t i = 0; i < all.size(); ++i) bytes.push_back(all.substr(i, 1));
    const auto units = split(bytes);
    BOOST_TEST(concat(units) == all);
    BOOST_TEST(events(units) == events(whole), boost::test_tools::per_element());
  }
}

BOOST_AUTO_TEST_CASE(crlf_and_cr_line_ends) {
  const auto units = split({mixed_stream});
  BOOST_TEST(events(units) == std::vector<std::string>({"event: message\r\ndata: a\r\ndata: b", "id: 7\rdata: c",
                                                        ": ping", "data: d\r\nevent: e", "data: {}"}),
             boost::test_tools::per_element());
  // Whole, the events keep their own line ends, and each "\r\n" stays whole.
  BOOST_TEST(units.at(1) == "event: message\r\ndata: a\r\ndata: b\r\n\r\n");
  BOOST_TEST(units.at(3) == "id: 7\rdata: c\r\r");
  BOOST_TEST(event_data(units.at(1)) == "a\nb");
  BOOST_TEST(event_data(units.at(3)) == "c");
  BOOST_TEST(event_data(units.at(4)) == "");

  // A "\r\n" ending a field line, cut between its two bytes, is one line end
  // (not a blank line ending the event early).
  const auto cut = split({"data: x\r", "\ndata: y\r\n\r\n"});
  BOOST_TEST_REQUIRE(cut.size() == 1u);
  BOOST_TEST(event_data(cut[0]) == "x\ny");

  // An event ending in "\r" comes out at once, before the next byte arrives.
  sse_splitter s(1024);
  s.feed("data: now\r\r");
  const auto e = s.next_event();
  BOOST_TEST_REQUIRE(e.has_value());
  BOOST_TEST(*e == "data: now\r\r");
  s.feed("\ndata: next\n\n");
  BOOST_TEST(s.next_event().value() == "\n");
  BOOST_TEST(s.next_event().value() == "data: next\n\n");
  BOOST_TEST(!s.next_event().has_value());
}

BOOST_AUTO_TEST_CASE(incomplete_event_waits_and_remainder_is_available) {
  sse_splitter s(1024);
  s.feed("data: a\n\ndata: b\n");
  BOOST_TEST(s.next_event().value() == "data: a\n\n");
  BOOST_TEST(!s.next_event().has_value());
  s.feed("id: 2");
  BOOST_TEST(!s.next_event().has_value());
  BOOST_TEST(s.take_remainder() == "data: b\nid: 2");
  BOOST_TEST(s.take_remainder() == "");
  s.feed("data: fresh\n\n");
  BOOST_TEST(s.next_event().value() == "data: fresh\n\n");
}

BOOST_AUTO_TEST_CASE(blank_lines_are_not_held_back) {
  sse_splitter s(1024);
  s.feed("\n\r\n");
  BOOST_TEST(s.next_event().value() == "\n\r\n");
  BOOST_TEST(!s.next_event().has_value());
  s.feed("\n: c\n");
  BOOST_TEST(s.next_event().value() == "\n");
  BOOST_TEST(!s.next_event().has_value());
  s.feed("\n\n\n");
  BOOST_TEST(s.next_event().value() == ": c\n\n");
  BOOST_TEST(s.next_event().value() == "\n\n");
}

BOOST_AUTO_TEST_CASE(event_data_follows_the_sse_rules) {
  BOOST_TEST(event_data("data: a\ndata: b\n\n") == "a\nb");
  BOOST_TEST(event_data("data:a\n\n") == "a");
  BOOST_TEST(event_data("data:  a \n\n") == " a ");
  BOOST_TEST(event_data("data\ndata\n\n") == "\n");
  BOOST_TEST(event_data("data:\n\n") == "");
  BOOST_TEST(event_data(": data: no\nevent: data\nid: data\ndatax: no\ndata : no\nDATA: no\n\n") == "");
  BOOST_TEST(event_data("data: one\r\ndata: two\rdata: three\n\n") == "one\ntwo\nthree");
  BOOST_TEST(event_data("\xEF\xBB\xBF"
                        "data: bom\n\n") == "bom");
  BOOST_TEST(event_data("data: {\"a\":\"x:y\"}\n\n") == "{\"a\":\"x:y\"}");
}

BOOST_AUTO_TEST_CASE(replace_keeps_the_other_fields) {
  const std::string raw =
      ": comment first\nid: 42\nevent: message\ndata: old one\nretry: 3000\ndata: old two\n"
      ": trailing comment\nx-unknown: kept\n\n";
  const std::string out = replace_event_data(raw, "{\"new\":1}\n{\"second\":2}");
  BOOST_TEST(out ==
             ": comment first\nid: 42\nevent: message\ndata: {\"new\":1}\ndata: {\"second\":2}\nretry: 3000\n"
             ": trailing comment\nx-unknown: kept\n\n");
  BOOST_TEST(event_data(out) == "{\"new\":1}\n{\"second\":2}");

  // CRLF events stay CRLF; mixed ends are kept line by line.
  BOOST_TEST(replace_event_data("id: 1\r\ndata: a\r\ndata: b\r\n\r\n", "x\ny") ==
             "id: 1\r\ndata: x\r\ndata: y\r\n\r\n");
  BOOST_TEST(replace_event_data("id: 1\rdata: a\nevent: e\r\n\r", "x") == "id: 1\rdata: x\nevent: e\r\n\r");

  // No data line: the data goes before the blank line that ends the event.
  BOOST_TEST(replace_event_data("event: e\r\nid: 2\r\n\r\n", "d") == "event: e\r\nid: 2\r\ndata: d\r\n\r\n");
  BOOST_TEST(replace_event_data(": only a comment\n\n", "d") == ": only a comment\ndata: d\n\n");

  // Line breaks of every kind in the new data become separate data lines;
  // empty lines of data survive.
  const std::string multi = replace_event_data("data: z\n\n", "a\r\nb\rc\n\nd");
  BOOST_TEST(multi == "data: a\ndata: b\ndata: c\ndata:\ndata: d\n\n");
  BOOST_TEST(event_data(multi) == "a\nb\nc\n\nd");
  BOOST_TEST(replace_event_data("data: z\n\n", "") == "data:\n\n");

  // A leading BOM stays in front.
  BOOST_TEST(replace_event_data("\xEF\xBB\xBF"
                                "data: z\n\n",
                                "y") ==
             "\xEF\xBB\xBF"
             "data: y\n\n");

  // Unchanged data gives back the same bytes for events written the usual way.
  for (const std::string& e : lf_events) {
    if (e.find("data:l") != std::string::npos || e.find("data:  ") != std::string::npos) continue;
    if (e.find("data") == std::string::npos) continue;
    BOOST_TEST(replace_event_data(e, event_data(e)) == e);
  }
}

BOOST_AUTO_TEST_CASE(overflow_is_reported) {
  {
    sse_splitter s(32);
    s.feed("data: small\n\n");  // 13 bytes
    BOOST_TEST(s.next_event().has_value());
    s.feed("data: ");
    s.feed(std::string(20, 'x'));
    BOOST_TEST(!s.overflowed());  // 26 bytes pending
    s.feed(std::string(10, 'x'));
    BOOST_TEST(s.overflowed());
    BOOST_TEST(!s.next_event().has_value());
    s.feed("\n\ndata: after\n\n");
    BOOST_TEST(s.overflowed());
    BOOST_TEST(!s.next_event().has_value());
  }
  {
    // A complete event over the bound in one piece is an overflow too.
    sse_splitter s(32);
    s.feed("data: " + std::string(40, 'y') + "\n\n");
    BOOST_TEST(s.overflowed());
    BOOST_TEST(!s.next_event().has_value());
  }
  {
    // Exactly at the bound is fine, one byte over is not.
    const std::string event = "data: " + std::string(24, 'z') + "\n\n";  // 32 bytes
    sse_splitter s(32);
    s.feed(event + event);
    BOOST_TEST(!s.overflowed());
    BOOST_TEST(s.next_event().value() == event);
    BOOST_TEST(s.next_event().value() == event);
    s.feed("data: " + std::string(25, 'z') + "\n\n");
    BOOST_TEST(s.overflowed());
  }
  {
    // Many small events in many pieces never overflow: memory is what is
    // pending, not what passed.
    sse_splitter s(64);
    std::size_t n = 0;
    for (int i = 0; i < 10000; ++i) {
      s.feed("data: ");
      s.feed(std::to_string(i));
      s.feed("\n\n");
      while (auto e = s.next_event()) ++n;
    }
    BOOST_TEST(!s.overflowed());
    BOOST_TEST(n == 10000u);
  }
}

BOOST_AUTO_TEST_CASE(filtering_a_tools_list_answer_inside_an_event) {
  const std::string stream =
      "id: ev-9\r\nevent: message\r\n"
      "data: {\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{\"tools\":[{\"name\":\"a\"},\r\n"
      "data: {\"name\":\"do_not_use\"}],\"nextCursor\":\"p2\"}}\r\n"
      "\r\n"
      ": ping\r\n\r\n";
  sse_splitter s(4096);
  std::string out;
  for (std::size_t i = 0; i < stream.size(); i += 7) {
    s.feed(std::string_view(stream).substr(i, 7));
    while (auto e = s.next_event()) {
      const auto answer = filter_tools_list(event_data(*e), [](std::string_view n) { return n == "do_not_use"; });
      out += answer.filtered ? replace_event_data(*e, *answer.filtered) : *e;
    }
  }
  BOOST_TEST(out ==
             "id: ev-9\r\nevent: message\r\n"
             "data: {\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{\"tools\":[{\"name\":\"a\"}],\"nextCursor\":\"p2\"}}\r\n"
             "\r\n"
             ": ping\r\n\r\n");
}

BOOST_AUTO_TEST_SUITE_END()

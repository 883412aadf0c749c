#include "common/error.hpp"
#include "common/ids.hpp"
#include "common/log.hpp"
#include "common/text.hpp"
#include "common/time.hpp"

#include <boost/test/unit_test.hpp>

#include <set>

using namespace mcpgate;
using namespace std::chrono_literals;

BOOST_AUTO_TEST_CASE(uuid_v7_has_version_variant_and_layout) {
  // xxxxxxxx-xxxx-7xxx-[89ab]xxx-xxxxxxxxxxxx, lower-case hex
  const auto shape_ok = [](const std::string& id) {
    if (id.size() != 36) return false;
    for (std::size_t i = 0; i < id.size(); ++i) {
      const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
      const char c = id[i];
      if (dash ? c != '-' : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    }
    return id[14] == '7' && std::string_view("89ab").find(id[19]) != std::string_view::npos;
  };
  std::set<std::string> seen;
  for (int i = 0; i < 200; ++i) {
    const auto id = new_uuid_v7();
    BOOST_TEST(shape_ok(id), id);
    seen.insert(id);
  }
  BOOST_TEST(seen.size() == 200u);
}

BOOST_AUTO_TEST_CASE(uuid_v7_sorts_by_creation_time) {
  const auto t = std::chrono::system_clock::time_point(1'790'000'000'000ms);
  const auto earlier = new_uuid_v7(t);
  const auto later = new_uuid_v7(t + 1ms);
  BOOST_TEST(earlier < later);
  BOOST_TEST(earlier.substr(0, 13) == "01a0c450-6c00");  // 48-bit big-endian milliseconds
}

BOOST_AUTO_TEST_CASE(iso8601_is_utc_with_microseconds) {
  BOOST_TEST(to_iso8601(from_unix_micros(0)) == "1970-01-01T00:00:00.000000Z");
  BOOST_TEST(to_iso8601(from_unix_micros(1'795'817'409'123'456)) == "2026-11-27T22:10:09.123456Z");
  BOOST_TEST(to_unix_micros(from_unix_micros(-1)) == -1);
  BOOST_TEST(to_iso8601(from_unix_micros(-1)) == "1969-12-31T23:59:59.999999Z");
}

BOOST_AUTO_TEST_CASE(random_bytes_and_hex) {
  BOOST_TEST(random_bytes(32).size() == 32u);
  BOOST_TEST(random_bytes(32) != random_bytes(32));
  BOOST_TEST(to_hex(std::string("\x00\xff\x10", 3)) == "00ff10");
}

BOOST_AUTO_TEST_CASE(error_codes_compare_and_describe) {
  const boost::system::error_code ec = errc::not_found;
  BOOST_TEST((ec == errc::not_found));
  BOOST_TEST((ec != errc::store_failure));
  BOOST_TEST(ec.message() == "not found");
  BOOST_TEST(std::string(ec.category().name()) == "mcpgate");
  result<int> r = ec;
  BOOST_TEST(!r.has_value());
}

BOOST_AUTO_TEST_CASE(log_level_names_are_checked) {
  BOOST_TEST(set_log_level("debug"));
  BOOST_TEST(set_log_level("off"));
  BOOST_TEST(!set_log_level("loud"));
  BOOST_TEST(set_log_level("info"));
}

BOOST_AUTO_TEST_CASE(printable_blanks_control_characters_and_cuts_between_characters) {
  BOOST_TEST(printable("line one\r\nline\ttwo\x7f") == "line one  line two ");
  BOOST_TEST(printable("short", 200) == "short");
  BOOST_TEST(printable("abcdef", 4) == "abcd");
  // "é" is two bytes (C3 A9): a cut that would fall inside it falls before it.
  BOOST_TEST(printable("abc\xC3\xA9", 4) == "abc");
  BOOST_TEST(printable("ab\xC3\xA9x", 4) == "ab\xC3\xA9");
  BOOST_TEST(printable("", 10) == "");
}

// The relay's watch for notifications/tools/list_changed in an upstream
// stream, which arrives in pieces cut anywhere.
#include "proxy/relay.hpp"

#include <boost/test/unit_test.hpp>

#include <string>
#include <string_view>

using mcpgate::proxy::list_changed_scanner;

BOOST_AUTO_TEST_SUITE(relay)

constexpr std::string_view notification =
    "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/tools/list_changed\"}\n\n";

BOOST_AUTO_TEST_CASE(finds_the_notification_in_one_piece) {
  list_changed_scanner scanner;
  BOOST_TEST(!scanner.feed("event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}\n\n"));
  BOOST_TEST(scanner.feed(notification));
}

BOOST_AUTO_TEST_CASE(finds_it_cut_at_every_byte_and_in_single_bytes) {
  // The piece that reports it is the one in which the method name ends.
  constexpr std::string_view method = "notifications/tools/list_changed";
  const std::size_t ends = notification.find(method) + method.size();
  for (std::size_t cut = 1; cut < notification.size(); ++cut) {
    list_changed_scanner scanner;
    const bool first = scanner.feed(notification.substr(0, cut));
    const bool second = scanner.feed(notification.substr(cut));
    BOOST_TEST(first == (cut >= ends), "cut at " << cut);
    BOOST_TEST(second == (cut < ends), "cut at " << cut);
  }
  list_changed_scanner scanner;
  std::size_t reported_at = 0;
  std::size_t reports = 0;
  for (std::size_t i = 0; i < notification.size(); ++i) {
    if (scanner.feed(notification.substr(i, 1))) {
      ++reports;
      reported_at = i + 1;
    }
  }
  BOOST_TEST(reports == 1u);
  BOOST_TEST(reported_at == ends);
}

BOOST_AUTO_TEST_CASE(reports_once_and_not_again_for_later_pieces) {
  list_changed_scanner scanner;
  BOOST_TEST(scanner.feed(notification));
  BOOST_TEST(!scanner.feed("data: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n\n"));
  BOOST_TEST(!scanner.feed("x"));
}

BOOST_AUTO_TEST_CASE(similar_methods_are_not_it) {
  list_changed_scanner scanner;
  BOOST_TEST(!scanner.feed("data: {\"method\":\"notifications/resources/list_changed\"}\n\n"));
  BOOST_TEST(!scanner.feed("data: {\"method\":\"notifications/prompts/list_changed\"}\n\n"));
  BOOST_TEST(!scanner.feed("data: {\"method\":\"notifications/tools/list_change\"}\n\n"));
}

BOOST_AUTO_TEST_SUITE_END()

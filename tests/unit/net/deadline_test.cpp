// net::deadline: one lazily re-armed timer per connection. The io_context is
// driven by the test until the expiry action has run (or a bound passed);
// what is checked is the order and the earliest moment it may happen, never
// how long anything takes beyond that.
#include "net/deadline.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <memory>

namespace {

namespace asio = boost::asio;
using mcpgate::net::deadline;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

// Runs io until done() or `bound` has passed; the final done().
template <class Done>
bool run_until(asio::io_context& io, Done done, std::chrono::milliseconds bound) {
  const auto until = clock_type::now() + bound;
  io.restart();
  while (!done() && clock_type::now() < until) io.run_one_until(until);
  return done();
}

bool run_until(asio::io_context& io, const bool& flag, std::chrono::milliseconds bound) {
  return run_until(
      io, [&flag] { return flag; }, bound);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(deadline_tests)

BOOST_AUTO_TEST_CASE(fires_once_the_deadline_has_passed_and_not_before) {
  asio::io_context io;
  bool fired = false;
  clock_type::time_point fired_at;
  deadline d(io.get_executor(), [&] {
    fired = true;
    fired_at = clock_type::now();
  });
  const auto armed = clock_type::now();
  d.expires_after(50ms);
  BOOST_TEST(!d.expired());
  BOOST_TEST_REQUIRE(run_until(io, fired, 5s));
  BOOST_TEST((fired_at - armed >= 50ms));
  BOOST_TEST(d.expired());
}

BOOST_AUTO_TEST_CASE(a_deadline_pushed_forward_fires_at_the_new_time) {
  asio::io_context io;
  bool fired = false;
  clock_type::time_point fired_at;
  deadline d(io.get_executor(), [&] {
    fired = true;
    fired_at = clock_type::now();
  });
  d.expires_after(30ms);
  // Later, before it fires, the deadline moves on (what each new request does).
  asio::steady_timer step(io, 10ms);
  clock_type::time_point pushed;
  step.async_wait([&](boost::system::error_code) {
    pushed = clock_type::now();
    d.expires_after(100ms);
  });
  BOOST_TEST_REQUIRE(run_until(io, fired, 5s));
  BOOST_TEST((fired_at - pushed >= 100ms));
}

BOOST_AUTO_TEST_CASE(an_earlier_deadline_takes_over_from_a_later_one) {
  asio::io_context io;
  bool fired = false;
  clock_type::time_point fired_at;
  deadline d(io.get_executor(), [&] {
    fired = true;
    fired_at = clock_type::now();
  });
  d.expires_after(1h);
  const auto armed = clock_type::now();
  d.expires_after(20ms);
  BOOST_TEST_REQUIRE(run_until(io, fired, 5s));  // not an hour
  BOOST_TEST((fired_at - armed >= 20ms));
}

BOOST_AUTO_TEST_CASE(expires_never_keeps_it_from_firing) {
  asio::io_context io;
  bool fired = false;
  deadline d(io.get_executor(), [&] { fired = true; });
  d.expires_after(20ms);
  d.expires_never();
  // The pending wait runs out and finds nothing to enforce.
  asio::steady_timer after(io, 100ms);
  bool waited = false;
  after.async_wait([&](boost::system::error_code) { waited = true; });
  BOOST_TEST_REQUIRE(run_until(io, waited, 5s));
  BOOST_TEST(!fired);
  BOOST_TEST(!d.expired());
}

BOOST_AUTO_TEST_CASE(stop_leaves_no_wait_pending) {
  asio::io_context io;
  bool fired = false;
  deadline d(io.get_executor(), [&] { fired = true; });
  d.expires_after(1h);
  d.stop();
  io.run();  // returns: nothing is pending any more
  BOOST_TEST(!fired);
}

BOOST_AUTO_TEST_CASE(destroying_it_with_a_wait_pending_is_safe) {
  asio::io_context io;
  bool fired = false;
  {
    auto d = std::make_unique<deadline>(io.get_executor(), [&] { fired = true; });
    d->expires_after(10ms);
  }
  io.run();  // the cancelled wait completes without touching the gone owner
  BOOST_TEST(!fired);
}

BOOST_AUTO_TEST_CASE(re_arming_after_expiry_works) {
  asio::io_context io;
  int fired = 0;
  deadline d(io.get_executor(), [&] { ++fired; });
  d.expires_after(10ms);
  BOOST_TEST_REQUIRE(run_until(
      io, [&] { return fired == 1; }, 5s));
  d.expires_after(10ms);
  BOOST_TEST(!d.expired());
  BOOST_TEST_REQUIRE(run_until(
      io, [&] { return fired == 2; }, 5s));
  BOOST_TEST(d.expired());
}

BOOST_AUTO_TEST_SUITE_END()

// The token buckets (time injected, never slept on) and the shared budget
// that bounds bytes held and requests in flight.
#include "common/budget.hpp"
#include "common/rate_limit.hpp"

#include <boost/test/unit_test.hpp>

#include <chrono>
#include <string>
#include <utility>

using namespace mcpgate;
using namespace std::chrono_literals;

namespace {

const rate_limiter::clock::time_point t0{std::chrono::seconds(1000)};

}  // namespace

BOOST_AUTO_TEST_SUITE(rate_limits)

BOOST_AUTO_TEST_CASE(a_burst_then_the_rate) {
  rate_limiter limits;
  const rate r{2, 3};  // 2 a second, 3 at once
  for (int i = 0; i < 3; ++i) BOOST_TEST(!limits.take("k", r, t0).has_value(), i);
  const auto wait = limits.take("k", r, t0);
  BOOST_TEST_REQUIRE(wait.has_value());
  BOOST_TEST(wait->count() == 500);  // one token back after half a second
  BOOST_TEST(limits.take("k", r, t0 + 499ms).has_value());
  BOOST_TEST(!limits.take("k", r, t0 + 500ms).has_value());
  // A long pause refills up to the burst, no further.
  for (int i = 0; i < 3; ++i) BOOST_TEST(!limits.take("k", r, t0 + 60s).has_value(), i);
  BOOST_TEST(limits.take("k", r, t0 + 60s).has_value());
}

BOOST_AUTO_TEST_CASE(each_key_has_its_own_bucket) {
  rate_limiter limits;
  const rate r{1, 1};
  BOOST_TEST(!limits.take("a", r, t0).has_value());
  BOOST_TEST(limits.take("a", r, t0).has_value());
  BOOST_TEST(!limits.take("b", r, t0).has_value());
}

BOOST_AUTO_TEST_CASE(an_unlimited_rate_takes_nothing_and_keeps_no_bucket) {
  rate_limiter limits;
  for (int i = 0; i < 1000; ++i) BOOST_TEST_REQUIRE(!limits.take("k", rate{}, t0).has_value());
  BOOST_TEST(limits.buckets() == 0u);
}

BOOST_AUTO_TEST_CASE(a_smaller_burst_applies_at_once) {
  rate_limiter limits;
  BOOST_TEST(!limits.take("k", rate{1, 100}, t0).has_value());  // 99 left
  // A reload makes the bucket 2: no more than 2 now.
  BOOST_TEST(!limits.take("k", rate{1, 2}, t0).has_value());
  BOOST_TEST(!limits.take("k", rate{1, 2}, t0).has_value());
  BOOST_TEST(limits.take("k", rate{1, 2}, t0).has_value());
}

BOOST_AUTO_TEST_CASE(quiet_keys_are_pruned) {
  rate_limiter limits;
  const rate r{10, 10};
  for (int i = 0; i < 50000; ++i) limits.take("key-" + std::to_string(i), r, t0 + std::chrono::milliseconds(i));
  // Buckets full again after a second are forgotten as new keys come.
  BOOST_TEST(limits.buckets() < 30000u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(budgets)

BOOST_AUTO_TEST_CASE(takes_only_what_fits_and_gives_back) {
  budget b(100);
  BOOST_TEST(b.try_take(60));
  BOOST_TEST(!b.try_take(41));
  BOOST_TEST(b.try_take(40));
  BOOST_TEST(b.exhausted());
  b.give_back(100);
  BOOST_TEST(b.used() == 0u);
  BOOST_TEST(!b.try_take(101));
}

BOOST_AUTO_TEST_CASE(a_share_grows_and_is_given_back_when_it_goes) {
  budget b(100);
  {
    budget::share s(b);
    BOOST_TEST(s.grow_to(30));
    BOOST_TEST(s.grow_to(20));  // already held
    BOOST_TEST(b.used() == 30u);
    BOOST_TEST(!s.grow_to(101));
    BOOST_TEST(s.held() == 30u);  // a refused growth keeps what it had
    budget::share moved = std::move(s);
    BOOST_TEST(moved.held() == 30u);
    BOOST_TEST(b.used() == 30u);
  }
  BOOST_TEST(b.used() == 0u);
  budget::share unbound;  // no budget: anything fits, nothing is counted
  BOOST_TEST(unbound.grow_to(1u << 30));
}

BOOST_AUTO_TEST_CASE(a_lower_limit_applies_to_new_shares) {
  budget b(100);
  budget::share s(b);
  BOOST_TEST(s.grow_to(80));
  b.set_limit(50);
  BOOST_TEST(b.exhausted());
  BOOST_TEST(!b.try_take(1));
  s.release();
  BOOST_TEST(b.try_take(50));
}

BOOST_AUTO_TEST_SUITE_END()

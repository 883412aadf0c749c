#include "config/config.hpp"

#include <boost/test/unit_test.hpp>

using namespace mcpgate::config;

namespace {

config two_projects() {
  config c;
  c.projects = {{1, "One", {{1, "production"}, {3, "staging"}}}, {2, "Two", {{2, "production"}}}};
  return c;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(lookup)

BOOST_AUTO_TEST_CASE(find_environment_returns_it_and_its_project) {
  const config c = two_projects();
  const project* owner = nullptr;
  const environment* e = c.find_environment(3, &owner);
  BOOST_TEST_REQUIRE(e != nullptr);
  BOOST_TEST(e->name == "staging");
  BOOST_TEST_REQUIRE(owner != nullptr);
  BOOST_TEST(owner->id == 1);
  BOOST_TEST(c.find_environment(2)->name == "production");
}

BOOST_AUTO_TEST_CASE(find_environment_returns_null_for_unknown_id) {
  const config c = two_projects();
  const project* owner = &c.projects[0];
  BOOST_TEST(c.find_environment(9, &owner) == nullptr);
  BOOST_TEST(owner == nullptr);
}

BOOST_AUTO_TEST_CASE(find_project_by_id) {
  const config c = two_projects();
  BOOST_TEST(c.find_project(2)->name == "Two");
  BOOST_TEST(c.find_project(3) == nullptr);
}

BOOST_AUTO_TEST_SUITE_END()

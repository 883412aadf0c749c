#define BOOST_TEST_MODULE mcpgate_auth
#include <boost/test/unit_test.hpp>

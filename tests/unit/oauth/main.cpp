#define BOOST_TEST_MODULE mcpgate_oauth
#include <boost/test/unit_test.hpp>

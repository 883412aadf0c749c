#define BOOST_TEST_MODULE mcpgate_common
#include <boost/test/unit_test.hpp>

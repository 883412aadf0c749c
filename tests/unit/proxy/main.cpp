#define BOOST_TEST_MODULE mcpgate_proxy
#include <boost/test/unit_test.hpp>

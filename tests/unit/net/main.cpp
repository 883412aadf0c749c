#define BOOST_TEST_MODULE mcpgate_net
#include <boost/test/unit_test.hpp>

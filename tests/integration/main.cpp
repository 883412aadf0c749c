#define BOOST_TEST_MODULE mcpgate_integration
#include <boost/test/unit_test.hpp>

#define BOOST_TEST_MODULE mcpgate_registry
#include <boost/test/unit_test.hpp>

#define BOOST_TEST_MODULE mcpgate_config
#include <boost/test/unit_test.hpp>

#define BOOST_TEST_MODULE mcpgate_daemon
#include <boost/test/unit_test.hpp>

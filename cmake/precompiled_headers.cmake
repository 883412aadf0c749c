# Precompiled headers: the Boost, Beast, JSON and spdlog headers nearly every
# translation unit parses. Parsing them was about half of a test file's
# compile time at -O0 and a sixth of a library file's; with a precompiled
# header each group below parses them once.
#
# GCC takes a precompiled header only into a compilation with the same
# options and the same definitions of every macro its headers look at, so a
# group shares one (REUSE_FROM) among targets whose flags agree there: the
# libraries (-O2 or -Og), the test executables that use Asio (-O0, with
# BOOST_ASIO_SEPARATE_COMPILATION from mcpgate_asio) and those that do not.
# CMake adds -Winvalid-pch: with -Werror a header GCC would refuse is a build
# error, never a silent slow path. Boost.URL stays out: only some targets
# link it, and its BOOST_URL_DYN_LINK would differ.
#
# Each group's header is built by a target of its own with one empty source
# (mcpgate_pch_*): REUSE_FROM makes the users wait for its owner, and a real
# library as owner would hold every other target's compiles back until its
# own were done. -DMCPGATE_PCH=OFF builds without.

option(MCPGATE_PCH "Precompile the common Boost/Beast/JSON/spdlog headers" ON)

set(mcpgate_pch_std
  <algorithm> <array> <atomic> <chrono> <cstddef> <cstdint> <functional> <map>
  <memory> <mutex> <optional> <set> <string> <string_view> <utility> <variant> <vector>)

# The libraries that use Asio, Beast and Boost.JSON (mcpgate_net and above).
set(mcpgate_pch_lib ${mcpgate_pch_std}
  <boost/asio/any_io_executor.hpp> <boost/asio/as_tuple.hpp> <boost/asio/async_result.hpp>
  <boost/asio/awaitable.hpp> <boost/asio/co_spawn.hpp> <boost/asio/detached.hpp>
  <boost/asio/dispatch.hpp> <boost/asio/io_context.hpp> <boost/asio/ip/tcp.hpp>
  <boost/asio/post.hpp> <boost/asio/steady_timer.hpp> <boost/asio/this_coro.hpp>
  <boost/asio/use_awaitable.hpp>
  <boost/beast/core/flat_buffer.hpp> <boost/beast/core/tcp_stream.hpp>
  <boost/beast/http/error.hpp> <boost/beast/http/message.hpp> <boost/beast/http/string_body.hpp>
  <boost/beast/ssl/ssl_stream.hpp>
  <boost/json/array.hpp> <boost/json/object.hpp> <boost/json/parse.hpp>
  <boost/json/serialize.hpp> <boost/json/value.hpp>
  <boost/system/error_code.hpp>
  <spdlog/spdlog.h>)

# Test executables without Asio (common, config, registry).
set(mcpgate_pch_test_plain ${mcpgate_pch_std} <thread>
  <boost/test/unit_test.hpp>
  <boost/json/parse.hpp> <boost/json/serialize.hpp> <boost/json/value.hpp>)

# Test executables with Asio: the library set and Boost.Test.
set(mcpgate_pch_test_asio ${mcpgate_pch_lib} <thread> <boost/test/unit_test.hpp>)

# mcpgate_pch_group(<owner> HEADERS <header>... TARGETS <target>...
#                   [LINK <lib>...] [DEFINITIONS <def>...] [OPTIONS <opt>...])
# Makes <owner>, which builds the precompiled header of HEADERS with the
# flags LINK, DEFINITIONS and OPTIONS give (they must match the TARGETS'),
# and has every target of TARGETS use it.
function(mcpgate_pch_group owner)
  cmake_parse_arguments(arg "" "" "HEADERS;TARGETS;LINK;DEFINITIONS;OPTIONS" ${ARGN})
  if(NOT MCPGATE_PCH)
    return()
  endif()
  add_library(${owner} OBJECT ${PROJECT_SOURCE_DIR}/cmake/pch_owner.cpp)
  target_link_libraries(${owner} PRIVATE ${arg_LINK})
  target_compile_definitions(${owner} PRIVATE ${arg_DEFINITIONS})
  target_compile_options(${owner} PRIVATE ${arg_OPTIONS})
  mcpgate_warnings(${owner})
  target_precompile_headers(${owner} PRIVATE ${arg_HEADERS})
  foreach(t IN LISTS arg_TARGETS)
    target_precompile_headers(${t} REUSE_FROM ${owner})
  endforeach()
endfunction()

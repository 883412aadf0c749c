# Included by CTest when it starts (TEST_INCLUDE_FILES, tests/CMakeLists.txt),
# with MCPGATE_IT_BINARY set to the integration_tests executable: one CTest
# test per top-level suite or test case, `integration.<name>`, each running
# `integration_tests --run_test=<name>`. The cases are the same as in one run
# of the whole executable; as separate tests, `ctest -j` runs them side by
# side, and most of their time is spent waiting on the daemon they start.
#
# The names come from the executable itself (--list_content), so they are
# never out of date. If it cannot list them (not built yet, or it fails), the
# whole executable is one test, `integration`, as it was before.
set(units "")
if(EXISTS "${MCPGATE_IT_BINARY}")
  execute_process(COMMAND "${MCPGATE_IT_BINARY}" --list_content
    RESULT_VARIABLE status OUTPUT_VARIABLE out ERROR_VARIABLE listing TIMEOUT 120)
  if(status EQUAL 0)
    # Top-level units are the lines without indentation; `*` marks those
    # enabled (a disabled one is left out, as a whole run would skip it).
    string(REGEX MATCHALL "(^|\n)[A-Za-z_][A-Za-z_0-9]*\\*" lines "${listing}")
    foreach(line IN LISTS lines)
      string(REGEX REPLACE "^\n?([A-Za-z_0-9]+)\\*$" "\\1" unit "${line}")
      list(APPEND units "${unit}")
    endforeach()
  endif()
endif()

if(units)
  foreach(unit IN LISTS units)
    add_test(integration.${unit} "${MCPGATE_IT_BINARY}" --run_test=${unit} --log_level=test_suite)
    set_tests_properties(integration.${unit} PROPERTIES TIMEOUT 600)
  endforeach()
else()
  add_test(integration "${MCPGATE_IT_BINARY}" --log_level=test_suite)
  set_tests_properties(integration PROPERTIES TIMEOUT 600)
endif()

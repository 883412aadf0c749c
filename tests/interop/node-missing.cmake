# Stands in for an interop test when CMake found no `node`: fails with a hint.
message(FATAL_ERROR "${MESSAGE}: node was not found when CMake configured the tests. "
  "Run scripts/test (it installs node and npm and the interop packages), then reconfigure.")

// mcpgate's entry point: everything else starts in daemon/cli.cpp.
#include "daemon/cli.hpp"

int main(int argc, char** argv) { return mcpgate::daemon::run_cli(argc, argv); }

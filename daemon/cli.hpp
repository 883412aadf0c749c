// The mcpgate command line: serve, check-config, keys, migrate.
// Thread-safety: call once, from main.
#pragma once

namespace mcpgate::daemon {

int run_cli(int argc, char** argv);

}  // namespace mcpgate::daemon

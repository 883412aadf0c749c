// A PostgreSQL server of the test's own: `initdb` into a fresh temporary
// folder, `pg_ctl start` listening only on a Unix socket in that folder
// (no TCP port to collide with), stopped and the folder removed at the end.
// When the process runs as root (initdb refuses root) the folder is given to
// the `postgres` system user and every server command runs through
// `runuser -u postgres --`.
//
// A guard process started before the server stops it and removes the folder
// when this process ends in any way (a failed assertion that aborts, a
// sanitizer report, a kill): it waits for a pipe only this process holds.
//
// The binaries: $MCPGATE_PG_BINDIR, else the newest
// /usr/lib/postgresql/<version>/bin (Debian's postgresql package), else PATH.
//
// Thread-safety: create_database() may be called from any thread; stop() and
// start() from one thread at a time, while nothing else uses the server.
#pragma once

#include <filesystem>
#include <mutex>
#include <string>
#include <sys/types.h>

namespace mcpgate::test {

class postgres_server {
 public:
  // Throws std::runtime_error (with the server's log) when it cannot start.
  postgres_server();
  ~postgres_server();
  postgres_server(const postgres_server&) = delete;
  postgres_server& operator=(const postgres_server&) = delete;

  // The server of this process, started at first use, stopped at exit.
  static postgres_server& shared();

  // A new, empty database; returns its libpq connection string.
  std::string create_database();
  // The connection string of database `dbname` on this server.
  std::string conninfo(const std::string& dbname) const;

  // Stops the server (fast shutdown: connections are closed) and starts it
  // again on the same folder and socket, for connection-loss tests.
  void stop();
  void start();

  const std::filesystem::path& folder() const { return folder_; }

 private:
  // Runs a server command (as `postgres` when root); throws with the log.
  void run(const std::string& command, const char* what) const;

  std::filesystem::path folder_;
  std::filesystem::path bindir_;
  std::string as_owner_;  // "runuser -u postgres -- " or ""
  std::mutex mutex_;
  int databases_ = 0;
  int guard_fd_ = -1;  // the guard's pipe: closing it stops the server
  pid_t guard_pid_ = -1;
};

}  // namespace mcpgate::test

// tests/support/postgres_server.hpp
#include "support/postgres_server.hpp"

#include <fcntl.h>
#include <libpq-fe.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <memory>
#include <random>
#include <sstream>
#include <stdexcept>
#include <vector>

namespace mcpgate::test {
namespace {

namespace fs = std::filesystem;

// The socket's port: only its file name (.s.PGSQL.<port>) in our own folder.
constexpr int socket_port = 5432;
constexpr const char* superuser = "mcpgate";

std::string quoted(const std::string& s) {
  std::string out = "'";
  for (const char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

fs::path find_bindir() {
  if (const char* dir = std::getenv("MCPGATE_PG_BINDIR"); dir != nullptr && *dir != '\0') return dir;
  std::vector<fs::path> found;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/usr/lib/postgresql", ec)) {
    if (fs::exists(entry.path() / "bin" / "initdb")) found.push_back(entry.path() / "bin");
  }
  if (found.empty()) return {};  // PATH
  std::sort(found.begin(), found.end(), [](const fs::path& a, const fs::path& b) {
    return std::stoi(a.parent_path().filename().string()) < std::stoi(b.parent_path().filename().string());
  });
  return found.back();
}

std::string tail_of(const fs::path& file) {
  std::ifstream in(file);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return text.size() > 4000 ? text.substr(text.size() - 4000) : text;
}

std::string random_suffix() {
  std::random_device rd;
  std::ostringstream out;
  out << std::hex << rd() << rd();
  return out.str();
}

}  // namespace

postgres_server::postgres_server() {
  bindir_ = find_bindir();
  folder_ = fs::temp_directory_path() / ("mcpgate-pg-" + random_suffix());
  fs::create_directories(folder_);
  if (::geteuid() == 0) {
    const passwd* pw = ::getpwnam("postgres");
    if (pw == nullptr) throw std::runtime_error("postgres_server: running as root and there is no postgres user");
    as_owner_ = "runuser -u postgres -- ";
    if (::chown(folder_.c_str(), pw->pw_uid, pw->pw_gid) != 0) {
      throw std::runtime_error("postgres_server: cannot give " + folder_.string() + " to postgres");
    }
  }
  (void)::chmod(folder_.c_str(), 0700);

  // The guard: a shell that waits for end-of-file on a pipe whose write end
  // only this process holds (close-on-exec: no child inherits it), then
  // stops the server and removes the folder.
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("postgres_server: pipe2 failed");
  const std::string cleanup = "cat >/dev/null; " + as_owner_ + quoted((bindir_ / "pg_ctl").string()) + " -D " +
                              quoted((folder_ / "data").string()) + " -m immediate -w stop >/dev/null 2>&1; rm -rf " +
                              quoted(folder_.string());
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("postgres_server: fork failed");
  if (pid == 0) {
    ::dup2(fds[0], 0);
    // Not the test's stdout and stderr: whoever reads them (CTest) would
    // wait for the guard too.
    if (const int null = ::open("/dev/null", O_WRONLY); null >= 0) {
      ::dup2(null, 1);
      ::dup2(null, 2);
    }
    ::setsid();  // a signal for the test's process group does not stop it before it cleans up
    ::execl("/bin/sh", "sh", "-c", cleanup.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(fds[0]);
  guard_fd_ = fds[1];
  guard_pid_ = pid;

  const fs::path data = folder_ / "data";
  const std::string bin = bindir_.empty() ? std::string() : bindir_.string() + "/";
  run(as_owner_ + quoted(bin + "initdb") + " -D " + quoted(data.string()) + " -U " + superuser +
          " -A trust -E UTF8 --locale=C --no-sync --no-instructions",
      "initdb");
  {
    // Only the socket in our folder; durability is not what these tests check.
    std::ofstream conf(data / "postgresql.conf", std::ios::app);
    conf << "\nlisten_addresses = ''\n"
         << "unix_socket_directories = '" << folder_.string() << "'\n"
         << "port = " << socket_port << "\n"
         << "max_connections = 40\nfsync = off\nsynchronous_commit = off\nfull_page_writes = off\n";
  }
  start();
}

postgres_server::~postgres_server() {
  // The guard stops the server and removes the folder.
  if (guard_fd_ >= 0) ::close(guard_fd_);
  if (guard_pid_ > 0) {
    int status = 0;
    ::waitpid(guard_pid_, &status, 0);
  }
}

postgres_server& postgres_server::shared() {
  static postgres_server server;
  return server;
}

void postgres_server::run(const std::string& command, const char* what) const {
  const fs::path log = folder_ / "commands.log";
  const std::string line = command + " >>" + quoted(log.string()) + " 2>&1";
  if (std::system(line.c_str()) != 0) {
    throw std::runtime_error(std::string("postgres_server: ") + what + " failed:\n" + tail_of(log) + "\n" +
                             tail_of(folder_ / "server.log"));
  }
}

void postgres_server::start() {
  const std::string bin = bindir_.empty() ? std::string() : bindir_.string() + "/";
  run(as_owner_ + quoted(bin + "pg_ctl") + " -D " + quoted((folder_ / "data").string()) + " -l " +
          quoted((folder_ / "server.log").string()) + " -w start",
      "pg_ctl start");
}

void postgres_server::stop() {
  const std::string bin = bindir_.empty() ? std::string() : bindir_.string() + "/";
  run(as_owner_ + quoted(bin + "pg_ctl") + " -D " + quoted((folder_ / "data").string()) + " -m fast -w stop",
      "pg_ctl stop");
}

std::string postgres_server::conninfo(const std::string& dbname) const {
  return "host=" + folder_.string() + " port=" + std::to_string(socket_port) + " user=" + superuser +
         " dbname=" + dbname;
}

std::string postgres_server::create_database() {
  std::string name;
  {
    std::lock_guard lock(mutex_);
    name = "test_" + std::to_string(++databases_);
  }
  std::unique_ptr<PGconn, decltype(&PQfinish)> conn(PQconnectdb(conninfo("postgres").c_str()), &PQfinish);
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    throw std::runtime_error(std::string("postgres_server: cannot connect: ") + PQerrorMessage(conn.get()));
  }
  std::unique_ptr<PGresult, decltype(&PQclear)> r(PQexec(conn.get(), ("CREATE DATABASE " + name).c_str()), &PQclear);
  if (PQresultStatus(r.get()) != PGRES_COMMAND_OK) {
    throw std::runtime_error(std::string("postgres_server: CREATE DATABASE failed: ") + PQresultErrorMessage(r.get()));
  }
  return conninfo(name);
}

}  // namespace mcpgate::test

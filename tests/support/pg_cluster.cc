#include "support/pg_cluster.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <stdexcept>

#include <pqxx/pqxx>

#include "support/testing.h"

namespace homelens::testing {

namespace {

// A port nobody listens on now (the kernel's pick for an ephemeral bind).
int free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0)
    throw std::runtime_error("no free port for PostgreSQL");
  close(fd);
  return ntohs(a.sin_port);
}

std::mutex g_mu;

}  // namespace

PgCluster& PgCluster::get() {
  static std::unique_ptr<PgCluster> cluster;
  std::lock_guard lock(g_mu);
  if (!cluster) cluster.reset(new PgCluster());
  return *cluster;
}

PgCluster::PgCluster() {
  const std::string script = (shared_dir() / "scripts" / "pg-temp-cluster").string();
  // The inner command reports the connection settings and then waits on stdin: closing our
  // end of the pipe (or dying) ends it, and the script's trap removes the cluster.
  const char* inner =
      "echo \"PGHOST=$PGHOST PGPORT=$PGPORT PGUSER=$PGUSER PGDATABASE=$PGDATABASE\"; read _";
  int in[2], out[2];
  if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0)
    throw std::runtime_error("pipe failed");
  const std::string port = std::to_string(free_port());
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    dup2(in[0], 0);
    dup2(out[1], 1);
    setenv("PGTEST_PORT", port.c_str(), 1);
    execl("/bin/sh", "sh", script.c_str(), "sh", "-c", inner, static_cast<char*>(nullptr));
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  to_child_ = in[1];
  FILE* f = fdopen(out[0], "r");
  char line[512] = {0};
  const bool got = f && fgets(line, sizeof line, f) != nullptr;
  if (f) fclose(f);  // the inner command prints nothing more
  std::map<std::string, std::string> env;
  std::istringstream words(line);
  for (std::string w; words >> w;)
    if (auto eq = w.find('='); eq != std::string::npos) env[w.substr(0, eq)] = w.substr(eq + 1);
  if (!got || env["PGPORT"].empty()) {
    close(to_child_);
    waitpid(pid_, nullptr, 0);
    throw std::runtime_error(script + " did not start a cluster (see its output above)");
  }
  host_ = env["PGHOST"];
  port_ = std::stoi(env["PGPORT"]);
  user_ = env["PGUSER"];
  database_ = env["PGDATABASE"];
}

PgCluster::~PgCluster() {
  if (to_child_ >= 0) close(to_child_);
  if (pid_ > 0) waitpid(pid_, nullptr, 0);
}

std::string PgCluster::url(const std::string& database) const {
  return "postgresql://" + user_ + "@" + host_ + ":" + std::to_string(port_) + "/" + database;
}

std::string PgCluster::create_database() {
  std::string name;
  {
    std::lock_guard lock(g_mu);
    name = "test_" + std::to_string(getpid()) + "_" + std::to_string(next_db_++);
  }
  pqxx::connection c(url(database_));
  pqxx::nontransaction tx(c);
  tx.exec("CREATE DATABASE " + tx.quote_name(name));
  return url(name);
}

}  // namespace homelens::testing

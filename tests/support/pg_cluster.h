// A throw-away PostgreSQL server for one test process, started through
// ../shared/scripts/pg-temp-cluster (needs root and Debian postgresql).
#pragma once

#include <sys/types.h>

#include <string>

namespace homelens::testing {

// Not thread-safe to start; once started, url() and create_database() may be called from any
// thread.
class PgCluster {
 public:
  // The process's cluster, started on first use on a free port (so parallel ctest processes
  // never share one) and removed when the process exits. Throws std::runtime_error when the
  // server cannot start.
  static PgCluster& get();
  ~PgCluster();
  PgCluster(const PgCluster&) = delete;
  PgCluster& operator=(const PgCluster&) = delete;

  // postgresql:// url of a database on this cluster.
  std::string url(const std::string& database) const;
  // Creates a new empty database and returns its url: one per test keeps tests independent.
  std::string create_database();
  const std::string& host() const { return host_; }
  int port() const { return port_; }
  const std::string& user() const { return user_; }

 private:
  PgCluster();
  pid_t pid_ = -1;
  int to_child_ = -1;  // the cluster lives until this pipe closes
  std::string host_, user_, database_;
  int port_ = 0;
  int next_db_ = 0;
};

}  // namespace homelens::testing

// Distributed indexing: `mpirun -np 3 homelens index --mpi` of the 2,140 shared house
// photos into PostgreSQL gives the same table as one process (the shared SQLite
// houses index); killing a rank mid-run ends the job with an error naming it, and
// rerunning the command completes the table with nothing lost or doubled.
//
// All 2,140 photos by default (about 40 s for both tests on 2 cores with the oneDNN
// backend); HOMELENS_MPI_TEST_PHOTOS=N takes the first N (whole listings) for a quicker
// run. Heavy all the same: skipped under sanitizers, where OpenMPI's and
// the model runtime's uninstrumented threads make it many times slower and the
// pipeline itself is already covered by the single-process tests.
#include <gtest/gtest.h>

#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include <sys/wait.h>
#include <unistd.h>

#include "homelens/model/model_spec.h"
#include "homelens/store/store.h"
#include "support/pg_cluster.h"
#include "support/testing.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define HOMELENS_SANITIZED 1
#endif

namespace homelens {
namespace {

using testing::shell_quote;

// What a table holds, independent of the ids a run happened to assign.
struct Row {
  std::string listing, sha256;
  int photo_order = 0;
  bool is_title = false;
  std::vector<float> embedding;
};
using Table = std::map<std::string, Row>;  // by listing + source

Table read_table(const std::string& url) {
  auto s = store::open_store(url);
  if (!s) throw std::runtime_error(s.message());
  Table t;
  auto st = (*s)->scan(model::kDefaultModelId, [&](const store::ImageWithPhoto& r) {
    const std::string key = r.image.listing_id + "/" + r.image.source;
    if (t.count(key)) throw std::runtime_error("doubled: " + key);
    t[key] = {r.image.listing_id, r.image.sha256, r.image.photo_order, r.image.is_title, r.photo.embedding};
  });
  if (!st) throw std::runtime_error(st.message());
  return t;
}

std::size_t photos() {
  const char* n = std::getenv("HOMELENS_MPI_TEST_PHOTOS");
  return n ? std::stoul(n) : 2140;
}

// The one-process table (the shared houses index) cut to the listings of the first
// photos() manifest rows: the houses come four photos a listing, in listing order.
Table reference() {
  Table all = read_table(testing::houses_db().string());
  std::ifstream manifest(testing::houses_dir() / "manifest.csv");
  std::string line;
  std::getline(manifest, line);
  std::set<std::string> listings;
  for (std::size_t i = 0; i < photos() && std::getline(manifest, line); ++i) {
    const auto a = line.find(','), b = line.find(',', a + 1);
    listings.insert(line.substr(a + 1, b - a - 1));
  }
  Table t;
  for (auto& [key, row] : all)
    if (listings.count(row.listing)) t[key] = std::move(row);
  return t;
}

void expect_same(const Table& got, const Table& want) {
  ASSERT_EQ(got.size(), want.size());
  std::size_t titles = 0;
  for (const auto& [key, w] : want) {
    auto it = got.find(key);
    ASSERT_NE(it, got.end()) << "missing " << key;
    EXPECT_EQ(it->second.sha256, w.sha256) << key;
    EXPECT_EQ(it->second.photo_order, w.photo_order) << key;
    EXPECT_EQ(it->second.is_title, w.is_title) << key;
    titles += w.is_title;
    ASSERT_EQ(it->second.embedding.size(), w.embedding.size());
    for (std::size_t j = 0; j < w.embedding.size(); ++j) ASSERT_NEAR(it->second.embedding[j], w.embedding[j], 1e-4);
  }
  EXPECT_EQ(titles, want.size() / 4);
}

// Small transactions, so a rank killed mid-run has committed some of its share.
std::string mpi_command(const std::string& url) {
  std::string cmd = "mpirun --allow-run-as-root --oversubscribe -np 3 " +
                    shell_quote(testing::homelens_bin().string()) + " index --mpi --mpi-timeout 30 --commit-every 8 --db " +
                    shell_quote(url) + " " + testing::houses_index_args();
  if (photos() < 2140) cmd += " --limit " + std::to_string(photos());
  return cmd;
}

// The pid of the process of the given rank among mpirun's children.
pid_t rank_pid(pid_t mpirun, int rank) {
  auto r = testing::run_command("pgrep -P " + std::to_string(mpirun));
  std::istringstream in(r.out);
  pid_t pid = 0;
  while (in >> pid) {
    std::ifstream env("/proc/" + std::to_string(pid) + "/environ", std::ios::binary);
    std::string var;
    while (std::getline(env, var, '\0'))
      if (var == "OMPI_COMM_WORLD_RANK=" + std::to_string(rank)) return pid;
  }
  return 0;
}

class HousesMpi : public ::testing::Test {
 protected:
  void SetUp() override {
#ifdef HOMELENS_SANITIZED
    GTEST_SKIP() << "heavy MPI run: release build only (see the file comment)";
#endif
#ifndef HOMELENS_TEST_HAVE_MPI
    GTEST_SKIP() << "homelens was built without OpenMPI";
#endif
  }
};

TEST_F(HousesMpi, ThreeRanksGiveTheSameTableAsOneProcess) {
  const Table want = reference();
  const std::string url = testing::PgCluster::get().create_database();
  auto r = testing::run_command(mpi_command(url));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  // One summary for the whole job, from rank 0 only.
  const std::string summary = std::to_string(photos()) + " photos: ";
  EXPECT_NE(r.out.find(summary), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(" 0 failed"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("3 MPI ranks"), std::string::npos) << r.out;
  std::size_t summaries = 0;
  for (std::size_t at = 0; (at = r.out.find(summary, at)) != std::string::npos; ++at) ++summaries;
  EXPECT_EQ(summaries, 1u);
  expect_same(read_table(url), want);
}

TEST_F(HousesMpi, AKilledRankEndsTheJobNamingItAndARerunCompletesTheTable) {
  const Table want = reference();
  const std::string url = testing::PgCluster::get().create_database();
  const std::string out = (std::filesystem::temp_directory_path() /
                           ("homelens-mpi-" + std::to_string(::getpid()) + ".log")).string();
  const pid_t mpirun = ::fork();
  ASSERT_GE(mpirun, 0);
  if (mpirun == 0) {
    const std::string cmd = "exec " + mpi_command(url) + " >" + shell_quote(out) + " 2>&1";
    ::execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  // Kill rank 1 once some photos are committed.
  auto s = store::open_store(url);
  ASSERT_TRUE(s.ok()) << s.message();
  bool killed = false;
  for (int i = 0; i < 1200 && !killed; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    auto st = (*s)->stats();
    if (st.ok() && st->images >= static_cast<std::int64_t>(photos() / 3)) {
      const pid_t victim = rank_pid(mpirun, 1);
      ASSERT_GT(victim, 0) << "rank 1 not found under mpirun " << mpirun;
      ::kill(victim, SIGKILL);
      killed = true;
    }
  }
  int status = 0;
  ::waitpid(mpirun, &status, 0);
  ASSERT_TRUE(killed) << "the job never committed a third of the photos";
  std::ifstream in(out);
  const std::string log((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::filesystem::remove(out);
  std::cout << "the job's output after rank 1 was killed:\n" << log << "\n";
  EXPECT_FALSE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << log;
  EXPECT_NE(log.find("rank 1"), std::string::npos) << "the error must name the killed rank:\n" << log;
  const std::size_t partial = read_table(url).size();
  EXPECT_GT(partial, 0u);
  EXPECT_LT(partial, want.size());

  auto r = testing::run_command(mpi_command(url));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  expect_same(read_table(url), want);
}

}  // namespace
}  // namespace homelens

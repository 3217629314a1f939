// Shared helpers for the test suite: where ../shared is, scratch folders, and
// running the real homelens binary.
#pragma once

#include <filesystem>
#include <random>
#include <string>
#include <vector>

namespace homelens::testing {

// Absolute path of the shared data folder (photos, models), from the build.
std::filesystem::path shared_dir();
// houses_dataset folder and its manifest.
std::filesystem::path houses_dir();
// The homelens binary built alongside the tests.
std::filesystem::path homelens_bin();
// The repository root (model specs live in models/).
std::filesystem::path source_dir();

// The manifest options that index ../shared/data/houses_dataset as listings
// (house_id) with their attributes and room type.
std::string houses_index_args();

// The SQLite index of all 2,140 shared house photos ($HOMELENS_HOUSES_DB, built
// by the index_houses_fixture test; built here when missing).
std::filesystem::path houses_db();

// A fresh, empty folder under /tmp removed when the object dies.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

struct CommandResult {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};

// Runs a shell command line and captures stdout and stderr.
CommandResult run_command(const std::string& command_line);

// Quotes a string for /bin/sh.
std::string shell_quote(const std::string& s);

// A random vector of unit length with dim Gaussian components.
std::vector<float> random_unit(std::mt19937& rng, std::size_t dim);

}  // namespace homelens::testing

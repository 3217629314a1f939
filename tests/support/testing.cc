#include "support/testing.h"

#include <sys/wait.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>

namespace homelens::testing {
namespace fs = std::filesystem;

fs::path shared_dir() {
  if (const char* env = std::getenv("HOMELENS_SHARED")) return env;
  return HOMELENS_TEST_SHARED;
}
fs::path houses_dir() { return shared_dir() / "data" / "houses_dataset"; }
fs::path homelens_bin() {
  if (const char* env = std::getenv("HOMELENS_BIN")) return env;
  return HOMELENS_TEST_BIN;
}
fs::path source_dir() { return HOMELENS_TEST_SOURCE_DIR; }

std::string houses_index_args() {
  return "--manifest " + shell_quote((houses_dir() / "manifest.csv").string()) +
         " --col listing=house_id --col price=price_usd --col beds=bedrooms"
         " --col baths=bathrooms --col area=area_sqft --col zip=zipcode"
         " --col extra=room_type --col extra=is_front_exterior";
}

fs::path houses_db() {
  fs::path db = std::getenv("HOMELENS_HOUSES_DB") ? fs::path(std::getenv("HOMELENS_HOUSES_DB"))
                                                  : fs::path(HOMELENS_TEST_HOUSES_DB);
  if (!fs::exists(db)) {
    fs::create_directories(db.parent_path());
    auto r = run_command(shell_quote(homelens_bin().string()) + " index --quiet --db " +
                         shell_quote(db.string()) + " " + houses_index_args());
    if (r.exit_code != 0) throw std::runtime_error("indexing the houses failed: " + r.err);
  }
  return db;
}

TempDir::TempDir() {
  std::string templ = (fs::temp_directory_path() / "homelens-test-XXXXXX").string();
  if (!mkdtemp(templ.data())) throw std::runtime_error("mkdtemp failed");
  path_ = templ;
}
TempDir::~TempDir() {
  std::error_code ec;
  if (!std::getenv("HOMELENS_KEEP_TEST_FILES")) fs::remove_all(path_, ec);
}

std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) {
    if (c == '\'') q += "'\\''";
    else q += c;
  }
  return q + "'";
}

static std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

CommandResult run_command(const std::string& command_line) {
  TempDir tmp;
  std::string full = command_line + " >" + shell_quote((tmp / "out").string()) + " 2>" +
                     shell_quote((tmp / "err").string());
  int status = std::system(full.c_str());
  CommandResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = slurp(tmp / "out");
  r.err = slurp(tmp / "err");
  return r;
}

std::vector<float> random_unit(std::mt19937& rng, std::size_t dim) {
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::vector<float> v(dim);
  double s = 0;
  for (float& x : v) {
    x = g(rng);
    s += static_cast<double>(x) * x;
  }
  for (float& x : v) x = static_cast<float>(x / std::sqrt(s));
  return v;
}

}  // namespace homelens::testing

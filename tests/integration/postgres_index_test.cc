// `homelens index` into PostgreSQL: two indexers over overlapping parts of the houses manifest,
// running at the same time into one database, leave the same table as one run of the whole
// manifest, with one row per photo.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <pqxx/pqxx>

#include "homelens/model/model_spec.h"
#include "homelens/store/store.h"
#include "support/pg_cluster.h"
#include "support/testing.h"

namespace homelens {
namespace {

using testing::run_command;
using testing::shell_quote;
using testing::TempDir;

// The manifest rows whose house_id (second column) is in [first, last], with the header.
void write_manifest_part(const std::filesystem::path& out, int first, int last) {
  std::ifstream in(testing::houses_dir() / "manifest.csv");
  std::ofstream o(out);
  std::string line;
  std::getline(in, line);
  o << line << "\n";
  while (std::getline(in, line)) {
    const auto c1 = line.find(',');
    const int house = std::stoi(line.substr(c1 + 1, line.find(',', c1 + 1) - c1 - 1));
    if (house >= first && house <= last) o << line << "\n";
  }
}

std::string index_command(const std::string& db, const std::filesystem::path& manifest) {
  const std::string args = testing::houses_index_args();
  return shell_quote(testing::homelens_bin().string()) + " index --quiet --no-heads --db " +
         shell_quote(db) + " --manifest " + shell_quote(manifest.string()) + " --base-dir " +
         shell_quote(testing::houses_dir().string()) + args.substr(args.find(" --col"));
}

// One query's rows, each as its fields joined by '|', in the query's order.
std::vector<std::string> rows(const std::string& url, const std::string& sql) {
  pqxx::connection c(url);
  pqxx::nontransaction tx(c);
  std::vector<std::string> out;
  for (const auto& r : tx.exec(sql)) {
    std::string s;
    for (const auto& f : r) s += (f.is_null() ? std::string("NULL") : f.c_str()) + std::string("|");
    out.push_back(s);
  }
  return out;
}

TEST(PostgresIndex, TwoConcurrentIndexersOverOverlappingManifestsGiveTheTableOfOneRun) {
  auto& pg = testing::PgCluster::get();
  const std::string together = pg.create_database(), alone = pg.create_database();
  TempDir dir;
  write_manifest_part(dir / "first.csv", 1, 300);
  write_manifest_part(dir / "second.csv", 200, 535);

  testing::CommandResult first, second;
  std::thread a([&] { first = run_command(index_command(together, dir / "first.csv")); });
  std::thread b([&] { second = run_command(index_command(together, dir / "second.csv")); });
  a.join();
  b.join();
  ASSERT_EQ(first.exit_code, 0) << first.err;
  ASSERT_EQ(second.exit_code, 0) << second.err;
  auto whole = run_command(index_command(alone, testing::houses_dir() / "manifest.csv"));
  ASSERT_EQ(whole.exit_code, 0) << whole.err;

  const char* listings = "SELECT id, price, beds, baths, area, zip, extra FROM listings ORDER BY id";
  const char* images =
      "SELECT listing_id, source, sha256, photo_order, is_title, path, extra FROM images "
      "ORDER BY listing_id, source";
  const char* photos = "SELECT sha256, model_id, width, height FROM photos ORDER BY sha256, model_id";
  const auto want_images = rows(alone, images);
  EXPECT_EQ(want_images.size(), 2140u);
  EXPECT_EQ(rows(together, listings), rows(alone, listings));
  EXPECT_EQ(rows(together, images), want_images);
  EXPECT_EQ(rows(together, photos), rows(alone, photos));
  // One photo row per distinct bytes: exactly as many as the images show.
  EXPECT_EQ(rows(together, "SELECT count(*) FROM photos"),
            rows(together, "SELECT count(DISTINCT sha256) FROM images"));

  // How long loading the whole table takes (what a server does at start).
  auto store = store::open_store(alone);
  ASSERT_TRUE(store.ok()) << store.message();
  std::size_t n = 0;
  const auto t0 = std::chrono::steady_clock::now();
  Status st = (*store)->scan(model::kDefaultModelId, [&](const store::ImageWithPhoto&) { ++n; });
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(n, 2140u);
  std::cout << "scan of " << n << " rows from PostgreSQL: " << ms << " ms\n";
}

}  // namespace
}  // namespace homelens

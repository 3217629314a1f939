// Live updates: a running server sees what other processes write to its table
// (a `homelens index` run adding photos, a `homelens delete` removing a listing)
// within seconds, incrementally, in its recommend and list answers.
#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <fstream>
#include <set>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "homelens/model/model_spec.h"
#include "homelens/serve/server.h"
#include "support/pg_cluster.h"
#include "support/testing.h"

namespace homelens {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using testing::houses_dir;
using testing::run_command;
using testing::shell_quote;
using testing::TempDir;

// Writes the manifest rows [first, last) (data rows, header kept) to path.
void write_manifest_rows(const fs::path& path, int first, int last) {
  std::ifstream in(houses_dir() / "manifest.csv");
  std::ofstream out(path);
  std::string line;
  std::getline(in, line);
  out << line << "\n";
  for (int row = 0; std::getline(in, line); ++row)
    if (row >= first && row < last) out << line << "\n";
}

testing::CommandResult homelens(const std::string& args) {
  return run_command(shell_quote(testing::homelens_bin().string()) + " " + args);
}

std::string index_args(const std::string& db, const fs::path& manifest) {
  return "index --quiet --no-heads --db " + shell_quote(db) + " --manifest " +
         shell_quote(manifest.string()) + " --base-dir " + shell_quote(houses_dir().string()) +
         " --col listing=house_id --col price=price_usd --col beds=bedrooms --col baths=bathrooms"
         " --col area=area_sqft --col zip=zipcode --col extra=room_type";
}

model::ModelSpec default_spec() {
  auto spec = model::find_model_spec(model::kDefaultModelId, (testing::shared_dir() / "models").string());
  if (!spec) throw std::runtime_error(spec.message());
  return *spec;
}

std::unique_ptr<serve::Server> start_server(const std::string& db, int* port) {
  serve::ServerConfig cfg;
  cfg.engine.db = db;
  cfg.engine.spec = default_spec();
  cfg.engine.refresh_seconds = 0.5;
  cfg.port = 0;
  cfg.quiet = true;
  auto server = serve::Server::create(cfg);
  if (!server) throw std::runtime_error(server.message());
  auto p = (*server)->start();
  if (!p) throw std::runtime_error(p.message());
  *port = *p;
  return std::move(*server);
}

json get_json(int port, const std::string& path) {
  httplib::Client cli("127.0.0.1", port);
  auto r = cli.Get(path);
  if (!r || r->status != 200) return json();
  return json::parse(r->body, nullptr, false);
}

json post_json(int port, const std::string& path, const json& body) {
  httplib::Client cli("127.0.0.1", port);
  auto r = cli.Post(path, body.dump(), "application/json");
  if (!r || r->status != 200) return json();
  return json::parse(r->body, nullptr, false);
}

std::set<std::string> listed_ids(int port) {
  std::set<std::string> ids;
  for (int offset = 0;; offset += 200) {
    json page = get_json(port, "/v1/listings?limit=200&offset=" + std::to_string(offset));
    if (!page.is_object()) return {};
    for (const json& l : page["listings"]) ids.insert(l["id"].get<std::string>());
    if (page["listings"].size() < 200) return ids;
  }
}

std::set<std::string> recommended_ids(int port, const json& body) {
  std::set<std::string> ids;
  json r = post_json(port, "/v1/recommend", body);
  if (!r.is_object()) return ids;
  for (const json& res : r["results"]) ids.insert(res["listing_id"].get<std::string>());
  return ids;
}

// Houses 1-50 (manifest rows 0-199) are indexed; a server runs; then another process
// indexes houses 51-75 (100 photos) and another deletes listing 7. Every server must
// show both within 5 s of the writers finishing.
void expect_servers_see_writes(const std::string& db, int servers) {
  TempDir tmp;
  write_manifest_rows(tmp / "base.csv", 0, 200);
  write_manifest_rows(tmp / "more.csv", 200, 300);
  auto base = homelens(index_args(db, tmp / "base.csv"));
  ASSERT_EQ(base.exit_code, 0) << base.err;

  std::vector<std::unique_ptr<serve::Server>> running;
  std::vector<int> ports;
  for (int i = 0; i < servers; ++i) {
    int port = 0;
    running.push_back(start_server(db, &port));
    ports.push_back(port);
  }
  for (int port : ports) {
    const std::set<std::string> before = listed_ids(port);
    ASSERT_EQ(before.size(), 50u);
    ASSERT_TRUE(before.count("7"));
  }

  auto more = homelens(index_args(db, tmp / "more.csv") + " --json");
  ASSERT_EQ(more.exit_code, 0) << more.err;
  const json summary = json::parse(more.out);
  // A few house photos are byte-identical to others: stored, embedded once.
  EXPECT_EQ(summary["indexed"].get<int>() + summary["reused"].get<int>(), 100) << more.out;
  auto del = homelens("delete --db " + shell_quote(db) + " --listing 7");
  ASSERT_EQ(del.exit_code, 0) << del.err;
  const auto written = Clock::now();

  const json whole_index = {{"query", {{"listing_id", "1"}}}, {"k", 1000}};
  const json explicit_ids = {{"query", {{"listing_id", "1"}}},
                             {"candidates", {{"listing_ids", {"7", "60", "75", "2"}}}},
                             {"k", 10}};
  for (int port : ports) {
    bool seen = false;
    std::set<std::string> listed, all, some;
    while (!seen && Clock::now() - written < std::chrono::seconds(5)) {
      listed = listed_ids(port);
      all = recommended_ids(port, whole_index);
      some = recommended_ids(port, explicit_ids);
      seen = listed.size() == 74 && !listed.count("7") && listed.count("51") && listed.count("75") &&
             all.size() == 73 && !all.count("7") && all.count("75") &&
             some == std::set<std::string>{"2", "60", "75"};
      if (!seen) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    const double took = std::chrono::duration<double>(Clock::now() - written).count();
    EXPECT_TRUE(seen) << "server on port " << port << " after " << took << " s: " << listed.size()
                      << " listed, " << all.size() << " recommended, listing 7 listed: "
                      << listed.count("7") << ", recommended from the explicit list: " << some.size();
    std::cout << "server " << port << " saw 100 new photos and a deleted listing " << took
              << " s after the writers finished\n";
    // The photos themselves are served, and the deleted listing's are gone.
    json l60 = get_json(port, "/v1/listings/60");
    ASSERT_TRUE(l60.is_object());
    EXPECT_EQ(l60["photo_count"], 4);
    EXPECT_TRUE(get_json(port, "/v1/listings/7").is_null());
  }
}

TEST(LiveUpdates, ASqliteServerSeesAnotherProcessIndexAndDeleteWithinFiveSeconds) {
  TempDir tmp;
  expect_servers_see_writes((tmp / "live.db").string(), 1);
}

// A real MLS runs several servers on one shared table: two servers on one PostgreSQL
// database both see what a third process indexes and deletes.
TEST(LiveUpdates, TwoServersOnOnePostgresqlTableSeeAnotherProcessIndexAndDeleteWithinFiveSeconds) {
  expect_servers_see_writes(testing::PgCluster::get().create_database(), 2);
}

}  // namespace
}  // namespace homelens

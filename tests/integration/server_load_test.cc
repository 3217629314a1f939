// Reads go on while writes happen: 8 clients against a real server on 127.0.0.1
// for 30 s (6 recommending, 2 indexing and deleting photos) get no transport
// error and no unexpected status, and afterwards the table and the server's
// catalogue agree photo for photo. A correctness test, not a benchmark: rates
// are printed, never asserted.
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "homelens/model/model_spec.h"
#include "homelens/rank/catalog.h"
#include "homelens/serve/server.h"
#include "homelens/store/store.h"
#include "support/bad_corpus.h"
#include "support/testing.h"

namespace homelens {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using testing::houses_dir;
using testing::shell_quote;
using testing::TempDir;

constexpr int kIndexedHouses = 50;  // --limit 200: houses 1..50, four photos each
constexpr int kReaders = 6;
constexpr int kWriters = 2;

using testing::read_bytes;  // from support/bad_corpus.h

std::string photo(int house, const std::string& room) {
  return read_bytes(houses_dir() / "images" / (std::to_string(house) + "_" + room + ".jpg"));
}

int run_seconds() {
  if (const char* s = std::getenv("HOMELENS_LOAD_SECONDS")) return std::max(1, std::atoi(s));
  return 30;
}

// What went wrong, kept short: a count per kind with its first few messages.
class Problems {
 public:
  void add(const std::string& kind, const std::string& what) {
    std::lock_guard lock(mu_);
    auto& [n, examples] = kinds_[kind];
    if (++n <= 3) examples.push_back(what);
    ++count_;
  }
  std::size_t count() const {
    std::lock_guard lock(mu_);
    return count_;
  }
  std::string summary() const {
    std::lock_guard lock(mu_);
    std::ostringstream s;
    for (const auto& [kind, seen] : kinds_) {
      s << "\n" << seen.first << " x " << kind << ", e.g.";
      for (const auto& e : seen.second) s << "\n  " << e;
    }
    return s.str();
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::pair<std::size_t, std::vector<std::string>>> kinds_;
  std::size_t count_ = 0;
};

// The photos the writers added and still expect to be there.
struct Added {
  std::mutex mu;
  std::map<std::int64_t, std::string> live;  // image id -> listing id
  std::set<std::int64_t> deleted;
  std::set<std::string> listings;  // every listing a writer made
};

httplib::Client make_client(int port) {
  httplib::Client c("127.0.0.1", port);
  c.set_keep_alive(true);
  c.set_connection_timeout(10, 0);
  c.set_read_timeout(60, 0);
  c.set_write_timeout(60, 0);
  return c;
}

std::string describe(const httplib::Result& r) {
  if (!r) return "transport error " + httplib::to_string(r.error());
  return "HTTP " + std::to_string(r->status) + " " + r->body.substr(0, 200);
}

// A recommend answer keeps its promises: one result per listing, best first, parts add up.
bool sane_results(const std::string& body, std::string* why) {
  const json j = json::parse(body, nullptr, false);
  auto fail = [&](const std::string& what) {
    *why = what;
    return false;
  };
  if (!j.is_object() || !j["results"].is_array()) return fail("no results array");
  const json& w = j["weights"];
  std::set<std::string> seen;
  double prev = INFINITY;
  for (const json& r : j["results"]) {
    const json& b = r["breakdown"];
    const double expect = w["class"].get<double>() * b["class"].get<double>() +
                          w["tag"].get<double>() * b["tag"].get<double>() +
                          w["visual"].get<double>() * b["visual"].get<double>();
    const double score = r["score"];
    if (std::abs(score - expect) > 1e-4) return fail("breakdown does not add up");
    if (score > prev + 1e-6) return fail("not best first");
    if (!seen.insert(r["listing_id"].get<std::string>()).second)
      return fail("a listing twice (" + r["listing_id"].get<std::string>() + ")");
    prev = score;
  }
  return true;
}

class ServerLoad : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = (dir_ / "load.db").string();
    auto r = testing::run_command(shell_quote(testing::homelens_bin().string()) +
                                  " index --quiet --limit 200 --db " + shell_quote(db_) + " " +
                                  testing::houses_index_args());
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto spec =
        model::find_model_spec(model::kDefaultModelId, (testing::shared_dir() / "models").string());
    ASSERT_TRUE(spec.ok()) << spec.message();
    cfg_.engine.db = db_;
    cfg_.engine.spec = *spec;
    cfg_.host = "127.0.0.1";
    cfg_.port = 0;
    cfg_.quiet = true;
    cfg_.web_dir = (testing::source_dir() / "web").string();
    auto s = store::open_store(db_);
    ASSERT_TRUE(s.ok()) << s.message();
    ASSERT_TRUE(
        (*s)->scan(model::kDefaultModelId,
                   [&](const store::ImageWithPhoto& row) { indexed_.push_back(row.image.id); })
            .ok());
    ASSERT_EQ(indexed_.size(), 4u * kIndexedHouses);
  }

  TempDir dir_;
  std::string db_;
  serve::ServerConfig cfg_;
  std::vector<std::int64_t> indexed_;
};

TEST_F(ServerLoad, RecommendAndIndexTogetherFor30sGiveNoErrorsAndLeaveAConsistentTable) {
  auto created = serve::Server::create(cfg_);
  ASSERT_TRUE(created.ok()) << created.message();
  std::unique_ptr<serve::Server> server = std::move(*created);
  auto started = server->start();
  ASSERT_TRUE(started.ok()) << started.message();
  const int port = *started;

  Problems problems;
  Added added;
  std::atomic<std::uint64_t> recommends{0}, posts{0}, deletes{0}, other_reads{0};
  const auto t0 = Clock::now();
  const auto deadline = t0 + std::chrono::seconds(run_seconds());

  auto reader = [&](int n) {
    httplib::Client c = make_client(port);
    std::mt19937 rng(100 + n);
    const std::vector<std::string> rooms = {"frontal", "bedroom", "bathroom", "kitchen"};
    for (std::uint64_t i = 0; Clock::now() < deadline; ++i) {
      const std::int64_t image = indexed_[rng() % indexed_.size()];
      const std::string listing = std::to_string(1 + rng() % kIndexedHouses);
      json rq = {{"k", 1 + rng() % 50}};
      std::string upload;  // a photo to query with, when not empty
      switch (i % 6) {
        case 0:
          rq["query"] = {{"image_id", image}};
          break;
        case 1:
          rq["query"] = {{"listing_id", listing}};
          break;
        case 2: {  // an MLS front end's list: known, made by the writers, and unknown ids
          rq["query"] = {{"image_id", image}};
          json ids = json::array();
          for (int h = 1; h <= kIndexedHouses; h += 1 + static_cast<int>(rng() % 3))
            ids.push_back(std::to_string(h));
          {
            std::lock_guard lock(added.mu);
            for (const auto& l : added.listings) ids.push_back(l);
          }
          for (int k = 0; k < 2000; ++k) ids.push_back("mls-" + std::to_string(rng() % 100000));
          rq["candidates"] = {{"listing_ids", ids}};
          break;
        }
        case 3: {
          rq["query"] = {{"listing_id", listing}};
          json ids = json::array();
          for (int k = 0; k < 100; ++k) ids.push_back(indexed_[rng() % indexed_.size()]);
          {
            std::lock_guard lock(added.mu);
            for (const auto& [id, l] : added.live) ids.push_back(id);
            for (std::int64_t id : added.deleted) ids.push_back(id);
          }
          ids.push_back(99999999);
          rq["candidates"] = {{"image_ids", ids}};
          break;
        }
        case 4:
          rq["query"] = {{"image_id", image}};
          rq["filters"] = {{"price_min", 300000 + 100000 * (rng() % 5)},
                           {"beds_min", rng() % 5},
                           {"zip_prefix", rng() % 2 ? "85" : ""}};
          rq["weights"] = {{"class", 0.5}, {"tag", 1.0}, {"visual", 2.0}};
          break;
        default: {  // an uploaded photo, every other time in the query string form
          upload = photo(1 + static_cast<int>(rng() % kIndexedHouses), rooms[rng() % 4]);
        }
      }
      httplib::Result r = upload.empty() ? c.Post("/v1/recommend", rq.dump(), "application/json")
                          : i % 12 == 5
                              ? c.Post("/v1/recommend",
                                       httplib::MultipartFormDataItems{
                                           {"image", upload, "q.jpg", "image/jpeg"},
                                           {"request", rq.dump(), "", "application/json"}})
                              : c.Post("/v1/recommend?k=5&beds_min=3", upload, "image/jpeg");
      ++recommends;
      std::string why;
      if (!r || r->status != 200) {
        problems.add(
            r ? "recommend: HTTP " + std::to_string(r->status) : "recommend: transport",
            "reader " + std::to_string(n) + " " + rq.dump().substr(0, 120) + ": " + describe(r));
      } else if (!sane_results(r->body, &why)) {
        problems.add("recommend: " + why.substr(0, why.find(" (")),
                     "reader " + std::to_string(n) + ": " + why + " in " + r->body.substr(0, 200));
      }
      if (i % 10 == 9) {  // the page's other reads
        auto l = c.Get("/v1/listings/" + listing);
        auto h = c.Get("/healthz");
        other_reads += 2;
        if (!l || l->status != 200) problems.add("GET listing", listing + ": " + describe(l));
        if (!h || h->status != 200) problems.add("GET /healthz", describe(h));
      }
    }
  };

  // Writers add photos of houses the index does not hold (201..535) as new listings and
  // now and then delete a photo or a whole listing they added.
  auto writer = [&](int n) {
    httplib::Client c = make_client(port);
    std::mt19937 rng(200 + n);
    const std::vector<std::string> rooms = {"frontal", "kitchen", "bedroom", "bathroom"};
    std::vector<std::pair<std::int64_t, std::string>> mine;  // live (image id, listing)
    bool deleted_one = false;
    for (int house = 201 + n; house <= 535 && Clock::now() < deadline; house += kWriters) {
      const std::string listing = "load-" + std::to_string(house);
      {
        std::lock_guard lock(added.mu);
        added.listings.insert(listing);
      }
      for (const std::string& room : rooms) {
        if (Clock::now() >= deadline) break;
        auto r = c.Post("/v1/images?listing_id=" + listing +
                            "&price=" + std::to_string(200000 + house * 1000) + "&beds=3&zip=99" +
                            std::to_string(house),
                        photo(house, room), "image/jpeg");
        ++posts;
        // 200: these bytes are already one of this listing's photos (some houses repeat one).
        const bool again = r && r->status == 200 && json::parse(r->body)["created"] == false;
        if (!r || (r->status != 201 && !again)) {
          problems.add("POST /v1/images", listing + " " + room + ": " + describe(r));
          continue;
        }
        const std::int64_t id = json::parse(r->body)["image_id"];
        if (again) {
          std::lock_guard lock(added.mu);
          if (!added.live.count(id) || added.live[id] != listing)
            problems.add("POST /v1/images", "200 for " + listing + " " + room +
                                                " names no photo of that listing: " + r->body);
          continue;
        }
        mine.emplace_back(id, listing);
        std::lock_guard lock(added.mu);
        added.live[id] = listing;
      }
      // The first delete comes as soon as there are a few photos, so even a slow
      // (sanitizer) build deletes during the run; later ones at random.
      if (mine.size() < 4 || (deleted_one && rng() % 3 != 0)) continue;
      deleted_one = true;
      const std::size_t pick = rng() % mine.size();
      const auto [id, listing_of] = mine[pick];
      if (rng() % 4 == 0) {  // the whole listing
        auto r = c.Delete("/v1/listings/" + listing_of);
        ++deletes;
        if (!r || r->status != 204) problems.add("DELETE listing", listing_of + ": " + describe(r));
        std::lock_guard lock(added.mu);
        for (auto it = mine.begin(); it != mine.end();) {
          if (it->second != listing_of) {
            ++it;
            continue;
          }
          added.live.erase(it->first);
          added.deleted.insert(it->first);
          it = mine.erase(it);
        }
      } else {
        auto r = c.Delete("/v1/images/" + std::to_string(id));
        ++deletes;
        if (!r || r->status != 204)
          problems.add("DELETE image", std::to_string(id) + ": " + describe(r));
        mine.erase(mine.begin() + static_cast<std::ptrdiff_t>(pick));
        std::lock_guard lock(added.mu);
        added.live.erase(id);
        added.deleted.insert(id);
      }
    }
  };

  std::vector<std::thread> threads;
  for (int i = 0; i < kReaders; ++i) threads.emplace_back(reader, i);
  for (int i = 0; i < kWriters; ++i) threads.emplace_back(writer, i);
  for (auto& t : threads) t.join();
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();

  std::cout << "[load] " << secs << " s, " << kReaders << " readers + " << kWriters
            << " writers: " << recommends << " recommend (" << recommends / secs << "/s), "
            << other_reads << " other reads, " << posts << " POST /v1/images (" << posts / secs
            << "/s), " << deletes << " DELETE; " << added.live.size() << " added photos live, "
            << added.deleted.size() << " deleted\n";
  EXPECT_EQ(problems.count(), 0u) << problems.summary();
  EXPECT_GT(recommends.load(), 0u);
  EXPECT_GT(posts.load(), 0u);
  EXPECT_GT(deletes.load(), 0u) << "the run was too short to delete anything";

  // The table afterwards: every stored photo is in the catalogue and vice versa.
  httplib::Client c = make_client(port);
  auto store = store::open_store(db_);
  ASSERT_TRUE(store.ok()) << store.message();
  auto stats = (*store)->stats();
  ASSERT_TRUE(stats.ok()) << stats.message();
  auto health = c.Get("/healthz");
  ASSERT_TRUE(health && health->status == 200) << describe(health);
  const json h = json::parse(health->body);
  EXPECT_EQ(h["images"].get<std::int64_t>(), stats->images);
  EXPECT_EQ(stats->images, static_cast<std::int64_t>(indexed_.size() + added.live.size()));
  std::set<std::int64_t> stored;
  ASSERT_TRUE((*store)
                  ->scan(model::kDefaultModelId,
                         [&](const store::ImageWithPhoto& row) { stored.insert(row.image.id); })
                  .ok());
  EXPECT_EQ(static_cast<std::int64_t>(stored.size()), stats->images);
  std::size_t missing = 0;
  for (std::int64_t id : stored) {
    auto r = c.Get("/v1/images/" + std::to_string(id));
    if (!r || r->status != 200) {
      if (++missing <= 10) ADD_FAILURE() << "stored image " << id << ": " << describe(r);
    }
  }
  EXPECT_EQ(missing, 0u);
  for (const auto& [id, listing] : added.live) {
    EXPECT_TRUE(stored.count(id)) << "added image " << id << " is not in the table";
    auto g = c.Get("/v1/images/" + std::to_string(id));
    ASSERT_TRUE(g && g->status == 200) << describe(g);
    EXPECT_EQ(json::parse(g->body)["listing_id"], listing);
    auto q =
        c.Post("/v1/recommend", json{{"query", {{"image_id", id}}}}.dump(), "application/json");
    EXPECT_TRUE(q && q->status == 200)
        << "added image " << id << " is not queryable: " << describe(q);
    auto l = c.Get("/v1/listings/" + listing);
    ASSERT_TRUE(l && l->status == 200) << describe(l);
    const json page = json::parse(l->body);
    bool listed = false;
    for (const json& im : page["images"]) listed |= im["image_id"] == id;
    EXPECT_TRUE(listed) << "image " << id << " is not among listing " << listing << "'s photos";
  }
  for (std::int64_t id : added.deleted) {
    EXPECT_FALSE(stored.count(id)) << "deleted image " << id << " is still in the table";
    auto g = c.Get("/v1/images/" + std::to_string(id));
    EXPECT_TRUE(g && g->status == 404) << "deleted image " << id << ": " << describe(g);
  }
  // The listings' photo counts add up to the index size.
  std::int64_t photos = 0;
  for (int offset = 0;; offset += 200) {
    auto page = c.Get("/v1/listings?limit=200&offset=" + std::to_string(offset));
    ASSERT_TRUE(page && page->status == 200) << describe(page);
    const json p = json::parse(page->body);
    for (const json& l : p["listings"]) photos += l["photo_count"].get<std::int64_t>();
    if (p["listings"].size() < 200) break;
  }
  EXPECT_EQ(photos, stats->images);

  std::cout << "[load] table checked in "
            << std::chrono::duration<double>(Clock::now() - t0).count() - secs << " s\n";

  // A server started afresh on the table sees the same index.
  server->stop();
  server.reset();
  auto catalog = rank::Catalog::load(**store, model::kDefaultModelId);
  ASSERT_TRUE(catalog.ok()) << catalog.message();
  EXPECT_EQ(static_cast<std::int64_t>(catalog->size()), stats->images);
  auto again = serve::Server::create(cfg_);
  ASSERT_TRUE(again.ok()) << again.message();
  auto port2 = (*again)->start();
  ASSERT_TRUE(port2.ok()) << port2.message();
  httplib::Client c2 = make_client(*port2);
  auto h2 = c2.Get("/healthz");
  ASSERT_TRUE(h2 && h2->status == 200) << describe(h2);
  EXPECT_EQ(json::parse(h2->body)["images"], h["images"]);
}

}  // namespace
}  // namespace homelens

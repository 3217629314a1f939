// The approximate index over the 2,140 shared house photos (a small threshold puts
// them on the approximate path): it finds what the exact scan finds, survives a
// restart by loading its file and catching up on the change log instead of
// rebuilding, and follows photos added and deleted while it serves.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <iostream>
#include <map>
#include <random>
#include <set>

#include <unistd.h>

#include "homelens/engine/engine.h"
#include "homelens/model/model_spec.h"
#include "homelens/store/store.h"
#include "support/testing.h"

namespace homelens {
namespace {

namespace fs = std::filesystem;

model::ModelSpec default_spec() {
  auto spec = model::find_model_spec(model::kDefaultModelId, (testing::shared_dir() / "models").string());
  if (!spec) throw std::runtime_error(spec.message());
  return *spec;
}

class HousesAnn : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("homelens-ann-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    db_ = (dir_ / "houses.db").string();
    // A copy: these tests write to the table.
    for (const char* suffix : {"", "-wal", "-shm"}) {
      const fs::path from = testing::houses_db().string() + suffix;
      if (fs::exists(from)) fs::copy_file(from, db_ + suffix);
    }
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<engine::Engine> open(std::size_t ann_min,
                                       std::size_t recommend_depth = index::AnnOptions{}.recommend_depth) {
    engine::EngineOptions o;
    o.db = db_;
    o.spec = default_spec();
    o.refresh_seconds = 0;
    o.ann.min_rows = ann_min;
    o.ann.recommend_depth = recommend_depth;
    auto e = engine::Engine::open(o);
    if (!e) throw std::runtime_error(e.message());
    if (auto st = (*e)->load(); !st) throw std::runtime_error(st.message());
    return std::move(*e);
  }
  static std::vector<std::int64_t> similar_ids(engine::Engine& e, std::int64_t query, std::size_t k = 10) {
    engine::QuerySpec q;
    q.image_id = query;
    engine::SimilarOptions so;
    so.k = k;
    auto a = e.similar(q, so);
    EXPECT_TRUE(a.ok()) << a.message();
    std::vector<std::int64_t> ids;
    if (a)
      for (const auto& r : a->results) ids.push_back(r.image_id);
    return ids;
  }
  struct Recommended {
    std::vector<std::string> listings;  // best first
    std::vector<float> scores;
    bool approximate = false;
  };
  static Recommended recommend(engine::Engine& e, std::int64_t query, const rank::Filters& filters,
                               std::vector<std::string> candidates = {}) {
    engine::QuerySpec q;
    q.image_id = query;
    rank::RecommendRequest rq;
    rq.filters = filters;
    rq.k = 10;
    rq.listing_ids = std::move(candidates);
    auto a = e.recommend(q, rq);
    EXPECT_TRUE(a.ok()) << a.message();
    Recommended out;
    if (!a) return out;
    for (const auto& r : a->results) {
      out.listings.push_back(r.listing_id);
      out.scores.push_back(r.score);
    }
    out.approximate = a->approximate;
    return out;
  }
  // Every image id of the table, in id order.
  std::vector<std::int64_t> all_ids() {
    auto s = store::open_store(db_);
    std::vector<std::int64_t> ids;
    EXPECT_TRUE((*s)->scan(model::kDefaultModelId, [&](const store::ImageWithPhoto& r) {
      ids.push_back(r.image.id);
    }).ok());
    return ids;
  }

  // Writes, as another process would, a new listing whose one photo is a near copy
  // of image `of`; returns its image id.
  std::int64_t add_near_copy(std::int64_t of, const std::string& listing_id, std::uint32_t seed) {
    auto s = store::open_store(db_);
    auto row = (*s)->get_image_with_photo(of, model::kDefaultModelId);
    if (!row.ok() || !row->has_value()) throw std::runtime_error("no image to copy");
    std::vector<float> v = (*row)->photo.embedding;
    std::mt19937 rng(seed);
    std::normal_distribution<float> noise(0.0f, 0.002f);
    double norm = 0;
    for (float& x : v) {
      x += noise(rng);
      norm += double(x) * x;
    }
    for (float& x : v) x = static_cast<float>(x / std::sqrt(norm));
    store::WriteBatch b;
    store::Listing l;
    l.id = listing_id;
    b.listings.push_back(l);
    store::Photo p;
    p.sha256 = listing_id + "-photo";
    p.model_id = model::kDefaultModelId;
    p.width = 640;
    p.height = 480;
    p.embedding = v;
    b.photos.push_back(p);
    store::Image im;
    im.listing_id = l.id;
    im.source = listing_id + ".jpg";
    im.sha256 = p.sha256;
    im.is_title = true;
    b.images.push_back(im);
    if (auto st = (*s)->write(b); !st) throw std::runtime_error(st.message());
    auto images = (*s)->listing_images(l.id);
    if (!images.ok() || images->size() != 1u) throw std::runtime_error("added image not found");
    return (*images)[0].id;
  }

  fs::path dir_;
  std::string db_;
};

// A photo a buyer looks for among the whole catalogue is found as by the exact scan.
TEST_F(HousesAnn, RecallAtTenAgainstTheExactScanIsAtLeast95Percent) {
  auto ann = open(1000);
  auto exact = open(0);
  auto stats = ann->stats();
  ASSERT_TRUE(stats.ok());
  ASSERT_TRUE(stats->ann) << "2,140 photos over a threshold of 1,000 must use the approximate index";
  EXPECT_EQ(stats->ann_builds, 1u);
  EXPECT_EQ(stats->ann_loads, 0u);
  EXPECT_FALSE(exact->stats()->ann);
  const auto ids = all_ids();
  ASSERT_EQ(ids.size(), 2140u);
  std::size_t found = 0, total = 0;
  // Every 4th photo as a query: 535 queries.
  for (std::size_t i = 0; i < ids.size(); i += 4) {
    const auto truth = similar_ids(*exact, ids[i]);
    const auto got = similar_ids(*ann, ids[i]);
    const std::set<std::int64_t> g(got.begin(), got.end());
    for (std::int64_t id : truth) found += g.count(id);
    total += truth.size();
  }
  const double recall = static_cast<double>(found) / static_cast<double>(total);
  std::cout << "recall@10 of the approximate index on the houses: " << recall << "\n";
  EXPECT_GE(recall, 0.95);
}

// A restart reads the saved index and replays what changed meanwhile; photos added
// and deleted (then and while serving) are found and not found.
TEST_F(HousesAnn, RestartLoadsTheSavedIndexAndFollowsAddsAndDeletes) {
  const auto ids = all_ids();
  ASSERT_GE(ids.size(), 100u);
  const std::int64_t query = ids[10];
  std::int64_t neighbour = 0;
  {
    auto first = open(1000);
    ASSERT_EQ(first->stats()->ann_builds, 1u);
    const auto near = similar_ids(*first, query);
    ASSERT_FALSE(near.empty());
    neighbour = near[0];
  }
  // The file beside the table, with the change sequence it covers.
  bool file = false;
  for (const auto& entry : fs::directory_iterator(dir_))
    file = file || entry.path().extension() == ".ann";
  ASSERT_TRUE(file) << "no approximate index saved beside " << db_;

  // Another process (exact, no approximate index) deletes the query's best match
  // and adds a near copy of the query photo to a new listing while the server is down.
  std::int64_t added = 0;
  {
    auto writer = open(0);
    ASSERT_TRUE(writer->remove_image(neighbour).ok());
    added = add_near_copy(query, "ann-added", 7);
  }

  auto second = open(1000);
  auto stats = second->stats();
  ASSERT_TRUE(stats.ok());
  EXPECT_TRUE(stats->ann);
  EXPECT_EQ(stats->ann_loads, 1u) << "the saved index must be loaded";
  EXPECT_EQ(stats->ann_builds, 0u) << "a restart must not rebuild the index";
  EXPECT_GE(stats->ann_replayed, 2u) << "the delete and the add happened after the save";
  auto near = similar_ids(*second, query);
  ASSERT_FALSE(near.empty());
  EXPECT_EQ(near[0], added) << "the photo added while down is the query's closest match";
  for (std::int64_t id : near) EXPECT_NE(id, neighbour) << "a deleted photo is not returned";

  // While serving: delete the added photo and the next best match, and both are gone.
  const std::int64_t next = near[1];
  ASSERT_TRUE(second->remove_image(added).ok());
  ASSERT_TRUE(second->remove_image(next).ok());
  EXPECT_TRUE(second->stats()->ann);
  for (std::int64_t id : similar_ids(*second, query, 50)) {
    EXPECT_NE(id, added);
    EXPECT_NE(id, next);
  }
  // And a photo another process adds while serving is found after the live refresh.
  const std::int64_t live = add_near_copy(query, "ann-live", 8);
  ASSERT_TRUE(second->refresh().ok());
  near = similar_ids(*second, query);
  ASSERT_FALSE(near.empty());
  EXPECT_EQ(near[0], live);
  EXPECT_EQ(second->stats()->ann_builds, 0u) << "live updates go into the loaded index";
}

// A buyer's "homes like this one" over the whole catalogue, with and without price,
// beds and zip filters, finds the homes the exact scan finds when its candidates come
// from the approximate index (the nearest photos among those passing the filters);
// when the depth reaches every passing photo it is the exact scan, and an MLS front
// end's candidate list is always ranked exactly.
TEST_F(HousesAnn, RecommendWithoutCandidatesTakesTheApproximateIndexAndKeepsRecall) {
  // The default depth (20,200) covers all 2,140 photos, so it scans exactly; 214 is the
  // same tenth of the index that the default takes of a catalogue at the default
  // threshold (200,000).
  auto deep = open(1000);
  auto shallow = open(1000, 214);
  auto exact = open(0);
  ASSERT_TRUE(shallow->stats()->ann);
  ASSERT_EQ(shallow->stats()->ann_recommends, 0u);
  rank::Filters narrowed;
  narrowed.price_min = 200000;
  narrowed.price_max = 900000;
  narrowed.beds_min = 3;
  narrowed.zip_prefix = "9";  // 261 of the 535 listings
  rank::Filters one_zip;
  one_zip.zip_prefix = "85255";  // 12 listings, fewer photos than the depth
  const std::vector<std::pair<std::string, rank::Filters>> filter_sets{
      {"no filter", {}}, {"price, beds, zip", narrowed}, {"zip 85255", one_zip}};
  const std::vector<std::pair<std::string, engine::Engine*>> engines{{"depth 20200", deep.get()},
                                                                      {"depth 214", shallow.get()}};
  struct Tally {
    std::size_t found = 0, total = 0, approximate = 0, queries = 0;
  };
  std::map<std::string, Tally> tallies;
  std::map<engine::Engine*, std::uint64_t> approximate_answers;
  const auto ids = all_ids();
  for (const auto& [filter_name, filters] : filter_sets) {
    for (std::size_t i = 0; i < ids.size(); i += 8) {  // 268 queries
      const Recommended truth = recommend(*exact, ids[i], filters);
      ASSERT_FALSE(truth.approximate);
      for (const auto& [engine_name, e] : engines) {
        const Recommended got = recommend(*e, ids[i], filters);
        Tally& t = tallies[engine_name + ", " + filter_name];
        ++t.queries;
        if (!got.approximate) {
          // The fallback is the exact scan: the same homes in the same order.
          EXPECT_EQ(got.listings, truth.listings) << "query image " << ids[i] << ", " << filter_name;
          continue;
        }
        ++t.approximate;
        ++approximate_answers[e];
        const std::set<std::string> g(got.listings.begin(), got.listings.end());
        for (const std::string& id : truth.listings) t.found += g.count(id);
        t.total += truth.listings.size();
        ASSERT_EQ(got.listings.size(), truth.listings.size()) << "at least k listings passed the filters";
      }
    }
  }
  for (const auto& [name, t] : tallies) {
    const double recall = t.total ? static_cast<double>(t.found) / static_cast<double>(t.total) : 1.0;
    std::cout << "recommend recall@10 through the approximate index, " << name << ": " << recall << " ("
              << t.approximate << " of " << t.queries << " queries approximate)\n";
    const bool within_depth = name.starts_with("depth 20200") || name.find("zip 85255") != std::string::npos;
    if (within_depth) {
      EXPECT_EQ(t.approximate, 0u) << name << ": the depth reaches every passing photo, so the exact scan";
    } else {
      EXPECT_EQ(t.approximate, t.queries) << name << ": every whole-index recommend takes the approximate path";
      EXPECT_GE(recall, 0.95) << name;
    }
  }
  for (const auto& [engine_name, e] : engines)
    EXPECT_EQ(e->stats()->ann_recommends, approximate_answers[e]) << engine_name;

  // A candidate list (an MLS front end's) is ranked exactly and not counted.
  auto listings = exact->list_listings({}, 0, 1000);
  ASSERT_TRUE(listings.ok());
  std::vector<std::string> candidates;  // every third listing
  for (std::size_t i = 0; i < listings->listings.size(); i += 3) candidates.push_back(listings->listings[i].listing.id);
  const std::uint64_t before = shallow->stats()->ann_recommends;
  for (std::size_t i = 0; i < ids.size(); i += 40) {
    const Recommended truth = recommend(*exact, ids[i], {}, candidates);
    const Recommended got = recommend(*shallow, ids[i], {}, candidates);
    EXPECT_FALSE(got.approximate);
    EXPECT_EQ(got.listings, truth.listings);
    EXPECT_EQ(got.scores, truth.scores);
  }
  EXPECT_EQ(shallow->stats()->ann_recommends, before);
}

}  // namespace
}  // namespace homelens

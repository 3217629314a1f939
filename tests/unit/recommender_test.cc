// The recommendation ranking over a synthetic catalogue: every answer is the true
// top k of the final score (including the large candidate lists that take the
// half-precision scan and exact rescoring), one result per listing, and the
// catalogue's listing table stays right through removals.
#include "homelens/rank/recommender.h"
#include "homelens/index/ann_index.h"
#include "homelens/index/half_flat_index.h"
#include "homelens/index/index_factory.h"
#include "support/testing.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <numeric>
#include <optional>
#include <ostream>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace homelens::rank {
namespace {

constexpr std::size_t kDim = 96;

std::vector<float> random_unit(std::mt19937& rng) { return homelens::testing::random_unit(rng, kDim); }

store::Tags random_tags(std::mt19937& rng) {
  const char* styles[] = {"spanish", "ranch", "traditional", "contemporary", "other"};
  const char* stories[] = {"1", "2", "3"};
  store::Tags t;
  t.front = std::uniform_real_distribution<float>(0, 1)(rng);
  t.style = styles[rng() % 5];
  t.stories = stories[rng() % 3];
  t.room = rng() % 2 ? "front" : "kitchen";
  return t;
}

// A request for a random unit query with random tags.
RecommendRequest random_request(std::mt19937& rng, std::size_t k) {
  RecommendRequest req;
  req.query.vector = random_unit(rng);
  req.query.tags = random_tags(rng);
  req.k = k;
  return req;
}

// A catalogue of `listings` listings with two photos each; vectors kept for the reference.
struct Fixture {
  Catalog catalog{kDim};
  std::map<std::int64_t, std::vector<float>> vectors;
  std::map<std::int64_t, store::Tags> tags;
  std::map<std::int64_t, std::string> listing_of;
  std::vector<std::string> listing_ids;

  // spec: the catalogue's index kind ("" = the default).
  explicit Fixture(int listings, std::string_view spec = "") {
    catalog = std::move(Catalog::create(kDim, spec)).value();
    std::mt19937 rng(5);
    std::int64_t id = 1;
    for (int l = 0; l < listings; ++l) {
      store::Listing li;
      li.id = "L" + std::to_string(l);
      li.price = 100000 + 1000 * l;
      catalog.put_listing(li);
      listing_ids.push_back(li.id);
      for (int p = 0; p < 2; ++p, ++id) {
        store::Image im;
        im.id = id;
        im.listing_id = li.id;
        im.photo_order = p;
        store::Photo ph;
        ph.embedding = random_unit(rng);
        ph.tags = random_tags(rng);
        vectors[id] = ph.embedding;
        tags[id] = ph.tags;
        listing_of[id] = li.id;
        EXPECT_TRUE(catalog.put(im, ph));
      }
    }
  }
};

double cosine(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += static_cast<double>(a[i]) * b[i];
  return s;
}

// Checks `got` against a brute-force ranking of the given candidate images:
// each score is right, best first, one per listing, and nothing left out beats the last.
void expect_true_top_k(const Fixture& f, const RecommendRequest& req, const std::vector<std::int64_t>& cand_images,
                       const RecommendResult& got) {
  std::map<std::string, double> best_of_listing;
  for (std::int64_t id : cand_images) {
    Breakdown b = score_parts(req.query.tags, f.tags.at(id), static_cast<float>(cosine(req.query.vector, f.vectors.at(id))),
                              req.scoring);
    const double s = final_score(b, req.scoring.weights);
    auto [it, inserted] = best_of_listing.emplace(f.listing_of.at(id), s);
    if (!inserted) it->second = std::max(it->second, s);
  }
  ASSERT_EQ(got.results.size(), std::min(req.k, best_of_listing.size()));
  std::set<std::string> returned;
  for (std::size_t i = 0; i < got.results.size(); ++i) {
    const Recommendation& r = got.results[i];
    EXPECT_TRUE(returned.insert(r.listing_id).second) << "listing " << r.listing_id << " returned twice";
    EXPECT_EQ(f.listing_of.at(r.image_id), r.listing_id);
    EXPECT_NEAR(r.score, best_of_listing.at(r.listing_id), 1e-5) << "rank " << i;
    EXPECT_NEAR(r.score, final_score(r.breakdown, req.scoring.weights), 1e-6);
    if (i) {
      EXPECT_GE(got.results[i - 1].score, r.score);
    }
  }
  const double last = got.results.back().score;
  for (const auto& [lid, s] : best_of_listing)
    if (!returned.count(lid)) {
      EXPECT_LE(s, last + 1e-5) << "listing " << lid << " left out but scores higher";
    }
}

// The brute-force tests' scoring: weights, and how class and tags are taken.
struct Scoring {
  Weights weights;
  bool soft_class = false;
  bool tags_need_fronts = false;
};

void PrintTo(const Scoring& s, std::ostream* os) {
  *os << s.weights.cls << "/" << s.weights.tag << "/" << s.weights.visual << (s.soft_class ? " soft" : " hard")
      << (s.tags_need_fronts ? ", tags need fronts" : "");
}

std::string scoring_name(const ::testing::TestParamInfo<Scoring>& p) {
  static const char* const names[] = {"Default",        "TagsOnly",          "NegativeVisual",
                                      "VisualOnly",     "TagsNeedFronts",    "TagsOnlyNeedFronts",
                                      "SoftTagsNeedFronts"};
  return names[p.index];
}

class RecommendTopK : public ::testing::TestWithParam<Scoring> {};

TEST_P(RecommendTopK, LargeCandidateListsGiveTheTrueTopKByFinalScore) {
  Fixture f(3000);
  std::mt19937 rng(9);
  RecommendRequest req;
  req.query.vector = random_unit(rng);
  req.query.tags = random_tags(rng);
  req.query.tags.front = 0.8f;  // a house front, so gated tags still count against fronts
  req.scoring.weights = GetParam().weights;
  req.scoring.soft_class = GetParam().soft_class;
  req.scoring.tags_need_fronts = GetParam().tags_need_fronts;
  for (std::size_t k : {10, 1000}) {
    req.k = k;
    // Explicit listing ids (their title photos: photo order 0 = odd image ids).
    req.listing_ids = f.listing_ids;
    std::vector<std::int64_t> titles;
    for (std::int64_t id = 1; id <= 6000; id += 2) titles.push_back(id);
    expect_true_top_k(f, req, titles, recommend(f.catalog, req));
    // Every photo of every listing: a listing's best photo represents it.
    req.all_photos = true;
    std::vector<std::int64_t> all;
    for (std::int64_t id = 1; id <= 6000; ++id) all.push_back(id);
    expect_true_top_k(f, req, all, recommend(f.catalog, req));
    // Explicit image ids.
    req.all_photos = false;
    req.listing_ids.clear();
    req.image_ids.clear();
    for (std::int64_t id = 1; id <= 6000; id += 3) req.image_ids.push_back(id);
    expect_true_top_k(f, req, req.image_ids, recommend(f.catalog, req));
    req.image_ids.clear();
  }
}

INSTANTIATE_TEST_SUITE_P(Scorings, RecommendTopK,
                         ::testing::Values(Scoring{{1.0, 0.3, 1.0}}, Scoring{{0.0, 1.0, 0.0}}, Scoring{{1.0, 0.3, -1.0}},
                                           Scoring{{0.0, 0.0, 5.0}}, Scoring{{1.0, 0.3, 1.0}, false, true},
                                           Scoring{{0.0, 1.0, 0.0}, false, true}, Scoring{{1.0, 0.3, 1.0}, true, true}),
                         scoring_name);

// The index kind changes how candidates are scanned, never the answer.
TEST(Recommend, EveryExactIndexKindGivesTheSameAnswers) {
  Fixture flat(3000, "Flat");
  EXPECT_EQ(flat.catalog.index().kind(), "Flat");
  for (std::string spec : {"", "Refine(HalfFlat)", "Refine(SQ8Flat)"}) {
    if (spec == "Refine(HalfFlat)" && !index::HalfFlatIndex::supported()) continue;
    Fixture other(3000, spec);
    EXPECT_EQ(other.catalog.index().kind(), spec.empty() ? index::default_index_spec() : spec);
    std::mt19937 rng(10);
    RecommendRequest req;
    req.query.vector = random_unit(rng);
    req.query.tags = random_tags(rng);
    for (bool all : {false, true}) {
      for (std::size_t k : {5, 1000, 2500}) {
        req.k = k;
        req.all_photos = all;
        const RecommendResult a = recommend(flat.catalog, req), b = recommend(other.catalog, req);
        ASSERT_EQ(a.results.size(), b.results.size()) << spec;
        EXPECT_EQ(a.candidates, b.candidates);
        for (std::size_t i = 0; i < a.results.size(); ++i) {
          ASSERT_EQ(a.results[i].image_id, b.results[i].image_id) << spec << ", rank " << i;
          ASSERT_EQ(a.results[i].score, b.results[i].score) << spec << ", rank " << i;
        }
      }
    }
  }
}

// Whole-index requests take their candidates from an active approximate index
// (ann_depth nearest photos' listings), scored exactly; too few survivors of the
// filters, a candidate list, or ann_depth 0 scan exactly.
TEST(Recommend, WholeIndexCandidatesComeFromTheApproximateIndexWhenAsked) {
  Fixture f(3000);
  std::vector<std::int64_t> ids, titles;
  for (std::int64_t id = 1; id <= 6000; ++id) ids.push_back(id);
  for (std::int64_t id = 1; id <= 6000; id += 2) titles.push_back(id);
  f.catalog.wrap_index([&](std::unique_ptr<index::VectorIndex> exact) {
    return std::make_unique<index::AnnIndex>(std::move(exact), index::AnnOptions{.min_rows = 1000}, ids);
  });
  auto& ann = dynamic_cast<index::AnnIndex&>(f.catalog.mutable_index());
  std::mt19937 rng(11);
  RecommendRequest req;
  req.query.vector = random_unit(rng);
  req.query.tags = random_tags(rng);
  req.k = 10;
  req.ann_depth = 100000;
  EXPECT_FALSE(recommend(f.catalog, req).approximate) << "no IVF built yet";
  ASSERT_TRUE(ann.build().ok());
  // Deeper than the index: the IVF would return every photo, so the exact scan does it.
  RecommendResult r = recommend(f.catalog, req);
  EXPECT_FALSE(r.approximate);
  expect_true_top_k(f, req, titles, r);
  // Shallow: candidates are only the nearest photos' listings, but scored exactly.
  req.ann_depth = 200;
  r = recommend(f.catalog, req);
  EXPECT_TRUE(r.approximate);
  EXPECT_LE(r.candidates, 200u);
  ASSERT_EQ(r.results.size(), 10u);
  for (const Recommendation& rec : r.results) {
    const Breakdown b = score_parts(req.query.tags, f.tags.at(rec.image_id),
                                    static_cast<float>(cosine(req.query.vector, f.vectors.at(rec.image_id))), req.scoring);
    EXPECT_NEAR(rec.score, final_score(b, req.scoring.weights), 1e-5);
  }
  // A filter that leaves half the listings: the depth is taken among their photos only,
  // so the candidates are as many as without a filter, all passing it.
  req.filters.price_max = 100000 + 1499 * 1000;
  r = recommend(f.catalog, req);
  EXPECT_TRUE(r.approximate);
  EXPECT_GE(r.candidates, 100u) << "200 photos of passing listings, at most 2 a listing";
  for (const Recommendation& rec : r.results) {
    ASSERT_TRUE(rec.entry && rec.entry->listing && rec.entry->listing->listing.price);
    EXPECT_LE(*rec.entry->listing->listing.price, *req.filters.price_max);
  }
  // A filter that leaves 5 listings (L0..L4), 10 photos: within the depth, so the exact scan.
  req.filters.price_max = 104000;
  r = recommend(f.catalog, req);
  EXPECT_FALSE(r.approximate);
  expect_true_top_k(f, req, {1, 3, 5, 7, 9}, r);
  req.filters = {};
  // A candidate list, or depth 0, is never approximate.
  req.listing_ids = f.listing_ids;
  EXPECT_FALSE(recommend(f.catalog, req).approximate);
  req.listing_ids.clear();
  req.ann_depth = 0;
  r = recommend(f.catalog, req);
  EXPECT_FALSE(r.approximate);
  expect_true_top_k(f, req, titles, r);
}

// Skipping the cosine of candidates whose class and tag parts cannot reach the top k
// changes how much is scanned, never the answer.
TEST(Recommend, PruningGivesExactlyTheAnswersOfAFullScan) {
  for (std::string_view spec : {"Flat", ""}) {
    Fixture f(3000, spec);
    std::mt19937 rng(11);
    for (int trial = 0; trial < 3; ++trial) {
      RecommendRequest req;
      req.query.vector = random_unit(rng);
      req.query.tags = random_tags(rng);
      req.query.tags.front = 0.9f;  // a house front: candidates split by class
      std::vector<std::int64_t> titles;
      for (std::int64_t id = 1; id <= 6000; id += 2) titles.push_back(id);
      for (const Weights& w : {Weights{1.0, 0.3, 1.0}, Weights{0.0, 1.0, 0.0}, Weights{1.0, 0.3, -1.0},
                               Weights{0.0, 0.0, 5.0}, Weights{2.0, 0.5, 0.2}}) {
        for (bool soft : {false, true}) {
          for (std::size_t k : {1, 10, 1000, 2999}) {
            req.scoring.weights = w;
            req.scoring.soft_class = soft;
            req.scoring.tags_need_fronts = trial == 2;  // the bound holds with gated tags too
            req.k = k;
            req.listing_ids = trial == 0 ? std::vector<std::string>{} : f.listing_ids;
            req.prune = false;
            const RecommendResult full = recommend(f.catalog, req);
            req.prune = true;
            const RecommendResult pruned = recommend(f.catalog, req);
            SCOPED_TRACE(::testing::Message() << "index " << spec << " trial " << trial << " weights " << w.cls
                                              << "/" << w.tag << "/" << w.visual << " soft " << soft << " k " << k);
            EXPECT_EQ(full.scanned, full.candidates);
            EXPECT_LE(pruned.scanned, pruned.candidates);
            ASSERT_EQ(full.results.size(), pruned.results.size());
            for (std::size_t i = 0; i < full.results.size(); ++i) {
              ASSERT_EQ(full.results[i].image_id, pruned.results[i].image_id) << "rank " << i;
              ASSERT_EQ(full.results[i].score, pruned.results[i].score) << "rank " << i;
              EXPECT_EQ(full.results[i].breakdown.visual, pruned.results[i].breakdown.visual) << "rank " << i;
            }
            expect_true_top_k(f, req, titles, pruned);
          }
        }
      }
      // A house-front query with hard classes and the default weights: non-front candidates
      // (class 0) cannot reach a top 10 of fronts, so their cosines are never computed.
      req.scoring = {};
      req.k = 10;
      const RecommendResult r = recommend(f.catalog, req);
      EXPECT_LT(r.scanned, r.candidates * 3 / 4);
    }
  }
}

// Style and stories describe a house's exterior: with tags_need_fronts, equal tags count
// between two house fronts (hard: both at the threshold; soft: by both front probabilities)
// and not between photos that are not fronts, in score_parts and in the ranking alike.
TEST(Recommend, TagsNeedFrontsCountEqualTagsOnlyBetweenHouseFronts) {
  auto photo = [](std::optional<float> front) {
    store::Tags t;
    t.front = front;
    t.style = "ranch";
    t.stories = "1";
    return t;
  };
  const store::Tags kitchen = photo(0.1f), garden = photo(0.2f), front = photo(0.9f), other_front = photo(0.8f),
                    unknown = photo(std::nullopt);
  ScoreOptions opt;
  EXPECT_EQ(score_parts(kitchen, garden, 0.0f, opt).tag, 1.0f) << "without the switch any two photos";
  opt.tags_need_fronts = true;
  EXPECT_EQ(score_parts(kitchen, garden, 0.0f, opt).tag, 0.0f);
  EXPECT_EQ(score_parts(front, kitchen, 0.0f, opt).tag, 0.0f);
  EXPECT_EQ(score_parts(front, unknown, 0.0f, opt).tag, 0.0f);
  EXPECT_EQ(score_parts(front, other_front, 0.0f, opt).tag, 1.0f);
  opt.soft_class = true;
  EXPECT_FLOAT_EQ(score_parts(front, other_front, 0.0f, opt).tag, 0.9f * 0.8f);
  EXPECT_FLOAT_EQ(score_parts(kitchen, garden, 0.0f, opt).tag, 0.1f * 0.2f);
  EXPECT_EQ(score_parts(front, unknown, 0.0f, opt).tag, 0.0f);
  EXPECT_FLOAT_EQ(final_score(score_parts(front, other_front, 1.0f, opt), opt.weights), 0.72f + 0.3f * 0.72f + 1.0f);

  // The ranking: a non-front query gets no tag part from any candidate; a front query gets
  // it from fronts with its tags.
  Fixture f(300);
  std::mt19937 rng(12);
  RecommendRequest req = random_request(rng, 600);
  req.scoring.tags_need_fronts = true;
  req.query.tags.front = 0.3f;
  for (const Recommendation& r : recommend(f.catalog, req).results) EXPECT_EQ(r.breakdown.tag, 0.0f) << r.image_id;
  req.query.tags.front = 0.9f;
  int counted = 0;
  for (const Recommendation& r : recommend(f.catalog, req).results) {
    const store::Tags& c = f.tags.at(r.image_id);
    if (*c.front < 0.5f) {
      EXPECT_EQ(r.breakdown.tag, 0.0f) << r.image_id;
    }
    counted += r.breakdown.tag > 0;
  }
  EXPECT_GT(counted, 0);
}

TEST(Recommend, TheQueryListingAndUnknownTagValuesNeverCount) {
  Fixture f(50);
  RecommendRequest req;
  req.query.vector = f.vectors.at(1);
  req.query.tags = f.tags.at(1);
  req.query.tags.style = "gothic";  // no photo has it: never a match
  req.query.listing_id = "L0";
  req.query.image_id = 1;
  req.scoring.tags = {"style"};
  req.k = 100;
  const RecommendResult r = recommend(f.catalog, req);
  ASSERT_EQ(r.results.size(), 49u);
  for (const auto& rec : r.results) {
    EXPECT_NE(rec.listing_id, "L0");
    EXPECT_EQ(rec.breakdown.tag, 0.0f);
  }
}

// A whole-index request represents each listing by its title photo, found by one sweep of the
// catalogue's rows; after title changes, moved and removed photos and removed listings it must
// pick the same photos as a request that names every listing (which looks each listing up).
TEST(Recommend, WholeIndexRequestsFollowTitleChangesAndRemovals) {
  Fixture f(400);
  f.catalog.set_title("L1", 4);             // the second photo becomes L1's title
  ASSERT_TRUE(f.catalog.remove_image(5));   // L2 loses its first photo: the other is the title
  ASSERT_TRUE(f.catalog.remove_listing("L3"));
  store::Image moved;                       // L4's first photo moves to L0, behind L0's title
  moved.id = 9;
  moved.listing_id = "L0";
  moved.photo_order = 5;
  store::Photo ph;
  ph.embedding = f.vectors.at(9);
  ASSERT_TRUE(f.catalog.put(moved, ph));
  EXPECT_EQ(f.catalog.listing("L1")->title_image, 4);
  EXPECT_EQ(f.catalog.listing("L2")->title_image, 6);
  EXPECT_EQ(f.catalog.listing("L4")->title_image, 10);
  std::mt19937 rng(12);
  RecommendRequest whole = random_request(rng, 1000);
  whole.query.listing_id = "L7";  // the query's own listing never comes back
  RecommendRequest named = whole;
  for (const std::string& id : f.listing_ids)
    if (id != "L3") named.listing_ids.push_back(id);
  for (bool filtered : {false, true}) {
    if (filtered) whole.filters.price_max = named.filters.price_max = 100000 + 199 * 1000;
    const RecommendResult a = recommend(f.catalog, whole), b = recommend(f.catalog, named);
    SCOPED_TRACE(filtered ? "price filter" : "no filter");
    ASSERT_EQ(a.results.size(), filtered ? 198u : 398u);  // less L3 (removed) and L7 (the query's)
    EXPECT_EQ(a.candidates, b.candidates);
    ASSERT_EQ(a.results.size(), b.results.size());
    std::set<std::int64_t> images;
    for (std::size_t i = 0; i < a.results.size(); ++i) {
      ASSERT_EQ(a.results[i].image_id, b.results[i].image_id) << "rank " << i;
      EXPECT_EQ(a.results[i].score, b.results[i].score) << "rank " << i;
      EXPECT_NE(a.results[i].listing_id, "L7");
      EXPECT_NE(a.results[i].listing_id, "L3");
      images.insert(a.results[i].image_id);
    }
    EXPECT_TRUE(images.count(4) && !images.count(3)) << "L1 by its new title";
    if (!filtered) {
      EXPECT_TRUE(images.count(6)) << "L2 by its remaining photo";
      EXPECT_TRUE(images.count(10) && !images.count(9)) << "L4 by its remaining photo, L0 by its own title";
    }
  }
}

// Thousands of candidate ids are looked up in parts on several threads: each listing still
// counts once however often it is named, unknown ids are ignored, and the answer is the true
// top k.
TEST(Recommend, LongCandidateListsCountEachListingOnce) {
  Fixture f(6000);
  std::mt19937 rng(14);
  RecommendRequest req = random_request(rng, 1000);
  req.listing_ids = f.listing_ids;
  for (int i = 0; i < 3000; ++i) req.listing_ids.push_back(f.listing_ids[static_cast<std::size_t>(i) * 2]);
  for (int i = 0; i < 500; ++i) req.listing_ids.push_back("unknown-" + std::to_string(i));
  std::shuffle(req.listing_ids.begin(), req.listing_ids.end(), rng);
  std::vector<std::int64_t> titles;
  for (std::int64_t id = 1; id <= 12000; id += 2) titles.push_back(id);
  for (bool all : {false, true}) {
    req.all_photos = all;
    const RecommendResult r = recommend(f.catalog, req);
    EXPECT_EQ(r.candidates, all ? 12000u : 6000u);
    if (all) {
      std::vector<std::int64_t> every(12000);
      std::iota(every.begin(), every.end(), 1);
      expect_true_top_k(f, req, every, r);
    } else {
      expect_true_top_k(f, req, titles, r);
    }
  }
}

// A caller may run the scan's parts on threads of its own (the engine: the team that has just
// embedded an uploaded query); the answer is the same, and every part runs once.
TEST(Recommend, ScanPartsOnTheCallersThreadsGiveTheSameAnswer) {
  Fixture f(6000);
  std::mt19937 rng(13);
  RecommendRequest req = random_request(rng, 1000);
  const RecommendResult shared = recommend(f.catalog, req);
  std::size_t calls = 0, parts = 0;
  req.run_parts = [&](std::size_t n, const std::function<void(std::size_t)>& run) {
    ++calls;
    parts += n;
    for (std::size_t i = n; i-- > 0;) run(i);  // in reverse: the order must not matter
  };
  const RecommendResult own = recommend(f.catalog, req);
  EXPECT_GT(calls, 0u);
  EXPECT_GE(parts, own.scanned / 256) << "parts of at most 256 rows";
  ASSERT_EQ(shared.results.size(), own.results.size());
  for (std::size_t i = 0; i < own.results.size(); ++i) {
    ASSERT_EQ(shared.results[i].image_id, own.results[i].image_id) << "rank " << i;
    ASSERT_EQ(shared.results[i].score, own.results[i].score) << "rank " << i;
  }
}

TEST(Catalog, ListingLookupsStayRightThroughRemovalsAndReadds) {
  Fixture f(500);
  std::vector<const CatalogListing*> found;
  f.catalog.find_listings(f.listing_ids, found);
  for (std::size_t i = 0; i < found.size(); ++i) {
    ASSERT_NE(found[i], nullptr) << f.listing_ids[i];
    EXPECT_EQ(found[i]->listing.id, f.listing_ids[i]);
  }
  // Remove every third listing (probe runs get holes), then look everything up again.
  for (std::size_t i = 0; i < f.listing_ids.size(); i += 3) EXPECT_TRUE(f.catalog.remove_listing(f.listing_ids[i]));
  std::vector<std::string> asked = f.listing_ids;
  asked.push_back("not-a-listing");
  f.catalog.find_listings(asked, found);
  for (std::size_t i = 0; i < f.listing_ids.size(); ++i) {
    if (i % 3 == 0) {
      EXPECT_EQ(found[i], nullptr) << f.listing_ids[i] << " was removed";
    } else {
      ASSERT_NE(found[i], nullptr) << f.listing_ids[i];
      EXPECT_EQ(found[i]->listing.id, f.listing_ids[i]);
      EXPECT_EQ(found[i], f.catalog.listing(f.listing_ids[i]));
    }
  }
  EXPECT_EQ(found.back(), nullptr);
  // A removed listing indexed again is found again, with its photo as the title.
  store::Image im;
  im.id = 100000;
  im.listing_id = f.listing_ids[0];
  store::Photo ph;
  ph.embedding = f.vectors.at(2);
  ASSERT_TRUE(f.catalog.put(im, ph));
  f.catalog.find_listings(std::vector<std::string>{f.listing_ids[0]}, found);
  ASSERT_NE(found[0], nullptr);
  EXPECT_EQ(found[0]->title_image, 100000);
  EXPECT_EQ(f.catalog.hot()[static_cast<std::size_t>(found[0]->title_row)].image_id, 100000);
}

}  // namespace
}  // namespace homelens::rank

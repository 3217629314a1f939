// The heads' domain model: which photos the heads may judge. Synthetic embeddings around a few
// directions stand in for house photos; a direction away from all of them for a beach photo.
#include "homelens/tags/domain.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <random>

#include "homelens/tags/head.h"
#include "support/testing.h"

namespace homelens::tags {
namespace {

constexpr std::size_t kDim = 16;

std::vector<float> unit(std::vector<float> v) {
  double n = 0;
  for (float x : v) n += double(x) * x;
  for (float& x : v) x = static_cast<float>(x / std::sqrt(n));
  return v;
}

// Photos around axes 0..3 (noise 0.15 a dimension on the other axes' first half), in groups
// of two as listings: the "houses" the heads know.
struct Known {
  Matrix x;
  std::vector<std::string> groups, sources;
};

Known known_photos(std::size_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> noise(0.0f, 0.15f);
  Known k;
  k.x.cols = kDim;
  for (std::size_t i = 0; i < n; ++i) {
    std::vector<float> v(kDim, 0.0f);
    v[i % 4] = 1.0f;
    for (std::size_t d = 0; d < 8; ++d) v[d] += noise(rng);
    v = unit(v);
    k.x.data.insert(k.x.data.end(), v.begin(), v.end());
    k.groups.push_back("listing-" + std::to_string(i / 2));
    k.sources.push_back(i % 5 == 0 ? "styles" : "houses");
  }
  k.x.rows = n;
  return k;
}

std::vector<float> away() {  // no weight on any known axis: a photo unlike every house
  std::vector<float> v(kDim, 0.0f);
  v[12] = 1.0f;
  v[13] = 0.3f;
  return unit(v);
}

TEST(Domain, KnownPhotosPassAndUnlikeOnesFallShort) {
  const Known k = known_photos(200, 1);
  DomainOptions o;
  o.centroids = 8;
  o.quantile = 0.02;
  auto m = learn_domain(k.x, k.groups, k.sources, "model-a", o);
  ASSERT_TRUE(m) << m.message();
  EXPECT_EQ(m->k(), 8u);
  // New photos drawn like the known ones: about 1 - quantile pass (the threshold is read from
  // photos scored by centroids fit without them).
  const Known fresh = known_photos(400, 2);
  int pass = 0;
  for (std::size_t i = 0; i < fresh.x.rows; ++i) {
    std::vector<float> v(fresh.x.row(i), fresh.x.row(i) + kDim);
    auto s = domain_score(*m, v, "model-a");
    ASSERT_TRUE(s) << s.message();
    pass += *s >= m->threshold;
  }
  EXPECT_GE(pass, 380) << "of 400 photos like the known ones";
  auto s = domain_score(*m, away(), "model-a");
  ASSERT_TRUE(s);
  EXPECT_LT(*s, m->threshold);
  // The held-out pass rate is reported per source.
  EXPECT_NEAR(m->training["sources"]["houses"]["held_out_pass"].get<double>(), 0.98, 0.03);
  EXPECT_EQ(m->training["sources"]["styles"]["photos"].get<int>(), 40);
}

TEST(Domain, RefusesOtherModelsAndSizesAndTooFewPhotos) {
  const Known k = known_photos(40, 3);
  auto m = learn_domain(k.x, k.groups, k.sources, "model-a", DomainOptions{});
  ASSERT_TRUE(m) << m.message();
  EXPECT_EQ(m->k(), 40u) << "no more centroids than photos";
  auto other = domain_score(*m, away(), "model-b");
  ASSERT_FALSE(other);
  EXPECT_NE(other.message().find("model-a"), std::string::npos) << other.message();
  EXPECT_FALSE(domain_score(*m, std::vector<float>(8, 0.1f), "model-a"));
  const Known few = known_photos(6, 4);
  auto too_few = learn_domain(few.x, few.groups, few.sources, "model-a", DomainOptions{});
  ASSERT_FALSE(too_few);
  EXPECT_NE(too_few.message().find("6 photos"), std::string::npos) << too_few.message();
}

TEST(Domain, SavedModelReloadsToTheSameScores) {
  testing::TempDir tmp;
  const Known k = known_photos(100, 5);
  auto m = learn_domain(k.x, k.groups, k.sources, "model-a", DomainOptions{});
  ASSERT_TRUE(m);
  const std::string path = domain_path(tmp.path().string(), "model-a");
  ASSERT_TRUE(save_domain(*m, path));
  auto back = load_domain(path);
  ASSERT_TRUE(back) << back.message();
  EXPECT_EQ(back->threshold, m->threshold);
  EXPECT_EQ(back->centroids, m->centroids);
  EXPECT_EQ(*domain_score(*back, away(), "model-a"), *domain_score(*m, away(), "model-a"));

  std::ofstream(tmp / "bad.json") << R"({"format": "homelens-tag-head", "version": 2})";
  auto bad = load_domain((tmp / "bad.json").string());
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.message().find("bad.json"), std::string::npos) << bad.message();
}

// A stories head over the synthetic embeddings, for the head set below.
Head stories_head() {
  Head h;
  h.task = Task::kStories;
  h.model_id = "model-a";
  h.classes = task_classes(Task::kStories);
  h.standardizer.mean.assign(kDim, 0.0);
  h.standardizer.scale.assign(kDim, 1.0);
  h.model.classes = 3;
  h.model.dim = kDim;
  h.model.weights.assign(3 * kDim, 0.0);
  h.model.weights[0] = 1.0;  // axis 0 -> "1"
  h.model.bias = {0.0, 0.1, 0.2};
  return h;
}

TEST(Domain, HeadSetLeavesPhotosOutsideItsDomainUntagged) {
  testing::TempDir tmp;
  const std::string root = tmp.path().string();
  ASSERT_TRUE(save_head(stories_head(), head_path(root, "model-a", Task::kStories)));
  Head front = stories_head();
  front.task = Task::kFront;
  front.classes = task_classes(Task::kFront);
  front.model.classes = 2;
  front.model.weights.assign(2 * kDim, 0.0);
  front.model.bias = {0.0, 3.0};  // every photo a front, confidently: as the heads call mountains
  ASSERT_TRUE(save_head(front, head_path(root, "model-a", Task::kFront)));
  auto heads_only = HeadSet::load(root, "model-a");
  ASSERT_TRUE(heads_only) << heads_only.message();

  const Known k = known_photos(200, 6);
  auto m = learn_domain(k.x, k.groups, k.sources, "model-a", DomainOptions{});
  ASSERT_TRUE(m);
  ASSERT_TRUE(save_domain(*m, domain_path(root, "model-a")));
  auto set = HeadSet::load(root, "model-a");
  ASSERT_TRUE(set) << set.message();
  ASSERT_NE(set->domain(), nullptr);
  EXPECT_EQ(set->tasks(), "front, stories, domain");
  EXPECT_NE(set->id(), heads_only->id()) << "photos tagged without the domain must be retagged";

  store::Tags house;
  ASSERT_TRUE(set->tag(std::vector<float>(k.x.row(0), k.x.row(0) + kDim), "model-a", house));
  EXPECT_FALSE(house.stories.empty());
  EXPECT_GT(*house.front, 0.9f);

  store::Tags beach;
  ASSERT_TRUE(set->tag(away(), "model-a", beach));
  EXPECT_EQ(beach.heads_id, set->id()) << "judged, so not tagged again";
  EXPECT_TRUE(beach.stories.empty());
  EXPECT_TRUE(beach.stories_probs.empty());
  ASSERT_TRUE(beach.front.has_value());
  EXPECT_EQ(*beach.front, 0.0f) << "not a house front";

  // Without its domain the same heads judge the photo, with the heads-only id.
  const HeadSet all = set->without_domain();
  store::Tags judged;
  ASSERT_TRUE(all.tag(away(), "model-a", judged));
  EXPECT_FALSE(judged.stories.empty());
  EXPECT_GT(*judged.front, 0.9f);
  EXPECT_EQ(all.id(), heads_only->id());
}

}  // namespace
}  // namespace homelens::tags

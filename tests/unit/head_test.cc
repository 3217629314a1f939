#include "homelens/tags/head.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "support/testing.h"

namespace homelens::tags {
namespace {

Head small_head(const std::string& model_id) {
  Head h;
  h.task = Task::kStories;
  h.model_id = model_id;
  h.classes = task_classes(Task::kStories);
  h.standardizer.mean = {0.1, 0.2, 0.3, 0.4};
  h.standardizer.scale = {1.0, 0.5, 0.25, 2.0};
  h.model.classes = 3;
  h.model.dim = 4;
  // Values that are not exactly representable in float: the file must still reload exactly.
  h.model.weights = {0.1, -0.7, 1.3, 0.01, 2.2, 0.3, -1.1, 0.9, -0.5, 0.123456789, 0.2, -0.3};
  h.model.bias = {0.05, -0.1, 0.2};
  return h;
}

TEST(Head, SavedHeadReloadsToIdenticalPredictions) {
  testing::TempDir tmp;
  Head h = small_head("model-a");
  // What is saved is float: predictions are compared after one save/load round trip, and a
  // second round trip must not change a single bit.
  ASSERT_TRUE(save_head(h, (tmp / "a.json").string()));
  auto once = load_head((tmp / "a.json").string());
  ASSERT_TRUE(once) << once.message();
  ASSERT_TRUE(save_head(*once, (tmp / "b.json").string()));
  auto twice = load_head((tmp / "b.json").string());
  ASSERT_TRUE(twice) << twice.message();
  const std::vector<float> e{0.3f, 0.1f, 0.9f, 0.2f};
  auto p1 = predict(*once, e, "model-a");
  auto p2 = predict(*twice, e, "model-a");
  ASSERT_TRUE(p1 && p2);
  EXPECT_EQ(*p1, *p2);
  auto p0 = predict(h, e, "model-a");
  for (std::size_t c = 0; c < 3; ++c) EXPECT_NEAR((*p0)[c], (*p1)[c], 1e-6);
  EXPECT_EQ(once->classes, h.classes);
  EXPECT_EQ(once->model_id, "model-a");
}

TEST(Head, FeatureTransformIsSavedReloadedAndApplied) {
  testing::TempDir tmp;
  Head h = small_head("model-a");
  h.transform.power = 0.5;
  h.transform.l2_normalize = true;
  ASSERT_TRUE(save_head(h, (tmp / "t.json").string()));
  auto back = load_head((tmp / "t.json").string());
  ASSERT_TRUE(back) << back.message();
  EXPECT_EQ(back->transform.power, 0.5);
  EXPECT_TRUE(back->transform.l2_normalize);
  EXPECT_EQ(back->transform.name(), "power(0.5),l2");
  // The reloaded head predicts what the original does, and the transform matters.
  const std::vector<float> e{0.3f, 0.1f, 0.9f, 0.2f};
  auto p0 = predict(h, e, "model-a");
  auto p1 = predict(*back, e, "model-a");
  ASSERT_TRUE(p0 && p1);
  for (std::size_t c = 0; c < 3; ++c) EXPECT_NEAR((*p0)[c], (*p1)[c], 1e-6);
  auto plain = predict(small_head("model-a"), e, "model-a");
  ASSERT_TRUE(plain);
  EXPECT_GT(std::abs((*plain)[0] - (*p0)[0]), 1e-3);
  // Predicting from an embedding equals standardizing the transformed row by hand.
  std::vector<double> row(e.begin(), e.end());
  apply_transform(h.transform, row);
  Matrix z;
  z.rows = 1;
  z.cols = 4;
  for (std::size_t j = 0; j < 4; ++j)
    z.data.push_back((row[j] - h.standardizer.mean[j]) / h.standardizer.scale[j]);
  const auto want = predict_proba(h.model, z);
  for (std::size_t c = 0; c < 3; ++c) EXPECT_NEAR(want[c], (*p0)[c], 1e-12);
}

TEST(Head, VersionOneFilesLoadWithoutTransformAndUnknownVersionsAreRefused) {
  testing::TempDir tmp;
  const std::string v1 =
      R"({"format":"homelens-tag-head","version":1,"task":"front","model_id":"m",)"
      R"("embedding_dim":2,"classes":["not_front","front"],"features":"embedding",)"
      R"("mean":[0,0],"scale":[1,1],"weights":[[1,2],[3,4]],"bias":[0,0]})";
  std::ofstream((tmp / "v1.json").string()) << v1;
  auto h = load_head((tmp / "v1.json").string());
  ASSERT_TRUE(h) << h.message();
  EXPECT_TRUE(h->transform.identity());
  std::string v3 = v1;
  v3.replace(v3.find("\"version\":1"), 11, "\"version\":9");
  std::ofstream((tmp / "v9.json").string()) << v3;
  auto bad = load_head((tmp / "v9.json").string());
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.message().find("unsupported head file version"), std::string::npos);
  // A version 2 head must say how its features were made.
  std::string v2 = v1;
  v2.replace(v2.find("\"version\":1"), 11, "\"version\":2");
  std::ofstream((tmp / "v2.json").string()) << v2;
  auto missing = load_head((tmp / "v2.json").string());
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.message().find("transform"), std::string::npos);
}

TEST(FeatureTransform, PowerThenUnitNorm) {
  FeatureTransform t;
  EXPECT_TRUE(t.identity());
  EXPECT_EQ(t.name(), "embedding");
  std::vector<double> same{0.25, -4.0};
  apply_transform(t, same);
  EXPECT_EQ(same, (std::vector<double>{0.25, -4.0}));
  t.power = 0.5;
  t.l2_normalize = true;
  std::vector<double> r{0.09, -0.16, 0.0};  // signed square roots 0.3, -0.4, 0: norm 0.5
  apply_transform(t, r);
  EXPECT_NEAR(r[0], 0.6, 1e-12);
  EXPECT_NEAR(r[1], -0.8, 1e-12);
  EXPECT_EQ(r[2], 0.0);
  std::vector<double> zero{0.0, 0.0};
  apply_transform(t, zero);
  EXPECT_EQ(zero, (std::vector<double>{0.0, 0.0}));
  auto j = parse_transform(transform_json(t), "here");
  ASSERT_TRUE(j) << j.message();
  EXPECT_EQ(j->power, 0.5);
  EXPECT_TRUE(j->l2_normalize);
  EXPECT_FALSE(parse_transform({{"power", -1.0}, {"l2_normalize", true}}, "here"));
  EXPECT_FALSE(parse_transform({{"power", 0.5}}, "here"));
}

TEST(Head, RefusesEmbeddingsOfAnotherModel) {
  const Head h = small_head("mobilenetv2-torchvision-imagenet");
  auto p = predict(h, std::vector<float>{0, 0, 0, 0}, "mobilenetv2-keras-imagenet");
  ASSERT_FALSE(p);
  EXPECT_NE(p.message().find("mobilenetv2-torchvision-imagenet"), std::string::npos);
  EXPECT_NE(p.message().find("refusing"), std::string::npos);
}

TEST(Head, SetForOneModelRefusesToLoadForAnother) {
  testing::TempDir tmp;
  ASSERT_TRUE(save_head(small_head("model-a"), (tmp / "stories.json").string()));
  auto ok = HeadSet::load(tmp.path().string(), "model-a");
  ASSERT_TRUE(ok) << ok.message();
  EXPECT_EQ(ok->tasks(), "stories");
  auto bad = HeadSet::load(tmp.path().string(), "model-b");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.message().find("stories.json"), std::string::npos);
  EXPECT_NE(bad.message().find("trained for model model-a"), std::string::npos);
}

TEST(Head, SetTagsFromAnEmbeddingAndIsFoundUnderTheModelFolder) {
  testing::TempDir tmp;
  ASSERT_TRUE(
      save_head(small_head("model-a"), head_path(tmp.path().string(), "model-a", Task::kStories)));
  auto set = HeadSet::load(tmp.path().string(), "model-a");
  ASSERT_TRUE(set) << set.message();
  store::Tags t;
  ASSERT_TRUE(set->tag(std::vector<float>{0.3f, 0.1f, 0.9f, 0.2f}, "model-a", t));
  EXPECT_FALSE(t.stories.empty());
  EXPECT_EQ(t.stories_probs.size(), 3u);
  EXPECT_FALSE(t.front.has_value());  // no front head: no front probability
  EXPECT_EQ(t.heads_id, set->id());
  auto empty = HeadSet::load((tmp / "nothing").string(), "model-a");
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->empty());
}

TEST(Head, MalformedFilesAreRefusedWithTheirName) {
  testing::TempDir tmp;
  std::ofstream((tmp / "x.json").string()) << R"({"format":"something-else"})";
  auto r = load_head((tmp / "x.json").string());
  ASSERT_FALSE(r);
  EXPECT_NE(r.message().find("x.json"), std::string::npos);
  std::ofstream((tmp / "y.json").string())
      << R"({"format":"homelens-tag-head","version":1,"task":"room","model_id":"m",)"
      << R"("embedding_dim":2,"classes":["front","bedroom","bathroom","kitchen"],)"
      << R"("mean":[0,0],"scale":[1,1],"weights":[[1,2]],"bias":[0,0,0,0]})";
  auto y = load_head((tmp / "y.json").string());
  ASSERT_FALSE(y);
  EXPECT_NE(y.message().find("weights"), std::string::npos);
}

}  // namespace
}  // namespace homelens::tags

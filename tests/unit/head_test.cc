#include "homelens/tags/head.h"

#include <gtest/gtest.h>

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

// The collection-aware retrieval methods (eval/expansion.h, eval/collection.h): query expansion
// and database-side augmentation, PCA whitening, the mirrored-photo average, and their
// parameters.
#include <gtest/gtest.h>

#include <random>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "homelens/eval/expansion.h"
#include "homelens/eval/method.h"
#include "homelens/image/decode.h"
#include "homelens/model/embedding.h"
#include "homelens/model/model_spec.h"
#include "support/testing.h"

namespace homelens::eval {
namespace {

cv::Mat unit_rows(const std::vector<std::vector<float>>& rows) {
  cv::Mat m(static_cast<int>(rows.size()), static_cast<int>(rows[0].size()), CV_32F);
  for (int i = 0; i < m.rows; ++i) {
    for (int j = 0; j < m.cols; ++j)
      m.at<float>(i, j) = rows[static_cast<std::size_t>(i)][static_cast<std::size_t>(j)];
    m.row(i) /= cv::norm(m.row(i));
  }
  return m;
}

double cosine(const cv::Mat& a, const cv::Mat& b) { return a.dot(b) / cv::norm(a) / cv::norm(b); }

// A query photo, its near-copy (the same house, framed a little differently), another view of
// that house close to the copy but not to the query, a distractor a little closer to the query,
// and two unrelated photos.
class EvalNearCopySet : public ::testing::Test {
 protected:
  static constexpr int kQuery = 0, kView = 2, kDistractor = 3;
  const cv::Mat rows = unit_rows({{1, 0, 0, 0, 0, 0.05f},
                                  {1, 0.45f, 0, 0, 0, 0},
                                  {0.9f, 1, 0, 0, 0, 0},
                                  {1, 0, 1.05f, 0, 0, 0},
                                  {0, 0, 0, 1, 0, 0},
                                  {0, 0, 0, 0, 1, 0}});
};

TEST_F(EvalNearCopySet, ExpansionRanksTheNearCopysNeighbourAboveTheDistractor) {
  ASSERT_LT(cosine(rows.row(kQuery), rows.row(kView)),
            cosine(rows.row(kQuery), rows.row(kDistractor)));
  const cv::Mat e = expand_by_neighbours(rows, 1, 3.0);
  // Query expansion: the expanded query against the collection as it is.
  EXPECT_GT(cosine(e.row(kQuery), rows.row(kView)),
            cosine(e.row(kQuery), rows.row(kDistractor)));
  // Database-side augmentation: every photo expanded alike.
  EXPECT_GT(cosine(e.row(kQuery), e.row(kView)), cosine(e.row(kQuery), e.row(kDistractor)));
  for (int i = 0; i < e.rows; ++i) EXPECT_NEAR(cv::norm(e.row(i)), 1.0, 1e-5);
}

TEST_F(EvalNearCopySet, NoNeighboursLeavesTheEmbeddingsAsTheyAre) {
  EXPECT_EQ(cv::norm(expand_by_neighbours(rows, 0, 3.0), rows, cv::NORM_INF), 0.0);
}

TEST(EvalWhitening, ComponentsLearnedOnASetAreUncorrelatedWithUnitVarianceThere) {
  std::mt19937 rng(7);
  std::normal_distribution<float> g;
  const int n = 400, d = 12;
  cv::Mat mix(d, d, CV_32F), x(n, d, CV_32F);
  for (auto* m : {&mix, &x})
    for (int i = 0; i < m->rows; ++i)
      for (int j = 0; j < m->cols; ++j) m->at<float>(i, j) = g(rng);
  x = x * mix + 3.0;  // correlated, off-centre
  cv::Mat before, after, mean;
  cv::calcCovarMatrix(x, before, mean, cv::COVAR_NORMAL | cv::COVAR_ROWS | cv::COVAR_SCALE);
  ASSERT_GT(std::abs(before.at<double>(0, 1)), 0.1 * before.at<double>(0, 0));

  auto w = learn_whitening(x, {});
  ASSERT_TRUE(w) << w.message();
  const cv::Mat y = whiten(*w, x, false);
  ASSERT_EQ(y.cols, d);
  cv::calcCovarMatrix(y, after, mean, cv::COVAR_NORMAL | cv::COVAR_ROWS | cv::COVAR_SCALE);
  for (int i = 0; i < d; ++i)
    for (int j = 0; j < d; ++j) EXPECT_NEAR(after.at<double>(i, j), i == j ? 1.0 : 0.0, 1e-3);

  WhiteningOptions four;
  four.dims = 4;
  auto w4 = learn_whitening(x, four);
  ASSERT_TRUE(w4);
  EXPECT_EQ(whiten(*w4, x).cols, 4);
}

TEST(EvalWhitening, BadOptionsAndTooFewPhotosAreErrors) {
  cv::Mat one = cv::Mat::ones(1, 4, CV_32F);
  EXPECT_FALSE(learn_whitening(one, {}));
  WhiteningOptions bad;
  bad.shrink = 2;
  auto w = learn_whitening(cv::Mat::eye(4, 4, CV_32F), bad);
  ASSERT_FALSE(w);
  EXPECT_NE(w.message().find("shrink"), std::string::npos) << w.message();
}

TEST(EvalCollectionMethods, ParametersAreCheckedByName) {
  auto bad_key = make_method("cnn-dba:neighbours=3", MethodContext{});
  ASSERT_FALSE(bad_key);
  EXPECT_NE(bad_key.message().find("neighbours"), std::string::npos) << bad_key.message();
  EXPECT_NE(bad_key.message().find("alpha"), std::string::npos) << bad_key.message();
  auto bad_value = make_method("cnn-qe:n=three", MethodContext{});
  ASSERT_FALSE(bad_value);
  EXPECT_NE(bad_value.message().find("three"), std::string::npos) << bad_value.message();
  auto no_params = make_method("cnn:n=3", MethodContext{});
  ASSERT_FALSE(no_params);
  EXPECT_NE(no_params.message().find("takes no parameters"), std::string::npos);
  EXPECT_TRUE(make_method("cnn-dba:n=5,alpha=1,mode=qe", MethodContext{}));
  // The final methods take fronts=0|1 (tags only between house fronts) and domain=0|1 (the heads'
  // domain model), final-dba beside its own.
  for (const auto& [bad, name] : std::vector<std::pair<std::string, std::string>>{
           {"final:fronts=yes", "fronts"},
           {"final-proj:fronts=2", "fronts"},
           {"final-dba:n=3,fronts=on", "fronts"},
           {"final:domain=off", "domain"},
           {"final-dba:domain=2,n=3", "domain"}}) {
    auto m = make_method(bad, MethodContext{});
    ASSERT_FALSE(m) << bad;
    EXPECT_NE(m.message().find("parameter " + name), std::string::npos) << m.message();
  }
  auto final_n = make_method("final:fronts=1,n=3", MethodContext{});
  ASSERT_FALSE(final_n);
  EXPECT_NE(final_n.message().find("parameter n"), std::string::npos) << final_n.message();
}

model::ModelSpec default_spec() {
  auto spec = model::find_model_spec("mobilenetv2-torchvision-imagenet",
                                     (testing::shared_dir() / "models").string());
  EXPECT_TRUE(spec) << spec.message();
  return spec ? *spec : model::ModelSpec{};
}

// n=0 turns the expansion off: cnn-dba and final-dba must then score exactly as the methods they
// extend, so a difference they make is the expansion's; with neighbours they do change scores.
TEST(EvalCollectionMethods, WithoutNeighboursDbaScoresAsTheMethodItExtends) {
  MethodContext ctx;
  ctx.spec = default_spec();
  std::vector<std::string> photos;
  for (const char* name : {"1_frontal.jpg", "1_kitchen.jpg", "2_frontal.jpg", "3_frontal.jpg"})
    photos.push_back((testing::houses_dir() / "images" / name).string());
  auto scores = [&](const std::string& method) {
    auto m = make_method(method, ctx);
    EXPECT_TRUE(m) << m.message();
    auto d = (*m)->describe(photos);
    EXPECT_TRUE(d) << d.message();
    std::vector<double> out;
    for (std::size_t i = 0; i < photos.size(); ++i)
      for (std::size_t j = i + 1; j < photos.size(); ++j)
        out.push_back((*m)->similarity((*d)[i], (*d)[j]));
    return out;
  };
  const auto cnn = scores("cnn");
  const auto dba0 = scores("cnn-dba:n=0");
  const auto dba1 = scores("cnn-dba:n=1");
  const auto final0 = scores("final"), final_dba0 = scores("final-dba:n=0");
  const auto fronts0 = scores("final:fronts=1"), fronts_dba0 = scores("final-dba:fronts=1,n=0");
  for (std::size_t k = 0; k < cnn.size(); ++k) {
    EXPECT_NEAR(dba0[k], cnn[k], 1e-6);
    EXPECT_NEAR(final_dba0[k], final0[k], 1e-6);
    EXPECT_NEAR(fronts_dba0[k], fronts0[k], 1e-6);
  }
  EXPECT_NE(dba1, cnn);
}

TEST(EvalCollectionMethods, FlipAverageOfAMirroredPhotoEqualsTheOriginals) {
  const model::ModelSpec spec = default_spec();
  auto photo = image::decode_file((testing::houses_dir() / "images" / "1_frontal.jpg").string());
  ASSERT_TRUE(photo) << photo.message();
  testing::TempDir dir;
  cv::Mat bgr, mirrored;
  cv::cvtColor(photo->rgb, bgr, cv::COLOR_RGB2BGR);
  cv::flip(bgr, mirrored, 1);
  const std::string original = (dir / "original.png").string(), mirror = (dir / "mirror.png").string();
  ASSERT_TRUE(cv::imwrite(original, bgr) && cv::imwrite(mirror, mirrored));

  MethodContext ctx;
  ctx.spec = spec;
  for (const std::string name : {"cnn", "cnn-flip"}) {
    auto m = make_method(name, ctx);
    ASSERT_TRUE(m) << m.message();
    auto d = (*m)->describe({original, mirror});
    ASSERT_TRUE(d) << d.message();
    const double s = (*m)->similarity((*d)[0], (*d)[1]);
    if (name == "cnn")
      EXPECT_LT(s, 0.99) << "a mirrored photo should embed differently, else this test shows nothing";
    else
      EXPECT_GT(s, 0.999);
  }
}

}  // namespace
}  // namespace homelens::eval

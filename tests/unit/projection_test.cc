#include "homelens/tags/projection.h"

#include <gtest/gtest.h>

#include <random>

#include "homelens/model/embedding.h"
#include "support/testing.h"

namespace homelens::tags {
namespace {

constexpr std::size_t kDim = 16;
constexpr int kClasses = 3;

// 100 examples a class. The classes differ along dimensions 0 and 1, where the noise is small;
// the other 14 dimensions carry ten times more noise and nothing of the class, so raw cosine
// barely sees the classes, while a discriminant projection must.
struct Synthetic {
  Matrix x;
  std::vector<int> labels;
};

Synthetic synthetic(unsigned seed) {
  Synthetic s;
  std::mt19937 rng(seed);
  std::normal_distribution<double> noise(0.0, 1.0);
  s.x.cols = kDim;
  for (int i = 0; i < 100 * kClasses; ++i) {
    const int c = i % kClasses;
    s.labels.push_back(c);
    for (std::size_t j = 0; j < kDim; ++j) {
      double v = (j < 2 ? 1.0 : 10.0) * noise(rng);
      if (j == 0) v += c == 0 ? 4.0 : 0.0;
      if (j == 1) v += c == 1 ? 4.0 : 0.0;
      s.x.data.push_back(v);
    }
  }
  s.x.rows = s.labels.size();
  return s;
}

std::vector<float> row_of(const Matrix& x, std::size_t i) {
  return std::vector<float>(x.row(i), x.row(i) + x.cols);
}

// Mean cosine of same-class and of different-class pairs of a held-out set.
std::pair<double, double> pair_cosines(const Synthetic& s, const Projection* p) {
  std::vector<std::vector<float>> v;
  for (std::size_t i = 0; i < s.x.rows; ++i) {
    auto r = row_of(s.x, i);
    if (p) {
      auto q = project(*p, r, "synthetic");
      EXPECT_TRUE(q) << q.message();
      r = *q;
    }
    v.push_back(r);
  }
  double same = 0, diff = 0;
  int ns = 0, nd = 0;
  for (std::size_t i = 0; i < v.size(); ++i)
    for (std::size_t j = i + 1; j < v.size(); ++j) {
      const double c = model::dot(v[i], v[j]) /
                       std::sqrt(model::dot(v[i], v[i]) * model::dot(v[j], v[j]));
      if (s.labels[i] == s.labels[j]) {
        same += c;
        ++ns;
      } else {
        diff += c;
        ++nd;
      }
    }
  return {same / ns, diff / nd};
}

TEST(Projection, HeldOutSameClassPairsComeCloserThanDifferentClassPairs) {
  const auto train = synthetic(1), test = synthetic(2);
  auto p = learn_projection(train.x, train.labels, {"a", "b", "c"}, "synthetic", 0.1);
  ASSERT_TRUE(p) << p.message();
  EXPECT_EQ(p->out_dim(), static_cast<std::size_t>(kClasses - 1));
  auto raw = pair_cosines(test, nullptr);
  auto projected = pair_cosines(test, &*p);
  // The projection separates what raw cosine cannot.
  EXPECT_LT(raw.first - raw.second, 0.1);
  EXPECT_GT(projected.first - projected.second, 0.5)
      << "same " << projected.first << ", different " << projected.second;
  auto q = project(*p, row_of(test.x, 0), "synthetic");
  ASSERT_TRUE(q);
  EXPECT_NEAR(model::dot(*q, *q), 1.0, 1e-5) << "projected vectors are unit length";
}

TEST(Projection, SavedFileLoadsBackAndRefusesAnotherModel) {
  const auto train = synthetic(3);
  auto p = learn_projection(train.x, train.labels, {"a", "b", "c"}, "synthetic", 0.9);
  ASSERT_TRUE(p) << p.message();
  testing::TempDir tmp;
  const std::string path = projection_path(tmp.path().string(), "synthetic");
  ASSERT_TRUE(save_projection(*p, path));
  auto back = load_projection(path);
  ASSERT_TRUE(back) << back.message();
  EXPECT_EQ(back->out_dim(), p->out_dim());
  const auto r = row_of(train.x, 5);
  auto a = project(*p, r, "synthetic"), b = project(*back, r, "synthetic");
  ASSERT_TRUE(a && b);
  for (std::size_t k = 0; k < a->size(); ++k) EXPECT_NEAR((*a)[k], (*b)[k], 1e-5);
  auto other = project(*back, r, "another-model");
  ASSERT_FALSE(other);
  EXPECT_NE(other.message().find("another-model"), std::string::npos) << other.message();
}

TEST(Projection, BadInputsFailWithTheReason) {
  const auto train = synthetic(4);
  auto one_class = learn_projection(train.x, std::vector<int>(train.x.rows, 0), {"a", "b"},
                                    "synthetic", 0.9);
  ASSERT_FALSE(one_class);
  EXPECT_NE(one_class.message().find("two classes"), std::string::npos) << one_class.message();
  auto bad_shrinkage = learn_projection(train.x, train.labels, {"a", "b", "c"}, "synthetic", 0);
  ASSERT_FALSE(bad_shrinkage);
  EXPECT_NE(bad_shrinkage.message().find("shrinkage"), std::string::npos);
  testing::TempDir tmp;
  auto missing = load_projection((tmp.path() / "none.json").string());
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.message().find("none.json"), std::string::npos);
}

}  // namespace
}  // namespace homelens::tags

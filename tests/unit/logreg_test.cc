#include "homelens/tags/logreg.h"

#include <gtest/gtest.h>

#include <random>

namespace homelens::tags {
namespace {

// Three Gaussian blobs in 6-d, one per class.
void blobs(std::size_t n, Matrix& x, std::vector<int>& y, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> noise(0.0, 0.5);
  x.rows = n;
  x.cols = 6;
  x.data.resize(n * 6);
  y.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    y[i] = static_cast<int>(i % 3);
    for (std::size_t j = 0; j < 6; ++j)
      x.row(i)[j] = (j == static_cast<std::size_t>(y[i]) ? 2.0 : 0.0) + noise(rng);
  }
}

TEST(LogReg, LearnsSeparableClasses) {
  Matrix x;
  std::vector<int> y;
  blobs(300, x, y, 1);
  const Matrix z = standardize(x, fit_standardizer(x));
  const LinearModel m = fit_logreg(z, y, std::vector<double>(y.size(), 1.0), 3, {});
  const auto p = predict_proba(m, z);
  int correct = 0;
  for (std::size_t i = 0; i < y.size(); ++i) {
    const double* r = p.data() + i * 3;
    correct += static_cast<int>(std::max_element(r, r + 3) - r) == y[i];
  }
  EXPECT_GE(correct, 285);
}

TEST(LogReg, SameDataGivesBitIdenticalWeights) {
  Matrix x;
  std::vector<int> y;
  blobs(120, x, y, 2);
  const Matrix z = standardize(x, fit_standardizer(x));
  const std::vector<double> w(y.size(), 1.0);
  const LinearModel a = fit_logreg(z, y, w, 3, {});
  const LinearModel b = fit_logreg(z, y, w, 3, {});
  EXPECT_EQ(a.weights, b.weights);
  EXPECT_EQ(a.bias, b.bias);
}

TEST(LogReg, BalancedWeightsGiveEachClassTheSameTotal) {
  const std::vector<int> y{0, 0, 0, 1};
  const auto w = balanced_weights(y, 3, {1, 1, 1, 1});
  EXPECT_DOUBLE_EQ(w[0] + w[1] + w[2], w[3]);
  EXPECT_DOUBLE_EQ(w[0] + w[1] + w[2] + w[3], 4.0);
}

TEST(LogReg, ConstantDimensionsDoNotBlowUp) {
  Matrix x;
  x.rows = 2;
  x.cols = 2;
  x.data = {1, 5, 3, 5};
  const auto s = fit_standardizer(x);
  EXPECT_EQ(s.scale[1], 1.0);
  const Matrix z = standardize(x, s);
  EXPECT_EQ(z.row(0)[1], 0.0);
}

}  // namespace
}  // namespace homelens::tags

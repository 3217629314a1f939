// The 8-bit index is approximate with a bound it states per scan: every score is
// within the returned bound of the exact inner product, for post-ReLU rows (the
// model's), rows with negative values, a row with one spike, replaced rows and
// queries of any length; the bound for a unit query is at most error_bound().
#include "homelens/index/sq8_flat_index.h"
#include "support/index_reference.h"
#include "support/testing.h"

#include <gtest/gtest.h>

#include <cmath>

namespace homelens::index {
namespace {

using homelens::testing::exact_dot;
using homelens::testing::random_unit;

class SQ8FlatTest : public ::testing::Test {
 protected:
  static constexpr std::size_t kDim = 1280;
  void SetUp() override {
    std::mt19937 rng(31);
    for (std::int64_t id = 0; id < 5000; ++id) {
      std::vector<float> v = random_unit(rng, kDim);
      if (id % 2 == 0)  // like the model's embeddings: averages of ReLU6 outputs, never negative
        for (float& x : v) x = std::abs(x);
      if (id == 10) {   // one value carries most of the length: a coarse step for the rest
        std::fill(v.begin(), v.end(), 0.001f);
        v[3] = 1.0f;
      }
      if (id == 11) std::fill(v.begin(), v.end(), 1.0f / std::sqrt(static_cast<float>(kDim)));  // flat
      normalize(v);
      vectors_[id] = v;
      ASSERT_TRUE(index_.add(id, v).ok());
    }
    vectors_[7] = random_unit(rng, kDim);  // a replaced row
    ASSERT_TRUE(index_.add(7, vectors_[7]).ok());
  }
  static void normalize(std::vector<float>& v) {
    double s = 0;
    for (float x : v) s += static_cast<double>(x) * x;
    for (float& x : v) x = static_cast<float>(x / std::sqrt(s));
  }
  SQ8FlatIndex index_{kDim};
  homelens::testing::Vectors vectors_;
};

TEST_F(SQ8FlatTest, EveryScoreIsWithinTheScansBoundOfTheExactProduct) {
  EXPECT_EQ(index_.kind(), "SQ8Flat");
  EXPECT_GT(index_.error_bound(), 0.0f);
  EXPECT_LT(index_.error_bound(), 0.05f) << "8 bits a value leave at most a few hundredths";
  std::vector<std::uint32_t> rows;
  std::vector<std::int64_t> ids;
  for (std::int64_t id = 4999; id >= 0; --id) {  // 5,000 rows: the list is split over two threads
    rows.push_back(*index_.row_of(id));
    ids.push_back(id);
  }
  std::mt19937 rng(32);
  double worst = 0;
  for (int q = 0; q < 10; ++q) {
    auto query = random_unit(rng, kDim);
    const float length = q < 5 ? 1.0f : 3.0f;  // the bound scales with the query's length
    for (float& x : query) x *= length;
    std::vector<float> fast(rows.size());
    const float bound = index_.score_rows(query, rows, fast.data(), Pass::kFast);
    if (length == 1.0f) {
      EXPECT_LE(bound, index_.error_bound());
    }
    for (std::size_t j = 0; j < rows.size(); ++j) {
      const double err = std::abs(fast[j] - exact_dot(vectors_[ids[j]], query));
      worst = std::max(worst, err / length);
      ASSERT_LE(err, bound) << "id " << ids[j] << ", query " << q;
    }
    if (length == 1.0f) {
      for (const Hit& h : index_.search(query, 50))
        ASSERT_LE(std::abs(h.score - exact_dot(vectors_[h.id], query)), index_.error_bound()) << h.id;
    }
  }
  EXPECT_GT(worst, 0.0) << "8-bit rows do round";
}

TEST_F(SQ8FlatTest, AShortListOfRowsWithSmallErrorsGetsASmallerBound) {
  // The flat row is stored exactly (one value, step 0); a scan of it alone owes nothing
  // to the other rows' rounding.
  const std::uint32_t row = *index_.row_of(11);
  std::mt19937 rng(33);
  const auto query = random_unit(rng, kDim);
  float score = 0;
  const float bound = index_.score_rows(query, std::span(&row, 1), &score, Pass::kFast);
  EXPECT_LT(bound, index_.error_bound() / 10);
  EXPECT_LE(std::abs(score - exact_dot(vectors_[11], query)), bound);
}

TEST_F(SQ8FlatTest, TopKMissesOnlyHitsWithinTwiceTheBoundOfTheKthBest) {
  std::mt19937 rng(34);
  homelens::testing::expect_top_k_within_twice_the_bound(index_, vectors_, rng);
}

TEST_F(SQ8FlatTest, RemovedRowsAreNeverReturnedAndNoFloatCopyIsKept) {
  ASSERT_TRUE(index_.remove(10));
  std::mt19937 rng(35);
  const auto query = random_unit(rng, kDim);
  for (const Hit& h : index_.search(query, 5000)) ASSERT_NE(h.id, 10);
  EXPECT_EQ(index_.size(), 4999u);
  EXPECT_TRUE(index_.vector(7).empty());
}

}  // namespace
}  // namespace homelens::index

// The half-precision index is approximate with a stated bound: every score it
// gives for unit vectors is within error_bound() of the exact inner product,
// also after a row is replaced, and its top k can only miss hits within twice the
// bound of the k-th best.
#include "homelens/index/half_flat_index.h"
#include "homelens/index/kernels.h"
#include "support/index_reference.h"
#include "support/testing.h"

#include <gtest/gtest.h>

namespace homelens::index {
namespace {

using homelens::testing::exact_dot;
using homelens::testing::random_unit;

class HalfFlatTest : public ::testing::Test {
 protected:
  static constexpr std::size_t kDim = 1280;
  void SetUp() override {
    if (!HalfFlatIndex::supported()) GTEST_SKIP() << "this CPU has no F16C";
    std::mt19937 rng(21);
    for (std::int64_t id = 0; id < 5000; ++id) {
      vectors_[id] = random_unit(rng, kDim);
      ASSERT_TRUE(index_.add(id, vectors_[id]).ok());
    }
    vectors_[7] = random_unit(rng, kDim);  // a replaced row
    ASSERT_TRUE(index_.add(7, vectors_[7]).ok());
  }
  HalfFlatIndex index_{kDim};
  homelens::testing::Vectors vectors_;
};

TEST_F(HalfFlatTest, EveryScoreIsWithinTheStatedErrorOfTheExactProduct) {
  EXPECT_EQ(index_.kind(), "HalfFlat");
  EXPECT_EQ(index_.error_bound(), kHalfDotError);
  EXPECT_LT(index_.error_bound(), 1e-3f);
  std::vector<std::uint32_t> rows;
  std::vector<std::int64_t> ids;
  for (std::int64_t id = 4999; id >= 0; id -= 2) {  // 2,500 rows: the list is split over two threads
    rows.push_back(*index_.row_of(id));
    ids.push_back(id);
  }
  std::mt19937 rng(22);
  double worst = 0;
  for (int q = 0; q < 10; ++q) {
    const auto query = random_unit(rng, kDim);
    std::vector<float> fast(rows.size());
    EXPECT_EQ(index_.score_rows(query, rows, fast.data(), Pass::kFast), index_.error_bound());
    for (std::size_t j = 0; j < rows.size(); ++j) {
      const double err = std::abs(fast[j] - exact_dot(vectors_[ids[j]], query));
      worst = std::max(worst, err);
      ASSERT_LE(err, index_.error_bound()) << "id " << ids[j];
    }
    for (const Hit& h : index_.search(query, 50))
      ASSERT_LE(std::abs(h.score - exact_dot(vectors_[h.id], query)), index_.error_bound()) << h.id;
  }
  EXPECT_GT(worst, 0.0) << "half precision does round";
}

TEST_F(HalfFlatTest, TopKMissesOnlyHitsWithinTwiceTheBoundOfTheKthBest) {
  std::mt19937 rng(23);
  homelens::testing::expect_top_k_within_twice_the_bound(index_, vectors_, rng);
}

TEST_F(HalfFlatTest, KeepsNoFloatCopy) {
  EXPECT_TRUE(index_.vector(7).empty());
  EXPECT_EQ(index_.size(), 5000u);
}

}  // namespace
}  // namespace homelens::index

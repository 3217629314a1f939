// RefineIndex over a half-precision base gives exactly the answers of an exact
// scan: on random unit vectors, with exact ties (the same vector under several
// ids, broken by smaller id), for k larger than the candidate set, through
// search, search_among and candidate-list scoring.
#include "homelens/index/refine_index.h"
#include "homelens/index/half_flat_index.h"
#include "homelens/index/id_selector.h"
#include "support/index_reference.h"
#include "support/testing.h"

#include <gtest/gtest.h>

namespace homelens::index {
namespace {

using homelens::testing::random_unit;

class RefineTest : public ::testing::Test {
 protected:
  static constexpr std::size_t kDim = 96;
  void SetUp() override {
    if (!HalfFlatIndex::supported()) GTEST_SKIP() << "this CPU has no F16C";
    refine_ = std::make_unique<RefineIndex>(std::make_unique<HalfFlatIndex>(kDim));
    // 1,200 vectors, each under three ids (3,600 rows): every score ties three ways.
    std::mt19937 rng(31);
    for (std::int64_t i = 0; i < 1200; ++i) {
      const auto v = random_unit(rng, kDim);
      for (std::int64_t copy : {0, 1, 2}) {
        const std::int64_t id = i + 100000 * copy + 1;
        vectors_[id] = v;
        ASSERT_TRUE(refine_->add(id, v).ok());
        ASSERT_TRUE(exact_.add(id, v).ok());
      }
    }
  }
  // Same ids, same scores (bit for bit: both gather the same float rows), same order.
  static void expect_same(const std::vector<Hit>& got, const std::vector<Hit>& want) {
    ASSERT_EQ(got.size(), want.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
      ASSERT_EQ(got[i].id, want[i].id) << "position " << i;
      ASSERT_EQ(got[i].score, want[i].score) << "position " << i;
    }
  }
  std::unique_ptr<RefineIndex> refine_;
  FlatIndex exact_{kDim};
  homelens::testing::Vectors vectors_;
};

TEST_F(RefineTest, SearchEqualsTheExactScanIncludingTiesAndKBeyondTheIndex) {
  EXPECT_EQ(refine_->kind(), "Refine(HalfFlat)");
  std::mt19937 rng(32);
  for (std::size_t k : {1u, 2u, 3u, 10u, 1000u, 3600u, 5000u}) {
    // A stored vector as query makes its three copies tie for first place.
    const auto stored = vectors_.begin()->second;
    const auto fresh = random_unit(rng, kDim);
    for (const auto* q : {&stored, &fresh}) {
      // The exact scan (BLAS) sums in another order than the refine's rescoring, so
      // scores may differ in the last bit: compared with the double reference.
      auto hits = refine_->search(*q, k);
      homelens::testing::expect_matches_reference(hits, homelens::testing::reference(vectors_, *q, k), vectors_, *q);
      homelens::testing::expect_best_first(hits);
    }
  }
  auto top = refine_->search(vectors_.begin()->second, 3);
  ASSERT_EQ(top.size(), 3u);
  EXPECT_EQ(top[0].score, top[2].score);
  EXPECT_LT(top[0].id, top[1].id);
  EXPECT_LT(top[1].id, top[2].id);
}

TEST_F(RefineTest, SearchAmongEqualsTheExactScanForLargeAndSmallCandidateSets) {
  std::mt19937 rng(33);
  std::vector<std::int64_t> many, few;
  for (const auto& [id, v] : vectors_) {
    if (id % 7 != 0) many.push_back(id);  // about 3,000: the fast pass runs
    if (id % 97 == 0) few.push_back(id);  // a handful: exact straight away
  }
  ASSERT_GT(many.size(), 2048u);
  const std::vector<std::int64_t> odd_ids = [&] {
    std::vector<std::int64_t> o;
    for (std::int64_t id : many)
      if (id % 2) o.push_back(id);
    return o;
  }();
  const IDSelectorBatch odd(odd_ids);
  for (std::size_t k : {1u, 10u, 1000u, 4000u}) {
    const auto q = random_unit(rng, kDim);
    expect_same(refine_->search_among(q, many, k), exact_.search_among(q, many, k));
    expect_same(refine_->search_among(q, few, k), exact_.search_among(q, few, k));
    expect_same(refine_->search_among(q, many, k, &odd), exact_.search_among(q, many, k, &odd));
    auto hits = refine_->search(q, k, &odd);
    homelens::testing::expect_matches_reference(
        hits, homelens::testing::reference(vectors_, q, k, [&](std::int64_t id) { return odd.is_member(id); }),
        vectors_, q);
  }
}

// What the recommender reads: fast scores with their bound for a long list, exact
// ones for a short list or when asked.
TEST_F(RefineTest, FastScoresOfLongListsComeFromTheBaseWithItsBound) {
  std::vector<std::uint32_t> rows;
  for (const auto& [id, v] : vectors_) rows.push_back(*refine_->row_of(id));
  EXPECT_EQ(refine_->row_capacity(), rows.size());
  std::mt19937 rng(34);
  const auto q = random_unit(rng, kDim);
  std::vector<float> fast(rows.size()), exact(rows.size()), want(rows.size());
  exact_.score_rows(q, rows, want.data(), Pass::kExact);  // same rows: same adds
  const float error = refine_->score_rows(q, rows, fast.data(), Pass::kFast);
  EXPECT_EQ(error, refine_->base().error_bound());
  EXPECT_EQ(refine_->score_rows(q, rows, exact.data(), Pass::kExact), 0.0f);
  for (std::size_t j = 0; j < rows.size(); ++j) {
    ASSERT_LE(std::abs(fast[j] - want[j]), error);
    ASSERT_EQ(exact[j], want[j]);
  }
  const auto short_list = std::span(rows).first(100);
  EXPECT_EQ(refine_->score_rows(q, short_list, fast.data(), Pass::kFast), 0.0f) << "short lists are exact";
  for (std::size_t j = 0; j < short_list.size(); ++j) ASSERT_EQ(fast[j], want[j]);
}

TEST_F(RefineTest, KeepsTheFloatVectorsAndRemovesFromBoth) {
  const std::int64_t id = vectors_.begin()->first;
  auto v = refine_->vector(id);
  EXPECT_EQ(std::vector<float>(v.begin(), v.end()), vectors_[id]);
  ASSERT_TRUE(refine_->remove(id));
  EXPECT_FALSE(refine_->remove(id));
  EXPECT_FALSE(refine_->base().row_of(id));
  for (const Hit& h : refine_->search(vectors_[id], 5)) EXPECT_NE(h.id, id);
}

}  // namespace
}  // namespace homelens::index

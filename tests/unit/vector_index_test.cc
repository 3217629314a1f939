// The VectorIndex contract for every exact kind the factory makes ("Flat",
// "Refine(HalfFlat)" and "Refine(SQ8Flat)"): answers equal a brute-force scan, best first, ties by
// smaller id, with selectors, subsets, replacement and removal; plus TopK and the
// refine cutoff that candidate-list scoring relies on.
#include "homelens/index/vector_index.h"
#include "homelens/index/half_flat_index.h"
#include "homelens/index/id_selector.h"
#include "homelens/index/index_factory.h"
#include "support/index_reference.h"
#include "support/testing.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <iterator>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <utility>

namespace homelens::index {
namespace {

using homelens::testing::expect_best_first;
using homelens::testing::expect_equals_reference;
using homelens::testing::expect_matches_reference;
using homelens::testing::random_grid;
using homelens::testing::random_unit;
using homelens::testing::reference;
using homelens::testing::Vectors;

std::unique_ptr<VectorIndex> make(const std::string& spec, std::size_t dim) {
  if (spec.find("HalfFlat") != std::string::npos && !HalfFlatIndex::supported()) return nullptr;
  auto made = make_index(spec, dim);
  EXPECT_TRUE(made.ok()) << spec;
  return made ? std::move(*made) : nullptr;
}

class ExactKinds : public ::testing::TestWithParam<std::string> {
 protected:
  static constexpr std::size_t kDim = 64;
  static constexpr std::size_t kN = 3000;  // more than one 2048-row block and the fast-scan threshold

  void SetUp() override {
    index_ = make(GetParam(), kDim);
    if (!index_) GTEST_SKIP() << GetParam() << " needs F16C";
  }

  // Ids are sparse and not in insertion order, so row != id.
  void fill(bool grid) {
    std::mt19937 rng(grid ? 99 : 42);
    for (std::size_t i = 0; i < kN; ++i) {
      const std::int64_t id = static_cast<std::int64_t>((i * 7919) % 100003) + 1;
      vectors_[id] = grid ? random_grid(rng, kDim) : random_unit(rng, kDim);
      ASSERT_TRUE(index_->add(id, vectors_[id]).ok());
    }
    ASSERT_EQ(index_->size(), kN);
  }

  std::unique_ptr<VectorIndex> index_;
  Vectors vectors_;
};

TEST_P(ExactKinds, SearchEqualsBruteForceOnRandomUnitVectors) {
  fill(false);
  std::mt19937 rng(1);
  for (std::size_t k : {1u, 10u, 1000u, 5000u}) {
    for (int trial = 0; trial < 3; ++trial) {
      const auto q = random_unit(rng, kDim);
      auto hits = index_->search(q, k);
      EXPECT_EQ(hits.size(), std::min(k, kN));
      expect_matches_reference(hits, reference(vectors_, q, k), vectors_, q);
      expect_best_first(hits);
    }
  }
}

TEST_P(ExactKinds, SearchEqualsBruteForceExactlyIncludingTiesBySmallerId) {
  fill(true);  // exact scores with many ties
  std::mt19937 rng(2);
  for (std::size_t k : {1u, 10u, 1000u, 5000u}) {
    const auto q = random_grid(rng, kDim);
    expect_equals_reference(index_->search(q, k), reference(vectors_, q, k));
    std::vector<std::int64_t> all;
    for (const auto& [id, v] : vectors_) all.push_back(id);
    expect_equals_reference(index_->search_among(q, all, k), reference(vectors_, q, k));
  }
}

TEST_P(ExactKinds, SearchOfAVectorInTheIndexFindsItFirst) {
  fill(false);
  for (std::int64_t id : {vectors_.begin()->first, std::next(vectors_.begin(), 500)->first}) {
    auto hits = index_->search(vectors_[id], 3);
    ASSERT_EQ(hits.size(), 3u);
    EXPECT_EQ(hits[0].id, id);
    EXPECT_NEAR(hits[0].score, 1.0f, 1e-5);
  }
}

// Selectors as the callers use them: the query photo left out, a set of allowed ids.
TEST_P(ExactKinds, SelectorsExcludeRejectedIdsAndStillFillK) {
  fill(false);
  std::mt19937 rng(3);
  const auto q = random_unit(rng, kDim);
  std::vector<std::int64_t> odd_ids;
  for (const auto& [id, v] : vectors_)
    if (id % 2 != 0) odd_ids.push_back(id);
  const IDSelectorBatch odd(odd_ids);
  auto is_odd = [](std::int64_t id) { return id % 2 != 0; };
  for (std::size_t k : {1u, 10u, 1000u, 5000u}) {
    auto hits = index_->search(q, k, &odd);
    for (const Hit& h : hits) EXPECT_TRUE(is_odd(h.id)) << "rejected id " << h.id << " returned";
    expect_matches_reference(hits, reference(vectors_, q, k, is_odd), vectors_, q);
    expect_best_first(hits);
  }
  // Leaving the best hit out (as for the query photo itself) returns the next best.
  const std::int64_t best = index_->search(q, 1)[0].id;
  const std::vector<std::int64_t> just_best = {best};
  const IDSelectorAllBut others(just_best);
  auto hits = index_->search(q, 1, &others);
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_NE(hits[0].id, best);
  EXPECT_EQ(hits[0].id, index_->search(q, 2)[1].id);
  const IDSelectorBatch none(std::span<const std::int64_t>{});
  EXPECT_TRUE(index_->search(q, 10, &none).empty());
}

TEST_P(ExactKinds, SearchAmongReturnsOnlyListedIdsAndIgnoresUnknownAndRepeatedOnes) {
  fill(false);
  std::mt19937 rng(4);
  const auto q = random_unit(rng, kDim);
  std::vector<std::int64_t> listed;
  Vectors subset;
  for (const auto& [id, v] : vectors_)
    if (id % 5 != 0) {
      listed.push_back(id);
      subset[id] = v;
    }
  const std::size_t known = listed.size();
  ASSERT_GT(known, 2048u) << "enough for a fast first pass";
  listed.push_back(-5);            // never added
  listed.push_back(1000000);       // never added
  listed.push_back(listed.front());  // repeated
  for (std::size_t k : {1u, 10u, 1000u, 5000u}) {
    auto hits = index_->search_among(q, listed, k);
    EXPECT_EQ(hits.size(), std::min(k, known));
    for (const Hit& h : hits) EXPECT_TRUE(subset.count(h.id)) << "unlisted id " << h.id;
    expect_matches_reference(hits, reference(subset, q, k), subset, q);
    expect_best_first(hits);
  }
  // With a selector too.
  std::vector<std::int64_t> odd_ids;
  for (std::int64_t id : listed)
    if (id % 2 != 0) odd_ids.push_back(id);
  const IDSelectorBatch odd(odd_ids);
  auto hits = index_->search_among(q, listed, 5000, &odd);
  expect_matches_reference(hits, reference(subset, q, 5000, [](std::int64_t id) { return id % 2 != 0; }), subset, q);
  const std::vector<std::int64_t> unknown = {-1, -2, 1000001};
  EXPECT_TRUE(index_->search_among(q, unknown, 10).empty());
}

TEST_P(ExactKinds, RemovedIdsAreNeverReturnedAndOtherVectorsStayCorrect) {
  fill(false);
  // Every 4th id by value (scattered over the rows) plus the first and last rows added.
  std::vector<std::int64_t> ids;
  for (const auto& [id, v] : vectors_) ids.push_back(id);
  std::sort(ids.begin(), ids.end());
  std::set<std::int64_t> removed;
  for (std::size_t i = 0; i < ids.size(); i += 4) removed.insert(ids[i]);
  removed.insert(1);
  removed.insert(static_cast<std::int64_t>(((kN - 1) * 7919) % 100003) + 1);
  for (std::int64_t id : removed) {
    EXPECT_TRUE(index_->remove(id)) << id;
    vectors_.erase(id);
  }
  EXPECT_FALSE(index_->remove(*removed.begin())) << "removing twice";
  EXPECT_FALSE(index_->remove(-77)) << "removing an unknown id";
  EXPECT_EQ(index_->size(), kN - removed.size());
  for (std::int64_t id : removed) EXPECT_TRUE(index_->vector(id).empty()) << id;
  for (const auto& [id, v] : vectors_) {
    auto stored = index_->vector(id);
    ASSERT_EQ(std::vector<float>(stored.begin(), stored.end()), v) << "vector of id " << id;
  }
  std::mt19937 rng(5);
  std::vector<std::int64_t> all(ids.begin(), ids.end());
  for (std::size_t k : {1u, 10u, 5000u}) {
    const auto q = random_unit(rng, kDim);
    auto hits = index_->search(q, k);
    for (const Hit& h : hits) EXPECT_FALSE(removed.count(h.id)) << "removed id " << h.id;
    expect_matches_reference(hits, reference(vectors_, q, k), vectors_, q);
    expect_matches_reference(index_->search_among(q, all, k), reference(vectors_, q, k), vectors_, q);
  }
  // Re-adding a removed id works like a fresh add.
  std::mt19937 again(42);  // regenerates the first vector added (id 1)
  const auto first = random_unit(again, kDim);
  for (const Hit& h : index_->search(first, 5)) EXPECT_NE(h.id, 1);
  ASSERT_TRUE(index_->add(1, first).ok());
  EXPECT_EQ(index_->search(first, 1)[0].id, 1);
}

TEST_P(ExactKinds, AddOfAnExistingIdReplacesItsVector) {
  auto index = make(GetParam(), 3);
  const std::vector<float> a = {1, 0, 0}, b = {0, 1, 0}, c = {0, 0, 1};
  ASSERT_TRUE(index->add(1, a).ok());
  ASSERT_TRUE(index->add(2, b).ok());
  ASSERT_TRUE(index->add(1, c).ok());
  EXPECT_EQ(index->size(), 2u);
  auto v = index->vector(1);
  EXPECT_EQ(std::vector<float>(v.begin(), v.end()), c);
  auto hits = index->search(c, 10);
  ASSERT_EQ(hits.size(), 2u);
  EXPECT_EQ(hits[0].id, 1);
  EXPECT_FLOAT_EQ(hits[0].score, 1.0f);
  EXPECT_FLOAT_EQ(hits[1].score, 0.0f);
  EXPECT_FLOAT_EQ(index->search(a, 1)[0].score, 0.0f);  // the old vector is gone
}

TEST_P(ExactKinds, RemovingTheOnlyAndTheLastRowsLeavesAConsistentIndex) {
  auto index = make(GetParam(), 2);
  const std::vector<float> a = {1, 0}, b = {0, 1};
  ASSERT_TRUE(index->add(10, a).ok());
  EXPECT_TRUE(index->remove(10));
  EXPECT_EQ(index->size(), 0u);
  EXPECT_TRUE(index->search(a, 5).empty());
  ASSERT_TRUE(index->add(10, a).ok());
  ASSERT_TRUE(index->add(20, b).ok());
  EXPECT_TRUE(index->remove(20));
  auto hits = index->search(a, 5);
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].id, 10);
}

TEST_P(ExactKinds, EmptyIndexZeroKAndWrongQueryDimensionReturnNothing) {
  auto index = make(GetParam(), 3);
  const std::vector<float> q = {1, 0, 0}, q2 = {1, 0};
  EXPECT_TRUE(index->search(q, 5).empty());
  const std::vector<std::int64_t> ids = {1};
  EXPECT_TRUE(index->search_among(q, ids, 5).empty());
  ASSERT_TRUE(index->add(1, q).ok());
  EXPECT_TRUE(index->search(q, 0).empty());
  EXPECT_TRUE(index->search(q2, 5).empty());
  EXPECT_TRUE(index->search_among(q, ids, 0).empty());
  EXPECT_TRUE(index->search_among(q2, ids, 5).empty());
}

TEST_P(ExactKinds, AddWithWrongDimensionIsAnInvalidArgumentNamingTheId) {
  auto index = make(GetParam(), 4);
  const std::vector<float> v3 = {1, 0, 0};
  Status st = index->add(12345, v3);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(st.message().find("12345"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find('3'), std::string::npos) << st.message();
  EXPECT_EQ(index->size(), 0u);
  EXPECT_TRUE(index->vector(12345).empty());
}

// Rows are stable: an id keeps its row, a freed row goes to the next new id, and
// exact scores of rows match a brute-force product.
TEST_P(ExactKinds, RowsAreStableAndExactScoresOfRowsAreExact) {
  fill(false);
  EXPECT_EQ(index_->error_bound(), 0.0f);
  const std::int64_t victim = std::next(vectors_.begin(), 17)->first;
  const std::uint32_t freed = *index_->row_of(victim);
  std::map<std::int64_t, std::uint32_t> before;
  for (const auto& [id, v] : vectors_) before[id] = *index_->row_of(id);
  ASSERT_TRUE(index_->remove(victim));
  vectors_.erase(victim);
  EXPECT_FALSE(index_->row_of(victim));
  std::mt19937 rng(8);
  vectors_[777777] = random_unit(rng, kDim);
  ASSERT_TRUE(index_->add(777777, vectors_[777777]).ok());
  EXPECT_EQ(*index_->row_of(777777), freed);
  EXPECT_EQ(index_->row_capacity(), kN);
  std::vector<std::uint32_t> rows;
  std::vector<std::int64_t> row_ids;
  for (const auto& [id, v] : vectors_) {
    if (id != 777777) {
      EXPECT_EQ(*index_->row_of(id), before[id]) << id;
    }
    rows.push_back(*index_->row_of(id));
    row_ids.push_back(id);
  }
  const auto q = random_unit(rng, kDim);
  std::vector<float> out(rows.size());
  EXPECT_EQ(index_->score_rows(q, rows, out.data(), Pass::kExact), 0.0f);
  for (std::size_t j = 0; j < rows.size(); ++j)
    EXPECT_NEAR(out[j], homelens::testing::exact_dot(vectors_[row_ids[j]], q), 1e-5) << row_ids[j];
}

INSTANTIATE_TEST_SUITE_P(Kinds, ExactKinds, ::testing::Values("Flat", "Refine(HalfFlat)", "Refine(SQ8Flat)"),
                         [](const ::testing::TestParamInfo<std::string>& p) {
                           std::string name;
                           for (char c : p.param)
                             if (std::isalnum(static_cast<unsigned char>(c))) name += c;
                           return name;
                         });

TEST(TopKTest, KeepsTheKBestBestFirst) {
  TopK top(3);
  EXPECT_FALSE(top.full());
  EXPECT_EQ(top.threshold(), -std::numeric_limits<float>::infinity());
  for (auto [id, s] : std::vector<std::pair<std::int64_t, float>>{
           {1, 0.1f}, {2, 0.9f}, {3, 0.5f}, {4, -0.3f}, {5, 0.7f}, {6, 0.2f}})
    top.push({id, s});
  EXPECT_TRUE(top.full());
  EXPECT_FLOAT_EQ(top.threshold(), 0.5f);
  auto out = top.take();
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].id, 2);
  EXPECT_EQ(out[1].id, 5);
  EXPECT_EQ(out[2].id, 3);
  EXPECT_FALSE(top.full()) << "take() empties the heap";
}

TEST(TopKTest, TiesAreBrokenBySmallerIdWhateverThePushOrder) {
  std::vector<Hit> hits;
  for (std::int64_t id = 1; id <= 20; ++id) hits.push_back({id, id % 2 ? 0.5f : 0.25f});
  std::mt19937 rng(6);
  for (int trial = 0; trial < 20; ++trial) {
    std::shuffle(hits.begin(), hits.end(), rng);
    TopK top(4);
    for (const Hit& h : hits) top.push(h);
    auto out = top.take();
    ASSERT_EQ(out.size(), 4u);
    EXPECT_EQ(out[0].id, 1);
    EXPECT_EQ(out[1].id, 3);
    EXPECT_EQ(out[2].id, 5);
    EXPECT_EQ(out[3].id, 7);
    for (const Hit& h : out) EXPECT_EQ(h.score, 0.5f);
  }
}

TEST(TopKTest, ZeroKKeepsNothingAndFewerThanKKeepsAll) {
  TopK none(0);
  none.push({1, 1.0f});
  EXPECT_TRUE(none.take().empty());
  TopK many(10);
  many.push({3, 0.1f});
  many.push({1, 0.1f});
  many.push({2, 0.3f});
  auto out = many.take();
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].id, 2);
  EXPECT_EQ(out[1].id, 1);
  EXPECT_EQ(out[2].id, 3);
}

// The cutoff keeps everything that could still be in the exact top k and drops
// only what provably cannot.
TEST(RefineCutoffTest, IsTheKthBestLessTwiceTheErrorAndKeepsAllWhenAtMostK) {
  std::vector<float> best = {0.1f, 0.9f, 0.5f, 0.7f, 0.3f};
  EXPECT_NEAR(refine_cutoff(best, 2, 0.05), 0.7 - 0.1, 1e-5);
  EXPECT_NEAR(refine_cutoff(best, 1, 0.0), 0.9, 1e-5);
  EXPECT_EQ(refine_cutoff(best, 5, 0.05), -std::numeric_limits<float>::infinity());
  EXPECT_EQ(refine_cutoff(best, 9, 0.05), -std::numeric_limits<float>::infinity());
  std::vector<float> none;
  EXPECT_EQ(refine_cutoff(none, 3, 0.05), -std::numeric_limits<float>::infinity());
}

}  // namespace
}  // namespace homelens::index

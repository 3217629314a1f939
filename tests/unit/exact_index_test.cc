// Exact top-k search: answers equal a brute-force scan, best first, ties by
// smaller id, with filters, subsets, replacement and removal.
#include "homelens/index/exact_index.h"
#include "homelens/index/kernels.h"
#include "support/testing.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <iterator>
#include <limits>
#include <random>
#include <set>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace homelens::index {
namespace {

using homelens::testing::random_unit;

using Vectors = std::unordered_map<std::int64_t, std::vector<float>>;

// Components in {-2..2}/8: every dot product is exact in float whatever the
// summation order, so scores tie exactly and can be compared with ==.
std::vector<float> random_grid(std::mt19937& rng, std::size_t dim) {
  std::uniform_int_distribution<int> u(-2, 2);
  std::vector<float> v(dim);
  for (float& x : v) x = static_cast<float>(u(rng)) / 8.0f;
  return v;
}

double exact_dot(std::span<const float> a, std::span<const float> b) {
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += static_cast<double>(a[i]) * b[i];
  return s;
}

struct RefHit {
  std::int64_t id;
  double score;
};

// Brute force: score every candidate in double, sort by score desc then id asc.
std::vector<RefHit> reference(const Vectors& vectors, std::span<const float> q, std::size_t k,
                              const std::function<bool(std::int64_t)>& keep = nullptr) {
  std::vector<RefHit> all;
  for (const auto& [id, v] : vectors)
    if (!keep || keep(id)) all.push_back({id, exact_dot(v, q)});
  std::sort(all.begin(), all.end(), [](const RefHit& a, const RefHit& b) {
    return a.score > b.score || (a.score == b.score && a.id < b.id);
  });
  if (all.size() > k) all.resize(k);
  return all;
}

// Float scores may differ from the double reference by rounding, so positions
// may swap only between near-equal scores; everything else must match.
void expect_matches_reference(const std::vector<Hit>& got, const std::vector<RefHit>& want,
                              const Vectors& vectors, std::span<const float> q) {
  ASSERT_EQ(got.size(), want.size());
  std::set<std::int64_t> seen;
  for (std::size_t i = 0; i < got.size(); ++i) {
    ASSERT_TRUE(vectors.count(got[i].id)) << "unknown id " << got[i].id;
    EXPECT_TRUE(seen.insert(got[i].id).second) << "id " << got[i].id << " returned twice";
    EXPECT_NEAR(got[i].score, exact_dot(vectors.at(got[i].id), q), 1e-5) << "position " << i;
    EXPECT_NEAR(got[i].score, want[i].score, 1e-5) << "position " << i;
    if (got[i].id != want[i].id) {
      EXPECT_NEAR(want[i].score, exact_dot(vectors.at(got[i].id), q), 1e-5)
          << "position " << i << ": got id " << got[i].id << ", want id " << want[i].id;
    }
  }
}

void expect_best_first(const std::vector<Hit>& hits) {
  for (std::size_t i = 1; i < hits.size(); ++i) {
    const Hit& a = hits[i - 1];
    const Hit& b = hits[i];
    EXPECT_TRUE(a.score > b.score || (a.score == b.score && a.id < b.id))
        << "position " << i << ": (" << a.id << ", " << a.score << ") before (" << b.id << ", "
        << b.score << ")";
  }
}

class ExactIndexTest : public ::testing::Test {
 protected:
  static constexpr std::size_t kDim = 64;
  static constexpr std::size_t kN = 3000;  // more than one 2048-row block

  // Ids are sparse and not in insertion order, so row != id.
  void fill(bool grid) {
    std::mt19937 rng(grid ? 99 : 42);
    for (std::size_t i = 0; i < kN; ++i) {
      const std::int64_t id = static_cast<std::int64_t>((i * 7919) % 100003) + 1;
      vectors_[id] = grid ? random_grid(rng, kDim) : random_unit(rng, kDim);
      ASSERT_TRUE(index_.add(id, vectors_[id]).ok());
    }
    ASSERT_EQ(index_.size(), kN);
  }

  ExactIndex index_{kDim};
  Vectors vectors_;
};

TEST_F(ExactIndexTest, SearchEqualsBruteForceOnRandomUnitVectors) {
  fill(false);
  std::mt19937 rng(1);
  for (std::size_t k : {1u, 10u, 1000u, 5000u}) {
    for (int trial = 0; trial < 3; ++trial) {
      const auto q = random_unit(rng, kDim);
      auto hits = index_.search(q, k);
      EXPECT_EQ(hits.size(), std::min(k, kN));
      expect_matches_reference(hits, reference(vectors_, q, k), vectors_, q);
      expect_best_first(hits);
    }
  }
}

TEST_F(ExactIndexTest, SearchEqualsBruteForceExactlyIncludingTiesBySmallerId) {
  fill(true);  // exact scores with many ties
  std::mt19937 rng(2);
  for (std::size_t k : {1u, 10u, 1000u, 5000u}) {
    const auto q = random_grid(rng, kDim);
    auto hits = index_.search(q, k);
    auto want = reference(vectors_, q, k);
    ASSERT_EQ(hits.size(), want.size());
    for (std::size_t i = 0; i < hits.size(); ++i) {
      ASSERT_EQ(hits[i].id, want[i].id) << "k=" << k << " position " << i;
      ASSERT_EQ(static_cast<double>(hits[i].score), want[i].score) << "position " << i;
    }
  }
}

TEST_F(ExactIndexTest, SearchOfAVectorInTheIndexFindsItFirst) {
  fill(false);
  for (std::int64_t id : {vectors_.begin()->first, std::next(vectors_.begin(), 500)->first}) {
    auto hits = index_.search(vectors_[id], 3);
    ASSERT_EQ(hits.size(), 3u);
    EXPECT_EQ(hits[0].id, id);
    EXPECT_NEAR(hits[0].score, 1.0f, 1e-5);
  }
}

TEST_F(ExactIndexTest, AcceptFilterExcludesRejectedIdsAndStillFillsK) {
  fill(false);
  std::mt19937 rng(3);
  const auto q = random_unit(rng, kDim);
  auto odd = [](std::int64_t id) { return id % 2 != 0; };
  for (std::size_t k : {1u, 10u, 1000u, 5000u}) {
    auto hits = index_.search(q, k, odd);
    for (const Hit& h : hits) EXPECT_TRUE(odd(h.id)) << "rejected id " << h.id << " returned";
    expect_matches_reference(hits, reference(vectors_, q, k, odd), vectors_, q);
    expect_best_first(hits);
  }
  // Rejecting the best hit (as for the query photo itself) returns the next best.
  const std::int64_t best = index_.search(q, 1)[0].id;
  auto hits = index_.search(q, 1, [&](std::int64_t id) { return id != best; });
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_NE(hits[0].id, best);
  EXPECT_TRUE(index_.search(q, 10, [](std::int64_t) { return false; }).empty());
}

TEST_F(ExactIndexTest, SearchAmongReturnsOnlyListedIdsAndIgnoresUnknownOnes) {
  fill(false);
  std::mt19937 rng(4);
  const auto q = random_unit(rng, kDim);
  std::vector<std::int64_t> listed;
  Vectors subset;
  for (const auto& [id, v] : vectors_)
    if (id % 3 == 0) {
      listed.push_back(id);
      subset[id] = v;
    }
  const std::size_t known = listed.size();
  ASSERT_GT(known, 100u);
  listed.push_back(-5);       // never added
  listed.push_back(1000000);  // never added
  for (std::size_t k : {1u, 10u, 5000u}) {
    auto hits = index_.search_among(q, listed, k);
    EXPECT_EQ(hits.size(), std::min(k, known));
    for (const Hit& h : hits) EXPECT_TRUE(subset.count(h.id)) << "unlisted id " << h.id;
    expect_matches_reference(hits, reference(subset, q, k), subset, q);
    expect_best_first(hits);
  }
  // With an accept filter too.
  auto even = [](std::int64_t id) { return id % 2 == 0; };
  auto hits = index_.search_among(q, listed, 5000, even);
  expect_matches_reference(hits, reference(subset, q, 5000, even), subset, q);
  // Only unknown ids: nothing.
  const std::vector<std::int64_t> unknown = {-1, -2, 1000001};
  EXPECT_TRUE(index_.search_among(q, unknown, 10).empty());
}

TEST(ExactIndexBasicsTest, AddWithWrongDimensionIsAnErrorNamingTheId) {
  ExactIndex index(4);
  const std::vector<float> v3 = {1, 0, 0};
  Status st = index.add(12345, v3);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("12345"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find('3'), std::string::npos) << st.message();
  EXPECT_EQ(index.size(), 0u);
  EXPECT_TRUE(index.vector(12345).empty());
}

TEST(ExactIndexBasicsTest, AddOfAnExistingIdReplacesItsVector) {
  ExactIndex index(3);
  const std::vector<float> a = {1, 0, 0}, b = {0, 1, 0}, c = {0, 0, 1};
  ASSERT_TRUE(index.add(1, a).ok());
  ASSERT_TRUE(index.add(2, b).ok());
  ASSERT_TRUE(index.add(1, c).ok());
  EXPECT_EQ(index.size(), 2u);
  auto v = index.vector(1);
  EXPECT_EQ(std::vector<float>(v.begin(), v.end()), c);
  auto hits = index.search(c, 10);
  ASSERT_EQ(hits.size(), 2u);
  EXPECT_EQ(hits[0].id, 1);
  EXPECT_FLOAT_EQ(hits[0].score, 1.0f);
  EXPECT_FLOAT_EQ(hits[1].score, 0.0f);
  EXPECT_FLOAT_EQ(index.search(a, 1)[0].score, 0.0f);  // the old vector is gone
}

TEST_F(ExactIndexTest, RemovedIdsAreNeverReturnedAndOtherVectorsStayCorrect) {
  fill(false);
  // Remove every 4th id by value (scattered over the rows) plus the first and last rows, so
  // rows from the end are moved into holes (the swap-with-last path).
  std::vector<std::int64_t> ids;
  for (const auto& [id, v] : vectors_) ids.push_back(id);
  std::sort(ids.begin(), ids.end());
  std::set<std::int64_t> removed;
  for (std::size_t i = 0; i < ids.size(); i += 4) removed.insert(ids[i]);
  // The first and the last vector added (i = 0 and i = kN - 1 in fill()).
  removed.insert(1);
  removed.insert(static_cast<std::int64_t>(((kN - 1) * 7919) % 100003) + 1);
  for (std::int64_t id : removed) {
    EXPECT_TRUE(index_.remove(id)) << id;
    vectors_.erase(id);
  }
  EXPECT_FALSE(index_.remove(*removed.begin())) << "removing twice";
  EXPECT_FALSE(index_.remove(-77)) << "removing an unknown id";
  EXPECT_EQ(index_.size(), kN - removed.size());

  for (std::int64_t id : removed) EXPECT_TRUE(index_.vector(id).empty()) << id;
  for (const auto& [id, v] : vectors_) {
    auto stored = index_.vector(id);
    ASSERT_EQ(std::vector<float>(stored.begin(), stored.end()), v) << "vector of id " << id;
  }
  std::mt19937 rng(5);
  for (std::size_t k : {1u, 10u, 5000u}) {
    const auto q = random_unit(rng, kDim);
    auto hits = index_.search(q, k);
    for (const Hit& h : hits) EXPECT_FALSE(removed.count(h.id)) << "removed id " << h.id;
    expect_matches_reference(hits, reference(vectors_, q, k), vectors_, q);
  }
  // Searching for a removed vector does not find it.
  std::mt19937 again(42);  // regenerate the first vector added (id 1)
  const auto first = random_unit(again, kDim);
  auto hits = index_.search(first, 5);
  for (const Hit& h : hits) EXPECT_NE(h.id, 1);

  // Re-adding a removed id works like a fresh add.
  ASSERT_TRUE(index_.add(1, first).ok());
  EXPECT_EQ(index_.search(first, 1)[0].id, 1);
}

TEST(ExactIndexBasicsTest, RemovingTheOnlyAndTheLastRowsLeavesAConsistentIndex) {
  ExactIndex index(2);
  const std::vector<float> a = {1, 0}, b = {0, 1};
  ASSERT_TRUE(index.add(10, a).ok());
  EXPECT_TRUE(index.remove(10));
  EXPECT_EQ(index.size(), 0u);
  EXPECT_TRUE(index.search(a, 5).empty());
  ASSERT_TRUE(index.add(10, a).ok());
  ASSERT_TRUE(index.add(20, b).ok());
  EXPECT_TRUE(index.remove(20));  // the last row: nothing to move
  auto hits = index.search(a, 5);
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].id, 10);
}

TEST(ExactIndexBasicsTest, EmptyIndexZeroKAndWrongQueryDimensionReturnNothing) {
  ExactIndex index(3);
  const std::vector<float> q = {1, 0, 0}, q2 = {1, 0};
  EXPECT_TRUE(index.search(q, 5).empty());
  ASSERT_TRUE(index.add(1, q).ok());
  EXPECT_TRUE(index.search(q, 0).empty());
  EXPECT_TRUE(index.search(q2, 5).empty());
  const std::vector<std::int64_t> ids = {1};
  EXPECT_TRUE(index.search_among(q, ids, 0).empty());
  EXPECT_TRUE(index.search_among(q2, ids, 5).empty());
}

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
    // The four smallest odd ids (score 0.5), in id order.
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

// The half-precision copy a large candidate scan reads stays within the stated
// error of the exact inner products, including after a row is replaced.
TEST(ExactIndexHalfTest, HalfScanIsWithinTheStatedErrorOfTheExactScan) {
  ExactIndex index(1280);
  if (!index.has_half()) GTEST_SKIP() << "this CPU has no F16C: large scans use the exact rows";
  std::mt19937 rng(21);
  for (std::int64_t id = 0; id < 500; ++id) ASSERT_TRUE(index.add(id, random_unit(rng, 1280)));
  ASSERT_TRUE(index.add(7, random_unit(rng, 1280)));
  std::vector<std::uint32_t> rows;
  for (std::int64_t id = 499; id >= 0; id -= 2) rows.push_back(*index.row_of(id));
  for (int q = 0; q < 20; ++q) {
    auto query = random_unit(rng, 1280);
    std::vector<float> exact(rows.size()), half(rows.size());
    index.dot_rows(query, rows, exact.data());
    index.dot_rows_half(query, rows, half.data());
    for (std::size_t j = 0; j < rows.size(); ++j) EXPECT_NEAR(half[j], exact[j], kHalfDotError) << "row " << rows[j];
  }
}

}  // namespace
}  // namespace homelens::index

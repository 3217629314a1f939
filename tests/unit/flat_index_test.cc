// The exact float index: what it stores is what vector() gives back, and its
// whole-index scan (BLAS), its gather (candidate lists) and its margin search
// agree with each other and with a brute-force scan.
#include "homelens/index/flat_index.h"
#include "support/index_reference.h"
#include "support/testing.h"

#include <gtest/gtest.h>

namespace homelens::index {
namespace {

using homelens::testing::exact_dot;
using homelens::testing::random_unit;

TEST(FlatIndexTest, VectorIsTheStoredFloatsAndScoresAreExact) {
  FlatIndex index(1280);
  EXPECT_EQ(index.kind(), "Flat");
  EXPECT_EQ(index.error_bound(), 0.0f);
  std::mt19937 rng(41);
  homelens::testing::Vectors vectors;
  for (std::int64_t id = 0; id < 5000; ++id) {
    vectors[id] = random_unit(rng, 1280);
    ASSERT_TRUE(index.add(id, vectors[id]).ok());
  }
  for (std::int64_t id : {0, 2500, 4999}) {
    auto v = index.vector(id);
    EXPECT_EQ(std::vector<float>(v.begin(), v.end()), vectors[id]);
  }
  std::vector<std::uint32_t> rows;
  for (std::int64_t id = 4999; id >= 0; --id) rows.push_back(*index.row_of(id));
  const auto q = random_unit(rng, 1280);
  std::vector<float> scores(rows.size());
  EXPECT_EQ(index.score_rows(q, rows, scores.data(), Pass::kFast), 0.0f);  // split over two threads
  for (std::size_t j = 0; j < rows.size(); ++j)
    ASSERT_NEAR(scores[j], exact_dot(vectors[static_cast<std::int64_t>(4999 - j)], q), 1e-5);
  const std::vector<float> short_query(10, 0.1f);
  index.score_rows(short_query, std::span(rows).first(3), scores.data(), Pass::kExact);
  EXPECT_TRUE(std::isnan(scores[0])) << "a query of the wrong dimension scores nothing";
}

// The margin search a refine step reads from its base: the k best plus every
// hit within the margin of the k-th best, nothing further down.
TEST(FlatIndexTest, SearchCandidatesAreTheTopKPlusEverythingWithinTheMargin) {
  FlatIndex index(32);
  std::mt19937 rng(42);
  homelens::testing::Vectors vectors;
  for (std::int64_t id = 1; id <= 3000; ++id) {
    vectors[id] = random_unit(rng, 32);
    ASSERT_TRUE(index.add(id, vectors[id]).ok());
  }
  const auto q = random_unit(rng, 32);
  for (std::size_t k : {1u, 50u, 2999u, 4000u}) {
    for (float margin : {0.0f, 0.01f, 0.1f}) {
      const auto ref = homelens::testing::reference(vectors, q, 100000);
      const double kth = ref[std::min(k, ref.size()) - 1].score;
      std::size_t want = 0;
      for (const auto& r : ref) want += r.score >= kth - margin - 1e-6 ? 1 : 0;
      auto got = index.search_candidates(q, k, margin, nullptr);
      EXPECT_NEAR(static_cast<double>(got.size()), static_cast<double>(want), 2) << "k=" << k << " margin=" << margin;
      EXPECT_GE(got.size(), std::min<std::size_t>(k, 3000));
      for (const Hit& h : got) EXPECT_GE(h.score, kth - margin - 1e-5) << h.id;
    }
  }
}

}  // namespace
}  // namespace homelens::index

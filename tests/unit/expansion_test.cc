// Query expansion of photos outside the heads' domain: the weights a person can work out by
// hand, the query's own row never counting, and photos the heads judged left alone.
#include "homelens/rank/expansion.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "homelens/index/flat_index.h"
#include "homelens/model/embedding.h"

namespace homelens {
namespace {

std::vector<float> unit(std::vector<float> v) {
  model::l2_normalize(v);
  return v;
}

// Rows: the query itself, two near it, one orthogonal, one opposite.
const std::vector<std::vector<float>> kRows = {
    {1, 0, 0}, unit({0.8f, 0.6f, 0}), unit({0.6f, 0, 0.8f}), {0, 1, 0}, {-1, 0, 0}};

std::vector<float> flat(const std::vector<std::vector<float>>& rows) {
  std::vector<float> out;
  for (const auto& r : rows) out.insert(out.end(), r.begin(), r.end());
  return out;
}

// q + 0.8^3 (0.8, 0.6, 0) + 0.6^3 (0.6, 0, 0.8), normalized: worked out by hand.
std::vector<float> expected_two() {
  return unit({1 + 0.512f * 0.8f + 0.216f * 0.6f, 0.512f * 0.6f, 0.216f * 0.8f});
}

void expect_near(const std::vector<float>& a, const std::vector<float>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-5f) << "value " << i;
}

TEST(QueryExpansion, NeighboursWeighByCosineCubedAndTheQueryItselfIsLeftOut) {
  const auto rows = flat(kRows);
  rank::QueryExpansion two{2, 3.0};
  expect_near(rank::expand_query(rows, 3, kRows[0], two, 0), expected_two());
  // The orthogonal and the opposite rows add nothing (weights 0^3 and max(-1, 0)^3).
  rank::QueryExpansion all{4, 3.0};
  expect_near(rank::expand_query(rows, 3, kRows[0], all, 0), expected_two());
  // Without leaving row 0 out, the query would count twice.
  expect_near(rank::expand_query(rows, 3, kRows[0], rank::QueryExpansion{1, 3.0}, -1), kRows[0]);
  expect_near(rank::expand_query(rows, 3, kRows[0], rank::QueryExpansion{0, 3.0}, 0), kRows[0]);
}

TEST(QueryExpansion, TheIndexVersionSkipsWhatItIsToldToAndAgreesWithTheMatrixOne) {
  index::FlatIndex idx(3);
  for (std::size_t i = 0; i < kRows.size(); ++i)
    ASSERT_TRUE(idx.add(static_cast<std::int64_t>(100 + i), kRows[i]).ok());
  rank::QueryExpansion two{2, 3.0};
  expect_near(rank::expand_query(idx, kRows[0], two, [](std::int64_t id) { return id == 100; }),
              expected_two());
  // Skipping the nearest neighbour too brings in the next one (the orthogonal row, weight 0).
  const auto skipped = rank::expand_query(idx, kRows[0], two,
                                          [](std::int64_t id) { return id == 100 || id == 101; });
  expect_near(skipped, unit({1 + 0.216f * 0.6f, 0, 0.216f * 0.8f}));
  index::FlatIndex empty(3);
  expect_near(rank::expand_query(empty, kRows[0], two), kRows[0]);
}

TEST(QueryExpansion, OnlyPhotosTheHeadsJudgedAndLeftUntaggedAreOutside) {
  store::Tags untagged;  // no heads ran: nothing is known, so nothing is expanded
  EXPECT_FALSE(rank::outside_heads_domain(untagged));
  store::Tags outside;
  outside.heads_id = "heads-1";
  outside.front = 0.0f;
  EXPECT_TRUE(rank::outside_heads_domain(outside));
  store::Tags kitchen = outside;
  kitchen.room = "kitchen";
  EXPECT_FALSE(rank::outside_heads_domain(kitchen));
  store::Tags front = outside;
  front.style = "ranch";
  EXPECT_FALSE(rank::outside_heads_domain(front));
}

}  // namespace
}  // namespace homelens

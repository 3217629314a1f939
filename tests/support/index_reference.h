// Brute-force references for the vector index tests: scores in double, ranked by
// score then smaller id, and checks that an index's hits match them.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <random>
#include <set>
#include <span>
#include <unordered_map>
#include <vector>

#include "homelens/index/vector_index.h"
#include "support/testing.h"

namespace homelens::testing {

using Vectors = std::unordered_map<std::int64_t, std::vector<float>>;

// Components in {-2..2}/8: every dot product is exact in float (and in half
// precision) whatever the summation order, so scores tie exactly and compare with ==.
inline std::vector<float> random_grid(std::mt19937& rng, std::size_t dim) {
  std::uniform_int_distribution<int> u(-2, 2);
  std::vector<float> v(dim);
  for (float& x : v) x = static_cast<float>(u(rng)) / 8.0f;
  return v;
}

inline double exact_dot(std::span<const float> a, std::span<const float> b) {
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += static_cast<double>(a[i]) * b[i];
  return s;
}

struct RefHit {
  std::int64_t id;
  double score;
};

// Every kept vector scored in double, best first, ties by smaller id, at most k.
inline std::vector<RefHit> reference(const Vectors& vectors, std::span<const float> q, std::size_t k,
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
inline void expect_matches_reference(const std::vector<index::Hit>& got, const std::vector<RefHit>& want,
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

// Exactly the reference: same ids in the same order, same scores (for grid vectors).
inline void expect_equals_reference(const std::vector<index::Hit>& got, const std::vector<RefHit>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    ASSERT_EQ(got[i].id, want[i].id) << "position " << i;
    ASSERT_EQ(static_cast<double>(got[i].score), want[i].score) << "position " << i;
  }
}

inline void expect_best_first(const std::vector<index::Hit>& hits) {
  for (std::size_t i = 1; i < hits.size(); ++i) {
    const index::Hit& a = hits[i - 1];
    const index::Hit& b = hits[i];
    EXPECT_TRUE(a.score > b.score || (a.score == b.score && a.id < b.id))
        << "position " << i << ": (" << a.id << ", " << a.score << ") before (" << b.id << ", " << b.score << ")";
  }
}

// An approximate index's top k misses only hits within twice its error bound of the true
// k-th best: every hit it returns scores at least that much exactly (unit queries drawn
// from rng, k = 10 and 1000).
inline void expect_top_k_within_twice_the_bound(const index::VectorIndex& index, const Vectors& vectors,
                                                std::mt19937& rng) {
  for (std::size_t k : {10u, 1000u}) {
    const auto query = random_unit(rng, index.dim());
    const auto want = reference(vectors, query, k);
    const auto got = index.search(query, k);
    ASSERT_EQ(got.size(), k);
    const double kth = want.back().score;
    for (const index::Hit& h : got) EXPECT_GE(exact_dot(vectors.at(h.id), query), kth - 2 * index.error_bound());
  }
}

}  // namespace homelens::testing

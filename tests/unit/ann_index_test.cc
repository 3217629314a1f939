// The approximate index on its own: it answers like the exact index it wraps,
// honours a selector, follows adds and removes, and reads back what it saved.
#include <gtest/gtest.h>

#include <filesystem>
#include <random>
#include <set>

#include <unistd.h>

#include "homelens/index/ann_index.h"
#include "homelens/index/flat_index.h"
#include "homelens/index/id_selector.h"
#include "support/testing.h"

namespace homelens::index {
namespace {

constexpr std::size_t kDim = 32;
constexpr std::size_t kRows = 4000;

std::unique_ptr<AnnIndex> filled(std::mt19937& rng, std::vector<std::vector<float>>& vectors) {
  auto ann = std::make_unique<AnnIndex>(std::make_unique<FlatIndex>(kDim), AnnOptions{.min_rows = 1000, .nlist = 0, .nprobe = 64, .rerank = 0});
  for (std::size_t i = 0; i < kRows; ++i) {
    vectors.push_back(testing::random_unit(rng, kDim));
    EXPECT_TRUE(ann->add(static_cast<std::int64_t>(i), vectors.back()).ok());
  }
  return ann;
}

TEST(AnnIndex, ExactUntilBuiltThenCloseToExactWithExactScores) {
  std::mt19937 rng(1);
  std::vector<std::vector<float>> v;
  auto ann = filled(rng, v);
  FlatIndex exact(kDim);
  for (std::size_t i = 0; i < kRows; ++i) ASSERT_TRUE(exact.add(static_cast<std::int64_t>(i), v[i]).ok());
  EXPECT_FALSE(ann->active());
  const auto q = testing::random_unit(rng, kDim);
  EXPECT_EQ(ann->search(q, 10).size(), 10u);
  ASSERT_TRUE(ann->build().ok());
  EXPECT_TRUE(ann->active());
  EXPECT_EQ(ann->ivf_size(), kRows);
  std::size_t found = 0;
  for (int t = 0; t < 50; ++t) {
    const auto query = testing::random_unit(rng, kDim);
    const auto truth = exact.search(query, 10);
    const auto got = ann->search(query, 10);
    ASSERT_EQ(got.size(), 10u);
    std::set<std::int64_t> ids;
    for (const Hit& h : truth) ids.insert(h.id);
    for (const Hit& h : got) {
      found += ids.count(h.id);
      // Scores are the exact ones, whatever the IVF's quantized scores were.
      const auto row = v[static_cast<std::size_t>(h.id)];
      float dot = 0;
      for (std::size_t j = 0; j < kDim; ++j) dot += row[j] * query[j];
      EXPECT_NEAR(h.score, dot, 1e-5);
    }
  }
  EXPECT_GE(found, 50u * 10 * 90 / 100);  // random vectors are the hard case for any IVF; the houses test asks 0.95
}

TEST(AnnIndex, FollowsRemovesAddsAndTheSelector) {
  std::mt19937 rng(2);
  std::vector<std::vector<float>> v;
  auto ann = filled(rng, v);
  ASSERT_TRUE(ann->build().ok());
  // A vector's own query finds it first, unless removed or excluded.
  EXPECT_EQ(ann->search(v[5], 1).at(0).id, 5);
  ASSERT_TRUE(ann->remove(5));
  EXPECT_NE(ann->search(v[5], 1).at(0).id, 5);
  EXPECT_EQ(ann->ivf_size(), kRows - 1);
  const std::vector<std::int64_t> not6{6};
  const IDSelectorAllBut sel(not6);
  EXPECT_NE(ann->search(v[6], 1, &sel).at(0).id, 6);
  // Re-adding id 7 with another vector moves it.
  ASSERT_TRUE(ann->add(7, v[5]).ok());
  EXPECT_EQ(ann->search(v[5], 1).at(0).id, 7);
  EXPECT_EQ(ann->ivf_size(), kRows - 1);
}

// A deep query (what a whole-index recommend asks for) returns about as many ids
// as asked, each once, and holds the nearest ones: it probes more lists than search().
TEST(AnnIndex, NearestIdsGoAsDeepAsAsked) {
  std::mt19937 rng(4);
  std::vector<std::vector<float>> v;
  auto ann = filled(rng, v);
  const auto q = testing::random_unit(rng, kDim);
  EXPECT_TRUE(ann->nearest_ids(q, 500).empty()) << "nothing before the IVF is built";
  ASSERT_TRUE(ann->build().ok());
  FlatIndex exact(kDim);
  for (std::size_t i = 0; i < kRows; ++i) ASSERT_TRUE(exact.add(static_cast<std::int64_t>(i), v[i]).ok());
  std::size_t found = 0;
  for (int t = 0; t < 20; ++t) {
    const auto query = testing::random_unit(rng, kDim);
    const auto ids = ann->nearest_ids(query, 1000);
    EXPECT_EQ(ids.size(), 1000u);
    const std::set<std::int64_t> got(ids.begin(), ids.end());
    EXPECT_EQ(got.size(), ids.size()) << "each id once";
    for (const Hit& h : exact.search(query, 100)) found += got.count(h.id);
  }
  EXPECT_GE(found, 20u * 100 * 95 / 100) << "the exact top 100 lie within the nearest 1,000";
  EXPECT_EQ(ann->nearest_ids(q, 2 * kRows).size(), kRows) << "deeper than the index: all of it";
  // With a selector of half the ids, as deep among those.
  std::vector<std::int64_t> odd;
  for (std::int64_t i = 1; i < static_cast<std::int64_t>(kRows); i += 2) odd.push_back(i);
  IDSelectorBatch only_odd(odd);
  const auto ids = ann->nearest_ids(q, 1000, &only_odd, odd.size());
  EXPECT_EQ(ids.size(), 1000u);
  for (std::int64_t id : ids) EXPECT_EQ(id % 2, 1);
}

TEST(AnnIndex, SavesAndLoadsWithTheSequenceItCovers) {
  std::mt19937 rng(3);
  std::vector<std::vector<float>> v;
  auto ann = filled(rng, v);
  ASSERT_TRUE(ann->build().ok());
  const auto path = std::filesystem::temp_directory_path() / ("ann-unit-" + std::to_string(::getpid()) + ".ann");
  ASSERT_TRUE(ann->save(path.string(), {42, "model-a"}).ok());

  std::vector<std::vector<float>> w;
  std::mt19937 same(3);
  auto again = filled(same, w);
  EXPECT_EQ(again->load(path.string(), "model-b").code(), ErrorCode::kCorruption);
  auto info = again->load(path.string(), "model-a");
  ASSERT_TRUE(info.ok()) << info.message();
  EXPECT_EQ(info->seq, 42);
  EXPECT_EQ(again->loads(), 1u);
  EXPECT_EQ(again->builds(), 0u);
  EXPECT_EQ(again->ivf_size(), kRows);
  EXPECT_EQ(again->search(v[9], 1).at(0).id, 9);
  // A changed id is brought in line by sync.
  ASSERT_TRUE(again->remove(9));
  again->sync(9);
  EXPECT_NE(again->search(v[9], 1).at(0).id, 9);
  std::filesystem::remove(path);
  EXPECT_EQ(again->load(path.string(), "model-a").code(), ErrorCode::kNotFound);
}

}  // namespace
}  // namespace homelens::index

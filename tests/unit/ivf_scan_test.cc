// The IVF+SQ8 list scan on the byte kernel gives FAISS's own answers: the same ids in
// the same order and the same scores (up to float rounding), with residual and
// plain codes, with a selector, and with lists emptied by removals.
#include <gtest/gtest.h>

#include <faiss/IndexFlat.h>
#include <faiss/IndexScalarQuantizer.h>
#include <faiss/impl/IDSelector.h>
#include <faiss/index_factory.h>

#include <memory>
#include <random>

#include "homelens/index/id_selector.h"
#include "homelens/index/ivf_scan.h"
#include "homelens/index/kernels.h"
#include "support/testing.h"

namespace homelens::index {
namespace {

using idx_t = faiss::Index::idx_t;
constexpr std::size_t kDim = 96;  // not a multiple of 32: the kernel's tail runs too
constexpr std::size_t kRows = 6000;

std::vector<float> data(std::mt19937& rng) {
  std::vector<float> x;
  for (std::size_t i = 0; i < kRows; ++i) {
    auto v = testing::random_unit(rng, kDim);
    if (i % 2 == 0)
      for (float& f : v) f = std::abs(f);  // post-ReLU rows beside signed ones
    x.insert(x.end(), v.begin(), v.end());
  }
  return x;
}

// FAISS's own top `want` for the query, as Hits.
std::vector<Hit> faiss_top(const faiss::Index& ivf, const std::vector<float>& q, std::size_t want, std::size_t nprobe,
                           const faiss::IDSelector* sel = nullptr) {
  faiss::SearchParametersIVF p;
  p.nprobe = nprobe;
  p.sel = const_cast<faiss::IDSelector*>(sel);
  std::vector<float> d(want);
  std::vector<idx_t> l(want);
  ivf.search(1, q.data(), static_cast<idx_t>(want), d.data(), l.data(), &p);
  std::vector<Hit> out;
  for (std::size_t j = 0; j < want; ++j)
    if (l[j] >= 0) out.push_back({l[j], d[j]});
  return out;
}

void expect_same(const std::vector<Hit>& got, const std::vector<Hit>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t j = 0; j < got.size(); ++j) EXPECT_NEAR(got[j].score, want[j].score, 2e-5) << "rank " << j;
  // Ids agree except where rounding put two near-equal scores the other way round.
  std::size_t same = 0;
  for (std::size_t j = 0; j < got.size(); ++j) same += got[j].id == want[j].id;
  EXPECT_GE(same, got.size() * 99 / 100);
}

TEST(IvfScan, GivesFaissOwnAnswersWithAndWithoutResidualCodes) {
  if (!has_byte_kernels()) GTEST_SKIP() << "no AVX2/F16C: ivf_search is FAISS's own search";
  std::mt19937 rng(5);
  const auto x = data(rng);
  for (bool residual : {true, false}) {
    faiss::IndexFlatIP coarse(static_cast<int>(kDim));
    faiss::IndexIVFScalarQuantizer ivf(&coarse, kDim, 24, faiss::ScalarQuantizer::QT_8bit, faiss::METRIC_INNER_PRODUCT,
                                       residual);
    ivf.train(static_cast<idx_t>(kRows), x.data());
    ivf.add(static_cast<idx_t>(kRows), x.data());
    ASSERT_TRUE(ivf_scan_supported(ivf));
    for (int qi = 0; qi < 5; ++qi) {
      const auto q = testing::random_unit(rng, kDim);
      for (std::size_t nprobe : {1, 6, 24}) {
        SCOPED_TRACE("residual " + std::to_string(residual) + ", nprobe " + std::to_string(nprobe));
        expect_same(ivf_search(ivf, q, 100, nprobe), faiss_top(ivf, q, 100, nprobe));
      }
    }
  }
}

TEST(IvfScan, HonoursASelectorAndRemovals) {
  if (!has_byte_kernels()) GTEST_SKIP() << "no AVX2/F16C: ivf_search is FAISS's own search";
  std::mt19937 rng(6);
  const auto x = data(rng);
  std::unique_ptr<faiss::Index> ivf(faiss::index_factory(static_cast<int>(kDim), "IVF16,SQ8", faiss::METRIC_INNER_PRODUCT));
  ivf->train(static_cast<idx_t>(kRows), x.data());
  ivf->add(static_cast<idx_t>(kRows), x.data());
  std::vector<idx_t> gone;
  for (idx_t i = 0; i < static_cast<idx_t>(kRows); i += 3) gone.push_back(i);
  ivf->remove_ids(faiss::IDSelectorArray(gone.size(), gone.data()));
  const auto q = testing::random_unit(rng, kDim);
  std::vector<std::int64_t> odd;
  for (std::int64_t i = 1; i < static_cast<std::int64_t>(kRows); i += 2) odd.push_back(i);
  IDSelectorBatch only_odd(odd);
  const auto got = ivf_search(*ivf, q, 200, 16, &only_odd);
  ASSERT_EQ(got.size(), 200u);
  for (const Hit& h : got) {
    EXPECT_EQ(h.id % 2, 1) << "the selector refused it";
    EXPECT_NE(h.id % 3, 0) << "removed";
  }
  faiss::IDSelectorBatch faiss_odd(odd.size(), odd.data());
  expect_same(got, faiss_top(*ivf, q, 200, 16, &faiss_odd));
}

TEST(IvfScan, ShrinkingTheListsFreesTheirSlackAndChangesNoAnswer) {
  std::mt19937 rng(8);
  const auto x = data(rng);
  std::unique_ptr<faiss::Index> ivf(faiss::index_factory(static_cast<int>(kDim), "IVF16,SQ8", faiss::METRIC_INNER_PRODUCT));
  ivf->train(static_cast<idx_t>(kRows), x.data());
  ivf->add(static_cast<idx_t>(kRows), x.data());
  const auto q = testing::random_unit(rng, kDim);
  const auto before = ivf_search(*ivf, q, 100, 4);
  const std::size_t grown = ivf_bytes(*ivf);
  ivf_shrink_to_fit(*ivf);
  const std::size_t shrunk = ivf_bytes(*ivf);
  const std::size_t payload = kRows * (kDim + sizeof(idx_t)) + 16 * kDim * sizeof(float);  // codes, ids, centroids
  EXPECT_LT(shrunk, grown) << "lists grown one entry at a time keep spare room";
  EXPECT_EQ(shrunk, payload);
  const auto after = ivf_search(*ivf, q, 100, 4);
  ASSERT_EQ(after.size(), before.size());
  for (std::size_t j = 0; j < after.size(); ++j) {
    EXPECT_EQ(after[j].id, before[j].id);
    EXPECT_EQ(after[j].score, before[j].score);
  }
}

TEST(IvfScan, OtherEncodingsFallBackToFaissSearch) {
  std::mt19937 rng(7);
  const auto x = data(rng);
  std::unique_ptr<faiss::Index> ivf(faiss::index_factory(static_cast<int>(kDim), "IVF16,Flat", faiss::METRIC_INNER_PRODUCT));
  ivf->train(static_cast<idx_t>(kRows), x.data());
  ivf->add(static_cast<idx_t>(kRows), x.data());
  EXPECT_FALSE(ivf_scan_supported(*ivf));
  const auto q = testing::random_unit(rng, kDim);
  const auto got = ivf_search(*ivf, q, 50, 16);
  const auto want = faiss_top(*ivf, q, 50, 16);
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t j = 0; j < got.size(); ++j) {
    EXPECT_EQ(got[j].id, want[j].id);
    EXPECT_EQ(got[j].score, want[j].score);
  }
}

}  // namespace
}  // namespace homelens::index

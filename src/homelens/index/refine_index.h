// An approximate base index plus an exact refine, as FAISS's IndexRefine: a
// search scores everything on the base (cheap), keeps the candidates that can
// still reach the top k given the base's error bound (within twice the bound of
// the k-th best), and rescores only those on a FlatIndex. With a base whose bound
// is proven (HalfFlat, SQ8Flat) the answers equal an exact scan. Rows are the refine's;
// a base with rows must number them alike (flat indexes do: same adds, same rows).
// Thread safety: as VectorIndex.
#pragma once

#include <memory>

#include "homelens/index/flat_index.h"

namespace homelens::index {

class RefineIndex final : public VectorIndex {
 public:
  // base must be empty and of the same dimension.
  explicit RefineIndex(std::unique_ptr<VectorIndex> base);
  std::string kind() const override { return "Refine(" + base_->kind() + ")"; }
  std::size_t dim() const override { return refine_.dim(); }
  std::size_t size() const override { return refine_.size(); }
  Status add(std::int64_t id, std::span<const float> vector) override;
  bool remove(std::int64_t id) override;
  void reserve(std::size_t n) override;
  std::span<const float> vector(std::int64_t id) const override { return refine_.vector(id); }
  std::vector<Hit> search(std::span<const float> query, std::size_t k,
                          const IDSelector* selector = nullptr) const override;
  std::vector<Hit> search_among(std::span<const float> query, std::span<const std::int64_t> ids,
                                std::size_t k, const IDSelector* selector = nullptr) const override;
  std::vector<Hit> search_candidates(std::span<const float> query, std::size_t k, float margin,
                                     const IDSelector* selector) const override;
  std::optional<std::uint32_t> row_of(std::int64_t id) const override { return refine_.row_of(id); }
  std::size_t row_capacity() const override { return refine_.row_capacity(); }
  float error_bound() const override { return 0.0f; }
  // kFast: the base's scores for a list long enough to gain from them (bound:
  // the base's), else exact ones (bound 0); kFastPart: the base's; kExact: the refine's.
  float score_rows(std::span<const float> query, std::span<const std::uint32_t> rows, float* out,
                   Pass pass) const override;

  const VectorIndex& base() const { return *base_; }

 private:
  // How far below the base's k-th best a hit may score and still be in the exact top k.
  float slack() const;
  // Exact scores of the given base hits, the k best of them (best first) or,
  // with a margin, those within it of the k-th best (in no order).
  std::vector<Hit> rescore(std::span<const float> query, std::vector<Hit> candidates, std::size_t k,
                           float margin) const;

  std::unique_ptr<VectorIndex> base_;
  FlatIndex refine_;
};

}  // namespace homelens::index

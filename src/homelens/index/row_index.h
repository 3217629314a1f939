// What the flat indexes share, whatever a row holds: stable rows for ids, the
// blocked whole-index scan into a top k, and candidate lists gathered by row.
// FlatIndex, HalfFlatIndex and SQ8FlatIndex only say how a row is stored and scored.
// Thread safety: as VectorIndex.
#pragma once

#include <climits>
#include <unordered_map>

#include "homelens/index/vector_index.h"

namespace homelens::index {

class RowIndex : public VectorIndex {
 public:
  std::size_t dim() const override { return dim_; }
  std::size_t size() const override { return row_of_.size(); }
  Status add(std::int64_t id, std::span<const float> vector) override;
  bool remove(std::int64_t id) override;
  void reserve(std::size_t n) override;
  std::vector<Hit> search(std::span<const float> query, std::size_t k,
                          const IDSelector* selector = nullptr) const override;
  std::vector<Hit> search_among(std::span<const float> query, std::span<const std::int64_t> ids,
                                std::size_t k, const IDSelector* selector = nullptr) const override;
  std::vector<Hit> search_candidates(std::span<const float> query, std::size_t k, float margin,
                                     const IDSelector* selector) const override;
  std::optional<std::uint32_t> row_of(std::int64_t id) const override;
  std::size_t row_capacity() const override { return ids_.size(); }
  // Scores with this index's only kind of score (both passes alike; the bound is the
  // gather's); a long list is split over two threads, which together pull more memory
  // bandwidth.
  float score_rows(std::span<const float> query, std::span<const std::uint32_t> rows, float* out,
                   Pass pass) const override;

  // The rows of the given ids that the selector accepts, each once, in the order
  // given; unknown ids are skipped.
  std::vector<std::uint32_t> rows_of(std::span<const std::int64_t> ids,
                                     const IDSelector* selector = nullptr) const;
  // The id in a row; kFree for a freed row.
  std::int64_t id_at(std::uint32_t row) const { return ids_[row]; }
  static constexpr std::int64_t kFree = INT64_MIN;

 protected:
  explicit RowIndex(std::size_t dim) : dim_(dim) {}
  // Storage hooks. Rows are numbered 0..row_capacity()-1 and never move.
  virtual void resize_rows(std::size_t rows) = 0;
  virtual void reserve_rows(std::size_t rows) = 0;
  // Stores v (dim() values) in row; nullptr zeroes it.
  virtual void write_row(std::uint32_t row, const float* v) = 0;
  // out[r] = score of row start + r for r < count: the sequential whole-index scan.
  virtual void score_block(const float* query, std::size_t start, std::size_t count,
                           float* out) const = 0;
  // out[j] = score of row rows[j]: the gather behind candidate lists. Returns the bound
  // of these scores' error (at most error_bound() for a unit-length query).
  virtual float gather(const float* query, const std::uint32_t* rows, std::size_t m,
                       float* out) const = 0;

 private:
  // The blocked scan behind search and search_candidates; near (when given) gets
  // every hit that was within margin of the running k-th best when scanned.
  void scan(const float* query, TopK& top, float margin, const IDSelector* selector,
            std::vector<Hit>* near) const;

  std::size_t dim_;
  std::vector<std::int64_t> ids_;    // row -> id, kFree for a freed row
  std::vector<std::uint32_t> free_;  // freed rows, reused first
  std::unordered_map<std::int64_t, std::uint32_t> row_of_;
};

}  // namespace homelens::index

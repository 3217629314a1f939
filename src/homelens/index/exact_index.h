// Exact top-k by inner product over a dense row-major matrix. Exact answers
// stay affordable below about a million photos, so nothing is approximated.
#pragma once

#include <algorithm>
#include <climits>
#include <optional>
#include <unordered_map>

#include "homelens/index/vector_index.h"

namespace homelens::index {

class ExactIndex final : public VectorIndex {
 public:
  explicit ExactIndex(std::size_t dim);
  std::size_t dim() const override { return dim_; }
  std::size_t size() const override { return row_of_.size(); }
  Status add(std::int64_t id, std::span<const float> vector) override;
  bool remove(std::int64_t id) override;
  std::vector<Hit> search(std::span<const float> query, std::size_t k,
                          const Accept& accept = nullptr) const override;
  std::vector<Hit> search_among(std::span<const float> query, std::span<const std::int64_t> ids,
                                std::size_t k, const Accept& accept = nullptr) const override;
  // out[j] = inner product of query with ids[j]'s vector (NaN for unknown ids).
  Status scores(std::span<const float> query, std::span<const std::int64_t> ids,
                std::vector<float>& out) const;
  // Reserves room for n vectors (avoids regrowth when loading a store).
  void reserve(std::size_t n);
  // The stored vector of id, or an empty span.
  std::span<const float> vector(std::int64_t id) const;

  // Rows are stable: an id keeps its row until removed, and a freed row is reused
  // by a later add. Callers may cache rows to skip the id lookup on hot paths.
  std::optional<std::uint32_t> row_of(std::int64_t id) const;
  std::size_t row_capacity() const { return ids_.size(); }
  // out[j] = inner product of query with row rows[j]; the query must have dim() values.
  void dot_rows(std::span<const float> query, std::span<const std::uint32_t> rows,
                float* out) const;
  // Whether a half-precision copy of the rows is kept (CPUs with F16C): it halves
  // the bytes a large candidate scan reads, and callers rescore what matters exactly.
  bool has_half() const { return half_enabled_; }
  // As dot_rows over the half copy, each value within kHalfDotError of the exact
  // one for unit vectors; needs has_half().
  void dot_rows_half(std::span<const float> query, std::span<const std::uint32_t> rows,
                     float* out) const;

 private:
  std::size_t dim_;
  std::vector<float> data_;          // row_capacity() x dim_, row-major
  std::vector<std::uint16_t> half_;  // data_ in half precision, when half_enabled_
  bool half_enabled_;
  std::vector<std::int64_t> ids_;    // row -> id, kFree for a freed row
  std::vector<std::uint32_t> free_;  // freed rows, reused first
  std::unordered_map<std::int64_t, std::uint32_t> row_of_;
  static constexpr std::int64_t kFree = INT64_MIN;
};

// Keeps the k best hits seen so far; ties broken by smaller id so results are deterministic.
class TopK {
 public:
  explicit TopK(std::size_t k) : k_(k) { heap_.reserve(std::min<std::size_t>(k, 4096) + 1); }
  // Score a new hit must beat to enter.
  float threshold() const;
  bool full() const { return heap_.size() >= k_; }
  void push(Hit h);
  // Best first.
  std::vector<Hit> take();

 private:
  std::size_t k_;
  std::vector<Hit> heap_;  // min-heap on (score, -id)
};

}  // namespace homelens::index

// An approximate flat index of 8-bit rows: each row is stored as one byte a value on
// its own scale (its minimum and step), a quarter of FlatIndex's bytes and half of
// HalfFlatIndex's, so memory-bound candidate scans read the least. Each row also keeps
// the length of its rounding error, so a scan knows how far off its scores can be
// for the query at hand (Cauchy-Schwarz: |q.(x - x')| <= |q| |x - x'|) and RefineIndex
// rescores exactly just the rows that could change the answer. It keeps no float
// copy, so vector() is always empty. Thread safety: as VectorIndex.
#pragma once

#include "homelens/index/row_index.h"

namespace homelens::index {

class SQ8FlatIndex final : public RowIndex {
 public:
  explicit SQ8FlatIndex(std::size_t dim) : RowIndex(dim) {}
  std::string kind() const override { return "SQ8Flat"; }
  std::span<const float> vector(std::int64_t) const override { return {}; }
  // The largest rounding error of any row stored so far, plus float rounding: the bound
  // for a unit-length query (a scan's own bound, for its query and rows, is usually less).
  float error_bound() const override;

 protected:
  void resize_rows(std::size_t rows) override;
  void reserve_rows(std::size_t rows) override;
  void write_row(std::uint32_t row, const float* v) override;
  void score_block(const float* query, std::size_t start, std::size_t count, float* out) const override;
  float gather(const float* query, const std::uint32_t* rows, std::size_t m, float* out) const override;

 private:
  // How a row's bytes map back to values: value = lo + step * byte; `error` bounds the
  // length of (row - its 8-bit values), rounded up.
  struct Scale {
    float lo = 0, step = 0, error = 0;
  };
  std::vector<std::uint8_t> codes_;  // row_capacity() x dim(), row-major
  std::vector<Scale> scales_;        // one a row
  float max_error_ = 0;              // over every row ever written (removals keep it)
};

}  // namespace homelens::index

// The exact index: float rows in one dense row-major matrix, scanned with BLAS
// (whole index) or the AVX2 gather kernel (candidate lists). Exact answers stay
// affordable below about a million photos. Thread safety: as VectorIndex.
#pragma once

#include "homelens/index/row_index.h"

namespace homelens::index {

class FlatIndex final : public RowIndex {
 public:
  explicit FlatIndex(std::size_t dim) : RowIndex(dim) {}
  std::string kind() const override { return "Flat"; }
  std::span<const float> vector(std::int64_t id) const override;
  float error_bound() const override { return 0.0f; }

 protected:
  void resize_rows(std::size_t rows) override { data_.resize(rows * dim()); }
  void reserve_rows(std::size_t rows) override { data_.reserve(rows * dim()); }
  void write_row(std::uint32_t row, const float* v) override;
  void score_block(const float* query, std::size_t start, std::size_t count, float* out) const override;
  float gather(const float* query, const std::uint32_t* rows, std::size_t m, float* out) const override;

 private:
  std::vector<float> data_;  // row_capacity() x dim(), row-major
};

}  // namespace homelens::index

// An approximate flat index: rows kept in IEEE half precision only, half the
// bytes of FlatIndex, so memory-bound scans take about half the time. Each score
// is within kHalfDotError (about 5e-4) of the exact inner product for unit-length
// vectors; RefineIndex rescores what matters exactly. Needs a CPU with F16C
// (supported()); it keeps no float copy, so vector() is always empty.
// Thread safety: as VectorIndex.
#pragma once

#include "homelens/index/row_index.h"

namespace homelens::index {

class HalfFlatIndex final : public RowIndex {
 public:
  // Whether this CPU converts half floats in hardware; the index needs it.
  static bool supported();
  explicit HalfFlatIndex(std::size_t dim) : RowIndex(dim) {}
  std::string kind() const override { return "HalfFlat"; }
  std::span<const float> vector(std::int64_t) const override { return {}; }
  float error_bound() const override;

 protected:
  void resize_rows(std::size_t rows) override { half_.resize(rows * dim()); }
  void reserve_rows(std::size_t rows) override { half_.reserve(rows * dim()); }
  void write_row(std::uint32_t row, const float* v) override;
  void score_block(const float* query, std::size_t start, std::size_t count, float* out) const override;
  float gather(const float* query, const std::uint32_t* rows, std::size_t m, float* out) const override;

 private:
  std::vector<std::uint16_t> half_;  // row_capacity() x dim(), row-major
};

}  // namespace homelens::index

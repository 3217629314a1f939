#include "homelens/index/half_flat_index.h"

#include "homelens/index/kernels.h"

namespace homelens::index {

bool HalfFlatIndex::supported() { return has_half_kernels(); }

float HalfFlatIndex::error_bound() const { return kHalfDotError; }

void HalfFlatIndex::write_row(std::uint32_t row, const float* v) {
  std::uint16_t* dst = half_.data() + static_cast<std::size_t>(row) * dim();
  if (v) to_half(v, dst, dim());
  else std::fill(dst, dst + dim(), std::uint16_t{0});
}

void HalfFlatIndex::score_block(const float* query, std::size_t start, std::size_t count, float* out) const {
  dot_block_half(query, half_.data() + start * dim(), dim(), count, out);
}

float HalfFlatIndex::gather(const float* query, const std::uint32_t* rows, std::size_t m, float* out) const {
  dot_rows_half(query, half_.data(), dim(), rows, m, out);
  return kHalfDotError;
}

}  // namespace homelens::index

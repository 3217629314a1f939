#include "homelens/index/flat_index.h"

#include <cblas.h>

#include "homelens/index/kernels.h"

namespace homelens::index {

std::span<const float> FlatIndex::vector(std::int64_t id) const {
  const auto row = row_of(id);
  if (!row) return {};
  return {data_.data() + static_cast<std::size_t>(*row) * dim(), dim()};
}

void FlatIndex::write_row(std::uint32_t row, const float* v) {
  float* dst = data_.data() + static_cast<std::size_t>(row) * dim();
  if (v) std::copy(v, v + dim(), dst);
  else std::fill(dst, dst + dim(), 0.0f);
}

void FlatIndex::score_block(const float* query, std::size_t start, std::size_t count, float* out) const {
  const int d = static_cast<int>(dim());
  cblas_sgemv(CblasRowMajor, CblasNoTrans, static_cast<int>(count), d, 1.0f, data_.data() + start * dim(), d,
              query, 1, 0.0f, out, 1);
}

float FlatIndex::gather(const float* query, const std::uint32_t* rows, std::size_t m, float* out) const {
  dot_rows(query, data_.data(), dim(), rows, m, out);
  return 0.0f;
}

}  // namespace homelens::index

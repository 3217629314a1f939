#include "homelens/index/sq8_flat_index.h"

#include <algorithm>
#include <cmath>

#include "homelens/index/kernels.h"

namespace homelens::index {

namespace {

// Float rounding of a score and of the exact score it is compared with, for unit-length
// vectors: each is a sum of 1280 products in four float accumulators (about 330 terms
// each, so at most 330 * 2^-24 of the sum of |products| <= 1), and once more for the
// scale. Small next to the rows' 8-bit errors (about 1e-2).
constexpr float kRounding = 4e-5f;

struct QuerySums {
  float sum = 0;   // of the values, for the rows' offsets
  float norm = 0;  // Euclidean length, for the error bound
};

QuerySums sums(const float* q, std::size_t dim) {
  double s = 0, s2 = 0;
  for (std::size_t i = 0; i < dim; ++i) {
    s += q[i];
    s2 += static_cast<double>(q[i]) * q[i];
  }
  return {static_cast<float>(s), static_cast<float>(std::sqrt(s2))};
}

}  // namespace

float SQ8FlatIndex::error_bound() const { return max_error_ + kRounding; }

void SQ8FlatIndex::resize_rows(std::size_t rows) {
  codes_.resize(rows * dim());
  scales_.resize(rows);
}

void SQ8FlatIndex::reserve_rows(std::size_t rows) {
  codes_.reserve(rows * dim());
  scales_.reserve(rows);
}

void SQ8FlatIndex::write_row(std::uint32_t row, const float* v) {
  std::uint8_t* dst = codes_.data() + static_cast<std::size_t>(row) * dim();
  Scale& s = scales_[row];
  if (!v) {
    std::fill(dst, dst + dim(), std::uint8_t{0});
    s = {};
    return;
  }
  const auto [lo, hi] = std::minmax_element(v, v + dim());
  s.lo = *lo;
  s.step = (*hi - *lo) / 255.0f;
  double err2 = 0;
  for (std::size_t i = 0; i < dim(); ++i) {
    const float c = s.step > 0 ? std::clamp(std::nearbyint((v[i] - s.lo) / s.step), 0.0f, 255.0f) : 0.0f;
    dst[i] = static_cast<std::uint8_t>(c);
    const double back = static_cast<double>(s.lo) + static_cast<double>(s.step) * c;
    err2 += (v[i] - back) * (v[i] - back);
  }
  // Rounded up, so that it stays a bound.
  s.error = std::nextafter(static_cast<float>(std::sqrt(err2) * (1 + 1e-6)), INFINITY);
  max_error_ = std::max(max_error_, s.error);
}

void SQ8FlatIndex::score_block(const float* query, std::size_t start, std::size_t count, float* out) const {
  dot_block_u8(query, codes_.data() + start * dim(), dim(), count, out);
  const QuerySums q = sums(query, dim());
  for (std::size_t r = 0; r < count; ++r) out[r] = scales_[start + r].lo * q.sum + scales_[start + r].step * out[r];
}

float SQ8FlatIndex::gather(const float* query, const std::uint32_t* rows, std::size_t m, float* out) const {
  dot_rows_u8(query, codes_.data(), dim(), rows, m, out);
  const QuerySums q = sums(query, dim());
  float worst = 0;
  for (std::size_t j = 0; j < m; ++j) {
    const Scale& s = scales_[rows[j]];
    out[j] = s.lo * q.sum + s.step * out[j];
    worst = std::max(worst, s.error);
  }
  return m ? worst * q.norm + kRounding : 0.0f;
}

}  // namespace homelens::index

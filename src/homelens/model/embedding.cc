#include "homelens/model/embedding.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace homelens::model {

void l2_normalize(std::span<float> v) {
  double s = 0;
  for (float x : v) s += static_cast<double>(x) * x;
  if (s <= 0) return;
  const float inv = static_cast<float>(1.0 / std::sqrt(s));
  for (float& x : v) x *= inv;
}

float dot(std::span<const float> a, std::span<const float> b) {
  float s = 0;
  const std::size_t n = std::min(a.size(), b.size());
  for (std::size_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

std::vector<std::uint8_t> binary_code(std::span<const float> v, std::span<const float> centres) {
  std::vector<std::uint8_t> code((v.size() + 7) / 8, 0);
  for (std::size_t i = 0; i < v.size(); ++i)
    if (v[i] > centres[i]) code[i / 8] |= static_cast<std::uint8_t>(1u << (i % 8));
  return code;
}

int hamming(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) {
  int d = 0;
  const std::size_t n = std::min(a.size(), b.size());
  for (std::size_t i = 0; i < n; ++i) d += std::popcount(static_cast<unsigned>(a[i] ^ b[i]));
  return d;
}

std::vector<float> compute_centres(std::span<const float> rows, std::size_t n, std::size_t dim) {
  std::vector<float> centres(dim, 0.0f);
  if (n == 0) return centres;
  std::vector<float> column(n);
  for (std::size_t d = 0; d < dim; ++d) {
    for (std::size_t i = 0; i < n; ++i) column[i] = rows[i * dim + d];
    auto mid = column.begin() + static_cast<std::ptrdiff_t>(n / 2);
    std::nth_element(column.begin(), mid, column.end());
    centres[d] = *mid;
  }
  return centres;
}

}  // namespace homelens::model

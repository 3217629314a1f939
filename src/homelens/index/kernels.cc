#include "homelens/index/kernels.h"

#include <immintrin.h>

namespace homelens::index {

namespace {

float dot_scalar(const float* a, const float* b, std::size_t n) {
  float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  std::size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += a[i] * b[i];
    s1 += a[i + 1] * b[i + 1];
    s2 += a[i + 2] * b[i + 2];
    s3 += a[i + 3] * b[i + 3];
  }
  for (; i < n; ++i) s0 += a[i] * b[i];
  return (s0 + s1) + (s2 + s3);
}

__attribute__((target("avx2,fma"))) float dot_avx2(const float* a, const float* b, std::size_t n) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  __m256 acc2 = _mm256_setzero_ps(), acc3 = _mm256_setzero_ps();
  std::size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
    acc2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), acc2);
    acc3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), acc3);
  }
  for (; i + 8 <= n; i += 8)
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
  __m256 acc = _mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3));
  __m128 lo = _mm256_castps256_ps128(acc), hi = _mm256_extractf128_ps(acc, 1);
  __m128 s = _mm_add_ps(lo, hi);
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 0x55));
  float r = _mm_cvtss_f32(s);
  for (; i < n; ++i) r += a[i] * b[i];
  return r;
}

__attribute__((target("avx2,fma"))) void dot_rows_avx2(const float* q, const float* base,
                                                       std::size_t dim, const std::uint32_t* rows,
                                                       std::size_t m, float* out) {
  for (std::size_t j = 0; j < m; ++j) {
    // Prefetch a later row's start: candidate rows are scattered across the matrix.
    if (j + 4 < m) _mm_prefetch(reinterpret_cast<const char*>(base + rows[j + 4] * dim), _MM_HINT_T0);
    out[j] = dot_avx2(q, base + static_cast<std::size_t>(rows[j]) * dim, dim);
  }
}

bool has_avx2() {
  static const bool yes = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return yes;
}

}  // namespace

float dot(const float* a, const float* b, std::size_t n) {
  return has_avx2() ? dot_avx2(a, b, n) : dot_scalar(a, b, n);
}

void dot_rows(const float* query, const float* base, std::size_t dim, const std::uint32_t* rows,
              std::size_t m, float* out) {
  if (has_avx2()) return dot_rows_avx2(query, base, dim, rows, m, out);
  for (std::size_t j = 0; j < m; ++j)
    out[j] = dot_scalar(query, base + static_cast<std::size_t>(rows[j]) * dim, dim);
}

}  // namespace homelens::index

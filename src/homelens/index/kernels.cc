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

__attribute__((target("avx2"))) inline float hsum(__m256 acc) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 0x55));
  return _mm_cvtss_f32(s);
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
  float r = hsum(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
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

__attribute__((target("avx2,f16c"))) inline __m256 half8(const std::uint16_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

__attribute__((target("avx2,fma,f16c"))) float dot_half_avx2(const float* a, const std::uint16_t* b,
                                                              std::size_t n) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  __m256 acc2 = _mm256_setzero_ps(), acc3 = _mm256_setzero_ps();
  std::size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), half8(b + i), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), half8(b + i + 8), acc1);
    acc2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), half8(b + i + 16), acc2);
    acc3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), half8(b + i + 24), acc3);
  }
  for (; i + 8 <= n; i += 8) acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), half8(b + i), acc0);
  float r = hsum(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
  for (; i < n; ++i) r += a[i] * _cvtsh_ss(b[i]);
  return r;
}

__attribute__((target("avx2,fma,f16c"))) void dot_rows_half_avx2(const float* q, const std::uint16_t* base,
                                                                 std::size_t dim, const std::uint32_t* rows,
                                                                 std::size_t m, float* out) {
  for (std::size_t j = 0; j < m; ++j) {
    if (j + 4 < m) _mm_prefetch(reinterpret_cast<const char*>(base + rows[j + 4] * dim), _MM_HINT_T0);
    out[j] = dot_half_avx2(q, base + static_cast<std::size_t>(rows[j]) * dim, dim);
  }
}

__attribute__((target("avx2,fma,f16c"))) void dot_block_half_avx2(const float* q, const std::uint16_t* base,
                                                                  std::size_t dim, std::size_t m, float* out) {
  for (std::size_t j = 0; j < m; ++j) out[j] = dot_half_avx2(q, base + j * dim, dim);
}

__attribute__((target("avx2,f16c"))) void to_half_f16c(const float* in, std::uint16_t* out, std::size_t n) {
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i),
                     _mm256_cvtps_ph(_mm256_loadu_ps(in + i), _MM_FROUND_TO_NEAREST_INT));
  for (; i < n; ++i) out[i] = _cvtss_sh(in[i], _MM_FROUND_TO_NEAREST_INT);
}

bool has_avx2() {
  static const bool yes = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return yes;
}

}  // namespace

bool has_half_kernels() {
  static const bool yes = has_avx2() && __builtin_cpu_supports("f16c");
  return yes;
}

void to_half(const float* in, std::uint16_t* out, std::size_t n) { to_half_f16c(in, out, n); }

void dot_rows_half(const float* query, const std::uint16_t* base, std::size_t dim,
                   const std::uint32_t* rows, std::size_t m, float* out) {
  dot_rows_half_avx2(query, base, dim, rows, m, out);
}

void dot_block_half(const float* query, const std::uint16_t* base, std::size_t dim, std::size_t m,
                    float* out) {
  dot_block_half_avx2(query, base, dim, m, out);
}

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

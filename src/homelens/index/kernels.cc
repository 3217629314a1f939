#include "homelens/index/kernels.h"

#include <immintrin.h>

#include <algorithm>

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

// Sum of a[i] * value(b[i]) where eight values at a time are widened to floats by Load
// (exactly: halves and bytes are floats' subsets), the rest one by One.
template <typename T, __m256 (*Load)(const T*), float (*One)(T)>
__attribute__((target("avx2,fma,f16c"))) inline float dot_widened_avx2(const float* a, const T* b, std::size_t n) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  __m256 acc2 = _mm256_setzero_ps(), acc3 = _mm256_setzero_ps();
  std::size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), Load(b + i), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), Load(b + i + 8), acc1);
    acc2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), Load(b + i + 16), acc2);
    acc3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), Load(b + i + 24), acc3);
  }
  for (; i + 8 <= n; i += 8) acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), Load(b + i), acc0);
  float r = hsum(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
  for (; i < n; ++i) r += a[i] * One(b[i]);
  return r;
}

__attribute__((target("avx2,f16c"))) inline float half1(std::uint16_t h) { return _cvtsh_ss(h); }

__attribute__((target("avx2,fma,f16c"))) float dot_half_avx2(const float* a, const std::uint16_t* b,
                                                              std::size_t n) {
  return dot_widened_avx2<std::uint16_t, half8, half1>(a, b, n);
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

// Sum of q[i] * c[i] for bytes c: the 8-bit rows' kernel. Bytes widen to int32 and then to
// float exactly, so the only rounding is the float accumulation's.
float dot_u8_scalar(const float* q, const std::uint8_t* c, std::size_t n) {
  float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  std::size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += q[i] * c[i];
    s1 += q[i + 1] * c[i + 1];
    s2 += q[i + 2] * c[i + 2];
    s3 += q[i + 3] * c[i + 3];
  }
  for (; i < n; ++i) s0 += q[i] * c[i];
  return (s0 + s1) + (s2 + s3);
}

__attribute__((target("avx2"))) inline __m256 u8x8(const std::uint8_t* p) {
  return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
}

inline float byte1(std::uint8_t c) { return c; }

__attribute__((target("avx2,fma,f16c"))) float dot_u8_avx2(const float* q, const std::uint8_t* c, std::size_t n) {
  return dot_widened_avx2<std::uint8_t, u8x8, byte1>(q, c, n);
}

// Rows ahead of the one being scored whose lines are requested: about the memory
// latency divided by the time to score a row.
constexpr std::size_t kPrefetchRowsAhead = 3;

// Prefetches a whole row: a candidate row is a jump the hardware prefetcher cannot
// foresee, and asking for all of its lines at once keeps many misses in flight.
// (Measured on 10,000 random rows of 50,000: 2.98 -> 1.85 ms for 8-bit rows; for float and
// half rows, whose rows are two and four times longer, it cost more than it saved.) Into
// the outer caches, not L1: 20 lines a row, 3 rows ahead, are more misses than L1 tracks at
// once (one thread, caches flushed before each scan, median of 15: 10,000 random rows of
// 50,000 2.65 -> 2.12 ms; 25,000 random rows of 50,000 5.27 -> 4.21 ms).
inline void prefetch_row(const std::uint8_t* p, std::size_t bytes) {
  for (std::size_t b = 0; b < bytes; b += 64) __builtin_prefetch(p + b, 0, 1);
}

__attribute__((target("avx2,fma,f16c"))) void dot_rows_u8_avx2(const float* q, const std::uint8_t* base,
                                                          std::size_t dim, const std::uint32_t* rows,
                                                          std::size_t m, float* out) {
  for (std::size_t j = 0; j < std::min(m, kPrefetchRowsAhead); ++j)
    prefetch_row(base + static_cast<std::size_t>(rows[j]) * dim, dim);
  for (std::size_t j = 0; j < m; ++j) {
    if (j + kPrefetchRowsAhead < m)
      prefetch_row(base + static_cast<std::size_t>(rows[j + kPrefetchRowsAhead]) * dim, dim);
    out[j] = dot_u8_avx2(q, base + static_cast<std::size_t>(rows[j]) * dim, dim);
  }
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

bool has_byte_kernels() { return has_half_kernels(); }

void to_half(const float* in, std::uint16_t* out, std::size_t n) { to_half_f16c(in, out, n); }

void dot_rows_half(const float* query, const std::uint16_t* base, std::size_t dim,
                   const std::uint32_t* rows, std::size_t m, float* out) {
  dot_rows_half_avx2(query, base, dim, rows, m, out);
}

void dot_block_half(const float* query, const std::uint16_t* base, std::size_t dim, std::size_t m,
                    float* out) {
  dot_block_half_avx2(query, base, dim, m, out);
}

void dot_rows_u8(const float* query, const std::uint8_t* base, std::size_t dim, const std::uint32_t* rows,
                 std::size_t m, float* out) {
  if (has_byte_kernels()) return dot_rows_u8_avx2(query, base, dim, rows, m, out);
  for (std::size_t j = 0; j < m; ++j)
    out[j] = dot_u8_scalar(query, base + static_cast<std::size_t>(rows[j]) * dim, dim);
}

void dot_block_u8(const float* query, const std::uint8_t* base, std::size_t dim, std::size_t m, float* out) {
  const bool avx2 = has_byte_kernels();
  for (std::size_t j = 0; j < m; ++j)
    out[j] = avx2 ? dot_u8_avx2(query, base + j * dim, dim) : dot_u8_scalar(query, base + j * dim, dim);
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

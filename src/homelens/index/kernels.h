// Inner-product kernels for the flat indexes' scans. Dispatch picks AVX-512/AVX2+FMA at
// run time, so one binary is fast on new CPUs and still runs on old ones.
#pragma once

#include <cstddef>
#include <cstdint>

namespace homelens::index {

// Sum of a[i]*b[i] for i < n.
float dot(const float* a, const float* b, std::size_t n);

// out[j] = dot(query, base + rows[j] * dim) for each of the m rows: the gather
// scan behind candidate lists. Rows are read in the order given.
void dot_rows(const float* query, const float* base, std::size_t dim, const std::uint32_t* rows,
              std::size_t m, float* out);

// True when the CPU converts half floats in hardware (F16C with AVX2/FMA): the
// half-precision copy below is only kept where it is fast to read.
bool has_half_kernels();

// True when the CPU has AVX2, FMA and F16C (the half kernels' set): the 8-bit rows'
// kernels below run vectorized (they also run without, several times slower).
bool has_byte_kernels();

// Rounds n floats to IEEE half precision; needs has_half_kernels().
void to_half(const float* in, std::uint16_t* out, std::size_t n);

// As dot_rows over a half-precision copy of the rows: half the bytes read, so a
// large gather scan is twice as fast, at a cost of at most kHalfDotError in the
// inner product of unit vectors (each value rounded to 11 significant bits).
// Needs has_half_kernels().
void dot_rows_half(const float* query, const std::uint16_t* base, std::size_t dim,
                   const std::uint32_t* rows, std::size_t m, float* out);

// As dot_rows_half over the m consecutive rows starting at base: the sequential
// whole-index scan. Needs has_half_kernels().
void dot_block_half(const float* query, const std::uint16_t* base, std::size_t dim, std::size_t m,
                    float* out);

// A bound on |dot_rows_half - dot_rows| for unit-length query and rows: half
// rounding moves each product by at most 2^-11 of its size, and the sizes sum to
// at most 1 (Cauchy-Schwarz); the rest covers float accumulation.
inline constexpr float kHalfDotError = 1.0f / 2048 + 1e-5f;

// out[j] = sum of query[i] * c[i] over the dim bytes c of row rows[j] of base: the 8-bit
// rows' gather (SQ8FlatIndex turns it into a score). Rows are read in the order given,
// each prefetched whole a few rows ahead.
void dot_rows_u8(const float* query, const std::uint8_t* base, std::size_t dim, const std::uint32_t* rows,
                 std::size_t m, float* out);

// As dot_rows_u8 over the m consecutive rows starting at base: the whole-index scan.
void dot_block_u8(const float* query, const std::uint8_t* base, std::size_t dim, std::size_t m, float* out);

}  // namespace homelens::index

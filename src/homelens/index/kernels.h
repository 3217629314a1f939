// Inner-product kernels for the exact scans. Dispatch picks AVX-512/AVX2+FMA at
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

}  // namespace homelens::index

// Embedding arithmetic shared by indexing and search: L2 normalization and the
// compact binary code (one bit a dimension) whose Hamming distance tracks cosine.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace homelens::model {

// Scales v to unit length in place (a zero vector stays zero).
void l2_normalize(std::span<float> v);

// Dot product (cosine for unit vectors).
float dot(std::span<const float> a, std::span<const float> b);

// Bit i is set when v[i] > centres[i]; bits packed LSB-first, ceil(n/8) bytes.
// Thresholding at per-dimension centres (not 0) matters: post-ReLU embeddings
// are all >= 0, so a zero threshold would set nearly every bit.
std::vector<std::uint8_t> binary_code(std::span<const float> v, std::span<const float> centres);

// Number of differing bits.
int hamming(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b);

// Per-dimension median of `n` row vectors of size `dim` (row-major), the
// threshold that splits each bit about evenly over the corpus.
std::vector<float> compute_centres(std::span<const float> rows, std::size_t n, std::size_t dim);

}  // namespace homelens::model

// Helpers the benchmarks share.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "homelens/core/result.h"
#include "homelens/model/model_spec.h"
#include "homelens/store/store.h"

namespace homelens::bench {

// "L<n>", the synthetic listing ids (built without operator+, which trips GCC 12's -Wrestrict).
inline std::string listing_name(int n) {
  std::string s = std::to_string(n);
  s.insert(s.begin(), 'L');
  return s;
}

// The p-quantile (0..1) of the samples, nearest rank; 0 for none.
inline double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * (v.size() - 1) + 0.5))];
}

// The default model's embeddings in the table at db, one after another; sets dim.
inline Result<std::vector<float>> load_embeddings(const std::string& db, std::size_t& dim) {
  auto store = store::open_store(db);
  if (!store) return store.error();
  std::vector<float> real;
  dim = 0;
  auto st = (*store)->scan(model::kDefaultModelId, [&](const store::ImageWithPhoto& r) {
    dim = r.photo.embedding.size();
    real.insert(real.end(), r.photo.embedding.begin(), r.photo.embedding.end());
  });
  if (!st) return st.error();
  if (dim == 0) return make_error(db, std::string("no embeddings of ") + model::kDefaultModelId);
  return real;
}

// Synthetic vector i drawn around the real ones: real[i * 2654435761 % R] + N(0, noise^2 / d)
// per value, normalized. The same (seed, i) always gives the same vector.
inline void draw_around(const std::vector<float>& real, std::size_t dim, std::size_t i, float noise,
                        std::uint64_t seed, float* out) {
  const std::size_t r = real.size() / dim;
  std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ull + i);
  std::normal_distribution<float> g(0.0f, noise / std::sqrt(static_cast<float>(dim)));
  const float* base = &real[(i * 2654435761ull % r) * dim];
  double norm = 0;
  for (std::size_t j = 0; j < dim; ++j) {
    out[j] = base[j] + g(rng);
    norm += double(out[j]) * out[j];
  }
  const float inv = static_cast<float>(1.0 / std::sqrt(norm));
  for (std::size_t j = 0; j < dim; ++j) out[j] *= inv;
}

}  // namespace homelens::bench

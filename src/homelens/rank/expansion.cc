#include "homelens/rank/expansion.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "homelens/model/embedding.h"

namespace homelens::rank {

namespace {

void add_weighted(std::vector<float>& out, std::span<const float> row, float cosine, double alpha) {
  const auto w = static_cast<float>(std::pow(std::max(cosine, 0.0f), alpha));
  for (std::size_t j = 0; j < out.size(); ++j) out[j] += w * row[j];
}

}  // namespace

bool outside_heads_domain(const store::Tags& tags) {
  return !tags.heads_id.empty() && tags.room.empty() && tags.style.empty() && tags.stories.empty();
}

std::vector<float> expand_query(const index::VectorIndex& index, std::span<const float> query,
                                const QueryExpansion& options,
                                const std::function<bool(std::int64_t)>& skip) {
  std::vector<float> out(query.begin(), query.end());
  if (options.neighbours == 0 || query.size() != index.dim()) return out;
  const auto hits = index.search(query, options.neighbours * 5);
  std::size_t used = 0;
  for (const index::Hit& h : hits) {
    if (used == options.neighbours) break;
    if (skip && skip(h.id)) continue;
    const auto row = index.vector(h.id);
    if (row.size() != out.size()) continue;
    // The stored row's own cosine, not the hit's score: an approximate index scores coarsely.
    add_weighted(out, row, model::dot(query, row), options.alpha);
    ++used;
  }
  model::l2_normalize(out);
  return out;
}

std::vector<float> expand_query(std::span<const float> rows, std::size_t dim,
                                std::span<const float> query, const QueryExpansion& options,
                                std::ptrdiff_t self) {
  std::vector<float> out(query.begin(), query.end());
  const std::size_t n = dim == 0 ? 0 : rows.size() / dim;
  if (options.neighbours == 0 || query.size() != dim || n == 0) return out;
  std::vector<float> cos(n);
  for (std::size_t i = 0; i < n; ++i) cos[i] = model::dot(query, rows.subspan(i * dim, dim));
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  if (self >= 0 && static_cast<std::size_t>(self) < n) order.erase(order.begin() + self);
  const std::size_t k = std::min(options.neighbours, order.size());
  // Ties keep the lower row first, as a stable sort would.
  std::partial_sort(
      order.begin(), order.begin() + static_cast<std::ptrdiff_t>(k), order.end(),
      [&](std::size_t a, std::size_t b) { return cos[a] > cos[b] || (cos[a] == cos[b] && a < b); });
  for (std::size_t i = 0; i < k; ++i)
    add_weighted(out, rows.subspan(order[i] * dim, dim), cos[order[i]], options.alpha);
  model::l2_normalize(out);
  return out;
}

}  // namespace homelens::rank

#include "homelens/index/exact_index.h"

#include <cblas.h>

#include "homelens/index/kernels.h"

#include <algorithm>
#include <limits>
#include <string>

namespace homelens::index {

namespace {
// Worse-than order for the min-heap: lower score, or equal score and larger id.
bool worse(const Hit& a, const Hit& b) {
  return a.score < b.score || (a.score == b.score && a.id > b.id);
}
struct HeapCmp {
  bool operator()(const Hit& a, const Hit& b) const { return worse(b, a); }
};
// Rows scored per BLAS call: big enough to stream at memory bandwidth, small
// enough that the scores stay in L1/L2 while the heap consumes them.
constexpr std::size_t kBlockRows = 2048;
}  // namespace

float TopK::threshold() const {
  return full() ? heap_.front().score : -std::numeric_limits<float>::infinity();
}

void TopK::push(Hit h) {
  if (k_ == 0) return;
  if (!full()) {
    heap_.push_back(h);
    std::push_heap(heap_.begin(), heap_.end(), HeapCmp{});
  } else if (worse(heap_.front(), h)) {
    std::pop_heap(heap_.begin(), heap_.end(), HeapCmp{});
    heap_.back() = h;
    std::push_heap(heap_.begin(), heap_.end(), HeapCmp{});
  }
}

std::vector<Hit> TopK::take() {
  std::vector<Hit> out = std::move(heap_);
  std::sort(out.begin(), out.end(), [](const Hit& a, const Hit& b) { return worse(b, a); });
  heap_.clear();
  return out;
}

ExactIndex::ExactIndex(std::size_t dim) : dim_(dim), half_enabled_(has_half_kernels()) {}

void ExactIndex::reserve(std::size_t n) {
  data_.reserve(n * dim_);
  if (half_enabled_) half_.reserve(n * dim_);
  ids_.reserve(n);
  row_of_.reserve(n);
}

Status ExactIndex::add(std::int64_t id, std::span<const float> vector) {
  if (vector.size() != dim_)
    return make_error("image " + std::to_string(id),
                      "vector has " + std::to_string(vector.size()) + " values, index has " +
                          std::to_string(dim_));
  std::uint32_t row;
  if (auto it = row_of_.find(id); it != row_of_.end()) {
    row = it->second;
  } else if (!free_.empty()) {
    row = free_.back();
    free_.pop_back();
    ids_[row] = id;
  } else {
    row = static_cast<std::uint32_t>(ids_.size());
    ids_.push_back(id);
    data_.resize(data_.size() + dim_);
    if (half_enabled_) half_.resize(half_.size() + dim_);
  }
  std::copy(vector.begin(), vector.end(), data_.begin() + row * dim_);
  if (half_enabled_) to_half(vector.data(), half_.data() + row * dim_, dim_);
  row_of_[id] = row;
  return {};
}

bool ExactIndex::remove(std::int64_t id) {
  auto it = row_of_.find(id);
  if (it == row_of_.end()) return false;
  const std::uint32_t row = it->second;
  ids_[row] = kFree;
  std::fill(data_.begin() + row * dim_, data_.begin() + (row + 1) * dim_, 0.0f);
  if (half_enabled_) std::fill(half_.begin() + row * dim_, half_.begin() + (row + 1) * dim_, 0);
  free_.push_back(row);
  row_of_.erase(it);
  return true;
}

std::optional<std::uint32_t> ExactIndex::row_of(std::int64_t id) const {
  auto it = row_of_.find(id);
  if (it == row_of_.end()) return std::nullopt;
  return it->second;
}

void ExactIndex::dot_rows(std::span<const float> query, std::span<const std::uint32_t> rows,
                          float* out) const {
  index::dot_rows(query.data(), data_.data(), dim_, rows.data(), rows.size(), out);
}

void ExactIndex::dot_rows_half(std::span<const float> query, std::span<const std::uint32_t> rows,
                               float* out) const {
  index::dot_rows_half(query.data(), half_.data(), dim_, rows.data(), rows.size(), out);
}

std::span<const float> ExactIndex::vector(std::int64_t id) const {
  auto it = row_of_.find(id);
  if (it == row_of_.end()) return {};
  return {data_.data() + it->second * dim_, dim_};
}

std::vector<Hit> ExactIndex::search(std::span<const float> query, std::size_t k,
                                    const Accept& accept) const {
  TopK top(k);
  if (query.size() != dim_ || k == 0) return top.take();
  std::vector<float> scores(kBlockRows);
  const std::size_t n = ids_.size();
  for (std::size_t start = 0; start < n; start += kBlockRows) {
    const std::size_t rows = std::min(kBlockRows, n - start);
    cblas_sgemv(CblasRowMajor, CblasNoTrans, static_cast<int>(rows), static_cast<int>(dim_), 1.0f,
                data_.data() + start * dim_, static_cast<int>(dim_), query.data(), 1, 0.0f,
                scores.data(), 1);
    for (std::size_t r = 0; r < rows; ++r) {
      const float s = scores[r];
      if (top.full() && s < top.threshold()) continue;
      const std::int64_t id = ids_[start + r];
      if (id == kFree) continue;
      if (accept && !accept(id)) continue;
      top.push({id, s});
    }
  }
  return top.take();
}

std::vector<Hit> ExactIndex::search_among(std::span<const float> query,
                                          std::span<const std::int64_t> ids, std::size_t k,
                                          const Accept& accept) const {
  TopK top(k);
  if (query.size() != dim_ || k == 0) return top.take();
  std::vector<std::uint32_t> rows;
  rows.reserve(ids.size());
  std::vector<bool> seen(ids_.size(), false);  // a front end may send an id twice
  for (std::int64_t id : ids) {
    auto it = row_of_.find(id);
    if (it == row_of_.end() || seen[it->second]) continue;
    seen[it->second] = true;
    rows.push_back(static_cast<std::uint32_t>(it->second));
  }
  std::vector<float> scores(rows.size());
  index::dot_rows(query.data(), data_.data(), dim_, rows.data(), rows.size(), scores.data());
  for (std::size_t j = 0; j < rows.size(); ++j) {
    const float s = scores[j];
    if (top.full() && s < top.threshold()) continue;
    const std::int64_t id = ids_[rows[j]];
    if (accept && !accept(id)) continue;
    top.push({id, s});
  }
  return top.take();
}

Status ExactIndex::scores(std::span<const float> query, std::span<const std::int64_t> ids,
                          std::vector<float>& out) const {
  if (query.size() != dim_)
    return make_error("query", "vector has " + std::to_string(query.size()) +
                                   " values, index has " + std::to_string(dim_));
  out.assign(ids.size(), std::numeric_limits<float>::quiet_NaN());
  std::vector<std::uint32_t> rows;
  std::vector<std::size_t> where;
  rows.reserve(ids.size());
  where.reserve(ids.size());
  for (std::size_t j = 0; j < ids.size(); ++j) {
    auto it = row_of_.find(ids[j]);
    if (it == row_of_.end()) continue;
    rows.push_back(static_cast<std::uint32_t>(it->second));
    where.push_back(j);
  }
  std::vector<float> s(rows.size());
  index::dot_rows(query.data(), data_.data(), dim_, rows.data(), rows.size(), s.data());
  for (std::size_t j = 0; j < rows.size(); ++j) out[where[j]] = s[j];
  return {};
}

}  // namespace homelens::index

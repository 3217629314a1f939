#include "homelens/index/row_index.h"

#include <limits>
#include <string>
#include <thread>

#include "homelens/index/id_selector.h"

namespace homelens::index {

namespace {
// Rows scored per block of the whole-index scan: big enough to stream at memory
// bandwidth, small enough that the scores stay in L1/L2 while the heap consumes them.
constexpr std::size_t kBlockRows = 2048;
// Candidate lists from which a gather is split over two threads.
constexpr std::size_t kSplitScanAt = 4096;
}  // namespace

void RowIndex::reserve(std::size_t n) {
  reserve_rows(n);
  ids_.reserve(n);
  row_of_.reserve(n);
}

Status RowIndex::add(std::int64_t id, std::span<const float> vector) {
  if (vector.size() != dim_)
    return make_error("image " + std::to_string(id),
                      "vector has " + std::to_string(vector.size()) + " values, index has " +
                          std::to_string(dim_),
                      ErrorCode::kInvalidArgument);
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
    resize_rows(ids_.size());
  }
  write_row(row, vector.data());
  row_of_[id] = row;
  return {};
}

bool RowIndex::remove(std::int64_t id) {
  auto it = row_of_.find(id);
  if (it == row_of_.end()) return false;
  const std::uint32_t row = it->second;
  ids_[row] = kFree;
  write_row(row, nullptr);
  free_.push_back(row);
  row_of_.erase(it);
  return true;
}

std::optional<std::uint32_t> RowIndex::row_of(std::int64_t id) const {
  auto it = row_of_.find(id);
  if (it == row_of_.end()) return std::nullopt;
  return it->second;
}

std::vector<std::uint32_t> RowIndex::rows_of(std::span<const std::int64_t> ids,
                                             const IDSelector* selector) const {
  std::vector<std::uint32_t> rows;
  rows.reserve(ids.size());
  IDSelectorBitmap seen(*this);  // a front end may send an id twice
  for (std::int64_t id : ids) {
    auto it = row_of_.find(id);
    if (it == row_of_.end() || (selector && !selector->is_member_row(it->second, id))) continue;
    if (seen.insert(it->second)) rows.push_back(it->second);
  }
  return rows;
}

float RowIndex::score_rows(std::span<const float> query, std::span<const std::uint32_t> rows,
                           float* out, Pass) const {
  if (query.size() != dim_) {
    std::fill(out, out + rows.size(), std::numeric_limits<float>::quiet_NaN());
    return 0;
  }
  const std::size_t n = rows.size();
  if (n >= kSplitScanAt && std::thread::hardware_concurrency() > 1) {
    const std::size_t half = n / 2;
    float second = 0;
    std::thread helper([&] { second = gather(query.data(), rows.data() + half, n - half, out + half); });
    const float first = gather(query.data(), rows.data(), half, out);
    helper.join();
    return std::max(first, second);
  }
  return gather(query.data(), rows.data(), n, out);
}

void RowIndex::scan(const float* query, TopK& top, float margin, const IDSelector* selector,
                    std::vector<Hit>* near) const {
  std::vector<float> scores(kBlockRows);
  const std::size_t n = ids_.size();
  for (std::size_t start = 0; start < n; start += kBlockRows) {
    const std::size_t rows = std::min(kBlockRows, n - start);
    score_block(query, start, rows, scores.data());
    for (std::size_t r = 0; r < rows; ++r) {
      const float s = scores[r];
      if (top.full() && s < top.threshold() - margin) continue;
      const std::int64_t id = ids_[start + r];
      if (id == kFree) continue;
      if (selector && !selector->is_member_row(static_cast<std::uint32_t>(start + r), id)) continue;
      top.push({id, s});
      if (near) near->push_back({id, s});
    }
  }
}

std::vector<Hit> RowIndex::search(std::span<const float> query, std::size_t k,
                                  const IDSelector* selector) const {
  TopK top(k);
  if (query.size() != dim_ || k == 0) return top.take();
  scan(query.data(), top, 0.0f, selector, nullptr);
  return top.take();
}

std::vector<Hit> RowIndex::search_candidates(std::span<const float> query, std::size_t k,
                                             float margin, const IDSelector* selector) const {
  TopK top(k);
  std::vector<Hit> near;
  if (query.size() != dim_ || k == 0) return near;
  scan(query.data(), top, margin, selector, &near);
  const float cut = top.threshold() - margin;  // the threshold only rose during the scan
  std::erase_if(near, [&](const Hit& h) { return h.score < cut; });
  return near;
}

std::vector<Hit> RowIndex::search_among(std::span<const float> query,
                                        std::span<const std::int64_t> ids, std::size_t k,
                                        const IDSelector* selector) const {
  TopK top(k);
  if (query.size() != dim_ || k == 0) return top.take();
  const std::vector<std::uint32_t> rows = rows_of(ids);
  std::vector<float> scores(rows.size());
  gather(query.data(), rows.data(), rows.size(), scores.data());
  for (std::size_t j = 0; j < rows.size(); ++j) {
    const float s = scores[j];
    if (top.full() && s < top.threshold()) continue;  // the selector only for hits that could enter
    const std::int64_t id = ids_[rows[j]];
    if (selector && !selector->is_member_row(rows[j], id)) continue;
    top.push({id, s});
  }
  return top.take();
}

}  // namespace homelens::index

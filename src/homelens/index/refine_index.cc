#include "homelens/index/refine_index.h"

#include <string>

#include "homelens/index/id_selector.h"

namespace homelens::index {

namespace {
// Candidate lists from which kFast reads the base: below it an exact scan is
// already well under a millisecond and a second pass would cost more than it saves.
constexpr std::size_t kFastScanAt = 2048;
}  // namespace

RefineIndex::RefineIndex(std::unique_ptr<VectorIndex> base) : base_(std::move(base)), refine_(base_->dim()) {}

Status RefineIndex::add(std::int64_t id, std::span<const float> vector) {
  if (auto st = refine_.add(id, vector); !st) return st;
  if (auto st = base_->add(id, vector); !st) return st;
  const auto base_row = base_->row_of(id);
  if (base_row && base_row != refine_.row_of(id))
    return make_error("image " + std::to_string(id), "the " + base_->kind() + " base put it in another row",
                      ErrorCode::kInternal);
  return {};
}

bool RefineIndex::remove(std::int64_t id) {
  base_->remove(id);
  return refine_.remove(id);
}

void RefineIndex::reserve(std::size_t n) {
  base_->reserve(n);
  refine_.reserve(n);
}

float RefineIndex::score_rows(std::span<const float> query, std::span<const std::uint32_t> rows, float* out,
                              Pass pass) const {
  const bool base_rows = base_->row_capacity() == refine_.row_capacity();
  const bool fast = pass == Pass::kFastPart || (pass == Pass::kFast && rows.size() >= kFastScanAt);
  if (fast && base_rows)
    return base_->score_rows(query, rows, out, Pass::kFast);
  return refine_.score_rows(query, rows, out, Pass::kExact);
}

std::vector<Hit> RefineIndex::rescore(std::span<const float> query, std::vector<Hit> candidates, std::size_t k,
                                      float margin) const {
  std::vector<std::uint32_t> rows;
  rows.reserve(candidates.size());
  std::erase_if(candidates, [&](const Hit& h) {
    const auto row = refine_.row_of(h.id);
    if (row) rows.push_back(*row);
    return !row;
  });
  std::vector<float> exact(rows.size());
  refine_.score_rows(query, rows, exact.data(), Pass::kExact);
  TopK top(k);
  for (std::size_t j = 0; j < rows.size(); ++j) {
    candidates[j].score = exact[j];
    top.push(candidates[j]);
  }
  if (margin <= 0) return top.take();
  const float cut = top.threshold() - margin;
  std::erase_if(candidates, [&](const Hit& h) { return h.score < cut; });
  return candidates;
}

float RefineIndex::slack() const {
  // A hit whose base score is more than twice the bound below the base's k-th best
  // cannot be in the exact answer (1e-6 more for the rounding of the scores).
  const float error = base_->error_bound();
  return error > 0 ? 2 * error + 1e-6f : 0.0f;
}

std::vector<Hit> RefineIndex::search(std::span<const float> query, std::size_t k,
                                     const IDSelector* selector) const {
  if (query.size() != dim() || k == 0) return {};
  return rescore(query, base_->search_candidates(query, k, slack(), selector), k, 0.0f);
}

std::vector<Hit> RefineIndex::search_candidates(std::span<const float> query, std::size_t k, float margin,
                                                const IDSelector* selector) const {
  if (query.size() != dim() || k == 0) return {};
  return rescore(query, base_->search_candidates(query, k, slack() + margin, selector), k, margin);
}

std::vector<Hit> RefineIndex::search_among(std::span<const float> query, std::span<const std::int64_t> ids,
                                           std::size_t k, const IDSelector* selector) const {
  TopK top(k);
  if (query.size() != dim() || k == 0) return top.take();
  std::vector<std::uint32_t> rows = refine_.rows_of(ids, selector);
  std::vector<float> scores(rows.size());
  // k or fewer: every one is in the answer, so only exact scores are worth computing.
  const Pass pass = rows.size() > k ? Pass::kFast : Pass::kExact;
  if (const float error = score_rows(query, rows, scores.data(), pass); error > 0) {
    std::vector<float> best = scores;
    const float cut = refine_cutoff(best, k, error);
    std::size_t kept = 0;
    for (std::size_t j = 0; j < rows.size(); ++j)
      if (scores[j] >= cut) rows[kept++] = rows[j];
    rows.resize(kept);
    scores.resize(kept);
    refine_.score_rows(query, rows, scores.data(), Pass::kExact);
  }
  for (std::size_t j = 0; j < rows.size(); ++j) top.push({refine_.id_at(rows[j]), scores[j]});
  return top.take();
}

}  // namespace homelens::index

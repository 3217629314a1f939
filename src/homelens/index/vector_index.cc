#include "homelens/index/vector_index.h"

#include <functional>
#include <limits>

namespace homelens::index {

namespace {
// Worse-than order for the min-heap: lower score, or equal score and larger id.
bool worse(const Hit& a, const Hit& b) {
  return a.score < b.score || (a.score == b.score && a.id > b.id);
}
struct HeapCmp {
  bool operator()(const Hit& a, const Hit& b) const { return worse(b, a); }
};
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

float refine_cutoff(std::vector<float>& best, std::size_t k, double error) {
  if (k == 0 || best.size() <= k) return -std::numeric_limits<float>::infinity();
  std::nth_element(best.begin(), best.begin() + static_cast<std::ptrdiff_t>(k - 1), best.end(),
                   std::greater<>());
  // 1e-6 more covers the float rounding of the scores themselves.
  return static_cast<float>(best[k - 1] - 2 * error - 1e-6);
}

}  // namespace homelens::index

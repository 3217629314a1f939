// The vector seam: exact scans now, approximate (FAISS) indexes at scale, all
// answering the same add/search calls.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "homelens/core/result.h"

namespace homelens::index {

struct Hit {
  std::int64_t id;
  float score;  // inner product; cosine for unit vectors
};

// Returns false for ids that must not be returned (the query itself, its listing, ...).
using Accept = std::function<bool(std::int64_t id)>;

class VectorIndex {
 public:
  virtual ~VectorIndex() = default;
  virtual std::size_t dim() const = 0;
  virtual std::size_t size() const = 0;
  // Adds or replaces the vector for id. Errors on a wrong dimension.
  virtual Status add(std::int64_t id, std::span<const float> vector) = 0;
  // Removes id; false when it was not there.
  virtual bool remove(std::int64_t id) = 0;
  // The k best by score, best first, skipping ids that accept rejects.
  virtual std::vector<Hit> search(std::span<const float> query, std::size_t k,
                                  const Accept& accept = nullptr) const = 0;
  // The k best among the given ids only (unknown and repeated ids are ignored).
  virtual std::vector<Hit> search_among(std::span<const float> query,
                                        std::span<const std::int64_t> ids, std::size_t k,
                                        const Accept& accept = nullptr) const = 0;
};

}  // namespace homelens::index

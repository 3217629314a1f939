// The vector seam, shaped like FAISS's Index: exact scans now, approximate
// indexes at scale, all answering the same add/search calls. Implementations:
// FlatIndex (exact float rows); HalfFlatIndex (half precision) and SQ8FlatIndex (8-bit
// rows), both approximate with a stated error bound; RefineIndex (an approximate base
// rescored exactly); AnnIndex (FAISS IVF, ann_index.h). make_index (index_factory.h)
// picks the exact ones from a spec.
//
// Thread safety, for every implementation: const calls may run concurrently;
// add, remove and reserve need exclusive access (the catalogue's write lock).
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "homelens/core/result.h"

namespace homelens::index {

class IDSelector;

struct Hit {
  std::int64_t id;
  float score;  // inner product; cosine for unit vectors
};

// Which scores score_rows computes: kFast may be approximate (within the bound it
// returns), kExact is as exact as the index can be (exact for Flat and Refine).
// kFastPart is kFast for one part of a long list that the caller scans in parts
// (an index that is exact for short lists under kFast is approximate at any length).
enum class Pass { kFast, kFastPart, kExact };

class VectorIndex {
 public:
  virtual ~VectorIndex() = default;
  // The factory spec that makes this kind of index ("Flat", "Refine(SQ8Flat)", ...).
  virtual std::string kind() const = 0;
  virtual std::size_t dim() const = 0;
  virtual std::size_t size() const = 0;
  // Adds or replaces the vector for id. Errors (kInvalidArgument) on a wrong dimension.
  virtual Status add(std::int64_t id, std::span<const float> vector) = 0;
  // Removes id; false when it was not there.
  virtual bool remove(std::int64_t id) = 0;
  // Reserves room for n vectors (avoids regrowth when loading a store).
  virtual void reserve(std::size_t n) = 0;
  // The stored full-precision vector of id; empty for an unknown id or an index that
  // keeps no float copy (HalfFlat or SQ8Flat alone).
  virtual std::span<const float> vector(std::int64_t id) const = 0;

  // The k best by score, best first, ties by smaller id, only ids the selector
  // accepts (nullptr: all). Wrong query dimension or k = 0: nothing.
  virtual std::vector<Hit> search(std::span<const float> query, std::size_t k,
                                  const IDSelector* selector = nullptr) const = 0;
  // As search, among the given ids only (unknown and repeated ids are ignored).
  virtual std::vector<Hit> search_among(std::span<const float> query,
                                        std::span<const std::int64_t> ids, std::size_t k,
                                        const IDSelector* selector = nullptr) const = 0;
  // What a refine step needs from its base: the k best by this index's fast scores
  // plus every other selected id whose fast score is within `margin` of the k-th best
  // (all selected ids when there are fewer than k), in no order. An index without a
  // proven error bound may return just its k best (RefineIndex is then approximate,
  // as FAISS's IndexRefine is).
  virtual std::vector<Hit> search_candidates(std::span<const float> query, std::size_t k,
                                             float margin, const IDSelector* selector) const = 0;

  // Rows: an id keeps its row until removed, and a freed row is reused by a later
  // add, so callers may cache rows (the catalogue's hot rows) to skip the id lookup.
  // An index without rows (row_capacity() 0) still answers search and search_among.
  virtual std::optional<std::uint32_t> row_of(std::int64_t id) const = 0;
  virtual std::size_t row_capacity() const = 0;

  // The bound on |fast score - exact inner product| for unit-length vectors; 0 for
  // an exact index.
  virtual float error_bound() const = 0;
  // out[j] = the score of row rows[j] (rows of this index, query of dim() values);
  // returns the bound of these scores' error (0 when exact, at most error_bound()).
  // Candidate lists score all rows with kFast, then rescore those that can still
  // reach the top k with kExact.
  virtual float score_rows(std::span<const float> query, std::span<const std::uint32_t> rows,
                           float* out, Pass pass) const = 0;
};

// The score a candidate's fast score must reach to possibly be in the exact top k:
// k candidates score at least (k-th best fast score - error) exactly, so one whose
// fast score is more than twice the error below the k-th best cannot beat them.
// `best` holds one fast score per competitor (reordered); -infinity when there are
// at most k of them.
float refine_cutoff(std::vector<float>& best, std::size_t k, double error);

// Keeps the k best hits seen so far; ties broken by smaller id so results are
// deterministic. Not thread-safe (one per search).
class TopK {
 public:
  explicit TopK(std::size_t k) : k_(k) { heap_.reserve(std::min<std::size_t>(k, 4096) + 1); }
  // Score a new hit must beat to enter.
  float threshold() const;
  bool full() const { return heap_.size() >= k_; }
  void push(Hit h);
  // Best first.
  std::vector<Hit> take();

 private:
  std::size_t k_;
  std::vector<Hit> heap_;  // min-heap on (score, -id)
};

}  // namespace homelens::index

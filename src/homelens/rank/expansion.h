// Query expansion for query photos the tag heads leave untagged (outside their domain). Such a
// photo gets no class or tag part, so it ranks by how it looks alone, and a single embedding is
// a noisy view of what it shows: adding its nearest photos in the collection, weighted by how
// near they are, moves it towards what they share (Wang Corel-1k MAP of `final` 0.907 -> 0.93,
// docs/eval.md "two views"). House photos inside the domain are never expanded, so house
// rankings do not change.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "homelens/index/vector_index.h"
#include "homelens/store/records.h"

namespace homelens::rank {

struct QueryExpansion {
  std::size_t neighbours = 10;  // 0: never expand
  double alpha = 3.0;           // neighbour weight = max(cosine, 0)^alpha
};

// Whether the heads judged the photo and found it unlike every photo they learned from
// (HeadSet::tag with a domain model: heads_id set, no room, style or stories).
bool outside_heads_domain(const store::Tags& tags);

// The query plus its `neighbours` nearest rows of `index`, each weighted by max(cos, 0)^alpha,
// L2-normalized. `skip(id)` leaves a row out (the query's own image, byte-identical copies); at
// most 4 x neighbours skipped rows are looked past. An empty index gives the query back.
std::vector<float> expand_query(const index::VectorIndex& index, std::span<const float> query,
                                const QueryExpansion& options,
                                const std::function<bool(std::int64_t)>& skip = {});

// The same over a matrix of rows (row-major, `dim` values each): what the evaluator runs, the
// query being row `self` of the collection (left out), or -1 for none.
std::vector<float> expand_query(std::span<const float> rows, std::size_t dim,
                                std::span<const float> query, const QueryExpansion& options,
                                std::ptrdiff_t self);

}  // namespace homelens::rank

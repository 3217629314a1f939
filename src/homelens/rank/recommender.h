// "Show me homes like this one": the final score of each candidate listing,
//   final = w_class * class + w_tag * tag + w_visual * visual,
// with every part reported so a person can see why a home ranks where it does.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "homelens/rank/catalog.h"

namespace homelens::rank {

struct Weights {
  double cls = 1.0;     // both photos are house fronts: decisive
  double tag = 0.3;     // same style, same stories
  double visual = 1.0;  // cosine of the embeddings mapped to [0, 1]
};

struct ScoreOptions {
  Weights weights;
  // "hard": class = 1 when both front probabilities are >= front_threshold, else 0.
  // "soft": class = front(query) * front(candidate).
  bool soft_class = false;
  double front_threshold = 0.5;
  std::vector<std::string> tags{"style", "stories"};  // which tags count towards tag
  // Style and stories describe a house's exterior: when set, the tag share counts only as
  // much as the class part says both photos are fronts (tag *= class, hard or soft as above).
  bool tags_need_fronts = false;
};

// Listing attribute filters; unset bounds do not filter. A listing without the
// attribute fails a bound on it.
struct Filters {
  std::optional<double> price_min, price_max, beds_min, baths_min, area_min, area_max;
  std::string zip_prefix;
  bool matches(const store::Listing& l) const;
  bool empty() const;
};

// What is known about the query photo.
struct QueryPhoto {
  std::vector<float> vector;             // unit length
  store::Tags tags;
  std::optional<std::int64_t> image_id;  // when it is an indexed image
  std::string listing_id;                // excluded from results; "" for an upload
};

struct RecommendRequest {
  QueryPhoto query;
  // Explicit candidates (as an MLS front end sends); when both are empty the
  // whole index is the candidate set. Unknown ids are ignored.
  std::vector<std::string> listing_ids;
  std::vector<std::int64_t> image_ids;
  Filters filters;
  std::size_t k = 10;
  ScoreOptions scoring;
  // false: a listing is represented by its title photo; true: by its best-scoring photo.
  bool all_photos = false;
  // Whole-index requests only, when the catalogue's index is an active AnnIndex: take
  // the listings of the ann_depth photos nearest the query among the photos of listings
  // that pass the filters from it, instead of every listing; scan exactly when no more
  // than ann_depth photos pass, or fewer than k listings come back. 0: exact.
  std::size_t ann_depth = 0;
  // Skip the cosine of candidates whose class and tag parts cannot reach the top k even
  // with visual = 1 (the answer is the same; false only to check that, or to measure it).
  bool prune = true;
  // Runs f(0..n-1), possibly at once, for a long scan's parts; empty: TBB's shared threads.
  // The engine passes the team that has just embedded an uploaded query, still awake.
  std::function<void(std::size_t n, const std::function<void(std::size_t)>& f)> run_parts;
};

struct Breakdown {
  float cls = 0, tag = 0, visual = 0;
};

struct Recommendation {
  std::string listing_id;
  std::int64_t image_id = 0;
  float score = 0;
  Breakdown breakdown;
  const CatalogEntry* entry = nullptr;  // valid while the catalogue is unchanged
};

struct RecommendResult {
  std::vector<Recommendation> results;  // best first, one per listing, at most k
  std::size_t candidates = 0;           // candidate photos
  bool approximate = false;             // candidates came from the approximate index (ann_depth)
  std::size_t scanned = 0;              // candidate photos whose cosine was computed
};

// Scores one candidate against the query given their cosine (tag gated by class when
// opt.tags_need_fronts).
Breakdown score_parts(const store::Tags& query, const store::Tags& candidate, float cosine,
                      const ScoreOptions& opt);
float final_score(const Breakdown& b, const Weights& w);

// Ranks the candidates. Deterministic: ties go to the smaller image id. Long candidate
// lists are scanned on TBB's threads.
RecommendResult recommend(const Catalog& catalog, const RecommendRequest& request);

}  // namespace homelens::rank

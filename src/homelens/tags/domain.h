// Which photos the heads may judge at all. The heads were trained on house photos (fronts and
// rooms), and a linear head extrapolates with confidence: it calls 87% of mountain photos house
// fronts and gives a beach a style. The domain model keeps k-means centroids of the training
// photos' embeddings; a photo whose nearest centroid is farther than almost every held-out
// training photo's is outside what the heads know, and HeadSet::tag leaves it untagged
// (front 0, no room, style or stories) so that its class and tag parts of the ranking are 0.
// Saved next to the heads as heads/<model>/domain.json.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "homelens/core/result.h"
#include "homelens/tags/logreg.h"

namespace homelens::tags {

inline constexpr const char* kDomainFormat = "homelens-domain";
inline constexpr int kDomainVersion = 1;

struct DomainModel {
  std::string model_id;          // the embedding model it was learned on
  std::size_t dim = 0;           // embedding dimension
  std::vector<float> centroids;  // unit-length rows of dim, row-major
  float threshold = 0;           // a photo is in the domain when its score is at least this
  nlohmann::json training;       // how it was learned (photos, quantile, held-out pass rates)
  std::size_t k() const { return dim == 0 ? 0 : centroids.size() / dim; }
};

struct DomainOptions {
  int centroids = 64;       // k of the k-means (fewer when there are fewer photos)
  double quantile = 0.01;   // share of held-out training photos the threshold leaves out
  int folds = 5;            // folds (by group) that score each photo with centroids not fit on it
  std::uint64_t seed = 1;
};

// The photo's domain score: the cosine to the nearest centroid (embedding unit length).
// Errors (naming the models) when model_id differs from the model's or the size does not match.
Result<float> domain_score(const DomainModel& m, std::span<const float> embedding,
                           const std::string& model_id);

// Fits the centroids to the rows of x (unit-length embeddings of in-domain photos) and sets the
// threshold to options.quantile of the scores the photos get from centroids fit without their
// fold (photos of one group never straddle folds). `source` names each row's origin (for the
// held-out pass rate per source in `training`). Errors when there are fewer than 2 * folds rows
// or the sizes disagree.
Result<DomainModel> learn_domain(const Matrix& x, const std::vector<std::string>& groups,
                                 const std::vector<std::string>& source,
                                 const std::string& model_id, const DomainOptions& options);

// Writes the model as JSON (atomically), creating parent folders.
Status save_domain(const DomainModel& m, const std::string& path);
// Reads a model; errors name the file and say what is wrong.
Result<DomainModel> load_domain(const std::string& path);
// ROOT/MODEL_ID/domain.json.
std::string domain_path(const std::string& root, const std::string& model_id);

}  // namespace homelens::tags

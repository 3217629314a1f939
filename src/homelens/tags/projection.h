// A similarity learned on the hand-labeled houses: a linear projection of the embedding under
// which houses of the same style and stories come close (shrinkage LDA over the style x stories
// classes). Saved next to the tag heads as heads/<model>/projection.json; `eval` measures
// cosine on the projected vector as cnn-proj, cnn-proj-mix and final-proj.
#pragma once

#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "homelens/core/result.h"
#include "homelens/tags/logreg.h"

namespace homelens::tags {

inline constexpr const char* kProjectionFormat = "homelens-projection";
inline constexpr int kProjectionVersion = 1;

struct Projection {
  std::string model_id;               // the embedding model it was learned on
  std::size_t dim = 0;                // embedding dimension
  std::vector<double> mean;           // subtracted before projecting (dim)
  std::vector<double> matrix;         // out_dim() rows of dim, row-major
  std::vector<std::string> classes;   // the classes it separates, informational
  nlohmann::json training;            // how it was learned, informational
  std::size_t out_dim() const { return dim == 0 ? 0 : matrix.size() / dim; }
};

// Learns the LDA projection of the rows of x (one embedding a row) labeled with class indices
// into `classes`: directions maximizing between-class over within-class scatter, the within
// scatter shrunk toward a scaled identity, (1 - s) Sw + s tr(Sw)/dim I. Keeps up to
// classes - 1 directions. Errors when fewer than two classes have examples, when labels and
// rows differ in number, or when shrinkage is outside (0, 1].
Result<Projection> learn_projection(const Matrix& x, const std::vector<int>& labels,
                                    const std::vector<std::string>& classes,
                                    const std::string& model_id, double shrinkage);

// The projected embedding, L2-normalized. Errors (naming the models) when model_id differs
// from the projection's or the dimension does not match.
Result<std::vector<float>> project(const Projection& p, std::span<const float> embedding,
                                   const std::string& model_id);

// Writes the projection as JSON, creating parent folders.
Status save_projection(const Projection& p, const std::string& path);
// Reads a projection; errors name the file and say what is wrong.
Result<Projection> load_projection(const std::string& path);
// ROOT/MODEL_ID/projection.json.
std::string projection_path(const std::string& root, const std::string& model_id);

}  // namespace homelens::tags

// Photo files -> embeddings for training and tagging, reusing an index as a cache: a photo
// whose bytes are already embedded with the model in the store is not decoded again.
#pragma once

#include <string>
#include <vector>

#include "homelens/core/progress.h"
#include "homelens/core/result.h"
#include "homelens/model/model_spec.h"
#include "homelens/tags/logreg.h"

namespace homelens::tags {

struct FeatureOptions {
  std::string db;   // a HomeLens index used as a cache; empty = embed everything
  int workers = 0;  // parallel decode+inference workers; 0 = one per core
  ProgressMode progress = ProgressMode::kQuiet;
  // false: the first unreadable photo fails the call. true: it is reported in
  // Features::errors and its row is left zero.
  bool keep_going = false;
  // Embed the horizontally mirrored photo instead (training-time augmentation). The index is
  // not used as a cache then; flip_cache is (a file of mirrored embeddings by photo hash and
  // model, created or extended as needed; empty = none).
  bool flip = false;
  std::string flip_cache;
};

struct Features {
  Matrix x;                         // one L2-normalized embedding a row, in path order
  // What the heads see (model::Embedding::head_vector), a row per path, when the spec's
  // head_view differs from the embedding; empty otherwise.
  Matrix heads;
  // The rows the tag heads and their domain model learn from and judge: heads, else x.
  const Matrix& head_rows() const { return heads.rows > 0 ? heads : x; }
  std::vector<std::string> sha256;  // of each file's bytes
  std::size_t from_cache = 0;
  std::size_t embedded = 0;
  std::vector<std::string> errors;  // with keep_going: per path, empty when embedded
};

// Embeds every path with the spec's model. Unless keep_going, fails on the first unreadable
// or undecodable photo, naming it: training data must be complete.
Result<Features> embed_paths(const std::vector<std::string>& paths, const model::ModelSpec& spec,
                             const FeatureOptions& options);

}  // namespace homelens::tags

// The steps of the collection-aware CNN methods (cnn-flip, cnn-white, cnn-qe, cnn-dba,
// final-dba): each needs the whole set of photos described together, as cnn-binary does for its
// medians. Parameters follow a method's name: "cnn-dba:n=10,alpha=3".
#pragma once

#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "homelens/eval/expansion.h"
#include "homelens/eval/method.h"

namespace homelens::eval {

struct CollectionOptions {
  bool flip = false;         // average with the mirrored photo's embedding
  std::string flipcache;     // file of mirrored embeddings (tags::FeatureOptions::flip_cache)
  std::string model2;        // a second model spec whose embedding is concatenated ("" = none)
  bool white = false;        // PCA whitening
  WhiteningOptions whitening;
  std::string learn;         // manifest of another collection to learn the whitening on
  int n = 0;                 // neighbours of the expansion (0 = none)
  double alpha = 3.0;
  bool qe = false;           // expand one side of each comparison only (symmetrized), not both
  std::string against;       // manifest whose photos join the collection described
};

// `defaults` with the parameters "key=value,..." applied; fails naming an unknown key or a bad
// value. Keys: flip, flipcache, model2, white, power, shrink, dims, learn, n, alpha,
// mode (qe|dba), against.
Result<CollectionOptions> parse_collection_options(CollectionOptions defaults,
                                                   const std::string& params);

struct CollectionRows {
  cv::Mat base;      // one L2-normalized row a path: embedding after flip, model2 and whitening
  cv::Mat expanded;  // base after the neighbour expansion (a copy of base when n = 0)
};

// The rows of `paths`, every step taken within the collection: the paths plus the photos of
// `against` (a photo in both counts once). Fails naming the first photo that cannot be embedded.
Result<CollectionRows> collection_rows(const std::vector<std::string>& paths,
                                       const MethodContext& ctx, const CollectionOptions& o);

}  // namespace homelens::eval

// Unsupervised post-processing of a collection of CNN embeddings, standard in content-based image
// retrieval: alpha-weighted query expansion / database-side augmentation (Radenovic et al.) and
// PCA whitening. Neither uses labels: both learn only from the collection of photos given.
#pragma once

#include <opencv2/core.hpp>

#include "homelens/core/result.h"

namespace homelens::eval {

// Each row i of `rows` (CV_32F, L2-normalized, one photo a row) becomes the L2-normalized sum of
// itself and its n most similar other rows j, each weighted by max(cos(i, j), 0)^alpha. n = 0
// returns a copy. Rows that are near-copies of each other end up sharing their neighbours.
cv::Mat expand_by_neighbours(const cv::Mat& rows, int n, double alpha);

struct WhiteningOptions {
  int dims = 0;         // components kept (0 = all with a non-negligible eigenvalue)
  double power = 0.5;   // component k is scaled by lambda_k^-power (0.5 = full whitening)
  double shrink = 0.0;  // lambda_k -> (1 - shrink) lambda_k + shrink * mean lambda, in [0, 1]
};

struct Whitening {
  cv::Mat mean;        // 1 x d
  cv::Mat projection;  // k x d: the principal directions, each row scaled
};

// PCA (cv::PCA) of the rows, the eigenvalues raised to -power after shrinkage. Fails when there
// are fewer than 2 rows or an option is out of range.
Result<Whitening> learn_whitening(const cv::Mat& rows, const WhiteningOptions& options);

// (rows - mean) projected and scaled: one k-d row per input row, L2-normalized when `normalize`.
cv::Mat whiten(const Whitening& w, const cv::Mat& rows, bool normalize = true);

}  // namespace homelens::eval

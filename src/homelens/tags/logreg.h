// Regularized multinomial logistic regression on embeddings, trained by full-batch L-BFGS:
// the classifier behind every tag head. Deterministic: the same data and options give the
// same weights bit for bit (no random initialization, fixed summation order).
#pragma once

#include <cstddef>
#include <vector>

namespace homelens::tags {

// Row-major n x dim matrix of features.
struct Matrix {
  std::size_t rows = 0;
  std::size_t cols = 0;
  std::vector<double> data;
  const double* row(std::size_t i) const { return data.data() + i * cols; }
  double* row(std::size_t i) { return data.data() + i * cols; }
};

// Per-dimension z-scoring: z = (x - mean) / scale.
struct Standardizer {
  std::vector<double> mean;
  std::vector<double> scale;  // never 0: constant dimensions get 1
};

// Mean and standard deviation of the rows listed in `rows` (all rows when empty).
Standardizer fit_standardizer(const Matrix& x, const std::vector<std::size_t>& rows = {});
// The rows of x (all when `rows` is empty) standardized, in the order given.
Matrix standardize(const Matrix& x, const Standardizer& s,
                   const std::vector<std::size_t>& rows = {});

struct LogRegOptions {
  double l2 = 1e-2;  // penalty (l2/2)*||W||^2 on weights (not biases)
  int max_iter = 400;
  double grad_tol = 1e-6;  // stop when the gradient's max-norm falls below this
  int history = 10;        // L-BFGS memory
};

// K x dim weights and K biases; logits = W z + b on standardized z.
struct LinearModel {
  std::size_t classes = 0;
  std::size_t dim = 0;
  std::vector<double> weights;  // row-major classes x dim
  std::vector<double> bias;
};

// Minimizes the weighted mean cross-entropy plus the L2 penalty. `labels` are in
// [0, classes); `weights` are per-sample (class weighting is the caller's choice, folded in).
// `init` warm-starts from a model of the same shape (speeds up a regularization path).
LinearModel fit_logreg(const Matrix& z, const std::vector<int>& labels,
                       const std::vector<double>& weights, std::size_t classes,
                       const LogRegOptions& options, const LinearModel* init = nullptr);

// Softmax probabilities, row-major n x classes.
std::vector<double> predict_proba(const LinearModel& m, const Matrix& z);

// Per-sample weights so that every class carries the same total weight (classes absent
// from `labels` get none), times the given base weights.
std::vector<double> balanced_weights(const std::vector<int>& labels, std::size_t classes,
                                     const std::vector<double>& base);

}  // namespace homelens::tags

#include "homelens/tags/projection.h"

#include <cmath>
#include <filesystem>
#include <fstream>

#include <opencv2/core.hpp>

#include "homelens/tags/head.h"

namespace homelens::tags {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

// Eigenvalues below this share of the largest are numerical noise of a rank-deficient matrix.
constexpr double kRankTolerance = 1e-10;

}  // namespace

Result<Projection> learn_projection(const Matrix& x, const std::vector<int>& labels,
                                    const std::vector<std::string>& classes,
                                    const std::string& model_id, double shrinkage) {
  if (!(shrinkage > 0 && shrinkage <= 1))
    return make_error("projection", "shrinkage must be in (0, 1], got " + std::to_string(shrinkage),
                      ErrorCode::kInvalidArgument);
  if (labels.size() != x.rows || x.cols == 0)
    return make_error("projection", std::to_string(labels.size()) + " labels for " +
                                        std::to_string(x.rows) + " embeddings",
                      ErrorCode::kInvalidArgument);
  std::vector<int> count(classes.size(), 0);
  for (int l : labels) {
    if (l < 0 || static_cast<std::size_t>(l) >= classes.size())
      return make_error("projection", "label " + std::to_string(l) + " is not a class index",
                        ErrorCode::kInvalidArgument);
    ++count[static_cast<std::size_t>(l)];
  }
  int present = 0;
  for (int c : count) present += c > 0;
  if (present < 2)
    return make_error("projection", "needs examples of at least two classes, has " +
                                        std::to_string(present),
                      ErrorCode::kInvalidArgument);

  const int n = static_cast<int>(x.rows), d = static_cast<int>(x.cols);
  cv::Mat X(n, d, CV_64F, const_cast<double*>(x.data.data()));
  cv::Mat mu;
  cv::reduce(X, mu, 0, cv::REDUCE_AVG);
  cv::Mat Xc = X - cv::repeat(mu, n, 1);

  // The scatter matrices live in the span of the centred rows (at most n-1 of the d
  // dimensions); outside it the shrunk within scatter is a multiple of the identity and the
  // between scatter is zero, so no discriminant direction leaves it. Solving in an orthonormal
  // basis of that span is exact and costs n x n eigenproblems instead of d x d ones.
  cv::Mat gram = Xc * Xc.t(), gram_val, gram_vec;
  cv::eigen(gram, gram_val, gram_vec);  // descending; rows are eigenvectors
  int r = 0;
  while (r < n && gram_val.at<double>(r) > kRankTolerance * gram_val.at<double>(0)) ++r;
  if (r == 0) return make_error("projection", "all embeddings are identical");
  cv::Mat inv_sqrt(r, r, CV_64F, cv::Scalar(0));
  for (int i = 0; i < r; ++i) inv_sqrt.at<double>(i, i) = 1.0 / std::sqrt(gram_val.at<double>(i));
  cv::Mat basis = Xc.t() * gram_vec.rowRange(0, r).t() * inv_sqrt;  // d x r, orthonormal
  cv::Mat z = Xc * basis;                                            // n x r

  cv::Mat means(static_cast<int>(classes.size()), r, CV_64F, cv::Scalar(0));
  for (int i = 0; i < n; ++i) means.row(labels[static_cast<std::size_t>(i)]) += z.row(i);
  cv::Mat sb(r, r, CV_64F, cv::Scalar(0)), sw(r, r, CV_64F, cv::Scalar(0));
  for (std::size_t c = 0; c < classes.size(); ++c) {
    if (count[c] == 0) continue;
    cv::Mat m = means.row(static_cast<int>(c));
    m /= count[c];
    sb += count[c] * m.t() * m;  // the global mean of z is zero
  }
  for (int i = 0; i < n; ++i) {
    cv::Mat dz = z.row(i) - means.row(labels[static_cast<std::size_t>(i)]);
    sw += dz.t() * dz;
  }
  const double ridge = shrinkage * cv::trace(sw)[0] / d;
  cv::Mat sw_shrunk = (1.0 - shrinkage) * sw + ridge * cv::Mat::eye(r, r, CV_64F);

  // Generalized eigenproblem Sb v = l Sw v by whitening Sw: W = E diag(w^-1/2), then the
  // symmetric W' Sb W.
  cv::Mat w_val, w_vec;
  cv::eigen(sw_shrunk, w_val, w_vec);
  cv::Mat whiten = w_vec.t();
  for (int i = 0; i < r; ++i) {
    const double v = w_val.at<double>(i);
    if (!(v > 0)) return make_error("projection", "within-class scatter is not positive definite");
    cv::Mat col = whiten.col(i);
    col *= 1.0 / std::sqrt(v);
  }
  cv::Mat b = whiten.t() * sb * whiten, b_val, b_vec;
  cv::eigen(0.5 * (b + b.t()), b_val, b_vec);
  const int k = std::min(present - 1, r);
  cv::Mat directions = basis * whiten * b_vec.rowRange(0, k).t();  // d x k

  Projection p;
  p.model_id = model_id;
  p.dim = x.cols;
  p.mean.assign(mu.ptr<double>(), mu.ptr<double>() + d);
  cv::Mat rows = directions.t();  // k x d, continuous
  p.matrix.assign(rows.ptr<double>(), rows.ptr<double>() + static_cast<std::size_t>(k) * d);
  p.classes = classes;
  json eig = json::array();
  for (int i = 0; i < k; ++i) eig.push_back(b_val.at<double>(i));
  p.training = {{"method", "shrinkage LDA"},
                {"shrinkage", shrinkage},
                {"examples", n},
                {"class_counts", count},
                {"eigenvalues", eig}};
  return p;
}

Result<std::vector<float>> project(const Projection& p, std::span<const float> embedding,
                                   const std::string& model_id) {
  if (model_id != p.model_id)
    return make_error("projection", "learned on embeddings of model " + p.model_id +
                                        ", refusing embeddings of model " + model_id);
  if (embedding.size() != p.dim)
    return make_error("projection", "expects " + std::to_string(p.dim) + "-d embeddings, got " +
                                        std::to_string(embedding.size()));
  std::vector<float> out(p.out_dim());
  double norm = 0;
  for (std::size_t k = 0; k < out.size(); ++k) {
    const double* row = p.matrix.data() + k * p.dim;
    double s = 0;
    for (std::size_t j = 0; j < p.dim; ++j) s += row[j] * (embedding[j] - p.mean[j]);
    out[k] = static_cast<float>(s);
    norm += s * s;
  }
  if (norm > 0)
    for (float& v : out) v = static_cast<float>(v / std::sqrt(norm));
  return out;
}

Status save_projection(const Projection& p, const std::string& path) {
  json j;
  j["format"] = kProjectionFormat;
  j["version"] = kProjectionVersion;
  j["model_id"] = p.model_id;
  j["embedding_dim"] = p.dim;
  j["classes"] = p.classes;
  j["mean"] = to_floats(p.mean);
  json rows = json::array();
  for (std::size_t k = 0; k < p.out_dim(); ++k)
    rows.push_back(to_floats(std::vector<double>(p.matrix.begin() + k * p.dim,
                                                 p.matrix.begin() + (k + 1) * p.dim)));
  j["matrix"] = rows;
  j["training"] = p.training;
  return write_json_file(j, path, "projection file");
}

Result<Projection> load_projection(const std::string& path) {
  auto file = read_json_file(path, kProjectionFormat, kProjectionVersion, "projection file");
  if (!file) return file.error();
  const json& j = *file;
  Projection p;
  try {
    p.model_id = j.at("model_id").get<std::string>();
    p.dim = j.at("embedding_dim").get<std::size_t>();
    if (p.dim == 0) return make_error(path, "\"embedding_dim\" must be positive");
    p.classes = j.at("classes").get<std::vector<std::string>>();
    auto mean = from_floats(j.at("mean"), p.dim, "mean", path);
    if (!mean) return mean.error();
    p.mean = std::move(*mean);
    auto rows = rows_from_floats(j.at("matrix"), p.dim, "matrix", path);
    if (!rows) return rows.error();
    p.matrix = std::move(*rows);
    p.training = j.value("training", json::object());
  } catch (const json::exception& e) {
    return make_error(path, std::string("malformed projection: ") + e.what());
  }
  return p;
}

std::string projection_path(const std::string& root, const std::string& model_id) {
  return (fs::path(root) / model_id / "projection.json").string();
}

}  // namespace homelens::tags

#include "homelens/tags/domain.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>

#include <faiss/Clustering.h>
#include <faiss/IndexFlat.h>

#include "homelens/index/kernels.h"
#include "homelens/tags/head.h"
#include "homelens/tags/train.h"

namespace homelens::tags {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

// Spherical k-means (FAISS) of n unit-length rows: unit-length centroids.
std::vector<float> fit_centroids(const std::vector<float>& rows, std::size_t n, std::size_t dim,
                                 int k, std::uint64_t seed) {
  faiss::ClusteringParameters cp;
  cp.niter = 25;
  cp.spherical = true;
  cp.seed = static_cast<int>(seed);
  cp.min_points_per_centroid = 1;  // small training sets are the norm here; no warning
  cp.verbose = false;
  const std::size_t kk = std::min<std::size_t>(static_cast<std::size_t>(k), n);
  faiss::Clustering clus(static_cast<int>(dim), kk, cp);
  faiss::IndexFlatIP index(static_cast<faiss::Index::idx_t>(dim));
  clus.train(static_cast<faiss::Index::idx_t>(n), rows.data(), index);
  return clus.centroids;
}

float nearest(const std::vector<float>& centroids, std::size_t dim, const float* v) {
  float best = -2.0f;
  for (std::size_t c = 0; c + dim <= centroids.size(); c += dim)
    best = std::max(best, index::dot(centroids.data() + c, v, dim));
  return best;
}

}  // namespace

Result<float> domain_score(const DomainModel& m, std::span<const float> embedding,
                           const std::string& model_id) {
  if (model_id != m.model_id)
    return make_error("domain model", "learned on " + m.model_id + ", not on " + model_id);
  if (embedding.size() != m.dim)
    return make_error("domain model", "expects " + std::to_string(m.dim) + "-d embeddings, got " +
                                          std::to_string(embedding.size()));
  return nearest(m.centroids, m.dim, embedding.data());
}

Result<DomainModel> learn_domain(const Matrix& x, const std::vector<std::string>& groups,
                                 const std::vector<std::string>& source,
                                 const std::string& model_id, const DomainOptions& o) {
  if (groups.size() != x.rows || source.size() != x.rows)
    return make_error("domain model", "groups and sources must have one entry per photo",
                      ErrorCode::kInvalidArgument);
  if (o.folds < 2 || x.rows < static_cast<std::size_t>(2 * o.folds) || o.centroids < 1)
    return make_error("domain model",
                      "needs at least " + std::to_string(2 * std::max(o.folds, 2)) +
                          " photos, 2 folds and 1 centroid; has " + std::to_string(x.rows) +
                          " photos",
                      ErrorCode::kInvalidArgument);
  if (!(o.quantile >= 0 && o.quantile < 1))
    return make_error("domain model", "quantile must be in [0, 1)", ErrorCode::kInvalidArgument);
  const std::size_t n = x.rows, d = x.cols;
  const std::vector<float> all(x.data.begin(), x.data.end());

  // Every photo scored by centroids fit on the other folds: the scores a photo the heads have
  // never seen would get, from which the threshold is read.
  const auto fold = grouped_folds(groups, std::vector<int>(n, 0), o.folds, o.seed);
  std::vector<float> held_out(n, 0.0f);
  for (int f = 0; f < o.folds; ++f) {
    std::vector<float> train;
    std::size_t m = 0;
    for (std::size_t i = 0; i < n; ++i)
      if (fold[i] != f) train.insert(train.end(), all.begin() + i * d, all.begin() + (i + 1) * d), ++m;
    if (m == 0 || m == n) continue;
    const auto c = fit_centroids(train, m, d, o.centroids, o.seed + static_cast<std::uint64_t>(f));
    for (std::size_t i = 0; i < n; ++i)
      if (fold[i] == f) held_out[i] = nearest(c, d, all.data() + i * d);
  }
  std::vector<float> sorted = held_out;
  std::sort(sorted.begin(), sorted.end());
  const auto at = static_cast<std::size_t>(std::floor(o.quantile * static_cast<double>(n - 1)));

  DomainModel dm;
  dm.model_id = model_id;
  dm.dim = d;
  dm.threshold = sorted[at];
  dm.centroids = fit_centroids(all, n, d, o.centroids, o.seed);

  std::map<std::string, std::pair<std::size_t, std::size_t>> pass;  // source -> (in, all)
  for (std::size_t i = 0; i < n; ++i) {
    auto& p = pass[source[i]];
    p.first += held_out[i] >= dm.threshold;
    ++p.second;
  }
  json rates = json::object();
  for (const auto& [s, p] : pass)
    rates[s] = {{"photos", p.second},
                {"held_out_pass", static_cast<double>(p.first) / static_cast<double>(p.second)}};
  dm.training = {{"photos", n},
                 {"centroids", dm.k()},
                 {"quantile", o.quantile},
                 {"folds", o.folds},
                 {"seed", o.seed},
                 {"sources", rates}};
  return dm;
}

Status save_domain(const DomainModel& m, const std::string& path) {
  json j;
  j["format"] = kDomainFormat;
  j["version"] = kDomainVersion;
  j["model_id"] = m.model_id;
  j["embedding_dim"] = m.dim;
  j["threshold"] = m.threshold;
  json rows = json::array();
  for (std::size_t c = 0; c < m.k(); ++c)
    rows.push_back(std::vector<float>(m.centroids.begin() + c * m.dim,
                                      m.centroids.begin() + (c + 1) * m.dim));
  j["centroids"] = rows;
  j["training"] = m.training;
  return write_json_file(j, path, "domain model");
}

Result<DomainModel> load_domain(const std::string& path) {
  auto file = read_json_file(path, kDomainFormat, kDomainVersion, "domain model");
  if (!file) return file.error();
  const json& j = *file;
  DomainModel m;
  try {
    m.model_id = j.at("model_id").get<std::string>();
    m.dim = j.at("embedding_dim").get<std::size_t>();
    m.threshold = j.at("threshold").get<float>();
    if (m.dim == 0) return make_error(path, "\"embedding_dim\" must be positive");
    auto rows = rows_from_floats(j.at("centroids"), m.dim, "centroids", path);
    if (!rows) return rows.error();
    m.centroids.assign(rows->begin(), rows->end());
    m.training = j.value("training", json::object());
  } catch (const json::exception& e) {
    return make_error(path, std::string("malformed domain model: ") + e.what());
  }
  return m;
}

std::string domain_path(const std::string& root, const std::string& model_id) {
  return (fs::path(root) / model_id / "domain.json").string();
}

}  // namespace homelens::tags

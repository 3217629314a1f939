#include "homelens/eval/evaluate.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <numeric>

#include <tbb/parallel_for.h>

#include "homelens/core/csv.h"

namespace homelens::eval {

namespace fs = std::filesystem;

namespace {

// The CSV with the named columns' indexes, or an error naming the first missing column.
Result<std::pair<CsvTable, std::vector<std::size_t>>> read_with_columns(
    const std::string& path, const std::vector<std::string>& columns) {
  auto table = read_csv(path);
  if (!table) return table.error();
  if (!table->problems.empty()) {
    const auto& p = table->problems.front();
    return make_error(path + " line " + std::to_string(p.line), p.reason,
                      ErrorCode::kInvalidArgument);
  }
  std::vector<std::size_t> idx;
  for (const auto& c : columns) {
    auto it = std::find(table->header.begin(), table->header.end(), c);
    if (it == table->header.end())
      return make_error(path + " line 1 (header)", "no column '" + c + "'",
                        ErrorCode::kInvalidArgument);
    idx.push_back(static_cast<std::size_t>(it - table->header.begin()));
  }
  return std::make_pair(std::move(*table), std::move(idx));
}

std::string base_dir(const std::string& csv_path, const std::string& root) {
  if (!root.empty()) return root;
  return fs::absolute(csv_path).parent_path().string();
}

}  // namespace

Result<std::vector<Triplet>> load_triplets(const std::string& csv_path, const std::string& root) {
  auto t = read_with_columns(csv_path, {"query", "positive", "negative"});
  if (!t) return t.error();
  const auto& [table, idx] = *t;
  const fs::path base = base_dir(csv_path, root);
  std::vector<Triplet> out;
  for (const auto& row : table.rows) {
    Triplet tr;
    tr.line = row.line;
    std::string* rel[] = {&tr.query_rel, &tr.positive_rel, &tr.negative_rel};
    std::string* abs[] = {&tr.query, &tr.positive, &tr.negative};
    const char* names[] = {"query", "positive", "negative"};
    for (int k = 0; k < 3; ++k) {
      *rel[k] = row.fields[idx[k]];
      const fs::path p = fs::path(*rel[k]).is_absolute() ? fs::path(*rel[k]) : base / *rel[k];
      *abs[k] = p.string();
      std::error_code ec;
      if (rel[k]->empty() || !fs::is_regular_file(p, ec))
        return make_error(csv_path + " line " + std::to_string(row.line),
                          std::string(names[k]) + " photo '" + *rel[k] + "' not found (" +
                              p.string() + ")",
                          ErrorCode::kNotFound);
    }
    out.push_back(std::move(tr));
  }
  if (out.empty()) return make_error(csv_path, "no triplets", ErrorCode::kInvalidArgument);
  return out;
}

Interval wilson_interval(std::size_t k, std::size_t n, double z) {
  if (n == 0) return {};
  const double p = static_cast<double>(k) / n, nn = static_cast<double>(n), z2 = z * z;
  const double centre = (p + z2 / (2 * nn)) / (1 + z2 / nn);
  const double half = z * std::sqrt(p * (1 - p) / nn + z2 / (4 * nn * nn)) / (1 + z2 / nn);
  return {std::max(0.0, centre - half), std::min(1.0, centre + half)};
}

Result<TripletResult> evaluate_triplets(Method& method, const std::vector<Triplet>& triplets) {
  // Each distinct photo is described once, in one batch.
  std::map<std::string, std::size_t> slot;
  std::vector<std::string> paths;
  for (const auto& t : triplets)
    for (const std::string* p : {&t.query, &t.positive, &t.negative})
      if (slot.emplace(*p, paths.size()).second) paths.push_back(*p);
  auto desc = method.describe(paths);
  if (!desc) return desc.error();
  TripletResult r;
  r.n = triplets.size();
  for (const auto& t : triplets) {
    const Descriptor& q = (*desc)[slot[t.query]];
    TripletOutcome o{&t, method.similarity(q, (*desc)[slot[t.positive]]),
                     method.similarity(q, (*desc)[slot[t.negative]])};
    if (o.positive > o.negative) ++r.right;
    else r.wrong.push_back(o);
  }
  r.accuracy = static_cast<double>(r.right) / r.n;
  r.ci95 = wilson_interval(r.right, r.n);
  return r;
}

Result<std::vector<LabelledPhoto>> load_labelled(const std::string& manifest,
                                                 const std::string& label_column) {
  auto t = read_with_columns(manifest, {"path", label_column});
  if (!t) return t.error();
  const auto& [table, idx] = *t;
  const fs::path base = base_dir(manifest, "");
  std::vector<LabelledPhoto> out;
  for (const auto& row : table.rows) {
    const std::string& rel = row.fields[idx[0]];
    const fs::path p = fs::path(rel).is_absolute() ? fs::path(rel) : base / rel;
    std::error_code ec;
    if (rel.empty() || !fs::is_regular_file(p, ec))
      return make_error(manifest + " line " + std::to_string(row.line),
                        "photo '" + rel + "' not found (" + p.string() + ")", ErrorCode::kNotFound);
    if (row.fields[idx[1]].empty())
      return make_error(manifest + " line " + std::to_string(row.line),
                        "empty " + label_column, ErrorCode::kInvalidArgument);
    out.push_back({p.string(), row.fields[idx[1]]});
  }
  if (out.size() < 2) return make_error(manifest, "fewer than 2 photos", ErrorCode::kInvalidArgument);
  return out;
}

double average_precision(const std::vector<bool>& relevant, std::size_t total_relevant) {
  if (total_relevant == 0) return 0;
  double sum = 0;
  std::size_t hits = 0;
  for (std::size_t r = 0; r < relevant.size(); ++r) {
    if (!relevant[r]) continue;
    ++hits;
    sum += static_cast<double>(hits) / (r + 1);
  }
  return sum / total_relevant;
}

RetrievalResult leave_one_out(const std::vector<std::string>& labels,
                              const std::function<double(std::size_t, std::size_t)>& sim,
                              bool symmetric) {
  const std::size_t n = labels.size();
  RetrievalResult r;
  r.n = n;
  if (n < 2) return r;
  std::vector<double> s(n * n, 0.0);
  tbb::parallel_for(std::size_t{0}, n, [&](std::size_t i) {
    if (symmetric) {
      for (std::size_t j = i + 1; j < n; ++j) s[i * n + j] = s[j * n + i] = sim(i, j);
    } else {
      for (std::size_t j = 0; j < n; ++j)
        if (j != i) s[i * n + j] = sim(i, j);
    }
  });
  std::vector<double> ap(n), p10(n), p20(n);
  tbb::parallel_for(std::size_t{0}, n, [&](std::size_t q) {
    std::vector<std::size_t> order;
    order.reserve(n - 1);
    for (std::size_t j = 0; j < n; ++j)
      if (j != q) order.push_back(j);
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t a, std::size_t b) { return s[q * n + a] > s[q * n + b]; });
    std::vector<bool> rel(order.size());
    std::size_t total = 0;
    for (std::size_t k = 0; k < order.size(); ++k) total += rel[k] = labels[order[k]] == labels[q];
    ap[q] = average_precision(rel, total);
    auto prec = [&](std::size_t k) {
      k = std::min(k, rel.size());
      return static_cast<double>(std::count(rel.begin(), rel.begin() + static_cast<long>(k), true)) / k;
    };
    p10[q] = prec(10);
    p20[q] = prec(20);
  });
  r.map = std::accumulate(ap.begin(), ap.end(), 0.0) / n;
  r.p10 = std::accumulate(p10.begin(), p10.end(), 0.0) / n;
  r.p20 = std::accumulate(p20.begin(), p20.end(), 0.0) / n;
  return r;
}

Result<RetrievalResult> evaluate_retrieval(Method& method, const std::vector<LabelledPhoto>& photos) {
  std::vector<std::string> paths, labels;
  for (const auto& p : photos) {
    paths.push_back(p.path);
    labels.push_back(p.label);
  }
  auto desc = method.describe(paths);
  if (!desc) return desc.error();
  const auto& d = *desc;
  return leave_one_out(
      labels, [&](std::size_t i, std::size_t j) { return method.similarity(d[i], d[j]); },
      method.symmetric());
}

}  // namespace homelens::eval

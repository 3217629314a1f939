// The two benchmarks a similarity method is judged on: triplets (a person said the positive
// looks more like the query than the negative) and leave-one-out retrieval over labelled photos.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "homelens/core/result.h"
#include "homelens/eval/method.h"

namespace homelens::eval {

struct Triplet {
  std::size_t line = 0;  // CSV line, for messages
  std::string query, positive, negative;  // resolved paths
  std::string query_rel, positive_rel, negative_rel;  // as written in the CSV
};

// Reads columns query,positive,negative (others ignored); paths are relative to root, or to the
// CSV's folder when root is empty. Fails naming the file and row for a missing column, a
// malformed row or a photo that does not exist.
Result<std::vector<Triplet>> load_triplets(const std::string& csv_path, const std::string& root);

// A 95% Wilson score interval for k successes in n trials ([0, 1] when n is 0). Chosen over the
// normal approximation because it stays inside [0, 1] and is honest at 30 triplets and 100%.
struct Interval {
  double lo = 0, hi = 1;
};
Interval wilson_interval(std::size_t k, std::size_t n, double z = 1.959963984540054);

struct TripletOutcome {
  const Triplet* triplet = nullptr;
  double positive = 0, negative = 0;  // similarity of the query to each
};

struct TripletResult {
  std::size_t n = 0, right = 0;
  double accuracy = 0;
  Interval ci95;
  std::vector<TripletOutcome> wrong;  // in CSV order
};

// A triplet is right when the positive scores strictly above the negative (a tie is wrong:
// the method could not tell them apart).
Result<TripletResult> evaluate_triplets(Method& method, const std::vector<Triplet>& triplets);

struct LabelledPhoto {
  std::string path;  // resolved
  std::string label;
};

// Reads a manifest's `path` column (relative to the manifest's folder) and label_column; errors
// name the file and row.
Result<std::vector<LabelledPhoto>> load_labelled(const std::string& manifest,
                                                 const std::string& label_column);

// Average precision of one ranked list: relevant[r] says whether the item at rank r (0 first)
// shares the query's label; total_relevant counts all such items (0 gives 0).
double average_precision(const std::vector<bool>& relevant, std::size_t total_relevant);

struct RetrievalResult {
  std::size_t n = 0;
  double map = 0, p10 = 0, p20 = 0;
};

// Leave-one-out: each item i queries all others j by sim(i, j), ranked by it (ties: lower index
// first), called from several threads. When `symmetric`, once per unordered pair.
RetrievalResult leave_one_out(const std::vector<std::string>& labels,
                              const std::function<double(std::size_t, std::size_t)>& sim,
                              bool symmetric = true);

// leave_one_out over the photos with the method's descriptors.
Result<RetrievalResult> evaluate_retrieval(Method& method, const std::vector<LabelledPhoto>& photos);

}  // namespace homelens::eval

// Training a tag head with honest figures: grouped k-fold cross-validation (a listing's photos
// never straddle folds), the L2 penalty chosen by an inner cross-validation inside each outer
// training split, and metrics against a majority-class baseline.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "homelens/tags/dataset.h"
#include "homelens/tags/head.h"
#include "homelens/tags/logreg.h"
#include "homelens/tags/transform.h"

namespace homelens::tags {

// One task's examples with their features (rows of x follow examples).
struct TrainingData {
  LabeledSet set;
  Matrix x;
  std::vector<std::string> sha256;  // identical bytes join one group and conflicting labels drop
};

struct TrainOptions {
  std::vector<double> l2_grid{3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0};
  int folds = 5;        // outer folds of the reported cross-validation; 0 = no CV report
  int inner_folds = 4;  // folds choosing the penalty inside each training split
  std::uint64_t seed = 1;
  bool class_weights = true;   // every class carries the same total weight
  bool standardize = true;     // z-score each dimension; false: only centre it
  FeatureTransform transform;  // applied to every embedding first (and saved in the head)
  LogRegOptions logreg;
};

struct Metrics {
  std::size_t n = 0;
  std::vector<std::vector<int>> confusion;  // [true][predicted]
  double accuracy = 0;
  double balanced_accuracy = 0;           // mean recall over the classes present
  std::vector<double> precision, recall;  // per class; NaN when undefined
  std::vector<int> support;
};

// Confusion-matrix metrics of predictions against the truth.
Metrics compute_metrics(const std::vector<int>& truth, const std::vector<int>& predicted,
                        std::size_t classes);

// Fold of each example (0..k-1). Groups stay whole; groups are dealt to folds so each class
// spreads evenly (rarest class first), in an order shuffled by seed. Deterministic.
std::vector<int> grouped_folds(const std::vector<std::string>& groups,
                               const std::vector<int>& labels, int k, std::uint64_t seed);

struct CvReport {
  Task task = Task::kRoom;
  std::vector<std::string> classes;
  std::size_t examples = 0, evaluated = 0, left_out = 0, groups = 0;
  int folds = 0;
  Metrics all, subset;                    // subset: the task's headline subset, if any
  Metrics baseline_all, baseline_subset;  // always the training folds' majority class
  std::string subset_name;
  std::vector<double> fold_l2;  // penalty chosen in each outer fold
  double l2 = 0;                // penalty of the final head
  double seconds = 0;
  // The headline figures: the subset's when the task has one.
  const Metrics& headline() const { return subset_name.empty() ? all : subset; }
  const Metrics& headline_baseline() const {
    return subset_name.empty() ? baseline_all : baseline_subset;
  }
};

struct TrainedHead {
  Head head;
  CvReport report;
};

// Cross-validates (when options.folds > 1) and trains the final head on all examples.
Result<TrainedHead> train_head(const TrainingData& data, const std::string& model_id,
                               const TrainOptions& options);

// The report as text (figures, per-class precision/recall, confusion matrix).
std::string report_text(const CvReport& r);
nlohmann::json report_json(const CvReport& r);
// An SVG picture of the headline confusion matrix (rows true, columns predicted).
std::string confusion_svg(const CvReport& r);

}  // namespace homelens::tags

#include "homelens/tags/train.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <random>

namespace homelens::tags {
namespace {

// 90 photos of 30 listings (3 each), two classes carried by dimension 0, 5-d.
TrainingData synthetic() {
  TrainingData d;
  d.set.task = Task::kFront;
  d.set.classes = task_classes(Task::kFront);
  d.set.subset_name = "front photos";
  std::mt19937 rng(5);
  std::normal_distribution<double> noise(0.0, 1.0);
  d.x.cols = 5;
  for (int i = 0; i < 90; ++i) {
    Example e;
    // (append, not "p" + to_string: GCC 12 warns falsely on the latter, -Wrestrict)
    e.path = std::string("p").append(std::to_string(i));
    e.group = std::string("house").append(std::to_string(i / 3));
    e.label = i % 3 == 0 ? 1 : 0;
    e.subset = i % 3 == 0 || i % 9 == 1;
    d.set.examples.push_back(e);
    for (int j = 0; j < 5; ++j) d.x.data.push_back((j == 0 ? 3.0 * e.label : 0.0) + noise(rng));
    d.sha256.push_back(std::string("sha").append(std::to_string(i)));
  }
  d.x.rows = 90;
  return d;
}

TEST(Metrics, AccuracyBalancedAccuracyAndConfusion) {
  const auto m = compute_metrics({0, 0, 0, 1}, {0, 0, 1, 1}, 2);
  EXPECT_DOUBLE_EQ(m.accuracy, 0.75);
  EXPECT_DOUBLE_EQ(m.balanced_accuracy, (2.0 / 3 + 1.0) / 2);
  EXPECT_EQ(m.confusion[0][1], 1);
  EXPECT_DOUBLE_EQ(m.precision[1], 0.5);
}

TEST(Folds, ListingsNeverStraddleFoldsAndClassesSpread) {
  std::vector<std::string> groups;
  std::vector<int> labels;
  for (int i = 0; i < 100; ++i) {
    groups.push_back(std::string("g").append(std::to_string(i / 4)));
    labels.push_back(i < 10 ? 1 : 0);
  }
  const auto f = grouped_folds(groups, labels, 5, 1);
  std::map<std::string, int> fold_of;
  std::vector<int> rare(5, 0);
  for (std::size_t i = 0; i < groups.size(); ++i) {
    auto [it, added] = fold_of.emplace(groups[i], f[i]);
    EXPECT_EQ(it->second, f[i]) << groups[i];
    if (labels[i] == 1 && i % 4 == 0) ++rare[f[i]];
  }
  for (int c : rare) EXPECT_LE(c, 1);  // 3 rare listings over 5 folds: at most one each
  EXPECT_EQ(f, grouped_folds(groups, labels, 5, 1));
}

TEST(TrainHead, FixedSeedIsDeterministic) {
  const TrainingData d = synthetic();
  TrainOptions o;
  o.folds = 3;
  o.inner_folds = 3;
  o.l2_grid = {0.1, 1.0};
  auto a = train_head(d, "model-a", o);
  auto b = train_head(d, "model-a", o);
  ASSERT_TRUE(a) << a.message();
  ASSERT_TRUE(b) << b.message();
  EXPECT_EQ(a->head.model.weights, b->head.model.weights);
  EXPECT_EQ(a->report.all.confusion, b->report.all.confusion);
  EXPECT_GT(a->report.all.balanced_accuracy, 0.75);
  EXPECT_EQ(a->report.subset.n, 40u);  // the subset is reported on its own
}

TEST(TrainHead, TransformGoesIntoTheHeadAndIsDeterministic) {
  TrainingData d = synthetic();
  for (double& v : d.x.data) v = std::abs(v);  // embeddings are non-negative (post-ReLU6)
  TrainOptions o;
  o.folds = 3;
  o.inner_folds = 3;
  o.l2_grid = {0.1, 1.0};
  o.transform.power = 0.5;
  o.transform.l2_normalize = true;
  auto a = train_head(d, "model-a", o);
  auto b = train_head(d, "model-a", o);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->head.model.weights, b->head.model.weights);
  EXPECT_EQ(a->head.transform.name(), "power(0.5),l2");
  EXPECT_EQ(a->head.training["transform"], "power(0.5),l2");
  // The head's standardizer was fitted on transformed rows: their mean is near its mean.
  const Matrix t = apply_transform(o.transform, d.x);
  double m0 = 0;
  for (std::size_t i = 0; i < t.rows; ++i) m0 += t.row(i)[0] / static_cast<double>(t.rows);
  EXPECT_NEAR(a->head.standardizer.mean[0], m0, 1e-9);
}

TEST(TrainHead, SamePhotoWithConflictingLabelsIsLeftOut) {
  TrainingData d = synthetic();
  d.sha256[1] = d.sha256[0];  // photo 1 (label 0) has the bytes of photo 0 (label 1)
  TrainOptions o;
  o.folds = 3;
  o.inner_folds = 3;
  o.l2_grid = {1.0};
  auto r = train_head(d, "m", o);
  ASSERT_TRUE(r) << r.message();
  EXPECT_EQ(r->report.left_out, 2u);
  EXPECT_EQ(r->report.evaluated, 88u);
}

TEST(Report, TextJsonAndSvgCarryTheFigures) {
  TrainOptions o;
  o.folds = 3;
  o.inner_folds = 3;
  o.l2_grid = {1.0};
  auto r = train_head(synthetic(), "m", o);
  ASSERT_TRUE(r) << r.message();
  const std::string text = report_text(r->report);
  EXPECT_NE(text.find("balanced accuracy"), std::string::npos);
  EXPECT_NE(text.find("majority baseline"), std::string::npos);
  const auto j = report_json(r->report);
  EXPECT_DOUBLE_EQ(j["headline"]["accuracy"].get<double>(), r->report.subset.accuracy);
  const std::string svg = confusion_svg(r->report);
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find("not_front"), std::string::npos);
}

}  // namespace
}  // namespace homelens::tags

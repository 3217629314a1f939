#include "homelens/tags/train.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <numeric>
#include <random>
#include <sstream>

namespace homelens::tags {

namespace {

struct UnionFind {
  std::vector<std::size_t> parent;
  explicit UnionFind(std::size_t n) : parent(n) { std::iota(parent.begin(), parent.end(), 0); }
  std::size_t find(std::size_t a) {
    while (parent[a] != a) a = parent[a] = parent[parent[a]];
    return a;
  }
  void join(std::size_t a, std::size_t b) {
    a = find(a);
    b = find(b);
    if (a != b) parent[std::max(a, b)] = std::min(a, b);
  }
};

// The examples ready for cross-validation: effective groups, kept rows.
struct Prepared {
  std::vector<std::string> groups;  // after joining groups that share photo bytes
  std::vector<std::size_t> active;  // rows used at all
  std::size_t left_out = 0;
};

Prepared prepare(const TrainingData& d) {
  const auto& ex = d.set.examples;
  const std::size_t n = ex.size();
  // Same bytes in two listings (a listing entered twice) must fall in one fold, or the
  // test photo would be in the training set.
  std::map<std::string, std::size_t> first_group;
  std::vector<std::string> group_names;
  std::map<std::string, std::size_t> group_index;
  std::vector<std::size_t> gid(n);
  for (std::size_t i = 0; i < n; ++i) {
    auto [it, added] = group_index.emplace(ex[i].group, group_names.size());
    if (added) group_names.push_back(ex[i].group);
    gid[i] = it->second;
  }
  UnionFind uf(group_names.size());
  std::map<std::string, std::vector<std::size_t>> by_sha;
  for (std::size_t i = 0; i < n; ++i) by_sha[d.sha256[i]].push_back(i);
  std::vector<bool> conflicted(n, false);
  for (const auto& [sha, rows] : by_sha) {
    for (std::size_t r : rows) uf.join(gid[rows[0]], gid[r]);
    // The same photo filed under two classes: one label is wrong and we cannot tell which.
    for (std::size_t r : rows)
      if (ex[r].label != ex[rows[0]].label)
        for (std::size_t q : rows) conflicted[q] = true;
  }
  Prepared p;
  p.groups.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    p.groups[i] = group_names[uf.find(gid[i])];
    if (conflicted[i] || ex[i].weight <= 0) {
      ++p.left_out;
      continue;
    }
    p.active.push_back(i);
  }
  return p;
}

struct Split {
  Standardizer s;
  Matrix train_z;
  std::vector<int> train_y;
  std::vector<double> train_w;
};

Split make_split(const TrainingData& d, const std::vector<std::size_t>& train,
                 const TrainOptions& o) {
  Split sp;
  sp.s = fit_standardizer(d.x, train);
  if (!o.standardize) sp.s.scale.assign(sp.s.scale.size(), 1.0);
  sp.train_z = standardize(d.x, sp.s, train);
  std::vector<double> base;
  for (std::size_t i : train) {
    sp.train_y.push_back(d.set.examples[i].label);
    base.push_back(d.set.examples[i].weight);
  }
  sp.train_w = o.class_weights ? balanced_weights(sp.train_y, d.set.classes.size(), base) : base;
  return sp;
}

// Class-balanced mean log-loss of the evaluated rows `val` under a model.
double val_loss(const TrainingData& d, const Split& sp, const LinearModel& m,
                const std::vector<std::size_t>& val) {
  std::vector<std::size_t> rows;
  std::vector<int> y;
  for (std::size_t i : val)
    if (d.set.examples[i].evaluate) {
      rows.push_back(i);
      y.push_back(d.set.examples[i].label);
    }
  if (rows.empty()) return 0;
  const auto p = predict_proba(m, standardize(d.x, sp.s, rows));
  const auto w = balanced_weights(y, m.classes, std::vector<double>(y.size(), 1.0));
  double loss = 0, wsum = 0;
  for (std::size_t r = 0; r < rows.size(); ++r) {
    loss -= w[r] * std::log(std::max(p[r * m.classes + y[r]], 1e-12));
    wsum += w[r];
  }
  return loss / wsum;
}

std::vector<int> labels_of(const TrainingData& d, const std::vector<std::size_t>& rows) {
  std::vector<int> y;
  for (std::size_t i : rows) y.push_back(d.set.examples[i].label);
  return y;
}

std::vector<std::string> groups_of(const Prepared& p, const std::vector<std::size_t>& rows) {
  std::vector<std::string> g;
  for (std::size_t i : rows) g.push_back(p.groups[i]);
  return g;
}

// The penalty with the lowest inner cross-validated loss on `rows`.
double choose_l2(const TrainingData& d, const Prepared& p, const std::vector<std::size_t>& rows,
                 const TrainOptions& o) {
  if (o.l2_grid.size() == 1) return o.l2_grid[0];
  std::vector<double> grid = o.l2_grid;
  std::sort(grid.rbegin(), grid.rend());  // strongest first: each fit warm-starts the next
  std::vector<double> loss(grid.size(), 0.0);
  const auto fold =
      grouped_folds(groups_of(p, rows), labels_of(d, rows), o.inner_folds, o.seed + 7);
  for (int f = 0; f < o.inner_folds; ++f) {
    std::vector<std::size_t> tr, va;
    for (std::size_t r = 0; r < rows.size(); ++r) (fold[r] == f ? va : tr).push_back(rows[r]);
    if (tr.empty() || va.empty()) continue;
    const Split sp = make_split(d, tr, o);
    LinearModel prev;
    for (std::size_t g = 0; g < grid.size(); ++g) {
      LogRegOptions lo = o.logreg;
      lo.l2 = grid[g];
      LinearModel m = fit_logreg(sp.train_z, sp.train_y, sp.train_w, d.set.classes.size(), lo,
                                 g ? &prev : nullptr);
      loss[g] += val_loss(d, sp, m, va);
      prev = std::move(m);
    }
  }
  const std::size_t best =
      static_cast<std::size_t>(std::min_element(loss.begin(), loss.end()) - loss.begin());
  return grid[best];
}

LinearModel fit_rows(const TrainingData& d, const Split& sp, double l2, const TrainOptions& o) {
  LogRegOptions lo = o.logreg;
  lo.l2 = l2;
  return fit_logreg(sp.train_z, sp.train_y, sp.train_w, d.set.classes.size(), lo);
}

int argmax(const double* p, std::size_t k) {
  return static_cast<int>(std::max_element(p, p + k) - p);
}

std::string fmt(double v, int digits = 3) {
  if (std::isnan(v)) return "-";
  char b[32];
  std::snprintf(b, sizeof b, "%.*f", digits, v);
  return b;
}

void metrics_text(std::ostringstream& o, const std::string& title, const Metrics& m,
                  const Metrics& base, const std::vector<std::string>& cls) {
  o << "  " << title << " (" << m.n << " photos): accuracy " << fmt(m.accuracy)
    << ", balanced accuracy " << fmt(m.balanced_accuracy)
    << "   [majority baseline: " << fmt(base.accuracy) << ", " << fmt(base.balanced_accuracy)
    << "]\n";
  std::size_t w = 10;
  for (const auto& c : cls) w = std::max(w, c.size() + 2);
  char line[256];
  o << "    class" << std::string(w - 5, ' ') << "support  precision  recall\n";
  for (std::size_t c = 0; c < cls.size(); ++c) {
    std::snprintf(line, sizeof line, "    %-*s%7d  %9s  %6s\n", static_cast<int>(w), cls[c].c_str(),
                  m.support[c], fmt(m.precision[c]).c_str(), fmt(m.recall[c]).c_str());
    o << line;
  }
  o << "    confusion (rows true, columns predicted):\n    " << std::string(w, ' ');
  for (const auto& c : cls) {
    std::snprintf(line, sizeof line, "%*s",
                  static_cast<int>(std::max<std::size_t>(c.size(), 5) + 1), c.c_str());
    o << line;
  }
  o << "\n";
  for (std::size_t r = 0; r < cls.size(); ++r) {
    std::snprintf(line, sizeof line, "    %-*s", static_cast<int>(w), cls[r].c_str());
    o << line;
    for (std::size_t c = 0; c < cls.size(); ++c) {
      std::snprintf(line, sizeof line, "%*d",
                    static_cast<int>(std::max<std::size_t>(cls[c].size(), 5) + 1),
                    m.confusion[r][c]);
      o << line;
    }
    o << "\n";
  }
}

nlohmann::json metrics_json(const Metrics& m, const Metrics& base,
                            const std::vector<std::string>& cls) {
  nlohmann::json j = {
      {"n", m.n},
      {"accuracy", m.accuracy},
      {"balanced_accuracy", m.balanced_accuracy},
      {"confusion", m.confusion},
      {"baseline", {{"accuracy", base.accuracy}, {"balanced_accuracy", base.balanced_accuracy}}}};
  nlohmann::json per = nlohmann::json::object();
  for (std::size_t c = 0; c < cls.size(); ++c)
    per[cls[c]] = {{"support", m.support[c]},
                   {"precision", std::isnan(m.precision[c]) ? nlohmann::json(nullptr)
                                                            : nlohmann::json(m.precision[c])},
                   {"recall", std::isnan(m.recall[c]) ? nlohmann::json(nullptr)
                                                      : nlohmann::json(m.recall[c])}};
  j["per_class"] = per;
  return j;
}

}  // namespace

Metrics compute_metrics(const std::vector<int>& truth, const std::vector<int>& predicted,
                        std::size_t k) {
  Metrics m;
  m.n = truth.size();
  m.confusion.assign(k, std::vector<int>(k, 0));
  for (std::size_t i = 0; i < truth.size(); ++i) ++m.confusion[truth[i]][predicted[i]];
  m.support.assign(k, 0);
  m.precision.assign(k, std::numeric_limits<double>::quiet_NaN());
  m.recall.assign(k, std::numeric_limits<double>::quiet_NaN());
  int correct = 0, present = 0;
  double recall_sum = 0;
  for (std::size_t c = 0; c < k; ++c) {
    int row = 0, col = 0;
    for (std::size_t o = 0; o < k; ++o) {
      row += m.confusion[c][o];
      col += m.confusion[o][c];
    }
    correct += m.confusion[c][c];
    m.support[c] = row;
    if (col > 0) m.precision[c] = static_cast<double>(m.confusion[c][c]) / col;
    if (row > 0) {
      m.recall[c] = static_cast<double>(m.confusion[c][c]) / row;
      recall_sum += m.recall[c];
      ++present;
    }
  }
  m.accuracy = m.n ? static_cast<double>(correct) / static_cast<double>(m.n) : 0;
  m.balanced_accuracy = present ? recall_sum / present : 0;
  return m;
}

std::vector<int> grouped_folds(const std::vector<std::string>& groups,
                               const std::vector<int>& labels, int k, std::uint64_t seed) {
  const std::size_t n = groups.size();
  std::map<int, int> freq;
  for (int y : labels) ++freq[y];
  std::map<std::string, std::size_t> index;
  std::vector<std::vector<std::size_t>> members;
  for (std::size_t i = 0; i < n; ++i) {
    auto [it, added] = index.emplace(groups[i], members.size());
    if (added) members.emplace_back();
    members[it->second].push_back(i);
  }
  // A group is dealt by its rarest label, so the rare classes spread over folds first.
  std::vector<int> key(members.size());
  for (std::size_t g = 0; g < members.size(); ++g) {
    int best = labels[members[g][0]];
    for (std::size_t i : members[g])
      if (freq[labels[i]] < freq[best] || (freq[labels[i]] == freq[best] && labels[i] < best))
        best = labels[i];
    key[g] = best;
  }
  std::vector<std::size_t> order(members.size());
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(seed);
  for (std::size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng() % i]);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return freq[key[a]] < freq[key[b]]; });
  std::vector<std::map<int, int>> per_fold(k);
  std::vector<std::size_t> size(k, 0);
  std::vector<int> fold(n, 0);
  for (std::size_t g : order) {
    int best = 0;
    for (int f = 1; f < k; ++f) {
      const int a = per_fold[f][key[g]], b = per_fold[best][key[g]];
      if (a < b || (a == b && size[f] < size[best])) best = f;
    }
    ++per_fold[best][key[g]];
    size[best] += members[g].size();
    for (std::size_t i : members[g]) fold[i] = best;
  }
  return fold;
}

Result<TrainedHead> train_head(const TrainingData& raw, const std::string& model_id,
                               const TrainOptions& o) {
  const auto t0 = std::chrono::steady_clock::now();
  // The head's transform applies to every row once, before any fold is cut.
  TrainingData transformed;
  if (!o.transform.identity()) {
    transformed.set = raw.set;
    transformed.sha256 = raw.sha256;
    transformed.x = apply_transform(o.transform, raw.x);
  }
  const TrainingData& d = o.transform.identity() ? raw : transformed;
  const std::size_t k = d.set.classes.size();
  const std::string task = task_name(d.set.task);
  if (d.x.rows != d.set.examples.size())
    return make_error(task, "features and examples differ in number");
  if (o.l2_grid.empty()) return make_error(task, "no regularization values to try");
  const Prepared p = prepare(d);
  std::vector<int> present(k, 0);
  for (std::size_t i : p.active) present[d.set.examples[i].label] = 1;
  if (std::accumulate(present.begin(), present.end(), 0) < 2)
    return make_error(task, "needs examples of at least two classes");

  TrainedHead out;
  CvReport& r = out.report;
  r.task = d.set.task;
  r.classes = d.set.classes;
  r.examples = d.set.examples.size();
  r.left_out = p.left_out;
  r.subset_name = d.set.subset_name;
  r.folds = o.folds;
  {
    std::map<std::string, int> g;
    for (std::size_t i : p.active) g[p.groups[i]] = 1;
    r.groups = g.size();
  }

  if (o.folds > 1) {
    const auto fold =
        grouped_folds(groups_of(p, p.active), labels_of(d, p.active), o.folds, o.seed);
    std::vector<int> truth, pred, base, truth_s, pred_s, base_s;
    for (int f = 0; f < o.folds; ++f) {
      std::vector<std::size_t> tr, va;
      for (std::size_t a = 0; a < p.active.size(); ++a)
        (fold[a] == f ? va : tr).push_back(p.active[a]);
      if (tr.empty() || va.empty()) continue;
      const double l2 = choose_l2(d, p, tr, o);
      r.fold_l2.push_back(l2);
      const Split sp = make_split(d, tr, o);
      const LinearModel m = fit_rows(d, sp, l2, o);
      std::vector<int> count(k, 0);
      for (int y : sp.train_y) ++count[y];
      const int majority =
          static_cast<int>(std::max_element(count.begin(), count.end()) - count.begin());
      std::vector<std::size_t> ev;
      for (std::size_t i : va)
        if (d.set.examples[i].evaluate) ev.push_back(i);
      const auto prob = predict_proba(m, standardize(d.x, sp.s, ev));
      for (std::size_t j = 0; j < ev.size(); ++j) {
        const Example& e = d.set.examples[ev[j]];
        const int yhat = argmax(prob.data() + j * k, k);
        truth.push_back(e.label);
        pred.push_back(yhat);
        base.push_back(majority);
        if (e.subset) {
          truth_s.push_back(e.label);
          pred_s.push_back(yhat);
          base_s.push_back(majority);
        }
      }
    }
    r.evaluated = truth.size();
    r.all = compute_metrics(truth, pred, k);
    r.baseline_all = compute_metrics(truth, base, k);
    r.subset = compute_metrics(truth_s, pred_s, k);
    r.baseline_subset = compute_metrics(truth_s, base_s, k);
  }

  // The final penalty is chosen the same way on all the data (with the outer fold count).
  TrainOptions final_o = o;
  if (o.folds > 1) final_o.inner_folds = o.folds;
  r.l2 = choose_l2(d, p, p.active, final_o);
  const Split sp = make_split(d, p.active, o);
  out.head.task = d.set.task;
  out.head.model_id = model_id;
  out.head.classes = d.set.classes;
  out.head.transform = o.transform;
  out.head.standardizer = sp.s;
  out.head.model = fit_rows(d, sp, r.l2, o);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  out.head.training = {{"examples", p.active.size()},
                       {"l2", r.l2},
                       {"class_weights", o.class_weights},
                       {"standardize", o.standardize},
                       {"transform", o.transform.name()},
                       {"seed", o.seed},
                       {"cv", report_json(r)}};
  // A head file depends on the data and options only, never on how long training took.
  out.head.training["cv"].erase("seconds");
  return out;
}

std::string report_text(const CvReport& r) {
  std::ostringstream o;
  o << task_name(r.task) << ": " << r.examples << " examples, " << r.groups << " listings";
  if (r.left_out) o << ", " << r.left_out << " left out (same photo, conflicting labels)";
  o << "; L2 " << r.l2;
  if (r.folds > 1) {
    o << "; " << r.folds << "-fold CV grouped by listing, penalty per fold";
    for (double l : r.fold_l2) o << " " << l;
    o << "\n";
    if (!r.subset_name.empty())
      metrics_text(o, r.subset_name, r.subset, r.baseline_subset, r.classes);
    metrics_text(o, r.subset_name.empty() ? "all" : "all photos", r.all, r.baseline_all, r.classes);
  } else {
    o << "; no cross-validation\n";
  }
  o << "  time " << fmt(r.seconds, 1) << " s\n";
  return o.str();
}

nlohmann::json report_json(const CvReport& r) {
  nlohmann::json j = {{"task", task_name(r.task)}, {"classes", r.classes},
                      {"examples", r.examples},    {"evaluated", r.evaluated},
                      {"left_out", r.left_out},    {"listings", r.groups},
                      {"folds", r.folds},          {"l2", r.l2},
                      {"fold_l2", r.fold_l2},      {"seconds", r.seconds}};
  if (r.folds > 1) {
    j["all"] = metrics_json(r.all, r.baseline_all, r.classes);
    if (!r.subset_name.empty()) {
      j["subset_name"] = r.subset_name;
      j["subset"] = metrics_json(r.subset, r.baseline_subset, r.classes);
    }
    j["headline"] = {{"accuracy", r.headline().accuracy},
                     {"balanced_accuracy", r.headline().balanced_accuracy},
                     {"baseline_accuracy", r.headline_baseline().accuracy},
                     {"baseline_balanced_accuracy", r.headline_baseline().balanced_accuracy}};
  }
  return j;
}

std::string confusion_svg(const CvReport& r) {
  const Metrics& m = r.headline();
  const auto& cls = r.classes;
  const int k = static_cast<int>(cls.size());
  const int cell = 64, left = 130, top = 90;
  const int width = left + k * cell + 20, height = top + k * cell + 60;
  std::ostringstream o;
  o << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\"" << height
    << "\" font-family=\"sans-serif\" font-size=\"13\">\n"
    << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    << "<text x=\"10\" y=\"22\" font-size=\"15\" font-weight=\"bold\">" << task_name(r.task)
    << (r.subset_name.empty() ? "" : " (" + r.subset_name + ")") << ": " << r.folds
    << "-fold CV, accuracy " << fmt(m.accuracy) << ", balanced " << fmt(m.balanced_accuracy)
    << "</text>\n"
    << "<text x=\"" << left << "\" y=\"50\">predicted</text>\n"
    << "<text x=\"10\" y=\"" << top - 8 << "\">true</text>\n";
  for (int c = 0; c < k; ++c)
    o << "<text x=\"" << left + c * cell + cell / 2 << "\" y=\"" << top - 8
      << "\" text-anchor=\"middle\">" << cls[c] << "</text>\n";
  for (int t = 0; t < k; ++t) {
    o << "<text x=\"" << left - 8 << "\" y=\"" << top + t * cell + cell / 2 + 5
      << "\" text-anchor=\"end\">" << cls[t] << "</text>\n";
    for (int c = 0; c < k; ++c) {
      const int v = m.confusion[t][c];
      // Shade by the share of the true class: the diagonal reads as recall.
      const double share = m.support[t] ? static_cast<double>(v) / m.support[t] : 0;
      const int shade = static_cast<int>(255 - 200 * share);
      o << "<rect x=\"" << left + c * cell << "\" y=\"" << top + t * cell << "\" width=\"" << cell
        << "\" height=\"" << cell << "\" fill=\"rgb(" << shade << "," << shade << ",255)\" "
        << "stroke=\"#888\"/>\n"
        << "<text x=\"" << left + c * cell + cell / 2 << "\" y=\"" << top + t * cell + cell / 2 + 5
        << "\" text-anchor=\"middle\" fill=\"" << (share > 0.6 ? "white" : "black") << "\">" << v
        << "</text>\n";
    }
  }
  o << "<text x=\"10\" y=\"" << height - 20 << "\" font-size=\"11\">rows: true class; cells: "
    << "photos; shade: share of the true class. Baseline (majority class): accuracy "
    << fmt(r.headline_baseline().accuracy) << "</text>\n</svg>\n";
  return o.str();
}

}  // namespace homelens::tags

// `homelens eval`: rerunnable benchmarks of the similarity methods (eval/method.h) on anyone's
// photos: triplets a person judged, and leave-one-out retrieval over labelled photos.
#include <cstdio>
#include <filesystem>
#include <iostream>

#include <nlohmann/json.hpp>

#include "homelens/cli/commands.h"
#include "homelens/cli/eval_common.h"
#include "homelens/core/log.h"
#include "homelens/eval/evaluate.h"
#include "homelens/eval/report.h"

namespace homelens::cli {

namespace {

struct TripletArgs {
  EvalOptions eval;
  std::string triplets, root, report;
  bool json = false;
};

struct RetrievalArgs {
  EvalOptions eval;
  std::string manifest, label_column, report;
  bool json = false;
};

int run_triplets(const TripletArgs& a) {
  auto triplets = eval::load_triplets(a.triplets, a.root);
  if (!triplets) {
    log::error(triplets.message());
    return 1;
  }
  auto made = make_methods(a.eval, {"hsv", "phash", "sift", "cnn", "cnn-binary", "final"});
  if (!made) return 1;
  std::vector<eval::TripletResult> results;
  for (auto& [name, method] : *made) {
    auto r = eval::evaluate_triplets(*method, *triplets);
    if (!r) {
      log::error(name + ": " + r.message());
      return 1;
    }
    results.push_back(std::move(*r));
  }
  const std::size_t n = triplets->size();
  if (a.json) {
    nlohmann::json methods = nlohmann::json::object();
    for (std::size_t m = 0; m < made->size(); ++m) {
      const auto& r = results[m];
      nlohmann::json wrong = nlohmann::json::array();
      for (const auto& w : r.wrong)
        wrong.push_back({{"line", w.triplet->line}, {"query", w.triplet->query_rel},
                         {"positive", w.triplet->positive_rel}, {"negative", w.triplet->negative_rel},
                         {"positive_score", w.positive}, {"negative_score", w.negative}});
      methods[(*made)[m].first] = {{"accuracy", r.accuracy},
                                   {"ci95", {r.ci95.lo, r.ci95.hi}},
                                   {"wrong", wrong}};
    }
    std::cout << nlohmann::json{{"n", n}, {"methods", methods}}.dump() << "\n";
  } else {
    std::printf("%zu triplets from %s (95%% CI: Wilson score interval)\n", n, a.triplets.c_str());
    std::printf("%-12s %8s %7s %17s\n", "method", "accuracy", "right", "95% CI");
    for (std::size_t m = 0; m < made->size(); ++m) {
      const auto& r = results[m];
      std::printf("%-12s %8.3f %3zu/%-3zu [%.3f, %.3f]\n", (*made)[m].first.c_str(), r.accuracy,
                  r.right, r.n, r.ci95.lo, r.ci95.hi);
    }
    for (std::size_t m = 0; m < made->size(); ++m) {
      if (results[m].wrong.empty()) continue;
      std::printf("\nwrong for %s (line: query, positive, negative: score of positive / negative)\n",
                  (*made)[m].first.c_str());
      for (const auto& w : results[m].wrong)
        std::printf("  %zu: %s, %s, %s: %.4f / %.4f\n", w.triplet->line, w.triplet->query_rel.c_str(),
                    w.triplet->positive_rel.c_str(), w.triplet->negative_rel.c_str(), w.positive,
                    w.negative);
    }
  }
  if (!a.report.empty()) {
    std::vector<eval::ReportRow> rows;
    for (std::size_t m = 0; m < made->size(); ++m)
      rows.push_back({(*made)[m].first,
                      {{"accuracy", results[m].accuracy},
                       {"CI low", results[m].ci95.lo},
                       {"CI high", results[m].ci95.hi}},
                      &results[m]});
    const std::string summary = std::to_string(n) + " triplets from " + a.triplets +
                                "; a method is right when it scores the positive strictly above "
                                "the negative. 95% CI: Wilson score interval.";
    if (Status s = eval::write_report(a.report, "HomeLens triplet evaluation", summary, rows); !s) {
      log::error(s.message());
      return 1;
    }
    log::info("report written to " + a.report + "/index.html");
  }
  return 0;
}

int run_retrieval(const RetrievalArgs& a) {
  auto photos = eval::load_labelled(a.manifest, a.label_column);
  if (!photos) {
    log::error(photos.message());
    return 1;
  }
  auto made = make_methods(a.eval, {"hsv", "phash", "cnn", "cnn-binary"});
  if (!made) return 1;
  std::vector<eval::RetrievalResult> results;
  for (auto& [name, method] : *made) {
    auto r = eval::evaluate_retrieval(*method, *photos);
    if (!r) {
      log::error(name + ": " + r.message());
      return 1;
    }
    results.push_back(*r);
  }
  if (a.json) {
    nlohmann::json methods = nlohmann::json::object();
    for (std::size_t m = 0; m < made->size(); ++m)
      methods[(*made)[m].first] = {{"map", results[m].map}, {"p10", results[m].p10},
                                   {"p20", results[m].p20}};
    std::cout << nlohmann::json{{"n", photos->size()}, {"methods", methods}}.dump() << "\n";
  } else {
    std::printf("%zu photos from %s, label %s, leave-one-out\n", photos->size(), a.manifest.c_str(),
                a.label_column.c_str());
    std::printf("%-12s %7s %7s %7s\n", "method", "MAP", "P@10", "P@20");
    for (std::size_t m = 0; m < made->size(); ++m)
      std::printf("%-12s %7.4f %7.4f %7.4f\n", (*made)[m].first.c_str(), results[m].map,
                  results[m].p10, results[m].p20);
  }
  if (!a.report.empty()) {
    std::vector<eval::ReportRow> rows;
    for (std::size_t m = 0; m < made->size(); ++m)
      rows.push_back({(*made)[m].first,
                      {{"MAP", results[m].map}, {"P@10", results[m].p10}, {"P@20", results[m].p20}},
                      nullptr});
    const std::string summary = std::to_string(photos->size()) + " photos from " + a.manifest +
                                ", label column " + a.label_column +
                                "; each photo queries all the others.";
    if (Status s = eval::write_report(a.report, "HomeLens retrieval evaluation", summary, rows); !s) {
      log::error(s.message());
      return 1;
    }
    log::info("report written to " + a.report + "/index.html");
  }
  return 0;
}

}  // namespace

void add_eval_command(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand("eval", "Measure similarity methods: triplets, retrieval, duplicates");
  cmd->require_subcommand(1);

  auto t = std::make_shared<TripletArgs>();
  CLI::App* tc = cmd->add_subcommand(
      "triplets", "Accuracy on (query, positive, negative) triplets: right when positive scores above negative");
  add_eval_options(*tc, t->eval);
  tc->add_option("--triplets", t->triplets, "CSV with columns query,positive,negative (others ignored)")
      ->required();
  tc->add_option("--root", t->root, "Folder the photo paths are relative to (default: the CSV's folder)");
  tc->add_flag("--json", t->json, "Print {n, methods: {name: {accuracy, ci95, wrong}}}");
  tc->add_option("--report", t->report, "Write an HTML report (index.html, thumbnails) into this folder");
  tc->callback([t] { exit_code() = run_triplets(*t); });

  auto r = std::make_shared<RetrievalArgs>();
  CLI::App* rc = cmd->add_subcommand("retrieval",
                                     "Leave-one-out retrieval over labelled photos: MAP, P@10, P@20");
  add_eval_options(*rc, r->eval);
  rc->add_option("--manifest", r->manifest, "CSV with a path column (relative to the CSV's folder)")
      ->required();
  rc->add_option("--label-column", r->label_column, "Column whose equal values make a relevant result")
      ->required();
  rc->add_flag("--json", r->json, "Print {n, methods: {name: {map, p10, p20}}}");
  rc->add_option("--report", r->report, "Write an HTML report (index.html) into this folder");
  rc->callback([r] { exit_code() = run_retrieval(*r); });

  add_eval_dupes_command(*cmd);
}

}  // namespace homelens::cli

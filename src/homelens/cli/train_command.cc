#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <nlohmann/json.hpp>

#include "homelens/cli/commands.h"
#include "homelens/core/log.h"
#include "homelens/tags/dataset.h"
#include "homelens/tags/domain.h"
#include "homelens/tags/features.h"
#include "homelens/tags/head.h"
#include "homelens/tags/projection.h"
#include "homelens/tags/train.h"

namespace homelens::cli {

namespace {

namespace fs = std::filesystem;

struct TrainArgs {
  CommonOptions common;
  std::vector<std::string> tasks;
  tags::DatasetOptions data;
  tags::TrainOptions train;
  std::vector<double> l2;
  std::string heads_dir, report_dir;
  bool no_class_weights = false, no_standardize = false, no_save = false, json = false,
       quiet = false, flip = false;
  std::string flip_cache;
  int workers = 0;
  double shrinkage = 0.9;
  std::vector<std::string> domain_extra;  // manifests of more in-domain photos
  tags::DomainOptions domain;
};

// Where a photo of the domain model's training set comes from, for its report: the folder of
// the manifest that lists it ("houses_dataset").
std::string source_name(const std::string& manifest) {
  return fs::absolute(manifest).parent_path().filename().string();
}

// Learns which photos the heads may judge from the photos the room head trains on (every room
// of the training houses) and the --domain-extra photos, and saves ROOT/MODEL/domain.json;
// nullopt after logging why.
std::optional<nlohmann::json> train_domain(const std::vector<std::string>& paths,
                                           const std::vector<std::string>& groups,
                                           const std::vector<std::string>& sources,
                                           const tags::Features& feats,
                                           const std::map<std::string, std::size_t>& row_of,
                                           const std::string& model_id, const TrainArgs& a,
                                           const std::string& heads_root) {
  const tags::Matrix& hx = feats.head_rows();  // the domain is the heads' own
  tags::Matrix x;
  x.cols = hx.cols;
  x.rows = paths.size();
  // Identical bytes filed under two listings (houses 59 and 72) join the first one's group, so
  // a photo is never scored by centroids fit on its own copy.
  std::map<std::string, std::string> group_of_bytes;
  std::vector<std::string> folds_by;
  for (std::size_t i = 0; i < paths.size(); ++i) {
    const std::size_t r = row_of.at(paths[i]);
    x.data.insert(x.data.end(), hx.row(r), hx.row(r) + x.cols);
    folds_by.push_back(group_of_bytes.emplace(feats.sha256[r], groups[i]).first->second);
  }
  auto d = tags::learn_domain(x, folds_by, sources, model_id, a.domain);
  if (!d) {
    log::error(d.message());
    return std::nullopt;
  }
  nlohmann::json rj = d->training;
  rj["task"] = "domain";
  rj["threshold"] = d->threshold;
  if (!a.no_save) {
    const std::string path = tags::domain_path(heads_root, model_id);
    if (auto st = tags::save_domain(*d, path); !st) {
      log::error(st.message());
      return std::nullopt;
    }
    rj["domain"] = path;
  }
  if (!a.json) {
    std::cout << "domain: " << d->k() << " centroids of " << x.rows
              << " photos; the heads judge a photo whose cosine to its nearest centroid is at least "
              << d->threshold << " (" << a.domain.quantile * 100
              << "% of held-out training photos fall short); held out:";
    for (const auto& [s, v] : d->training["sources"].items())
      std::cout << " " << s << " " << v["held_out_pass"].get<double>() * 100 << "% of "
                << v["photos"].get<std::size_t>() << " pass;";
    std::cout << (rj.contains("domain") ? " saved " + rj["domain"].get<std::string>() : "") << "\n";
  }
  return rj;
}

// Learns the style x stories projection from the labeled front photos (rows of feats by path)
// and saves it as ROOT/MODEL/projection.json; nullopt after logging why.
std::optional<nlohmann::json> train_projection(const tags::LabeledSet& style,
                                               const tags::LabeledSet& stories,
                                               const tags::Features& feats,
                                               const std::map<std::string, std::size_t>& row_of,
                                               const std::string& model_id, const TrainArgs& a,
                                               const std::string& heads_root) {
  std::map<std::string, int> stories_of;
  for (const auto& e : stories.examples) stories_of[e.path] = e.label;
  std::vector<std::string> classes;
  for (const auto& st : style.classes)
    for (const auto& n : stories.classes) classes.push_back(st + "/" + n);
  tags::Matrix x;
  x.cols = feats.x.cols;
  std::vector<int> labels;
  for (const auto& e : style.examples) {
    auto it = stories_of.find(e.path);
    if (!e.evaluate || it == stories_of.end()) continue;
    const std::size_t r = row_of.at(e.path);
    x.data.insert(x.data.end(), feats.x.row(r), feats.x.row(r) + x.cols);
    labels.push_back(e.label * static_cast<int>(stories.classes.size()) + it->second);
  }
  x.rows = labels.size();
  auto p = tags::learn_projection(x, labels, classes, model_id, a.shrinkage);
  if (!p) {
    log::error(p.message());
    return std::nullopt;
  }
  nlohmann::json rj = {{"task", "projection"},
                       {"examples", x.rows},
                       {"dimensions", p->out_dim()},
                       {"shrinkage", a.shrinkage}};
  if (!a.no_save) {
    const std::string path = tags::projection_path(heads_root, model_id);
    if (auto st = tags::save_projection(*p, path); !st) {
      log::error(st.message());
      return std::nullopt;
    }
    rj["projection"] = path;
  }
  if (!a.json)
    std::cout << "projection: shrinkage LDA of " << x.rows << " labeled front photos over style x "
              << "stories, " << p->dim << " -> " << p->out_dim() << " dimensions"
              << (rj.contains("projection") ? ", saved " + rj["projection"].get<std::string>() : "")
              << "\n";
  return rj;
}

int run_train(TrainArgs a) {
  const auto t0 = std::chrono::steady_clock::now();
  auto spec = resolve_spec(a.common);
  if (!spec) return 1;
  if (a.tasks.empty()) a.tasks = {"front", "room", "style", "stories", "domain"};
  a.domain.seed = a.train.seed;
  if (!a.l2.empty()) a.train.l2_grid = a.l2;
  a.train.class_weights = !a.no_class_weights;
  a.train.standardize = !a.no_standardize;
  a.train.transform.l2_normalize = a.train.transform.power != 1.0;
  const std::string heads_root = a.heads_dir.empty() ? tags::default_heads_dir() : a.heads_dir;

  // The projection is not a head: it learns from the style and stories labels together. The
  // domain model neither: it learns from the room head's photos, whatever their labels.
  bool projection = false, domain = false;
  std::vector<tags::LabeledSet> sets, projection_sets;
  for (const auto& name : a.tasks) {
    if (name == "projection") {
      projection = true;
      continue;
    }
    if (name == "domain") {
      domain = true;
      continue;
    }
    auto t = tags::parse_task(name);
    if (!t) {
      log::error(t.message());
      return 1;
    }
    auto set = tags::load_task(*t, a.data);
    if (!set) {
      log::error(set.message());
      return 1;
    }
    sets.push_back(std::move(*set));
  }

  if (projection) {
    for (tags::Task t : {tags::Task::kStyle, tags::Task::kStories}) {
      auto set = tags::load_task(t, a.data);
      if (!set) {
        log::error("projection: " + set.message());
        return 1;
      }
      projection_sets.push_back(std::move(*set));
    }
  }

  std::vector<std::string> domain_paths, domain_groups, domain_sources;
  if (domain) {
    auto rooms = tags::load_task(tags::Task::kRoom, a.data);
    if (!rooms) {
      log::error("domain: " + rooms.message());
      return 1;
    }
    for (const auto& e : rooms->examples) {
      domain_paths.push_back(e.path);
      domain_groups.push_back(e.group);
      domain_sources.push_back(source_name(a.data.manifest));
    }
    for (const auto& m : a.domain_extra) {
      auto extra = tags::manifest_paths(m);
      if (!extra) {
        log::error("domain: " + extra.message());
        return 1;
      }
      for (const auto& p : *extra) {
        domain_paths.push_back(p);
        domain_groups.push_back("extra:" + p);
        domain_sources.push_back(source_name(m));
      }
    }
  }

  // Every photo is embedded once, whatever the number of tasks that use it.
  std::vector<std::string> paths;
  std::map<std::string, std::size_t> row_of;
  for (const auto* group : {&sets, &projection_sets})
    for (const auto& s : *group)
      for (const auto& e : s.examples)
        if (row_of.emplace(e.path, paths.size()).second) paths.push_back(e.path);
  for (const auto& p : domain_paths)
    if (row_of.emplace(p, paths.size()).second) paths.push_back(p);
  tags::FeatureOptions fo;
  std::error_code ec;
  if (fs::exists(a.common.db, ec)) fo.db = a.common.db;
  fo.workers = a.workers;
  fo.progress = a.quiet || a.json ? ProgressMode::kQuiet : ProgressMode::kAuto;
  auto feats = tags::embed_paths(paths, *spec, fo);
  if (!feats) {
    log::error(feats.message());
    return 1;
  }
  const double embed_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!a.json && !a.quiet)
    std::cout << paths.size() << " photos: " << feats->from_cache << " embeddings from "
              << (fo.db.empty() ? "(no cache)" : fo.db) << ", " << feats->embedded
              << " embedded now with " << spec->id << " (" << embed_s << " s)\n";

  // Training-time augmentation: the mirrored front photos of the hand-labeled houses (front,
  // style, stories) join training, in their listing's fold, never scored.
  std::vector<std::string> flip_paths;
  std::map<std::string, std::size_t> flip_row_of;
  tags::Features flipped;
  if (a.flip) {
    for (const auto& s : sets)
      for (const auto& e : s.examples)
        if (s.task != tags::Task::kRoom && e.evaluate && (e.subset || s.task != tags::Task::kFront))
          if (flip_row_of.emplace(e.path, flip_paths.size()).second) flip_paths.push_back(e.path);
    tags::FeatureOptions ff = fo;
    ff.flip = true;
    ff.flip_cache =
        a.flip_cache.empty() && !a.common.db.empty() ? a.common.db + ".flipped" : a.flip_cache;
    auto f = tags::embed_paths(flip_paths, *spec, ff);
    if (!f) {
      log::error(f.message());
      return 1;
    }
    flipped = std::move(*f);
    if (!a.json && !a.quiet)
      std::cout << flip_paths.size() << " mirrored photos: " << flipped.from_cache << " from "
                << (ff.flip_cache.empty() ? "(no cache)" : ff.flip_cache) << ", "
                << flipped.embedded << " embedded now\n";
  }

  nlohmann::json out = {{"model", spec->id},
                        {"photos", paths.size()},
                        {"from_cache", feats->from_cache},
                        {"embedded", feats->embedded},
                        {"embedding_seconds", embed_s},
                        {"tasks", nlohmann::json::array()}};
  const std::string report_dir =
      a.report_dir.empty() ? (fs::path(heads_root) / spec->id).string() : a.report_dir;
  const tags::Matrix& hx = feats->head_rows();
  const tags::Matrix& flipped_hx = flipped.head_rows();
  for (auto& s : sets) {
    tags::TrainingData d;
    d.x.cols = hx.cols;
    for (const auto& e : s.examples) {
      const std::size_t r = row_of[e.path];
      d.x.data.insert(d.x.data.end(), hx.row(r), hx.row(r) + d.x.cols);
      d.sha256.push_back(feats->sha256[r]);
    }
    const std::size_t originals = s.examples.size();
    for (std::size_t i = 0; i < originals; ++i) {
      auto it = flip_row_of.find(s.examples[i].path);
      if (it == flip_row_of.end() || s.task == tags::Task::kRoom) continue;
      if (s.task == tags::Task::kFront && !s.examples[i].subset) continue;
      tags::Example e = s.examples[i];
      e.path += "#mirrored";
      e.evaluate = false;
      e.subset = false;
      s.examples.push_back(e);
      d.x.data.insert(d.x.data.end(), flipped_hx.row(it->second),
                      flipped_hx.row(it->second) + d.x.cols);
      d.sha256.push_back(flipped.sha256[it->second] + ":mirrored");
    }
    d.x.rows = s.examples.size();
    d.set = std::move(s);
    auto trained = tags::train_head(d, spec->id, a.train);
    if (!trained) {
      log::error(trained.message());
      return 1;
    }
    const std::string task = tags::task_name(d.set.task);
    nlohmann::json rj = tags::report_json(trained->report);
    if (!a.no_save) {
      const std::string path = tags::head_path(heads_root, spec->id, d.set.task);
      if (auto st = tags::save_head(trained->head, path); !st) {
        log::error(st.message());
        return 1;
      }
      rj["head"] = path;
    }
    if (a.train.folds > 1) {
      fs::create_directories(report_dir, ec);
      const std::string svg = (fs::path(report_dir) / (task + ".confusion.svg")).string();
      std::ofstream f(svg);
      f << tags::confusion_svg(trained->report);
      if (!f) {
        log::error(svg + ": cannot write");
        return 1;
      }
      rj["confusion_svg"] = svg;
    }
    if (!a.json) {
      std::cout << tags::report_text(trained->report);
      if (rj.contains("head")) std::cout << "  saved " << rj["head"].get<std::string>() << "\n";
      if (rj.contains("confusion_svg"))
        std::cout << "  confusion matrix " << rj["confusion_svg"].get<std::string>() << "\n";
    }
    out["tasks"].push_back(rj);
  }
  if (projection) {
    auto rj = train_projection(projection_sets[0], projection_sets[1], *feats, row_of, spec->id, a,
                               heads_root);
    if (!rj) return 1;
    out["projection"] = *rj;
  }
  if (domain) {
    auto rj = train_domain(domain_paths, domain_groups, domain_sources, *feats, row_of, spec->id,
                           a, heads_root);
    if (!rj) return 1;
    out["domain"] = *rj;
  }
  const double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  out["seconds"] = total;
  if (a.json)
    std::cout << out.dump() << "\n";
  else
    std::cout << "trained " << out["tasks"].size() << " heads" << (projection ? " and the projection" : "")
              << (domain ? " and the domain model" : "") << " in " << total << " s\n";
  return 0;
}

}  // namespace

void add_train_command(CLI::App& app) {
  auto a = std::make_shared<TrainArgs>();
  CLI::App* cmd = app.add_subcommand(
      "train",
      "Train the tag heads (front, room, style, stories) on labeled photos, with a "
      "cross-validated report");
  add_common_options(*cmd, a->common);
  cmd->get_option("--db")->description(
      "Index used as an embedding cache when it exists (photos not in it are embedded)");
  cmd->add_option("--task", a->tasks,
                  "front, room, style, stories, projection or domain (repeatable; default the four "
                  "heads and the domain). projection: a linear map of the embedding learned so that houses of the "
                  "same style and stories come close (heads/MODEL/projection.json). domain: which "
                  "photos the heads may judge, learned from the room head's photos and "
                  "--domain-extra (heads/MODEL/domain.json); photos outside it are left untagged");
  cmd->add_option("--domain-extra", a->domain_extra,
                  "domain: a manifest (path column) of more photos like those the heads should "
                  "judge, e.g. house exteriors from another source (repeatable)");
  cmd->add_option("--domain-centroids", a->domain.centroids, "domain: k-means centroids")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  cmd->add_option("--domain-quantile", a->domain.quantile,
                  "domain: share of held-out training photos left outside the domain")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 0.5));
  cmd->add_option("--shrinkage", a->shrinkage,
                  "projection: shrinkage of the within-class scatter toward a scaled identity")
      ->capture_default_str()
      ->check(CLI::Range(0.001, 1.0));
  cmd->add_option("--manifest", a->data.manifest,
                  "Houses manifest (path, house_id, room_type), e.g. "
                  "../shared/data/houses_dataset/manifest.csv")
      ->required();
  cmd->add_option(
      "--labels", a->data.labels,
      "Hand labels (house_id, style, stories, is_front, *_conf), e.g. "
      "../shared/data/houses_dataset/labels_train.csv; needed by front, style, stories. Room and "
      "front train only on the photos of the houses it lists (the others are held out)");
  cmd->add_flag("--all-houses", a->data.all_houses,
                "Room and front: train on the photos of every manifest house, labeled or not");
  cmd->add_option("--heads", a->heads_dir,
                  "Heads root: heads go to DIR/MODEL_ID/TASK.json (default: $HOMELENS_HEADS or "
                  "the repository's heads/)");
  cmd->add_option("--report-dir", a->report_dir,
                  "Where confusion-matrix SVGs go (default: next to the heads)");
  cmd->add_option("--folds", a->train.folds, "Cross-validation folds, grouped by listing (0: none)")
      ->capture_default_str();
  cmd->add_option("--inner-folds", a->train.inner_folds,
                  "Folds choosing the L2 penalty inside each training split")
      ->capture_default_str();
  cmd->add_option("--seed", a->train.seed, "Seed of the fold assignment")->capture_default_str();
  cmd->add_option("--l2", a->l2,
                  "L2 penalties to choose from by CV (repeatable; default "
                  "0.003 0.01 0.03 0.1 0.3 1 3 10 30)");
  cmd->add_flag("--no-class-weights", a->no_class_weights,
                "Do not weight classes to equal total weight");
  cmd->add_flag("--no-standardize", a->no_standardize,
                "Only centre the embedding dimensions, do not scale them (then use smaller --l2)");
  cmd->add_option("--feature-power", a->train.transform.power,
                  "Power normalization of the embedding before standardizing: "
                  "x -> sign(x)|x|^P, then L2-normalized again (1: none)")
      ->capture_default_str()
      ->check(CLI::Range(0.05, 4.0));
  cmd->add_flag("--flip", a->flip,
                "Train also on the mirrored labeled front photos (front, style, stories; "
                "training only, in their listing's fold)");
  cmd->add_option("--flip-cache", a->flip_cache,
                  "File caching the mirrored photos' embeddings (default: DB.flipped with --db)");
  cmd->add_option("--low-conf-weight", a->data.low_conf_weight,
                  "Training weight of labels marked *_conf=low")
      ->capture_default_str();
  cmd->add_option("--hard-negative-weight", a->data.hard_negative_weight,
                  "front: weight of frontal photos labeled is_front=0, relative to an interior")
      ->capture_default_str();
  cmd->add_option("--extra-styles", a->data.extra_styles,
                  "style: extra training photos, a manifest with path and style columns "
                  "(e.g. architectural_styles_5/manifest.csv)");
  cmd->add_option("--extra-style-map", a->data.extra_style_map,
                  "SOURCE=STYLE mapping of --extra-styles classes (repeatable; unmapped ones "
                  "are left out)");
  cmd->add_option("--extra-weight", a->data.extra_weight, "Training weight of an extra photo")
      ->capture_default_str();
  cmd->add_option("--workers", a->workers, "Parallel embedding workers (default: one per core)");
  cmd->add_flag("--no-save", a->no_save, "Report only; write no head files");
  cmd->add_flag("--json", a->json, "Print the report as one JSON object");
  cmd->add_flag("-q,--quiet", a->quiet, "No progress output");
  cmd->callback([a] { exit_code() = run_train(*a); });
}

}  // namespace homelens::cli

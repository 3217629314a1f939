#include <cstdio>
#include <filesystem>
#include <iostream>
#include <optional>
#include <nlohmann/json.hpp>

#include "homelens/cli/commands.h"
#include "homelens/core/log.h"
#include "homelens/ingest/source.h"
#include "homelens/tags/features.h"
#include "homelens/tags/head.h"
#include "homelens/tags/tagger.h"

namespace homelens::cli {

namespace {

namespace fs = std::filesystem;

struct TagArgs {
  CommonOptions common;
  std::string image, manifest, base_dir, heads_dir;
  std::vector<std::string> columns;
  bool json = false;
  int workers = 0;
};

nlohmann::json probs_json(const std::map<std::string, float>& m) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [k, v] : m) j[k] = v;
  return j;
}

int run_tag(const TagArgs& a) {
  auto spec = resolve_spec(a.common);
  if (!spec) return 1;
  const std::string root = a.heads_dir.empty() ? tags::default_heads_dir() : a.heads_dir;
  auto heads = tags::HeadSet::load(root, spec->id);
  if (!heads) {
    log::error(heads.message());
    return 1;
  }
  if (heads->empty()) {
    log::error("no heads for model " + spec->id + " in " + root +
               " (train them with `homelens train`, or see scripts/setup)");
    return 1;
  }
  const auto head_set = std::make_shared<const tags::HeadSet>(std::move(*heads));
  const tags::Tagger tagger = tags::make_tagger(head_set);
  const tags::DomainModel* domain = head_set->domain();
  std::vector<std::string> paths, sources;
  if (!a.image.empty()) {
    paths.push_back(a.image);
    sources.push_back(a.image);
  } else {
    ingest::ManifestColumns cols;
    if (auto st = ingest::apply_column_mapping(a.columns, cols); !st) {
      log::error(st.message());
      return 1;
    }
    auto src = ingest::read_manifest(a.manifest, cols, a.base_dir);
    if (!src) {
      log::error(src.message());
      return 1;
    }
    for (const auto& p : src->problems)
      log::warn("skipped " + p.where + ": " + p.reason);
    for (const auto& it : src->items) {
      paths.push_back(it.path);
      sources.push_back(it.source);
    }
  }
  tags::FeatureOptions fo;
  std::error_code ec;
  if (fs::exists(a.common.db, ec)) fo.db = a.common.db;
  fo.workers = a.workers;
  fo.keep_going = true;
  auto feats = tags::embed_paths(paths, *spec, fo);
  if (!feats) {
    log::error(feats.message());
    return 1;
  }
  int failed = 0;
  for (std::size_t i = 0; i < paths.size(); ++i) {
    if (!feats->errors[i].empty()) {
      log::warn("failed " + feats->errors[i]);
      ++failed;
      continue;
    }
    store::Tags t;
    // The heads' view only: tagging reads nothing else.
    const tags::Matrix& hx = feats->head_rows();
    const model::Embedding emb{{hx.row(i), hx.row(i) + hx.cols}, {}, {}};
    if (auto st = tagger(emb, t); !st) {
      log::error(st.message());
      return 1;
    }
    // How like the heads' training photos it is: what a --domain-quantile choice is judged by.
    std::optional<float> score;
    if (domain) {
      auto d = tags::domain_score(*domain, emb.vector, spec->id);
      if (!d) {
        log::error(d.message());
        return 1;
      }
      score = *d;
    }
    if (a.json) {
      nlohmann::json j = {{"path", sources[i]}};
      if (score)
        j["domain"] = {{"score", *score}, {"threshold", domain->threshold},
                       {"inside", *score >= domain->threshold}};
      j["front"] = t.front ? nlohmann::json(*t.front) : nlohmann::json(nullptr);
      j["room"] = t.room.empty() ? nlohmann::json(nullptr) : nlohmann::json(t.room);
      j["style"] = t.style.empty() ? nlohmann::json(nullptr) : nlohmann::json(t.style);
      j["style_probs"] = probs_json(t.style_probs);
      j["stories"] = t.stories.empty() ? nlohmann::json(nullptr) : nlohmann::json(t.stories);
      j["stories_probs"] = probs_json(t.stories_probs);
      std::cout << j.dump() << "\n";
    } else {
      std::cout << sources[i] << ":";
      char buf[64];
      if (t.front) {
        std::snprintf(buf, sizeof buf, " front %.2f", *t.front);
        std::cout << buf;
      }
      if (!t.room.empty()) std::cout << "  room " << t.room;
      if (!t.style.empty()) {
        std::snprintf(buf, sizeof buf, " (%.2f)", t.style_probs[t.style]);
        std::cout << "  style " << t.style << buf;
      }
      if (!t.stories.empty()) {
        std::snprintf(buf, sizeof buf, " (%.2f)", t.stories_probs[t.stories]);
        std::cout << "  stories " << t.stories << buf;
      }
      if (score && *score < domain->threshold) {
        std::snprintf(buf, sizeof buf, "%.3f < %.3f", *score, domain->threshold);
        std::cout << "  not tagged: unlike the heads' training photos (cosine " << buf << ")";
      }
      std::cout << "\n";
    }
  }
  return failed ? 2 : 0;
}

}  // namespace

void add_tag_command(CLI::App& app) {
  auto a = std::make_shared<TagArgs>();
  CLI::App* cmd = app.add_subcommand(
      "tag", "Print the tags (front probability, room, style, stories) the heads give photos");
  add_common_options(*cmd, a->common);
  cmd->get_option("--db")->description(
      "Index used as an embedding cache when it exists (other photos are embedded)");
  auto* src = cmd->add_option_group("source", "What to tag");
  src->add_option("--image", a->image, "One photo file");
  src->add_option("--manifest", a->manifest, "CSV manifest with a path column (docs/manifest.md)");
  src->require_option(1);
  cmd->add_option("--col", a->columns, "Manifest column mapping, e.g. path=COLUMN (repeatable)");
  cmd->add_option("--base-dir", a->base_dir,
                  "Folder relative manifest paths start from (default: the manifest's)");
  cmd->add_option("--heads", a->heads_dir,
                  "Heads root (DIR/MODEL_ID/TASK.json) or a folder of head files (default: "
                  "$HOMELENS_HEADS or the repository's heads/)");
  cmd->add_option("--workers", a->workers, "Parallel embedding workers (default: one per core)");
  cmd->add_flag("--json", a->json,
                "One JSON object a line: path, front, room, style, style_probs, stories, "
                "stories_probs, and with a domain model domain {score, threshold, inside}");
  cmd->callback([a] { exit_code() = run_tag(*a); });
}

}  // namespace homelens::cli

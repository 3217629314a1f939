#include <cstdio>
#include <iostream>

#include <nlohmann/json.hpp>

#include "homelens/cli/commands.h"
#include "homelens/core/log.h"
#include "homelens/engine/engine.h"
#include "homelens/image/decode.h"

namespace homelens::cli {

namespace {

struct SimilarArgs {
  CommonOptions common;
  std::string image;
  std::int64_t image_id = -1;
  std::size_t k = 10;
  bool json = false, include_same_listing = false, exclude_same_photo = false;
};

std::string fmt_opt(const std::optional<double>& v) {
  if (!v) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", *v);
  return buf;
}

nlohmann::json opt_json(const std::optional<double>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

int run_similar(const SimilarArgs& a) {
  auto spec = resolve_spec(a.common);
  if (!spec) return 1;
  // A photo file is tagged as the service tags an upload, so it is expanded the same way.
  tags::Tagger tagger;
  if (!a.image.empty()) {
    auto heads = tags::load_heads_option("", *spec);
    if (!heads) {
      log::error(heads.message());
      return 1;
    }
    if (!(*heads)->empty()) tagger = tags::make_tagger(*heads);
  }
  auto eng = open_engine(a.common, *spec, std::move(tagger));
  if (!eng) return 1;
  engine::QuerySpec q;
  if (!a.image.empty()) {
    auto bytes = image::read_file(a.image, 64u << 20);
    if (!bytes) {
      log::error(bytes.message());
      return 1;
    }
    q.bytes = std::move(*bytes);
    q.filename = a.image;
  } else {
    q.image_id = a.image_id;
  }
  engine::SimilarOptions so;
  so.k = a.k;
  so.exclude_same_listing = !a.include_same_listing;
  so.exclude_same_photo = a.exclude_same_photo;
  auto answer = eng->similar(q, so);
  if (!answer) {
    if (answer.code() == ErrorCode::kNotFound)
      log::error("image id " + std::to_string(a.image_id) + " is not in " + a.common.db +
                 " (for model " + spec->id + ")");
    else
      log::error(answer.message());
    return 1;
  }

  nlohmann::json out = nlohmann::json::array();
  if (!a.json) std::printf("%4s %7s %8s  %-12s %10s %5s %5s %-7s %s\n", "rank", "cosine", "image",
                           "listing", "price", "beds", "baths", "zip", "source");
  int rank = 0;
  for (const auto& h : answer->results) {
    const store::Listing& l = h.listing;
    ++rank;
    if (a.json) {
      out.push_back({{"rank", rank}, {"image_id", h.image_id}, {"score", h.score},
                     {"listing_id", h.listing_id}, {"source", h.source},
                     {"price", opt_json(l.price)}, {"beds", opt_json(l.beds)},
                     {"baths", opt_json(l.baths)}, {"area", opt_json(l.area)}, {"zip", l.zip}});
    } else {
      std::printf("%4d %7.4f %8lld  %-12s %10s %5s %5s %-7s %s\n", rank, h.score,
                  static_cast<long long>(h.image_id), h.listing_id.c_str(), fmt_opt(l.price).c_str(),
                  fmt_opt(l.beds).c_str(), fmt_opt(l.baths).c_str(), l.zip.c_str(), h.source.c_str());
    }
  }
  if (a.json)
    std::cout << nlohmann::json{{"query", a.image.empty() ? nlohmann::json(a.image_id)
                                                          : nlohmann::json(a.image)},
                                {"expanded", answer->query.expanded},
                                {"results", out}}
                     .dump()
              << "\n";
  return 0;
}

}  // namespace

void add_similar_command(CLI::App& app) {
  auto a = std::make_shared<SimilarArgs>();
  CLI::App* cmd = app.add_subcommand("similar", "Find the indexed photos most similar to a photo");
  add_common_options(*cmd, a->common);
  auto* q = cmd->add_option_group("query", "The query photo");
  q->add_option("--image", a->image, "A photo file (embedded on the fly)");
  q->add_option("--image-id", a->image_id, "An indexed image id");
  q->require_option(1);
  cmd->add_option("--ann-min", a->common.ann.min_rows,
                  "Search with the approximate FAISS index from this many photos (0: always exact)")
      ->capture_default_str();
  cmd->add_option("--ann-dir", a->common.ann_dir,
                  "Folder for the approximate index's file (default: beside a SQLite table; none for PostgreSQL)");
  add_expansion_option(*cmd, a->common.expand_outside);
  cmd->add_option("-k", a->k, "How many results")->capture_default_str()->check(CLI::Range(1, 100000));
  cmd->add_flag("--json", a->json, "Print results as JSON");
  cmd->add_flag("--include-same-listing", a->include_same_listing,
                "Also return photos of the query's own listing (excluded by default)");
  cmd->add_flag("--exclude-same-photo", a->exclude_same_photo,
                "Drop results whose bytes are identical to the query photo");
  cmd->callback([a] { exit_code() = run_similar(*a); });
}

}  // namespace homelens::cli

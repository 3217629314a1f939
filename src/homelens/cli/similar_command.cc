#include <cstdio>
#include <iostream>

#include <nlohmann/json.hpp>

#include "homelens/cli/commands.h"
#include "homelens/core/log.h"
#include "homelens/image/decode.h"
#include "homelens/ingest/prepare.h"
#include "homelens/model/embedder.h"
#include "homelens/rank/catalog.h"
#include "homelens/store/store.h"

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
  auto store = store::open_store(a.common.db);
  if (!store) {
    log::error(store.message());
    return 1;
  }
  auto catalog = rank::Catalog::load(**store, spec->id);
  if (!catalog) {
    log::error(catalog.message());
    return 1;
  }
  rank::SimilarQuery q;
  q.k = a.k;
  q.exclude_same_listing = !a.include_same_listing;
  q.exclude_same_photo = a.exclude_same_photo;
  if (!a.image.empty()) {
    auto bytes = image::read_file(a.image, 64u << 20);
    if (!bytes) {
      log::error(bytes.message());
      return 1;
    }
    auto embedder = model::Embedder::open(*spec, {0, false});
    if (!embedder) {
      log::error(embedder.message());
      return 1;
    }
    auto decoded = ingest::decode_photo(*bytes, a.image, {}, embedder->min_decode_side());
    if (!decoded) {
      log::error(decoded.message());
      return 1;
    }
    std::vector<ingest::DecodedPhoto> batch{std::move(*decoded)};
    auto photos = ingest::embed_photos(batch, *embedder, spec->id, {}, nullptr);
    if (!photos) {
      log::error(photos.message());
      return 1;
    }
    q.vector = std::move((*photos)[0].embedding);
    q.sha256 = std::move((*photos)[0].sha256);
  } else {
    const rank::CatalogEntry* e = catalog->find(a.image_id);
    if (!e) {
      log::error("image id " + std::to_string(a.image_id) + " is not in " + a.common.db +
                 " (for model " + spec->id + ")");
      return 1;
    }
    auto v = catalog->index().vector(a.image_id);
    q.vector.assign(v.begin(), v.end());
    q.image_id = a.image_id;
    q.listing_id = e->image.listing_id;
    q.sha256 = e->sha256;
  }
  auto hits = rank::similar(*catalog, q);

  nlohmann::json out = nlohmann::json::array();
  if (!a.json) std::printf("%4s %7s %8s  %-12s %10s %5s %5s %-7s %s\n", "rank", "cosine", "image",
                           "listing", "price", "beds", "baths", "zip", "source");
  int rank = 0;
  for (const auto& h : hits) {
    const rank::CatalogEntry* e = catalog->find(h.id);
    auto listing = (*store)->get_listing(e->image.listing_id);
    store::Listing l;
    if (listing && listing->has_value()) l = **listing;
    ++rank;
    if (a.json) {
      out.push_back({{"rank", rank}, {"image_id", h.id}, {"score", h.score},
                     {"listing_id", l.id}, {"source", e->image.source},
                     {"price", opt_json(l.price)}, {"beds", opt_json(l.beds)},
                     {"baths", opt_json(l.baths)}, {"area", opt_json(l.area)}, {"zip", l.zip}});
    } else {
      std::printf("%4d %7.4f %8lld  %-12s %10s %5s %5s %-7s %s\n", rank, h.score,
                  static_cast<long long>(h.id), e->image.listing_id.c_str(), fmt_opt(l.price).c_str(),
                  fmt_opt(l.beds).c_str(), fmt_opt(l.baths).c_str(), l.zip.c_str(),
                  e->image.source.c_str());
    }
  }
  if (a.json) std::cout << nlohmann::json{{"query", a.image.empty() ? nlohmann::json(a.image_id) : nlohmann::json(a.image)},
                                          {"results", out}}.dump() << "\n";
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
  cmd->add_option("-k", a->k, "How many results")->capture_default_str()->check(CLI::Range(1, 100000));
  cmd->add_flag("--json", a->json, "Print results as JSON");
  cmd->add_flag("--include-same-listing", a->include_same_listing,
                "Also return photos of the query's own listing (excluded by default)");
  cmd->add_flag("--exclude-same-photo", a->exclude_same_photo,
                "Drop results whose bytes are identical to the query photo");
  cmd->callback([a] { exit_code() = run_similar(*a); });
}

}  // namespace homelens::cli

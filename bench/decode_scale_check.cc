// Would decoding listing photos at a reduced DCT scale change their embeddings? (Figures, not
// pass/fail.) Embeds every photo of a manifest twice, from the decode the model's input
// allows (full size for a 640x480 photo and a 256-px shorter side) and from a decode at
// 1/--denom scale (then enlarged by the resize), and prints the cosines' minimum, mean and
// low percentiles, with the decode time of each.
#include <algorithm>
#include <chrono>
#include <cstdio>

#include <CLI/CLI.hpp>

#include "bench_util.h"
#include "homelens/core/csv.h"
#include "homelens/image/decode.h"
#include "homelens/model/embedder.h"
#include "homelens/model/embedding.h"

using namespace homelens;

int main(int argc, char** argv) {
  CLI::App app{"Embedding cosine: the model's decode against a reduced-scale one"};
  std::string manifest, column = "path";
  int denom = 2, limit = 0;
  app.add_option("--manifest", manifest, "CSV of photos")->required();
  app.add_option("--col", column, "The manifest column with the photo paths")->capture_default_str();
  app.add_option("--denom", denom, "The reduced scale: 1/denom (2, 4 or 8)")->capture_default_str();
  app.add_option("--limit", limit, "Only the first N photos (0: all)");
  CLI11_PARSE(app, argc, argv);

  auto spec = model::find_model_spec(model::kDefaultModelId, model::default_models_dir());
  auto table = read_csv(manifest);
  if (!spec || !table) {
    std::fprintf(stderr, "%s\n", (!spec ? spec.message() : table.message()).c_str());
    return 1;
  }
  auto embedder = model::Embedder::open(*spec);
  if (!embedder) {
    std::fprintf(stderr, "%s\n", embedder.message().c_str());
    return 1;
  }
  const auto it = std::find(table->header.begin(), table->header.end(), column);
  const auto col = static_cast<std::size_t>(it - table->header.begin());
  if (it == table->header.end()) {
    std::fprintf(stderr, "%s: no column \"%s\"\n", manifest.c_str(), column.c_str());
    return 1;
  }
  const std::string dir = manifest.substr(0, manifest.find_last_of('/') + 1);
  std::vector<double> cosines, model_ms, reduced_ms;
  std::string worst;
  double worst_cos = 2;
  for (std::size_t r = 0; r < table->rows.size() && (limit <= 0 || static_cast<int>(r) < limit); ++r) {
    std::string path = table->rows[r].fields[col];
    if (!path.empty() && path[0] != '/') path = dir + path;
    auto bytes = image::read_file(path, 64u << 20);
    if (!bytes) continue;
    auto header = image::read_header(*bytes, path);
    if (!header || header->format != "jpeg") continue;
    image::DecodeOptions as_model, reduced;
    as_model.min_shorter_side = embedder->min_decode_side();
    reduced.min_shorter_side = std::max(1, std::min(header->width, header->height) / denom);
    auto t0 = std::chrono::steady_clock::now();
    auto a = image::decode(*bytes, path, as_model);
    auto t1 = std::chrono::steady_clock::now();
    auto b = image::decode(*bytes, path, reduced);
    auto t2 = std::chrono::steady_clock::now();
    if (!a || !b || b->scale_denom != denom) continue;
    auto ea = embedder->embed({a->rgb});
    auto eb = embedder->embed({b->rgb});
    if (!ea || !eb) continue;
    const double c = model::dot((*ea)[0].vector, (*eb)[0].vector);
    cosines.push_back(c);
    model_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    reduced_ms.push_back(std::chrono::duration<double, std::milli>(t2 - t1).count());
    if (c < worst_cos) {
      worst_cos = c;
      worst = path;
    }
  }
  if (cosines.empty()) {
    std::fprintf(stderr, "no photo could be compared\n");
    return 1;
  }
  double sum = 0;
  std::size_t below = 0;
  for (double c : cosines) {
    sum += c;
    below += c < 0.99;
  }
  std::printf("%zu photos, 1/%d-scale decode against the model's: embedding cosine min %.4f (%s), p1 %.4f, "
              "p5 %.4f, mean %.4f; %zu below 0.99. Decode p50 %.2f ms (model's) vs %.2f ms (1/%d)\n",
              cosines.size(), denom, worst_cos, worst.c_str(), bench::percentile(cosines, 0.01),
              bench::percentile(cosines, 0.05), sum / cosines.size(), below, bench::percentile(model_ms, 0.5),
              bench::percentile(reduced_ms, 0.5), denom);
  return 0;
}

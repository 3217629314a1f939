// Where an upload query's time goes (figures, not pass/fail): the stages of
// recommend-for-an-uploaded-photo run one by one in process, each timed over many rounds,
// next to the whole call through the engine. Same 1024-px JPEG and synthetic table as
// serve_bench's upload run, so the sum can be compared with its server-side took_ms.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>

#include <CLI/CLI.hpp>

#include "bench_util.h"
#include "synthetic_db.h"
#include "homelens/core/cpu.h"
#include "homelens/engine/engine.h"
#include "homelens/ingest/prepare.h"
#include "homelens/model/embedder.h"
#include "homelens/model/preprocess.h"
#include "homelens/rank/recommender.h"

namespace fs = std::filesystem;
using namespace homelens;

namespace {

// Median milliseconds of fn over `rounds` calls, after two warm-up calls.
double median_ms(int rounds, const std::function<void()>& fn) {
  fn();
  fn();
  std::vector<double> ms;
  for (int i = 0; i < rounds; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  return bench::percentile(ms, 0.5);
}

template <class T>
T must(Result<T> r, const char* what) {
  if (!r) throw std::runtime_error(std::string(what) + ": " + r.message());
  return std::move(*r);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"HomeLens upload query: time per stage"};
  std::string photo, backend = "auto", model_id = model::kDefaultModelId;
  int listings = 25000, per_listing = 2, rounds = 50;
  app.add_option("--photo", photo, "A real photo, scaled to 1024 px for the upload")->required();
  app.add_option("--listings", listings, "Synthetic listings")->capture_default_str();
  app.add_option("--photos-per-listing", per_listing, "Synthetic photos per listing")->capture_default_str();
  app.add_option("--rounds", rounds, "Timed rounds per stage")->capture_default_str();
  app.add_option("--backend", backend, "Model backend: auto, onednn or opencv")->capture_default_str();
  app.add_option("--model", model_id, "Model spec id or file")->capture_default_str();
  bool wide_when_idle = true;
  app.add_option("--wide-when-idle", wide_when_idle, "The engine embeds an upload on every core when idle")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  try {
    auto spec = must(model::find_model_spec(model_id, model::default_models_dir()), "model spec");
    spec.backend = backend;
    const fs::path tmp = fs::temp_directory_path() / ("homelens-upload-bench-" + std::to_string(getpid()));
    fs::create_directories(tmp);
    const std::string db = (tmp / "synthetic.db").string();
    bench::make_synthetic_db(db, listings, per_listing, spec.id);
    cv::Mat img;
    const std::string jpeg = bench::upload_jpeg(photo, img);
    std::printf(
        "upload: %dx%d JPEG (%zu KB); model %s; whole index: %d listings x %d photos; medians of "
        "%d rounds\n",
        img.cols, img.rows, jpeg.size() / 1024, spec.id.c_str(), listings, per_listing, rounds);

    engine::EngineOptions eo;
    eo.db = db;
    eo.spec = spec;
    eo.wide_when_idle = wide_when_idle;
    auto engine = must(engine::Engine::open(eo), "engine");
    if (auto st = engine->load(); !st) throw std::runtime_error(st.message());

    auto embedder = must(model::Embedder::open(spec), "embedder");
    const int min_side = embedder.min_decode_side();
    ingest::DecodedPhoto decoded;
    const double decode_ms = median_ms(rounds, [&] {
      decoded = must(ingest::decode_photo(jpeg, "upload", {}, min_side), "decode");
    });
    const double hash_ms = median_ms(rounds, [&] { (void)image::sha256_hex(jpeg); });
    cv::Mat blob;
    const double pre_ms = median_ms(rounds, [&] { blob = model::make_blob({decoded.rgb}, spec.input); });
    model::EmbedTimes times;
    const double embed_ms = median_ms(rounds, [&] { must(embedder.embed({decoded.rgb}, &times), "embed"); });
    const int cores = static_cast<int>(usable_cores());
    auto wide = must(model::Embedder::open(spec, {cores, true}), "embedder on all cores");
    const double wide_ms = median_ms(rounds, [&] { must(wide.embed({decoded.rgb}), "embed on all cores"); });
    // The whole-index recommend for the upload's embedding (untagged, as no heads are loaded).
    auto store = must(store::open_store(db), "store");
    auto catalog = must(rank::Catalog::load(*store, spec.id, ""), "catalogue");
    rank::RecommendRequest request;
    request.query.vector = must(embedder.embed({decoded.rgb}), "embed")[0].vector;
    const double scan_ms = median_ms(rounds, [&] { (void)rank::recommend(catalog, request); });
    const double whole_ms = median_ms(rounds, [&] {
      engine::QuerySpec q;
      q.bytes = jpeg;
      must(engine->recommend(q, {}), "recommend for the upload");
    });
    std::printf("decode %.2f ms (to %dx%d), sha256 %.2f ms, preprocess %.2f ms, preprocess+forward %.2f ms "
                "(forward %.2f), recommend k=10 for its embedding %.2f ms\n",
                decode_ms, decoded.rgb.cols, decoded.rgb.rows, hash_ms, pre_ms, embed_ms, embed_ms - pre_ms,
                scan_ms);
    std::printf("preprocess+forward on %d threads: %.2f ms\n", cores, wide_ms);
    auto stats = must(engine->stats(), "stats");
    std::printf("recommend for the upload, k=10, through the engine: %.2f ms (%llu of %d uploads embedded on %d threads)\n",
                whole_ms, static_cast<unsigned long long>(stats.wide_embeds), rounds + 2, cores);
    fs::remove_all(tmp);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  return 0;
}

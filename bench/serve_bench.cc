// Service benchmark (figures, not pass/fail), all on 127.0.0.1:
//  1. server-side latency (took_ms) of POST /v1/recommend with 10,000 explicit
//     candidate listings and k=1000, over a synthetic table;
//  2. latency of recommend for an uploaded 1024-px JPEG;
//  3. requests/s of recommend by image id, k=10, under wrk with 64 connections,
//     over the real houses index given with --houses-db;
//  4. resident memory per indexed photo.
#include <httplib.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include <CLI/CLI.hpp>

#include "bench_util.h"
#include "synthetic_db.h"
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "homelens/model/embedding.h"
#include "homelens/serve/server.h"
#include "homelens/store/store.h"

namespace fs = std::filesystem;
using nlohmann::json;
using namespace homelens;

using bench::listing_name;
using bench::make_synthetic_db;
using bench::percentile;

namespace {

double rss_mb() {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"HomeLens service benchmark"};
  std::string houses_db, photo, wrk_seconds = "10";
  int listings = 25000, per_listing = 2, requests = 1000;
  app.add_option("--houses-db", houses_db, "Index of the real houses (for the wrk throughput run)");
  app.add_option("--photo", photo, "A real photo, scaled to 1024 px for the upload run")->required();
  app.add_option("--listings", listings, "Synthetic listings")->capture_default_str();
  app.add_option("--photos-per-listing", per_listing, "Synthetic photos per listing")->capture_default_str();
  app.add_option("--requests", requests, "Recommend requests for the latency run")->capture_default_str();
  std::string backend = "auto";
  app.add_option("--backend", backend, "Model backend for the upload run: auto, onednn or opencv")
      ->capture_default_str();
  app.add_option("--wrk-seconds", wrk_seconds, "Duration of the wrk run")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  auto spec = model::find_model_spec(model::kDefaultModelId, model::default_models_dir());
  if (!spec) {
    std::fprintf(stderr, "%s\n", spec.message().c_str());
    return 1;
  }
  const fs::path tmp = fs::temp_directory_path() / ("homelens-bench-" + std::to_string(getpid()));
  fs::create_directories(tmp);
  const std::string db = (tmp / "synthetic.db").string();
  std::printf("building a synthetic table: %d listings x %d photos ...\n", listings, per_listing);
  make_synthetic_db(db, listings, per_listing, spec->id);

  serve::ServerConfig cfg;
  cfg.engine.db = db;
  cfg.engine.spec = *spec;
  cfg.engine.spec.backend = backend;
  cfg.port = 0;
  const double rss_before = rss_mb();
  auto server = serve::Server::create(cfg);
  if (!server) {
    std::fprintf(stderr, "%s\n", server.message().c_str());
    return 1;
  }
  const double rss_after = rss_mb();
  auto port = (*server)->start();
  const int photos = listings * per_listing;
  std::printf("resident memory: %.0f MB for %d photos = %.1f KB per indexed photo (1280-d float32 = 5.0 KB)\n",
              rss_after - rss_before, photos, (rss_after - rss_before) * 1024.0 / photos);

  httplib::Client cli("127.0.0.1", *port);
  cli.set_keep_alive(true);
  cli.set_read_timeout(30, 0);
  std::mt19937 rng(3);
  std::uniform_int_distribution<int> pick(0, listings - 1);
  std::vector<double> server_ms, client_ms;
  for (int i = 0; i < requests; ++i) {
    json req = {{"query", {{"listing_id", listing_name(pick(rng))}}}, {"k", 1000}};
    json ids = json::array();
    for (int c = 0; c < 10000; ++c) ids.push_back(listing_name(pick(rng)));
    req["candidates"] = {{"listing_ids", ids}};
    const std::string body = req.dump();
    auto t0 = std::chrono::steady_clock::now();
    auto res = cli.Post("/v1/recommend", body, "application/json");
    auto t1 = std::chrono::steady_clock::now();
    if (!res || res->status != 200) {
      std::fprintf(stderr, "request failed\n");
      return 1;
    }
    auto j = json::parse(res->body);
    if (i >= 10) {  // warm-up excluded
      server_ms.push_back(j["took_ms"].get<double>());
      client_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    }
  }
  std::printf("recommend, 10,000 candidate listings, k=1000 (%zu requests): server-side p50 %.2f ms, p99 %.2f ms; "
              "round trip p50 %.2f ms, p99 %.2f ms\n",
              server_ms.size(), percentile(server_ms, 0.5), percentile(server_ms, 0.99),
              percentile(client_ms, 0.5), percentile(client_ms, 0.99));

  cv::Mat img;
  const std::string jpeg_bytes = bench::upload_jpeg(photo, img);
  server_ms.clear();
  client_ms.clear();
  for (int i = 0; i < 60; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    auto res = cli.Post("/v1/recommend?k=10", jpeg_bytes, "image/jpeg");
    auto t1 = std::chrono::steady_clock::now();
    if (!res || res->status != 200) {
      std::fprintf(stderr, "upload request failed\n");
      return 1;
    }
    if (i >= 5) {
      server_ms.push_back(json::parse(res->body)["took_ms"].get<double>());
      client_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    }
  }
  std::printf("recommend for an uploaded %dx%d JPEG (%zu KB), k=10 over %d photos: server-side p50 %.1f ms, "
              "p99 %.1f ms; round trip p50 %.1f ms\n",
              img.cols, img.rows, jpeg_bytes.size() / 1024, photos, percentile(server_ms, 0.5),
              percentile(server_ms, 0.99), percentile(client_ms, 0.5));
  (*server)->stop();

  if (!houses_db.empty()) {
    cfg.engine.db = houses_db;
    auto houses = serve::Server::create(cfg);
    if (!houses) {
      std::fprintf(stderr, "%s\n", houses.message().c_str());
      return 1;
    }
    auto hport = (*houses)->start();
    auto store = store::open_store(houses_db);
    auto stats = (*store)->stats();
    const std::string lua = (tmp / "recommend.lua").string();
    std::ofstream(lua) << "math.randomseed(7)\n"
                          "request = function()\n"
                          "  local body = '{\"query\":{\"image_id\":' .. math.random(1, "
                       << stats->images
                       << ") .. '},\"k\":10}'\n"
                          "  return wrk.format('POST', '/v1/recommend', {['Content-Type']='application/json'}, body)\n"
                          "end\n"
                          "done = function(summary, latency, requests)\n"
                          "  io.write(string.format('WRK %d %d %d %d %.3f %.3f\\n', summary.requests, summary.errors.status,"
                          " summary.errors.connect + summary.errors.read + summary.errors.write, summary.errors.timeout,"
                          " latency:percentile(50)/1000, latency:percentile(99)/1000))\n"
                          "end\n";
    const std::string cmd = "wrk -t2 -c64 -d" + wrk_seconds + "s -s " + lua + " http://127.0.0.1:" +
                            std::to_string(*hport) + "/ 2>&1";
    std::printf("\n%s\n", cmd.c_str());
    std::FILE* p = popen(cmd.c_str(), "r");
    std::string out;
    char buf[512];
    while (p && std::fgets(buf, sizeof buf, p)) out += buf;
    if (p) pclose(p);
    std::printf("%s", out.c_str());
    long long n = 0, status_err = 0, sock_err = 0, timeouts = 0;
    double p50 = 0, p99 = 0;
    auto at = out.find("WRK ");
    if (at != std::string::npos &&
        std::sscanf(out.c_str() + at, "WRK %lld %lld %lld %lld %lf %lf", &n, &status_err, &sock_err, &timeouts, &p50, &p99) == 6) {
      const double secs = std::stod(wrk_seconds);
      std::printf("recommend by image id, k=10, %lld photos, 64 connections: %.0f requests/s, errors: %lld non-2xx, "
                  "%lld socket, %lld timeouts; latency p50 %.2f ms, p99 %.2f ms\n",
                  static_cast<long long>(stats->images), n / secs, status_err, sock_err, timeouts, p50, p99);
    } else {
      std::printf("wrk did not run (install the Debian package wrk)\n");
    }
    (*houses)->stop();
  }
  fs::remove_all(tmp);
  return 0;
}

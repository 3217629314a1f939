// The candidate scan alone (figures, not pass/fail): rank::recommend in process over a
// synthetic catalogue (random post-ReLU-like unit embeddings, tags as serve_bench makes
// them), with an explicit list of distinct candidate listings, as an MLS front end sends.
// No HTTP, JSON or id parsing: what is left is gathering the candidates and scanning them.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <numeric>
#include <random>
#include <string>

#include <CLI/CLI.hpp>

#include "bench_util.h"

#include "homelens/model/embedding.h"
#include "homelens/rank/recommender.h"

using namespace homelens;

using bench::listing_name;
using bench::percentile;

namespace {

// `listings` listings of `per_listing` photos each; photo 0 is the title, a house front except
// in a share `non_front_titles` of the listings (which lead with an inside photo). Embeddings
// are drawn around the real ones when given (bench::draw_around), else random post-ReLU-like.
rank::Catalog make_catalog(int listings, int per_listing, std::size_t dim, const std::string& index_spec,
                           double non_front_titles, const std::vector<float>& real, float noise) {
  auto created = rank::Catalog::create(dim, index_spec);
  if (!created) throw std::runtime_error(created.message());
  rank::Catalog cat = std::move(*created);
  cat.mutable_index().reserve(static_cast<std::size_t>(listings) * per_listing);
  std::mt19937 rng(1);
  std::normal_distribution<float> g;
  const char* styles[] = {"spanish", "ranch", "traditional", "contemporary", "other"};
  const char* stories[] = {"1", "2", "3"};
  std::int64_t next_id = 1;
  for (int l = 0; l < listings; ++l) {
    store::Listing li;
    li.id = listing_name(l);
    cat.put_listing(li);
    for (int p = 0; p < per_listing; ++p) {
      store::Photo ph;
      ph.embedding.resize(dim);
      if (!real.empty()) {
        bench::draw_around(real, dim, static_cast<std::size_t>(next_id), noise, 1, ph.embedding.data());
      } else {
        for (auto& x : ph.embedding) x = std::abs(g(rng));
        model::l2_normalize(ph.embedding);
      }
      const bool front = p == 0 && std::uniform_real_distribution<double>(0, 1)(rng) >= non_front_titles;
      ph.tags.front = static_cast<float>(front ? 0.9 : 0.05);
      ph.tags.style = styles[rng() % 5];
      ph.tags.stories = stories[rng() % 3];
      store::Image im;
      im.id = next_id++;
      im.listing_id = li.id;
      im.photo_order = p;
      im.is_title = p == 0;
      if (auto st = cat.put(im, ph); !st) throw std::runtime_error(st.message());
    }
  }
  return cat;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"HomeLens candidate-scan benchmark (rank::recommend in process)"};
  int listings = 25000, per_listing = 2, candidates = 10000, requests = 1000;
  std::size_t k = 1000, dim = 1280;
  std::string index_spec;
  bool no_prune = false;
  double non_front_titles = 0;
  app.add_option("--listings", listings, "Synthetic listings")->capture_default_str();
  app.add_option("--photos-per-listing", per_listing, "Synthetic photos per listing")->capture_default_str();
  app.add_option("--candidates", candidates, "Distinct candidate listings per request")->capture_default_str();
  app.add_option("-k", k, "Results per request")->capture_default_str();
  app.add_option("--requests", requests, "Timed requests (after 10 warm-up ones)")->capture_default_str();
  app.add_option("--dim", dim, "Embedding dimension")->capture_default_str();
  app.add_option("--index", index_spec, "Index kind (index_factory.h; default: the catalogue's default)");
  app.add_option("--non-front-titles", non_front_titles,
                 "Share of listings whose title photo is not a house front (class 0 for a front query)")
      ->capture_default_str()->check(CLI::Range(0.0, 1.0));
  app.add_flag("--no-prune", no_prune, "Compute every candidate's cosine (RecommendRequest::prune = false)");
  std::string db;
  float noise = 0.6f;
  app.add_option("--db", db,
                 "A table with the houses indexed: draw the embeddings around its real ones instead of at random");
  app.add_option("--noise", noise, "With --db, norm of the noise added to a real embedding")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  candidates = std::min(candidates, listings);
  std::vector<float> real;
  if (!db.empty()) {
    auto loaded = bench::load_embeddings(db, dim);
    if (!loaded) {
      std::fprintf(stderr, "%s\n", loaded.message().c_str());
      return 1;
    }
    real = std::move(*loaded);
  }

  std::printf("building a synthetic catalogue: %d listings x %d photos, %zu-d (%s), %.0f%% of titles not house fronts ...\n",
              listings, per_listing, dim,
              real.empty() ? "random post-ReLU-like" : ("drawn around " + std::to_string(real.size() / dim) +
                                                        " real embeddings, noise " + std::to_string(noise)).c_str(),
              100 * non_front_titles);
  const rank::Catalog cat = make_catalog(listings, per_listing, dim, index_spec, non_front_titles, real, noise);

  std::mt19937 rng(3);
  std::vector<int> order(static_cast<std::size_t>(listings));
  std::iota(order.begin(), order.end(), 0);
  std::vector<double> ms;
  double considered = 0, scanned = 0;
  for (int i = 0; i < requests + 10; ++i) {
    const rank::CatalogListing* ql = cat.listing(listing_name(static_cast<int>(rng() % listings)));
    const rank::CatalogEntry* qe = ql->title;
    rank::RecommendRequest req;
    const auto v = cat.index().vector(qe->image.id);
    req.query.vector.assign(v.begin(), v.end());
    req.query.tags = qe->tags;
    req.query.image_id = qe->image.id;
    req.query.listing_id = ql->listing.id;
    req.k = k;
    req.prune = !no_prune;
    // A partial shuffle: `candidates` distinct listings in random order.
    for (int c = 0; c < candidates; ++c)
      std::swap(order[static_cast<std::size_t>(c)], order[c + rng() % (listings - c)]);
    req.listing_ids.reserve(static_cast<std::size_t>(candidates));
    for (int c = 0; c < candidates; ++c) req.listing_ids.push_back(listing_name(order[static_cast<std::size_t>(c)]));

    const auto t0 = std::chrono::steady_clock::now();
    const rank::RecommendResult res = rank::recommend(cat, req);
    const auto t1 = std::chrono::steady_clock::now();
    if (res.results.size() != std::min<std::size_t>(k, res.candidates)) {
      std::fprintf(stderr, "request %d: %zu results for %zu candidates\n", i, res.results.size(), res.candidates);
      return 1;
    }
    if (i < 10) continue;  // warm-up
    ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    considered += static_cast<double>(res.candidates);
    scanned += static_cast<double>(res.scanned);
  }
  std::printf("recommend in process (%s index), %d candidate listings, k=%zu (%zu requests): p50 %.2f ms, "
              "p99 %.2f ms, mean %.2f ms; %.0f candidate photos per request, %.0f of them scanned\n",
              cat.index().kind().c_str(), candidates, k, ms.size(), percentile(ms, 0.5), percentile(ms, 0.99),
              std::accumulate(ms.begin(), ms.end(), 0.0) / static_cast<double>(ms.size()),
              considered / static_cast<double>(ms.size()), scanned / static_cast<double>(ms.size()));
  return 0;
}

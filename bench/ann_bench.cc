// Approximate search at catalogue scale (printed figures, not a pass/fail test):
// N synthetic 1280-d vectors drawn around the real house embeddings (a real one
// plus Gaussian noise, normalized), indexed side by side by
//   - FAISS IndexFlatIP (the exact peer; also the ground truth),
//   - IVF+SQ8 with exact re-ranking (HomeLens's AnnIndex, the chosen one),
//   - IVF+PQ with exact re-ranking (the alternative),
//   - hnswlib (Debian's, the HNSW peer; optionally on a subset, it builds slowly),
// with build time, memory per vector (resident growth while building), p50/p99
// latency of top-10 and top-1000 single queries, and recall@10 / @1000 against exact.
// Only one full-precision copy is held (the flat index's); the others read it.
#include <faiss/IVFlib.h>
#include <faiss/IndexFlat.h>
#include <faiss/IndexIVF.h>
#include <faiss/index_factory.h>
#include <hnswlib/hnswlib.h>
#include <omp.h>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <unordered_set>
#include <vector>

#include "bench_util.h"
#include "homelens/index/ivf_scan.h"
#include "homelens/index/kernels.h"

namespace {

using idx_t = faiss::Index::idx_t;
using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Resident memory of this process in bytes (VmRSS).
double rss_bytes() {
  std::ifstream f("/proc/self/status");
  std::string key;
  while (f >> key) {
    if (key == "VmRSS:") {
      double kb = 0;
      f >> kb;
      return kb * 1024;
    }
    std::getline(f, key);
  }
  return 0;
}

struct Args {
  std::string db;
  std::size_t n = 1000000, queries = 200, latency_queries = 200, hnsw_n = 0;
  float noise = 0.6f;
  int threads = 2;
  std::size_t nlist = 1024;
  std::vector<std::size_t> nprobes{16, 32, 64};
  std::vector<std::size_t> efs{100, 1200};
  bool skip_hnswlib = false, skip_pq = false;
};

// Draws vectors first .. first + count - 1 around the real ones (bench::draw_around).
void synth(const std::vector<float>& real, std::size_t dim, std::size_t first, std::size_t count, float noise,
           std::uint64_t seed, float* out) {
#pragma omp parallel for schedule(static)
  for (std::size_t i = 0; i < count; ++i) homelens::bench::draw_around(real, dim, first + i, noise, seed, out + i * dim);
}

struct Figures {
  double p50_10 = 0, p99_10 = 0, p50_1000 = 0, p99_1000 = 0, recall10 = 0, recall1000 = 0;
};

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

double recall(const std::vector<std::int64_t>& truth, std::size_t k, const std::vector<std::int64_t>& got) {
  std::unordered_set<std::int64_t> t(truth.begin(), truth.begin() + static_cast<std::ptrdiff_t>(k));
  std::size_t hit = 0;
  for (std::size_t j = 0; j < std::min(k, got.size()); ++j) hit += t.count(got[j]);
  return static_cast<double>(hit) / static_cast<double>(k);
}

// Runs search(q, k) for every query at k = 10 and 1000, one query at a time (as a
// server answers them), and scores against truth (1000 ids a query).
Figures measure(std::size_t nq, std::size_t dim, const float* queries, const std::vector<std::int64_t>& truth,
                const std::function<std::vector<std::int64_t>(const float*, std::size_t)>& search) {
  Figures f;
  for (std::size_t k : {std::size_t{10}, std::size_t{1000}}) {
    std::vector<double> ms;
    double rsum = 0;
    for (std::size_t i = 0; i < nq; ++i) {
      const auto t = Clock::now();
      auto got = search(queries + i * dim, k);
      ms.push_back(seconds_since(t) * 1e3);
      rsum += recall({truth.begin() + static_cast<std::ptrdiff_t>(i * 1000),
                      truth.begin() + static_cast<std::ptrdiff_t>((i + 1) * 1000)},
                     k, got);
    }
    (k == 10 ? f.p50_10 : f.p50_1000) = percentile(ms, 0.5);
    (k == 10 ? f.p99_10 : f.p99_1000) = percentile(ms, 0.99);
    (k == 10 ? f.recall10 : f.recall1000) = rsum / static_cast<double>(nq);
  }
  return f;
}

void print_row(const std::string& name, double build_s, double bytes_per_vector, const Figures& f) {
  std::printf("%-34s %9.1f %9.0f %8.2f %8.2f %9.2f %9.2f %7.3f %7.3f\n", name.c_str(), build_s, bytes_per_vector,
              f.p50_10, f.p99_10, f.p50_1000, f.p99_1000, f.recall10, f.recall1000);
  std::fflush(stdout);
}

// Exact scores of the candidates over the flat rows (AnnIndex's AVX2 kernel), best k.
std::vector<std::int64_t> rerank(const float* xb, std::size_t dim, const float* q,
                                 const std::vector<idx_t>& cand, std::size_t k) {
  std::vector<std::pair<float, std::int64_t>> s;
  s.reserve(cand.size());
  for (idx_t id : cand) {
    if (id < 0) continue;
    s.emplace_back(homelens::index::dot(q, xb + static_cast<std::size_t>(id) * dim, dim), id);
  }
  const std::size_t m = std::min(k, s.size());
  std::partial_sort(s.begin(), s.begin() + static_cast<std::ptrdiff_t>(m), s.end(), std::greater<>());
  std::vector<std::int64_t> out(m);
  for (std::size_t j = 0; j < m; ++j) out[j] = s[j].second;
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  CLI::App app{"Approximate vs exact search over synthetic vectors drawn around the house embeddings"};
  app.add_option("--db", a.db, "A table with the houses indexed (real embeddings to draw around)")->required();
  app.add_option("--n", a.n, "Vectors in the index")->capture_default_str();
  app.add_option("--queries", a.queries, "Queries for recall and latency")->capture_default_str();
  app.add_option("--noise", a.noise, "Norm of the noise added to a real embedding")->capture_default_str();
  app.add_option("--threads", a.threads, "Threads for building (queries run one at a time)")->capture_default_str();
  app.add_option("--nlist", a.nlist, "IVF lists")->capture_default_str();
  app.add_option("--nprobe", a.nprobes, "IVF lists probed (one row each)");
  app.add_option("--ef", a.efs, "hnswlib efSearch values (one row each)");
  app.add_option("--hnsw-n", a.hnsw_n, "Vectors in the hnswlib peer (0: all; it builds far slower)");
  app.add_flag("--skip-hnswlib", a.skip_hnswlib, "Leave the hnswlib peer out");
  app.add_flag("--skip-pq", a.skip_pq, "Leave the IVF+PQ alternative out (its training takes about 11 minutes at 1M)");
  CLI11_PARSE(app, argc, argv);
  omp_set_num_threads(a.threads);

  std::size_t dim = 0;
  auto loaded = homelens::bench::load_embeddings(a.db, dim);
  if (!loaded) {
    std::fprintf(stderr, "%s\n", loaded.message().c_str());
    return 1;
  }
  const std::vector<float> real = std::move(*loaded);
  std::printf("%zu real %zu-d house embeddings; %zu synthetic vectors (noise %.2f), %zu queries, %d build threads\n",
              real.size() / dim, dim, a.n, a.noise, a.queries, a.threads);

  // The exact peer, filled chunk by chunk so only its copy of the data exists.
  const double rss0 = rss_bytes();
  faiss::IndexFlatIP flat(static_cast<int>(dim));
  double gen_s = 0, flat_s = 0;
  {
    const std::size_t chunk = 65536;
    std::vector<float> buf(chunk * dim);
    for (std::size_t first = 0; first < a.n; first += chunk) {
      const std::size_t c = std::min(chunk, a.n - first);
      auto t = Clock::now();
      synth(real, dim, first, c, a.noise, 1, buf.data());
      gen_s += seconds_since(t);
      t = Clock::now();
      flat.add(static_cast<idx_t>(c), buf.data());
      flat_s += seconds_since(t);
    }
  }
  const double flat_bytes = (rss_bytes() - rss0) / static_cast<double>(a.n);
  const float* xb = flat.get_xb();
  std::vector<float> queries(a.queries * dim);
  synth(real, dim, 0, a.queries, a.noise, 2, queries.data());

  // Ground truth: the exact top 1000 of every query, in one batched (BLAS) search.
  std::vector<float> gt_d(a.queries * 1000);
  std::vector<idx_t> gt_i(a.queries * 1000);
  auto t = Clock::now();
  flat.search(static_cast<idx_t>(a.queries), queries.data(), 1000, gt_d.data(), gt_i.data());
  std::printf("generated in %.1f s; exact top-1000 of %zu queries (batched) in %.1f s\n\n", gen_s, a.queries,
              seconds_since(t));
  const std::vector<std::int64_t> truth(gt_i.begin(), gt_i.end());

  std::printf("%-34s %9s %9s %8s %8s %9s %9s %7s %7s\n", "index", "build s", "B/vector", "p50@10", "p99@10",
              "p50@1000", "p99@1000", "R@10", "R@1000");
  std::printf("%-34s %9s %9s %8s %8s %9s %9s %7s %7s\n", "", "", "", "ms", "ms", "ms", "ms", "", "");

  // Single-query latency runs on one thread: a server answers many queries at once.
  omp_set_num_threads(1);
  {
    // An exact scan of 5 GB a query: a handful of queries is enough for its latency.
    const std::size_t nq = std::min<std::size_t>(a.queries, 10);
    auto f = measure(nq, dim, queries.data(), truth, [&](const float* q, std::size_t k) {
      std::vector<float> d(k);
      std::vector<idx_t> i(k);
      flat.search(1, q, static_cast<idx_t>(k), d.data(), i.data());
      return std::vector<std::int64_t>(i.begin(), i.end());
    });
    print_row("FAISS IndexFlatIP (exact, 10 q)", flat_s, flat_bytes, f);
  }

  for (const char* kind : {"SQ8", "PQ128"}) {
    if (a.skip_pq && std::string(kind) == "PQ128") continue;
    omp_set_num_threads(a.threads);
    std::string spec = "IVF" + std::to_string(a.nlist) + "," + kind;
    const double before = rss_bytes();
    t = Clock::now();
    std::unique_ptr<faiss::Index> ivf(faiss::index_factory(static_cast<int>(dim), spec.c_str(),
                                                           faiss::METRIC_INNER_PRODUCT));
    auto& iv = *faiss::ivflib::extract_index_ivf(ivf.get());
    iv.set_direct_map_type(faiss::DirectMap::Hashtable);  // as AnnIndex keeps it, for removals
    const std::size_t train_n = std::min(a.n, a.nlist * 64);
    ivf->train(static_cast<idx_t>(train_n), xb);
    ivf->add(static_cast<idx_t>(a.n), xb);
    homelens::index::ivf_shrink_to_fit(*ivf);  // as AnnIndex does after a build
    const double build_s = seconds_since(t);
    const double bytes = (rss_bytes() - before) / static_cast<double>(a.n);
    std::printf("%s structure: %.0f B/vector (codes and ids as allocated, direct map, centroids)\n", spec.c_str(),
                static_cast<double>(homelens::index::ivf_bytes(*ivf)) / static_cast<double>(a.n));
    omp_set_num_threads(1);
    for (std::size_t nprobe : a.nprobes) {
      faiss::SearchParametersIVF p;
      p.nprobe = nprobe;
      auto f = measure(a.queries, dim, queries.data(), truth, [&](const float* q, std::size_t k) {
        const std::size_t want = 2 * k + 64;  // AnnIndex's default re-rank depth
        std::vector<float> d(want);
        std::vector<idx_t> i(want);
        ivf->search(1, q, static_cast<idx_t>(want), d.data(), i.data(), &p);
        return rerank(xb, dim, q, i, k);
      });
      print_row(spec + " nprobe " + std::to_string(nprobe) + " +rerank", build_s, bytes, f);
    }
    // The same index searched as AnnIndex does: FAISS's lists scanned by the byte kernel
    // (index/ivf_scan.h), since Debian's FAISS decodes SQ8 with scalar code.
    if (!homelens::index::ivf_scan_supported(*ivf)) continue;
    for (std::size_t nprobe : a.nprobes) {
      auto f = measure(a.queries, dim, queries.data(), truth, [&](const float* q, std::size_t k) {
        std::vector<idx_t> i;
        for (const auto& h : homelens::index::ivf_search(*ivf, std::span(q, dim), 2 * k + 64, nprobe)) i.push_back(h.id);
        return rerank(xb, dim, q, i, k);
      });
      print_row(spec + " nprobe " + std::to_string(nprobe) + " HL scan +rerank", build_s, bytes, f);
    }
  }

  if (!a.skip_hnswlib) {
    const std::size_t hn = a.hnsw_n ? std::min(a.hnsw_n, a.n) : a.n;
    hnswlib::InnerProductSpace space(dim);
    const double before = rss_bytes();
    t = Clock::now();
    hnswlib::HierarchicalNSW<float> h(&space, hn, 16, 100);
    h.addPoint(xb, 0);
#pragma omp parallel for num_threads(a.threads) schedule(dynamic, 256)
    for (std::size_t i = 1; i < hn; ++i) h.addPoint(xb + i * dim, i);
    const double build_s = seconds_since(t);
    const double bytes = (rss_bytes() - before) / static_cast<double>(hn);
    // On a subset the truth is that subset's: recomputed exactly for it.
    std::vector<std::int64_t> sub_truth = truth;
    if (hn < a.n) {
      faiss::IndexFlatIP sub(static_cast<int>(dim));
      sub.add(static_cast<idx_t>(hn), xb);
      omp_set_num_threads(a.threads);
      sub.search(static_cast<idx_t>(a.queries), queries.data(), 1000, gt_d.data(), gt_i.data());
      sub_truth.assign(gt_i.begin(), gt_i.end());
    }
    for (std::size_t ef : a.efs) {
      h.setEf(ef);
      auto f = measure(a.queries, dim, queries.data(), sub_truth, [&](const float* q, std::size_t k) {
        auto pq = h.searchKnn(q, k);
        std::vector<std::int64_t> out(pq.size());
        for (std::size_t j = out.size(); j-- > 0; pq.pop()) out[j] = static_cast<std::int64_t>(pq.top().second);
        return out;
      });
      std::string name = "hnswlib M16 efC100 ef " + std::to_string(ef);
      if (hn < a.n) name += " (" + std::to_string(hn / 1000) + "k)";
      print_row(name, build_s, bytes, f);
    }
  }
  std::printf("\nB/vector: resident memory grown while building, over the vectors; the +rerank rows also read\n"
              "the exact float rows (held once, by the flat peer here and by the catalogue in HomeLens).\n"
              "Latency: one query at a time on one thread (a server runs one per core).\n");
  return 0;
}

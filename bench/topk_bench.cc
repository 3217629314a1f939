// Exact top-k over synthetic unit embeddings, the query path's inner loop.
#include <benchmark/benchmark.h>

#include <random>

#include "homelens/index/exact_index.h"
#include "homelens/model/embedding.h"

namespace {

using homelens::index::ExactIndex;

std::vector<float> random_unit(std::mt19937& rng, std::size_t dim) {
  std::normal_distribution<float> g;
  std::vector<float> v(dim);
  for (auto& x : v) x = std::abs(g(rng));  // post-ReLU embeddings are non-negative
  homelens::model::l2_normalize(v);
  return v;
}

const ExactIndex& corpus(std::size_t n, std::size_t dim) {
  static std::map<std::pair<std::size_t, std::size_t>, std::unique_ptr<ExactIndex>> cache;
  auto& slot = cache[{n, dim}];
  if (!slot) {
    slot = std::make_unique<ExactIndex>(dim);
    slot->reserve(n);
    std::mt19937 rng(42);
    for (std::size_t i = 0; i < n; ++i) (void)slot->add(static_cast<std::int64_t>(i), random_unit(rng, dim));
  }
  return *slot;
}

// Whole-index exact scan: args are (rows, k).
void BM_ExactTopK(benchmark::State& state) {
  const std::size_t n = state.range(0), k = state.range(1), dim = 1280;
  const ExactIndex& index = corpus(n, dim);
  std::mt19937 rng(7);
  auto q = random_unit(rng, dim);
  for (auto _ : state) benchmark::DoNotOptimize(index.search(q, k));
  state.counters["rows"] = static_cast<double>(n);
  state.counters["GB/s"] = benchmark::Counter(static_cast<double>(n * dim * sizeof(float)) * 1e-9,
                                              benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_ExactTopK)->Args({100000, 1000})->Args({100000, 10})->Unit(benchmark::kMillisecond)->UseRealTime();

// Scan of an explicit candidate list (as an MLS front end sends): args are (candidates, k).
void BM_CandidateTopK(benchmark::State& state) {
  const std::size_t m = state.range(0), k = state.range(1), dim = 1280;
  const ExactIndex& index = corpus(100000, dim);
  std::mt19937 rng(9);
  std::uniform_int_distribution<std::int64_t> pick(0, 99999);
  std::vector<std::int64_t> ids(m);
  for (auto& id : ids) id = pick(rng);
  auto q = random_unit(rng, dim);
  for (auto _ : state) benchmark::DoNotOptimize(index.search_among(q, ids, k));
}
BENCHMARK(BM_CandidateTopK)->Args({10000, 1000})->Unit(benchmark::kMillisecond)->UseRealTime();

// The gather scan behind a candidate list, over the float rows (arg 1 = 0) or their
// half-precision copy (1): args are (candidates, half).
void BM_GatherScan(benchmark::State& state) {
  const std::size_t m = state.range(0), dim = 1280;
  const bool half = state.range(1) != 0;
  const ExactIndex& index = corpus(100000, dim);
  if (half && !index.has_half()) {
    state.SkipWithError("no F16C on this CPU");
    return;
  }
  std::mt19937 rng(11);
  std::uniform_int_distribution<std::uint32_t> pick(0, 99999);
  std::vector<std::uint32_t> rows(m);
  for (auto& r : rows) r = pick(rng);
  auto q = random_unit(rng, dim);
  std::vector<float> out(m);
  for (auto _ : state) {
    if (half) index.dot_rows_half(q, rows, out.data());
    else index.dot_rows(q, rows, out.data());
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["GB/s"] = benchmark::Counter(static_cast<double>(m * dim * (half ? 2 : 4)) * 1e-9,
                                              benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_GatherScan)->Args({10000, 0})->Args({10000, 1})->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();

// Top-k over synthetic unit embeddings, the query path's inner loop, for each
// index kind the factory makes (0 = "Flat", 1 = "HalfFlat", 2 = "Refine(HalfFlat)", 3 = "SQ8Flat",
// 4 = "Refine(SQ8Flat)").
#include <benchmark/benchmark.h>

#include <map>
#include <memory>
#include <random>

#include "homelens/index/index_factory.h"
#include "homelens/model/embedding.h"

namespace {

using homelens::index::VectorIndex;

const char* const kSpecs[] = {"Flat", "HalfFlat", "Refine(HalfFlat)", "SQ8Flat", "Refine(SQ8Flat)"};

std::vector<float> random_unit(std::mt19937& rng, std::size_t dim) {
  std::normal_distribution<float> g;
  std::vector<float> v(dim);
  for (auto& x : v) x = std::abs(g(rng));  // post-ReLU embeddings are non-negative
  homelens::model::l2_normalize(v);
  return v;
}

// One corpus of n random embeddings per kind (nullptr where this CPU lacks the kind).
const VectorIndex* corpus(std::size_t n, std::size_t dim, std::int64_t kind) {
  static std::map<std::tuple<std::size_t, std::size_t, std::int64_t>, std::unique_ptr<VectorIndex>> cache;
  auto& slot = cache[{n, dim, kind}];
  if (!slot) {
    auto made = homelens::index::make_index(kSpecs[kind], dim);
    if (!made) return nullptr;
    slot = std::move(*made);
    slot->reserve(n);
    std::mt19937 rng(42);
    for (std::size_t i = 0; i < n; ++i) (void)slot->add(static_cast<std::int64_t>(i), random_unit(rng, dim));
  }
  return slot.get();
}

#define HOMELENS_CORPUS(var, n, kind)                                \
  const VectorIndex* var = corpus(n, 1280, kind);                    \
  if (!var) {                                                        \
    state.SkipWithError("this CPU lacks the kind's instructions");                      \
    return;                                                          \
  }                                                                  \
  state.SetLabel(kSpecs[kind])

// Whole-index scan: args are (rows, k, kind).
void BM_ExactTopK(benchmark::State& state) {
  const std::size_t n = state.range(0), k = state.range(1), dim = 1280;
  HOMELENS_CORPUS(index, n, state.range(2));
  std::mt19937 rng(7);
  auto q = random_unit(rng, dim);
  for (auto _ : state) benchmark::DoNotOptimize(index->search(q, k));
  state.counters["rows"] = static_cast<double>(n);
}
BENCHMARK(BM_ExactTopK)
    ->Args({100000, 1000, 0})->Args({100000, 10, 0})->Args({100000, 1000, 2})->Args({100000, 10, 2})
    ->Args({100000, 1000, 4})->Args({100000, 10, 4})->Args({25000, 1000, 0})->Args({25000, 1000, 4})
    ->Unit(benchmark::kMillisecond)->UseRealTime();

// Alpha query expansion (eval's cnn-qe; docs/eval.md): the first scan's top n (args: rows, n,
// kind), their alpha = 3 weighted sum with the query, and a second scan for the top 1,000.
// Beside BM_ExactTopK at the same rows, the extra cost per query.
void BM_QueryExpansionTopK(benchmark::State& state) {
  const std::size_t n = state.range(0), top = state.range(1), dim = 1280;
  HOMELENS_CORPUS(index, n, state.range(2));
  std::mt19937 rng(7);
  auto q = random_unit(rng, dim);
  for (auto _ : state) {
    std::vector<float> expanded = q;
    for (const auto& h : index->search(q, top)) {
      const float w = h.score * h.score * h.score;
      const auto v = index->vector(h.id);
      for (std::size_t j = 0; j < dim; ++j) expanded[j] += w * v[j];
    }
    homelens::model::l2_normalize(expanded);
    benchmark::DoNotOptimize(index->search(expanded, 1000));
  }
  state.counters["rows"] = static_cast<double>(n);
}
BENCHMARK(BM_QueryExpansionTopK)
    ->Args({25000, 10, 0})->Args({100000, 10, 0})->Args({25000, 10, 4})->Args({100000, 10, 4})
    ->Unit(benchmark::kMillisecond)->UseRealTime();

// Scan of an explicit candidate list (as an MLS front end sends): args are (candidates, k, kind).
void BM_CandidateTopK(benchmark::State& state) {
  const std::size_t m = state.range(0), k = state.range(1), dim = 1280;
  HOMELENS_CORPUS(index, 100000, state.range(2));
  std::mt19937 rng(9);
  std::uniform_int_distribution<std::int64_t> pick(0, 99999);
  std::vector<std::int64_t> ids(m);
  for (auto& id : ids) id = pick(rng);
  auto q = random_unit(rng, dim);
  for (auto _ : state) benchmark::DoNotOptimize(index->search_among(q, ids, k));
}
BENCHMARK(BM_CandidateTopK)->Args({10000, 1000, 0})->Args({10000, 1000, 2})->Args({10000, 1000, 4})->Unit(benchmark::kMillisecond)->UseRealTime();

// The fast scores of a candidate list, what the recommender reads first (two
// threads from 4,096 rows): args are (candidates, kind).
void BM_ScoreRows(benchmark::State& state) {
  const std::size_t m = state.range(0), dim = 1280;
  HOMELENS_CORPUS(index, 100000, state.range(1));
  std::mt19937 rng(11);
  std::uniform_int_distribution<std::uint32_t> pick(0, 99999);
  std::vector<std::uint32_t> rows(m);
  for (auto& r : rows) r = pick(rng);
  auto q = random_unit(rng, dim);
  std::vector<float> out(m);
  for (auto _ : state) {
    index->score_rows(q, rows, out.data(), homelens::index::Pass::kFast);
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(BM_ScoreRows)->Args({10000, 0})->Args({10000, 1})->Args({10000, 3})->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();

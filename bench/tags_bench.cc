// Tagging one photo from its embedding, as the indexer and an upload do: the four heads of
// the shipped shape (1280-d, classes as trained) with and without the domain model
// (64 centroids) in front of them. Synthetic weights: the cost does not depend on their values.
#include <benchmark/benchmark.h>

#include <filesystem>
#include <random>

#include "homelens/model/embedding.h"
#include "homelens/tags/head.h"

namespace {

namespace tags = homelens::tags;
constexpr std::size_t kDim = 1280;
const char* const kModel = "bench-model";

std::vector<float> random_unit(std::mt19937& rng) {
  std::normal_distribution<float> g;
  std::vector<float> v(kDim);
  for (auto& x : v) x = std::abs(g(rng));
  homelens::model::l2_normalize(v);
  return v;
}

// A heads folder with the four heads, and with domain.json when `domain`.
std::string heads_folder(bool domain) {
  const auto dir = std::filesystem::temp_directory_path() /
                   (std::string("homelens-tags-bench-") + (domain ? "domain" : "heads"));
  std::mt19937 rng(7);
  std::normal_distribution<double> g(0.0, 0.05);
  for (tags::Task t : tags::kAllTasks) {
    tags::Head h;
    h.task = t;
    h.model_id = kModel;
    h.classes = tags::task_classes(t);
    h.standardizer.mean.assign(kDim, 0.01);
    h.standardizer.scale.assign(kDim, 0.02);
    h.model.classes = h.classes.size();
    h.model.dim = kDim;
    for (std::size_t i = 0; i < h.model.classes * kDim; ++i) h.model.weights.push_back(g(rng));
    h.model.bias.assign(h.model.classes, 0.0);
    (void)tags::save_head(h, tags::head_path(dir.string(), kModel, t));
  }
  const std::string domain_file = tags::domain_path(dir.string(), kModel);
  std::filesystem::remove(domain_file);
  if (domain) {
    tags::DomainModel m;
    m.model_id = kModel;
    m.dim = kDim;
    m.threshold = 0.0f;  // every photo passes: the heads run after the domain test
    for (int c = 0; c < 64; ++c) {
      auto v = random_unit(rng);
      m.centroids.insert(m.centroids.end(), v.begin(), v.end());
    }
    (void)tags::save_domain(m, domain_file);
  }
  return dir.string();
}

void BM_TagPhoto(benchmark::State& state) {
  auto set = tags::HeadSet::load(heads_folder(state.range(0) != 0), kModel);
  if (!set) {
    state.SkipWithError(set.message().c_str());
    return;
  }
  std::mt19937 rng(3);
  const auto v = random_unit(rng);
  homelens::store::Tags t;
  for (auto _ : state) {
    t = {};
    benchmark::DoNotOptimize(set->tag(v, kModel, t));
  }
  state.SetLabel(set->tasks());
}
BENCHMARK(BM_TagPhoto)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();

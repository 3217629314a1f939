// CNN methods that look at the whole collection of photos described together (as cnn-binary
// takes its medians there): the mirrored-photo average, PCA whitening and alpha-weighted
// neighbour expansion (expansion.h). Parameters follow the name: "cnn-dba:n=3,alpha=3".
#include <charconv>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>

#include "homelens/eval/evaluate.h"
#include "homelens/eval/collection.h"
#include "homelens/eval/method.h"
#include "homelens/model/embedding.h"
#include "homelens/model/model_spec.h"
#include "homelens/tags/features.h"

namespace homelens::eval {

namespace {

const std::vector<std::string> kKeys = {"flip", "flipcache", "model2", "white", "power", "shrink", "dims",
                                        "learn", "n", "alpha", "mode", "against"};

Result<double> to_number(const std::string& key, const std::string& v) {
  double x = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
  if (ec != std::errc() || end != v.data() + v.size())
    return make_error("parameter " + key, "not a number: '" + v + "'", ErrorCode::kInvalidArgument);
  return x;
}

}  // namespace

Result<CollectionOptions> parse_collection_options(CollectionOptions o,
                                                   const std::string& params) {
  auto kv = parse_params(params, kKeys);
  if (!kv) return kv.error();
  for (const auto& [key, value] : *kv) {
    if (key == "flipcache" || key == "learn" || key == "against" || key == "model2") {
      (key == "flipcache" ? o.flipcache
       : key == "learn"   ? o.learn
       : key == "model2"  ? o.model2
                          : o.against) = value;
      continue;
    }
    if (key == "mode") {
      if (value != "qe" && value != "dba")
        return make_error("parameter mode", "expected qe or dba, got '" + value + "'",
                          ErrorCode::kInvalidArgument);
      o.qe = value == "qe";
      continue;
    }
    auto x = to_number(key, value);
    if (!x) return x.error();
    if (key == "flip") o.flip = *x != 0;
    if (key == "white") o.white = *x != 0;
    if (key == "power") o.whitening.power = *x;
    if (key == "shrink") o.whitening.shrink = *x;
    if (key == "dims") o.whitening.dims = static_cast<int>(*x);
    if (key == "n") o.n = static_cast<int>(*x);
    if (key == "alpha") o.alpha = *x;
  }
  if (!o.learn.empty()) o.white = true;
  return o;
}

namespace {

std::string canonical(const std::string& p) {
  std::error_code ec;
  auto c = std::filesystem::weakly_canonical(p, ec);
  return ec ? p : c.string();
}

Result<std::vector<std::string>> manifest_paths(const std::string& manifest) {
  auto photos = load_labelled(manifest, "path");
  if (!photos) return photos.error();
  std::vector<std::string> out;
  for (const auto& p : *photos) out.push_back(p.path);
  return out;
}

cv::Mat to_mat(const std::vector<std::vector<float>>& rows) {
  const int dim = rows.empty() ? 0 : static_cast<int>(rows[0].size());
  cv::Mat x(static_cast<int>(rows.size()), dim, CV_32F);
  for (int i = 0; i < x.rows; ++i) {
    const auto& r = rows[static_cast<std::size_t>(i)];
    std::copy(r.begin(), r.end(), x.ptr<float>(i));
  }
  return x;
}

// One L2-normalized embedding a row (CV_32F) with ctx's model, averaged with the mirrored
// photo's when flip.
Result<cv::Mat> embed(const std::vector<std::string>& paths, const MethodContext& ctx,
                      const CollectionOptions& o) {
  auto rows = ctx.cache->get(paths, ctx);
  if (!rows) return rows.error();
  cv::Mat x = to_mat(*rows);
  if (!o.flip) return x;
  tags::FeatureOptions fo;
  fo.flip = true;
  fo.flip_cache = o.flipcache;
  fo.progress = ctx.progress;
  auto f = tags::embed_paths(paths, ctx.spec, fo);
  if (!f) return f.error();
  for (int i = 0; i < x.rows; ++i) {
    const double* m = f->x.row(static_cast<std::size_t>(i));
    float* r = x.ptr<float>(i);
    for (int j = 0; j < x.cols; ++j) r[j] += static_cast<float>(m[j]);
    model::l2_normalize(std::span<float>(r, static_cast<std::size_t>(x.cols)));
  }
  return x;
}

// embed(), with the second model's embedding concatenated (each half weighing the same).
Result<cv::Mat> embed_all(const std::vector<std::string>& paths, const MethodContext& ctx,
                          const CollectionOptions& o) {
  auto x = embed(paths, ctx, o);
  if (!x || o.model2.empty()) return x;
  MethodContext second = ctx;
  auto spec = model::find_model_spec(o.model2, model::default_models_dir());
  if (!spec) return spec.error();
  second.spec = std::move(*spec);
  second.cache = std::make_shared<EmbeddingCache>();
  CollectionOptions flip_only;
  flip_only.flip = o.flip;  // a flip cache holds one model's rows: not shared with the second
  auto y = embed(paths, second, flip_only);
  if (!y) return y.error();
  cv::Mat both;
  cv::hconcat(*x, *y, both);
  return cv::Mat(both / std::sqrt(2.0));
}

}  // namespace

Result<CollectionRows> collection_rows(const std::vector<std::string>& paths,
                                       const MethodContext& ctx, const CollectionOptions& o) {
  std::vector<std::string> all = paths;
  if (!o.against.empty()) {
    auto extra = manifest_paths(o.against);
    if (!extra) return extra.error();
    std::set<std::string> seen;
    for (const auto& p : paths) seen.insert(canonical(p));
    for (const auto& p : *extra)
      if (seen.insert(canonical(p)).second) all.push_back(p);
  }
  auto rows = embed_all(all, ctx, o);
  if (!rows) return rows.error();
  cv::Mat x = std::move(*rows);
  if (o.white) {
    cv::Mat learn_rows = x;
    if (!o.learn.empty()) {
      auto lp = manifest_paths(o.learn);
      if (!lp) return lp.error();
      auto lr = embed_all(*lp, ctx, o);
      if (!lr) return lr.error();
      learn_rows = std::move(*lr);
    }
    auto w = learn_whitening(learn_rows, o.whitening);
    if (!w) return w.error();
    x = whiten(*w, x);
  }
  const cv::Range described(0, static_cast<int>(paths.size()));
  return CollectionRows{x.rowRange(described).clone(),
                        expand_by_neighbours(x, o.n, o.alpha).rowRange(described).clone()};
}

namespace {

class CollectionMethod : public Method {
 public:
  CollectionMethod(MethodContext ctx, CollectionOptions o) : ctx_(std::move(ctx)), o_(std::move(o)) {}

  Result<std::vector<Descriptor>> describe(const std::vector<std::string>& paths) override {
    auto rows = collection_rows(paths, ctx_, o_);
    if (!rows) return rows.error();
    std::vector<Descriptor> out(paths.size());
    const auto row = [](const cv::Mat& m, std::size_t i) {
      const float* p = m.ptr<float>(static_cast<int>(i));
      return std::vector<float>(p, p + m.cols);
    };
    for (std::size_t i = 0; i < paths.size(); ++i) {
      out[i].values = row(o_.qe ? rows->base : rows->expanded, i);
      if (o_.qe) out[i].projected = row(rows->expanded, i);
    }
    return out;
  }

  // With qe, a's expanded vector against b's own and b's against a's, averaged: the evaluator
  // needs a symmetric score, and pure query expansion is not.
  double similarity(const Descriptor& a, const Descriptor& b) const override {
    if (!o_.qe) return model::dot(a.values, b.values);
    return 0.5 * (model::dot(a.projected, b.values) + model::dot(a.values, b.projected));
  }

 private:
  MethodContext ctx_;
  CollectionOptions o_;
};

void register_variant(const std::string& name, const std::string& help,
                      CollectionOptions defaults) {
  MethodInfo info{name, help, true,
                  [defaults](const MethodContext& c) -> Result<std::unique_ptr<Method>> {
                    auto o = parse_collection_options(defaults, c.params);
                    if (!o) return o.error();
                    MethodContext ctx = c;
                    if (!ctx.cache) ctx.cache = std::make_shared<EmbeddingCache>();
                    return std::unique_ptr<Method>(new CollectionMethod(std::move(ctx), *o));
                  }};
  info.takes_params = true;
  register_method(std::move(info));
}

}  // namespace

void register_collection_methods() {
  const std::string params =
      " (parameters: flip=0|1, flipcache=FILE, model2=SPEC, white=0|1, power=P, shrink=S, "
      "dims=K, learn=MANIFEST, n=N, alpha=A, mode=qe|dba, against=MANIFEST)";
  CollectionOptions flip;
  flip.flip = true;
  register_variant("cnn-flip",
                   "cosine of the CNN embedding averaged with the mirrored photo's (parameters as "
                   "cnn-dba's)",
                   flip);
  CollectionOptions white;
  white.white = true;
  register_variant("cnn-white",
                   "cosine after PCA whitening learned on the photos described (parameters as "
                   "cnn-dba's)",
                   white);
  CollectionOptions dba;
  dba.n = 10;  // chosen on Wang Corel-1k (docs/eval.md)
  register_variant("cnn-dba",
                   "cosine after each embedding is replaced by the alpha-weighted mean of itself "
                   "and its n nearest photos described" + params,
                   dba);
  CollectionOptions qe = dba;
  qe.qe = true;
  register_variant("cnn-qe",
                   "alpha query expansion over the photos described, symmetrized (parameters as "
                   "cnn-dba's)",
                   qe);
}

}  // namespace homelens::eval

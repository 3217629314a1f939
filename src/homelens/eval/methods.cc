// The built-in methods: the baselines the system we replace was judged against (colour
// histogram, perceptual hash, SIFT) and HomeLens's own (CNN embedding, its binary code, and the
// service's final ranking score).
#include <algorithm>
#include <bit>
#include <charconv>
#include <mutex>
#include <optional>

#include <opencv2/features2d.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/img_hash.hpp>
#include <tbb/parallel_for.h>

#include "homelens/core/log.h"
#include "homelens/eval/collection.h"
#include "homelens/eval/method.h"
#include "homelens/image/decode.h"
#include "homelens/model/embedding.h"
#include "homelens/rank/recommender.h"
#include "homelens/tags/head.h"
#include "homelens/tags/projection.h"
#include "homelens/tags/tagger.h"

namespace homelens::eval {

namespace {

// Decodes every photo (in parallel) and maps its RGB pixels to a descriptor with fn.
template <class Fn>
Result<std::vector<Descriptor>> describe_pixels(const std::vector<std::string>& paths, Fn fn) {
  std::vector<Descriptor> out(paths.size());
  std::vector<std::optional<Error>> errors(paths.size());
  tbb::parallel_for(std::size_t{0}, paths.size(), [&](std::size_t i) {
    auto d = image::decode_file(paths[i]);
    if (!d) {
      errors[i] = d.error();
      return;
    }
    out[i] = fn(d->rgb);
  });
  for (auto& e : errors)
    if (e) return *e;
  return out;
}

double hamming_similarity(const Descriptor& a, const Descriptor& b) {
  const int bits = static_cast<int>(std::min(a.bits.size(), b.bits.size()) * 8);
  if (bits == 0) return 0;
  return 1.0 - static_cast<double>(model::hamming(a.bits, b.bits)) / bits;
}

// HSV colour histogram, 18 hue x 3 saturation x 3 value bins (the classic CBIR layout: hue
// matters most), normalized to sum 1 and compared by intersection (1 = same colour mix).
class HsvMethod : public Method {
 public:
  Result<std::vector<Descriptor>> describe(const std::vector<std::string>& paths) override {
    return describe_pixels(paths, [](const cv::Mat& rgb) {
      cv::Mat hsv, hist;
      cv::cvtColor(rgb, hsv, cv::COLOR_RGB2HSV);
      const int channels[] = {0, 1, 2};
      const int sizes[] = {18, 3, 3};
      const float h_range[] = {0, 180}, sv_range[] = {0, 256};
      const float* ranges[] = {h_range, sv_range, sv_range};
      cv::calcHist(&hsv, 1, channels, cv::Mat(), hist, 3, sizes, ranges);
      Descriptor d;
      d.values.assign(hist.ptr<float>(), hist.ptr<float>() + hist.total());
      double sum = 0;
      for (float v : d.values) sum += v;
      if (sum > 0)
        for (float& v : d.values) v = static_cast<float>(v / sum);
      return d;
    });
  }
  double similarity(const Descriptor& a, const Descriptor& b) const override {
    double s = 0;
    for (std::size_t i = 0; i < std::min(a.values.size(), b.values.size()); ++i)
      s += std::min(a.values[i], b.values[i]);
    return s;
  }
};

// OpenCV's 64-bit DCT perceptual hash; similarity = 1 - Hamming / 64.
class PhashMethod : public Method {
 public:
  Result<std::vector<Descriptor>> describe(const std::vector<std::string>& paths) override {
    return describe_pixels(paths, [](const cv::Mat& rgb) {
      cv::Mat bgr, hash;
      cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
      cv::img_hash::PHash::create()->compute(bgr, hash);
      Descriptor d;
      d.bits.assign(hash.ptr<std::uint8_t>(), hash.ptr<std::uint8_t>() + hash.total());
      return d;
    });
  }
  double similarity(const Descriptor& a, const Descriptor& b) const override {
    return hamming_similarity(a, b);
  }
};

// SIFT with Lowe's ratio test (0.75): the share of keypoints of the photo with fewer keypoints
// that find an unambiguous match in the other. Chosen over a bag of visual words because it needs
// no vocabulary trained on some corpus (which would bias a comparison on another), and it is the
// form in which SIFT was judged before. It costs a brute-force match per pair, so it suits
// triplets better than a leave-one-out retrieval over many photos.
class SiftMethod : public Method {
 public:
  static constexpr int kMaxKeypoints = 400;
  static constexpr int kMaxSide = 512;  // photos of any size give comparable keypoint scales

  Result<std::vector<Descriptor>> describe(const std::vector<std::string>& paths) override {
    return describe_pixels(paths, [](const cv::Mat& rgb) {
      cv::Mat gray;
      cv::cvtColor(rgb, gray, cv::COLOR_RGB2GRAY);
      const double f = static_cast<double>(kMaxSide) / std::max(gray.cols, gray.rows);
      if (f < 1) cv::resize(gray, gray, cv::Size(), f, f, cv::INTER_AREA);
      std::vector<cv::KeyPoint> kp;
      Descriptor d;
      cv::SIFT::create(kMaxKeypoints)->detectAndCompute(gray, cv::noArray(), kp, d.mat);
      return d;
    });
  }
  double similarity(const Descriptor& a, const Descriptor& b) const override {
    const cv::Mat* small = &a.mat;
    const cv::Mat* large = &b.mat;
    if (small->rows > large->rows) std::swap(small, large);
    if (small->rows == 0 || large->rows < 2) return 0;
    std::vector<std::vector<cv::DMatch>> knn;
    cv::BFMatcher(cv::NORM_L2).knnMatch(*small, *large, knn, 2);
    int good = 0;
    for (const auto& m : knn)
      if (m.size() == 2 && m[0].distance < 0.75f * m[1].distance) ++good;
    return static_cast<double>(good) / small->rows;
  }
};

// Cosine of the L2-normalized CNN embeddings.
class CnnMethod : public Method {
 public:
  explicit CnnMethod(MethodContext ctx) : ctx_(std::move(ctx)) {}
  Result<std::vector<Descriptor>> describe(const std::vector<std::string>& paths) override {
    auto rows = ctx_.cache->get(paths, ctx_);
    if (!rows) return rows.error();
    std::vector<Descriptor> out(paths.size());
    for (std::size_t i = 0; i < paths.size(); ++i) out[i].values = std::move((*rows)[i]);
    return out;
  }
  double similarity(const Descriptor& a, const Descriptor& b) const override {
    return model::dot(a.values, b.values);
  }

 protected:
  MethodContext ctx_;
};

// The index's binary code of the embedding (bit i: above the median of dimension i), compared
// by Hamming. The medians are taken over the photos described together, as an index takes them
// over its table.
class CnnBinaryMethod : public CnnMethod {
 public:
  using CnnMethod::CnnMethod;
  Result<std::vector<Descriptor>> describe(const std::vector<std::string>& paths) override {
    auto out = CnnMethod::describe(paths);
    if (!out || out->empty()) return out;
    const std::size_t dim = (*out)[0].values.size();
    std::vector<float> rows;
    rows.reserve(out->size() * dim);
    for (const auto& d : *out) rows.insert(rows.end(), d.values.begin(), d.values.end());
    const auto centres = model::compute_centres(rows, out->size(), dim);
    for (auto& d : *out) {
      d.bits = model::binary_code(d.values, centres);
      d.values.clear();
    }
    return out;
  }
  double similarity(const Descriptor& a, const Descriptor& b) const override {
    return hamming_similarity(a, b);
  }
};

// The learned projection (tags/projection.h) of each CNN embedding, next to the embedding.
class ProjectedMethod : public CnnMethod {
 public:
  ProjectedMethod(MethodContext ctx, std::shared_ptr<const tags::Projection> projection)
      : CnnMethod(std::move(ctx)), projection_(std::move(projection)) {}
  Result<std::vector<Descriptor>> describe(const std::vector<std::string>& paths) override {
    auto out = CnnMethod::describe(paths);
    if (!out || !projection_) return out;
    for (std::size_t i = 0; i < out->size(); ++i) {
      auto p = tags::project(*projection_, (*out)[i].values, ctx_.spec.id);
      if (!p) return make_error(paths[i], p.message());
      (*out)[i].projected = std::move(*p);
    }
    return out;
  }
  double similarity(const Descriptor& a, const Descriptor& b) const override {
    return model::dot(a.projected, b.projected);
  }

 private:
  std::shared_ptr<const tags::Projection> projection_;
};

// Half the raw cosine and half the projected one: the projection knows style and stories, the
// raw embedding everything else a photo shows.
class ProjectedMixMethod : public ProjectedMethod {
 public:
  using ProjectedMethod::ProjectedMethod;
  double similarity(const Descriptor& a, const Descriptor& b) const override {
    return 0.5 * model::dot(a.values, b.values) + 0.5 * model::dot(a.projected, b.projected);
  }
};

// The service's ranking score (rank::score_parts and final_score): class + tag + visual with
// ctx.final_scoring, the tags coming from the tag heads; the visual part is the cosine of the
// embeddings, or of their projections when a projection is given (final-proj).
class FinalMethod : public ProjectedMethod {
 public:
  FinalMethod(MethodContext ctx, tags::Tagger tagger,
              std::shared_ptr<const tags::Projection> projection)
      : ProjectedMethod(std::move(ctx), projection),
        tagger_(std::move(tagger)),
        projected_(projection != nullptr) {}
  Result<std::vector<Descriptor>> describe(const std::vector<std::string>& paths) override {
    auto out = ProjectedMethod::describe(paths);
    if (!out || !tagger_) return out;
    // The heads judge their own view of each photo (the embedding unless the spec has a head_view).
    auto views = ctx_.cache->get_heads(paths, ctx_);
    if (!views) return views.error();
    for (std::size_t i = 0; i < out->size(); ++i) {
      model::Embedding e{std::move((*views)[i]), {}, {}};
      if (Status s = tagger_(e, (*out)[i].tags); !s) return make_error(paths[i], s.message());
    }
    if (expands()) {
      // As the service does among the indexed photos, here among the photos described.
      const std::size_t dim = out->empty() ? 0 : (*out)[0].values.size();
      std::vector<float> rows;
      rows.reserve(out->size() * dim);
      for (const auto& d : *out) rows.insert(rows.end(), d.values.begin(), d.values.end());
      for (std::size_t i = 0; i < out->size(); ++i)
        if (rank::outside_heads_domain((*out)[i].tags))
          (*out)[i].query_values = rank::expand_query(
              rows, dim, (*out)[i].values, ctx_.expand_outside, static_cast<std::ptrdiff_t>(i));
    }
    return out;
  }
  double similarity(const Descriptor& a, const Descriptor& b) const override {
    const rank::ScoreOptions& opt = ctx_.final_scoring;
    const float cosine =
        projected_ ? model::dot(a.projected, b.projected)
                   : model::dot(a.query_values.empty() ? a.values : a.query_values, b.values);
    return rank::final_score(rank::score_parts(a.tags, b.tags, cosine, opt), opt.weights);
  }
  bool symmetric() const override { return !expands(); }

 protected:
  // Plain final only: final-proj compares projections, final-dba expands every photo already.
  bool expands() const { return !projected_ && tagger_ && ctx_.expand_outside.neighbours > 0; }

 private:
  tags::Tagger tagger_;
  bool projected_;
};

MethodContext no_expansion(MethodContext c) {
  c.expand_outside.neighbours = 0;
  return c;
}

// final with the visual cosine taken between the collection's expanded embeddings (collection.h:
// cnn-dba's by default); the tags still come from each photo's own embedding, as in the service.
class FinalCollectionMethod : public FinalMethod {
 public:
  FinalCollectionMethod(MethodContext ctx, tags::Tagger tagger, CollectionOptions options)
      : FinalMethod(no_expansion(std::move(ctx)), std::move(tagger), nullptr),
        options_(std::move(options)) {}
  Result<std::vector<Descriptor>> describe(const std::vector<std::string>& paths) override {
    auto out = FinalMethod::describe(paths);
    if (!out) return out;
    auto rows = collection_rows(paths, ctx_, options_);
    if (!rows) return rows.error();
    for (std::size_t i = 0; i < out->size(); ++i) {
      const float* r = rows->expanded.ptr<float>(static_cast<int>(i));
      (*out)[i].values.assign(r, r + rows->expanded.cols);
    }
    return out;
  }

 private:
  CollectionOptions options_;
};

MethodContext with_cache(MethodContext ctx) {
  if (!ctx.cache) ctx.cache = std::make_shared<EmbeddingCache>();
  return ctx;
}

// heads/<model>/projection.json under ctx.heads_dir (or the default heads folder).
Result<std::shared_ptr<const tags::Projection>> load_projection_for(const MethodContext& c) {
  const std::string root = c.heads_dir.empty() ? tags::default_heads_dir() : c.heads_dir;
  auto p = tags::load_projection(tags::projection_path(root, c.spec.id));
  if (!p)
    return make_error("", p.message() + " (learn it with `homelens train --task projection`)");
  return std::shared_ptr<const tags::Projection>(
      std::make_shared<tags::Projection>(std::move(*p)));
}

// The final methods' own parameters taken out of c.params, which keeps the other pairs, so one
// run can measure final, final:fronts=1 and final:domain=0 on the same photos:
// fronts=0|1 (ScoreOptions::tags_need_fronts, over --final-tags-need-fronts), domain=0|1
// (0: the heads judge every photo, their domain model left out; default 1) and qe=N (neighbours
// expanding a query photo outside the heads' domain, 0 none; default the service's 10).
Result<MethodContext> take_final_params(MethodContext c) {
  std::string rest;
  std::size_t at = 0;
  while (at < c.params.size()) {
    const std::size_t end = std::min(c.params.find(',', at), c.params.size());
    const std::string pair = c.params.substr(at, end - at);
    at = end + 1;
    if (pair.rfind("qe=", 0) == 0) {
      const std::string value = pair.substr(3);
      std::size_t n = 0;
      auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
      if (ec != std::errc() || p != value.data() + value.size() || n > 1000)
        return make_error("parameter qe",
                          "expected a number of neighbours 0..1000, got '" + value + "'",
                          ErrorCode::kInvalidArgument);
      c.expand_outside.neighbours = n;
      continue;
    }
    const bool fronts = pair.rfind("fronts=", 0) == 0, domain = pair.rfind("domain=", 0) == 0;
    if (!fronts && !domain) {
      rest += (rest.empty() ? "" : ",") + pair;
      continue;
    }
    const std::string value = pair.substr(7);
    if (value != "0" && value != "1")
      return make_error(std::string("parameter ") + (fronts ? "fronts" : "domain"),
                        "expected 0 or 1, got '" + value + "'", ErrorCode::kInvalidArgument);
    (fronts ? c.final_scoring.tags_need_fronts : c.heads_domain) = value == "1";
  }
  c.params = rest;
  return c;
}

// With `collection`, final-dba: FinalCollectionMethod with those options (projected is false).
Result<std::unique_ptr<Method>> make_final(const MethodContext& c, bool projected,
                                           const CollectionOptions* collection = nullptr) {
  std::shared_ptr<const tags::Projection> projection;
  if (projected) {
    auto p = load_projection_for(c);
    if (!p) return p.error();
    projection = *p;
  }
  auto heads = tags::load_heads_option(c.heads_dir, c.spec);
  if (!heads) return heads.error();
  tags::Tagger tagger;
  if ((*heads)->empty())
    log::warn("final: no tag heads for " + c.spec.id +
              " (train them with `homelens train`); scoring visual similarity only");
  else if (!c.heads_domain && (*heads)->domain())
    tagger = tags::make_tagger(std::make_shared<const tags::HeadSet>((*heads)->without_domain()));
  else
    tagger = tags::make_tagger(*heads);
  if (collection)
    return std::unique_ptr<Method>(
        new FinalCollectionMethod(with_cache(c), std::move(tagger), *collection));
  return std::unique_ptr<Method>(new FinalMethod(with_cache(c), std::move(tagger), projection));
}

}  // namespace

void register_builtin_methods() {
  register_method({"hsv", "HSV colour histogram (18x3x3 bins), histogram intersection", false,
                   [](const MethodContext&) -> Result<std::unique_ptr<Method>> {
                     return std::unique_ptr<Method>(new HsvMethod);
                   }});
  register_method({"phash", "OpenCV img_hash PHash (64 bits), 1 - Hamming/64", false,
                   [](const MethodContext&) -> Result<std::unique_ptr<Method>> {
                     return std::unique_ptr<Method>(new PhashMethod);
                   }});
  register_method({"sift", "SIFT keypoints, share of ratio-test (0.75) matches", false,
                   [](const MethodContext&) -> Result<std::unique_ptr<Method>> {
                     return std::unique_ptr<Method>(new SiftMethod);
                   }});
  register_method({"cnn", "CNN embedding of the model, cosine", true,
                   [](const MethodContext& c) -> Result<std::unique_ptr<Method>> {
                     return std::unique_ptr<Method>(new CnnMethod(with_cache(c)));
                   }});
  register_method({"cnn-binary", "binary code of the CNN embedding, 1 - Hamming/bits", true,
                   [](const MethodContext& c) -> Result<std::unique_ptr<Method>> {
                     return std::unique_ptr<Method>(new CnnBinaryMethod(with_cache(c)));
                   }});
  // final and final-proj take only fronts=0|1.
  auto plain_final = [](bool projected) {
    return [projected](const MethodContext& c) -> Result<std::unique_ptr<Method>> {
      auto with = take_final_params(c);
      if (!with) return with.error();
      if (auto kv = parse_params(with->params, {}); !kv) return kv.error();
      return make_final(*with, projected);
    };
  };
  MethodInfo final_info{
      "final",
      "the service's ranking score: class + 0.3 tag + visual (--final-weights), "
      "tags from the heads; fronts=1: tags count only between house fronts; domain=0: the "
      "heads judge every photo (their domain model left out); qe=N: a query outside the heads' "
      "domain is expanded with its N nearest photos (default 10, 0 off; as the service)",
      true, plain_final(false)};
  final_info.takes_params = true;
  register_method(std::move(final_info));
  register_method({"cnn-proj",
                   "cosine of the learned projection of the CNN embedding (train --task "
                   "projection)",
                   true, [](const MethodContext& c) -> Result<std::unique_ptr<Method>> {
                     auto p = load_projection_for(c);
                     if (!p) return p.error();
                     return std::unique_ptr<Method>(new ProjectedMethod(with_cache(c), *p));
                   }});
  register_method({"cnn-proj-mix", "mean of the raw and the projected CNN cosines", true,
                   [](const MethodContext& c) -> Result<std::unique_ptr<Method>> {
                     auto p = load_projection_for(c);
                     if (!p) return p.error();
                     return std::unique_ptr<Method>(new ProjectedMixMethod(with_cache(c), *p));
                   }});
  MethodInfo final_proj{"final-proj", "final with the projected cosine as its visual part (fronts=0|1, domain=0|1)",
                        true, plain_final(true)};
  final_proj.takes_params = true;
  register_method(std::move(final_proj));
  MethodInfo final_dba{
      "final-dba",
      "final with cnn-dba's cosine as its visual part (parameters as cnn-dba's, fronts=0|1 and domain=0|1; "
      "mode=qe is not taken)",
      true, [](const MethodContext& c) -> Result<std::unique_ptr<Method>> {
        auto with = take_final_params(c);
        if (!with) return with.error();
        CollectionOptions defaults;
        defaults.n = 10;  // as cnn-dba
        auto o = parse_collection_options(defaults, with->params);
        if (!o) return o.error();
        if (o->qe)
          return make_error("method final-dba:" + c.params, "mode=qe is not taken",
                            ErrorCode::kInvalidArgument);
        return make_final(*with, false, &*o);
      }};
  final_dba.takes_params = true;
  register_method(std::move(final_dba));
}

}  // namespace homelens::eval

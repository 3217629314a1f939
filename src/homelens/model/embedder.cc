#include "homelens/model/embedder.h"

#include <algorithm>
#include <chrono>

#include "homelens/model/embedding.h"
#include "homelens/model/preprocess.h"

namespace homelens::model {

namespace {

// The mean over the centre cells (centre_cells) of one image's C x h x w map, L2-normalized.
std::vector<float> centre_mean(const float* map, int channels, cv::Size map_size, cv::Size input,
                               const InputSpec& spec) {
  const cv::Rect r = centre_cells(map_size, input, spec);
  std::vector<float> v(static_cast<std::size_t>(channels));
  const std::size_t plane = static_cast<std::size_t>(map_size.area());
  for (int c = 0; c < channels; ++c) {
    const float* p = map + c * plane;
    double s = 0;
    for (int y = r.y; y < r.y + r.height; ++y)
      for (int x = r.x; x < r.x + r.width; ++x) s += p[y * map_size.width + x];
    v[c] = static_cast<float>(s / r.area());
  }
  l2_normalize(v);
  return v;
}

}  // namespace

Result<Embedder> Embedder::open(const ModelSpec& spec, const BackendOptions& options) {
  auto backend = create_backend(spec, options);
  if (!backend) return backend.error();
  return Embedder(std::move(backend.value()));
}

int Embedder::min_decode_side() const {
  const auto& in = spec().input;
  if (in.crop == "whole") return std::min(in.width, in.height);
  return in.resize_shorter > 0 ? in.resize_shorter : std::max(in.width, in.height);
}

Result<std::vector<Embedding>> Embedder::embed(const std::vector<cv::Mat>& rgb_images,
                                               EmbedTimes* times) {
  using clock = std::chrono::steady_clock;
  std::vector<Embedding> result;
  if (rgb_images.empty()) return result;
  const int n = static_cast<int>(rgb_images.size());
  result.resize(n);
  // One blob per input size (a "whole" spec's photos differ in shape), in order of first use.
  std::vector<std::pair<cv::Size, std::vector<int>>> groups;
  for (int i = 0; i < n; ++i) {
    const cv::Size in = input_size(rgb_images[i].size(), spec().input);
    auto g =
        std::find_if(groups.begin(), groups.end(), [&](const auto& e) { return e.first == in; });
    if (g == groups.end()) g = groups.insert(groups.end(), {in, {}});
    g->second.push_back(i);
  }
  double pre = 0, fwd = 0;
  for (const auto& [size, members] : groups) {
    const auto t0 = clock::now();
    std::vector<cv::Mat> images;
    images.reserve(members.size());
    for (int i : members) images.push_back(rgb_images[i]);
    cv::Mat blob = make_blob(images, spec().input);
    const auto t1 = clock::now();
    const int m_all = static_cast<int>(members.size());
    const int step = backend_->best_batch() > 0 ? std::min(m_all, backend_->best_batch()) : m_all;
    for (int b = 0; b < m_all; b += step) {
      const int m = std::min(step, m_all - b);
      int dims[4] = {m, blob.size[1], blob.size[2], blob.size[3]};
      const cv::Mat part(
          4, dims, CV_32F,
          blob.ptr<float>() + static_cast<std::size_t>(b) * blob.step[0] / sizeof(float));
      auto out = backend_->forward(part);
      if (!out) return out.error();
      for (int i = 0; i < m; ++i) {
        Embedding& e = result[members[b + i]];
        const float* v = out->embeddings.ptr<float>(i);
        e.vector.assign(v, v + out->embeddings.cols);
        l2_normalize(e.vector);
        if (!out->probabilities.empty()) {
          const float* p = out->probabilities.ptr<float>(i);
          e.probabilities.assign(p, p + out->probabilities.cols);
        }
        if (spec().head_view == "centre") {
          if (out->feature_map.cols !=
              out->embeddings.cols * out->map_height * out->map_width)
            return make_error(spec().id, "feature map output " + spec().feature_map_output +
                                             " does not have the embedding's channels");
          e.head_vector = centre_mean(out->feature_map.ptr<float>(i), out->embeddings.cols,
                                      {out->map_width, out->map_height}, size, spec().input);
        }
      }
    }
    pre += std::chrono::duration<double>(t1 - t0).count();
    fwd += std::chrono::duration<double>(clock::now() - t1).count();
  }
  if (times) {
    times->preprocess += pre;
    times->forward += fwd;
  }
  return result;
}

}  // namespace homelens::model

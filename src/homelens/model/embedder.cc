#include "homelens/model/embedder.h"

#include <algorithm>
#include <chrono>

#include "homelens/model/embedding.h"
#include "homelens/model/preprocess.h"

namespace homelens::model {

Result<Embedder> Embedder::open(const ModelSpec& spec, const BackendOptions& options) {
  auto backend = create_backend(spec, options);
  if (!backend) return backend.error();
  return Embedder(std::move(backend.value()));
}

int Embedder::min_decode_side() const {
  const auto& in = spec().input;
  return in.resize_shorter > 0 ? in.resize_shorter : std::max(in.width, in.height);
}

Result<std::vector<Embedding>> Embedder::embed(const std::vector<cv::Mat>& rgb_images,
                                               EmbedTimes* times) {
  using clock = std::chrono::steady_clock;
  std::vector<Embedding> result;
  if (rgb_images.empty()) return result;
  const auto t0 = clock::now();
  cv::Mat blob = make_blob(rgb_images, spec().input);
  const auto t1 = clock::now();
  const int n = static_cast<int>(rgb_images.size());
  const int step = backend_->best_batch() > 0 ? std::min(n, backend_->best_batch()) : n;
  result.resize(n);
  for (int b = 0; b < n; b += step) {
    const int m = std::min(step, n - b);
    int dims[4] = {m, blob.size[1], blob.size[2], blob.size[3]};
    const cv::Mat part(4, dims, CV_32F, blob.ptr<float>() + static_cast<std::size_t>(b) * blob.step[0] / sizeof(float));
    auto out = backend_->forward(part);
    if (!out) return out.error();
    for (int i = 0; i < m; ++i) {
      const float* e = out->embeddings.ptr<float>(i);
      result[b + i].vector.assign(e, e + out->embeddings.cols);
      l2_normalize(result[b + i].vector);
      if (!out->probabilities.empty()) {
        const float* p = out->probabilities.ptr<float>(i);
        result[b + i].probabilities.assign(p, p + out->probabilities.cols);
      }
    }
  }
  if (times) {
    const auto t2 = clock::now();
    times->preprocess += std::chrono::duration<double>(t1 - t0).count();
    times->forward += std::chrono::duration<double>(t2 - t1).count();
  }
  return result;
}

}  // namespace homelens::model

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
  auto out = backend_->forward(blob);
  if (!out) return out.error();
  const int n = static_cast<int>(rgb_images.size());
  result.resize(n);
  for (int i = 0; i < n; ++i) {
    const float* e = out->embeddings.ptr<float>(i);
    result[i].vector.assign(e, e + out->embeddings.cols);
    l2_normalize(result[i].vector);
    if (!out->probabilities.empty()) {
      const float* p = out->probabilities.ptr<float>(i);
      result[i].probabilities.assign(p, p + out->probabilities.cols);
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

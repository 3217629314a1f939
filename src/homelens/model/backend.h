// The model seam: every inference engine sits behind ModelBackend, so callers
// never know whether OpenCV DNN or another runtime computes the embedding.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>

#include <opencv2/core.hpp>

#include "homelens/core/result.h"
#include "homelens/model/model_spec.h"

namespace homelens::model {

struct ModelOutputs {
  cv::Mat embeddings;     // N x embedding_dim, CV_32F, as the network gives them (not normalized)
  cv::Mat probabilities;  // N x num_classes, CV_32F; empty when the spec has no probabilities output
  // N x (C * map_height * map_width), CV_32F, each row C planes of map_height x map_width; only
  // when the spec names a feature_map output.
  cv::Mat feature_map;
  int map_height = 0;
  int map_width = 0;
};

struct BackendOptions {
  // Threads one forward() may use inside the runtime; 0 = runtime default.
  int threads = 0;
  bool want_probabilities = true;
};


class ModelBackend {
 public:
  virtual ~ModelBackend() = default;
  virtual const ModelSpec& spec() const = 0;
  // The runtime behind it ("opencv", "onednn"), for logs and benchmarks.
  virtual const char* name() const = 0;
  // Runs an N x 3 x H x W blob (model::make_blob). Not thread-safe: use one
  // backend per thread.
  virtual Result<ModelOutputs> forward(const cv::Mat& blob) = 0;
  // The most images one forward() should be given for speed (callers split larger blobs);
  // 0: no limit.
  virtual int best_batch() const { return 0; }
  // Calls f(0), ..., f(n - 1), in any order and possibly at once, on the threads this
  // backend's forward() runs on; from the thread that called forward(). Work that follows
  // an inference in the same request then finds those threads awake, where another pool
  // would compete with them (an OpenMP team's idle threads spin for a while after each
  // forward). The default calls them in turn on the calling thread.
  virtual void run_parts(std::size_t n, const std::function<void(std::size_t)>& f) const {
    for (std::size_t i = 0; i < n; ++i) f(i);
  }
};

// Creates the backend spec.backend names: "opencv" (OpenCV DNN, ONNX and Caffe),
// "onednn" (ONNX only), or "auto" (oneDNN when it loads the model, else OpenCV DNN,
// logging why). Errors name the model file and, for refused graphs, the operator.
Result<std::unique_ptr<ModelBackend>> create_backend(const ModelSpec& spec,
                                                     const BackendOptions& options = {});

}  // namespace homelens::model

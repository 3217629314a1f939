// RGB images in, unit-length embeddings (and class probabilities) out: the
// one call the ingest pipeline and the query path make on a model.
#pragma once

#include <memory>
#include <vector>

#include "homelens/model/backend.h"

namespace homelens::model {

struct Embedding {
  std::vector<float> vector;         // L2-normalized, embedding_dim values
  std::vector<float> probabilities;  // num_classes values, or empty
};

class Embedder {
 public:
  explicit Embedder(std::unique_ptr<ModelBackend> backend) : backend_(std::move(backend)) {}
  // Loads spec's network with options.
  static Result<Embedder> open(const ModelSpec& spec, const BackendOptions& options = {});

  const ModelSpec& spec() const { return backend_->spec(); }
  // Embeds a batch; the result for image i does not depend on the batch it ran in.
  Result<std::vector<Embedding>> embed(const std::vector<cv::Mat>& rgb_images);
  // The smallest shorter side worth decoding for this model (for DCT-reduced JPEG decode).
  int min_decode_side() const;

 private:
  std::unique_ptr<ModelBackend> backend_;
};

}  // namespace homelens::model

// RGB images in, unit-length embeddings (and class probabilities) out: the
// one call the ingest pipeline and the query path make on a model.
#pragma once

#include <memory>
#include <span>
#include <vector>

#include "homelens/model/backend.h"

namespace homelens::model {

struct Embedding {
  std::vector<float> vector;         // L2-normalized, embedding_dim values
  std::vector<float> probabilities;  // num_classes values, or empty
  // What the tag heads see when the spec's head_view differs from the embedding (L2-normalized,
  // embedding_dim values); empty otherwise.
  std::vector<float> head_vector;
};

// The vector the tag heads and their domain model judge: head_vector when there is one.
inline std::span<const float> head_input(const Embedding& e) {
  return e.head_vector.empty() ? std::span<const float>(e.vector)
                               : std::span<const float>(e.head_vector);
}

// Seconds spent in one embed call's two halves (for the indexer's stage report).
struct EmbedTimes {
  double preprocess = 0;  // resize, crop, normalize into the input blob
  double forward = 0;     // the network and reading its outputs
};

class Embedder {
 public:
  explicit Embedder(std::unique_ptr<ModelBackend> backend) : backend_(std::move(backend)) {}
  // Loads spec's network with options.
  static Result<Embedder> open(const ModelSpec& spec, const BackendOptions& options = {});

  const ModelSpec& spec() const { return backend_->spec(); }
  // The runtime computing it ("onednn", "opencv").
  const char* backend_name() const { return backend_->name(); }
  // Embeds a batch; the result for image i does not depend on the batch it ran in.
  // When times is given, adds this call's preprocess and forward seconds to it.
  Result<std::vector<Embedding>> embed(const std::vector<cv::Mat>& rgb_images,
                                       EmbedTimes* times = nullptr);
  // The smallest shorter side worth decoding for this model (for DCT-reduced JPEG decode).
  int min_decode_side() const;
  // ModelBackend::run_parts of its backend: f(0..n-1) on the threads embed() ran on.
  void run_parts(std::size_t n, const std::function<void(std::size_t)>& f) const { backend_->run_parts(n, f); }

 private:
  std::unique_ptr<ModelBackend> backend_;
};

}  // namespace homelens::model

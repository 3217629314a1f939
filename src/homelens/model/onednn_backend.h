// ModelBackend on oneDNN: reads an ONNX graph and runs it as oneDNN CPU
// primitives (JIT kernels, blocked layouts, activations and residual adds fused
// into the convolutions). Covers the operators of MobileNet-style networks.
#pragma once

#include <memory>

#include "homelens/model/backend.h"

namespace homelens::model {

// Loads spec's ONNX file and builds its primitives (weights reordered once, here).
// Refuses, with an error naming the file and the operator, a graph with an
// operator, attribute or data type it cannot run; never falls back by itself.
// options.threads: OpenMP threads of the calling thread for each forward; 0 means 1
// (callers run one backend per thread) unless $OMP_NUM_THREADS is set.
Result<std::unique_ptr<ModelBackend>> open_onednn_backend(const ModelSpec& spec,
                                                          const BackendOptions& options);

}  // namespace homelens::model

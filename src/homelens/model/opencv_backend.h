// ModelBackend on OpenCV DNN: reads ONNX and Caffe files, runs on the CPU.
#pragma once

#include <opencv2/dnn.hpp>

#include "homelens/model/backend.h"

namespace homelens::model {

class OpenCvBackend final : public ModelBackend {
 public:
  // Loads the network; errors name the file and OpenCV's reason.
  static Result<std::unique_ptr<ModelBackend>> open(const ModelSpec& spec,
                                                    const BackendOptions& options);
  const ModelSpec& spec() const override { return spec_; }
  const char* name() const override { return "opencv"; }
  Result<ModelOutputs> forward(const cv::Mat& blob) override;

 private:
  OpenCvBackend(ModelSpec spec, cv::dnn::Net net, BackendOptions options);
  ModelSpec spec_;
  cv::dnn::Net net_;
  BackendOptions options_;
  std::vector<cv::String> output_names_;
  int probabilities_at_ = -1;  // index in output_names_, -1 when not asked for
  int feature_map_at_ = -1;
};

}  // namespace homelens::model

#include "homelens/model/opencv_backend.h"

#include <cblas.h>

#include <opencv2/core/utility.hpp>

#include "homelens/model/pointwise_conv.h"
#include "homelens/model/preprocess.h"

namespace homelens::model {

OpenCvBackend::OpenCvBackend(ModelSpec spec, cv::dnn::Net net, BackendOptions options)
    : spec_(std::move(spec)), net_(std::move(net)), options_(options) {
  output_names_.push_back(spec_.embedding_output);
  if (options_.want_probabilities && !spec_.probabilities_output.empty()) {
    probabilities_at_ = static_cast<int>(output_names_.size());
    output_names_.push_back(spec_.probabilities_output);
  }
  if (!spec_.feature_map_output.empty()) {
    feature_map_at_ = static_cast<int>(output_names_.size());
    // OpenCV 4.6 names the layer of an unnamed ONNX node after its first output, prefixed.
    std::string name = spec_.feature_map_output;
    if (net_.getLayerId(name) < 0) name = "onnx_node_output_0!" + name;
    output_names_.push_back(name);
  }
}

Result<std::unique_ptr<ModelBackend>> OpenCvBackend::open(const ModelSpec& spec,
                                                          const BackendOptions& options) {
  register_pointwise_conv();
  cv::dnn::Net net;
  try {
    if (spec.format == "onnx") {
      net = cv::dnn::readNetFromONNX(spec.files.at(0));
    } else if (spec.format == "caffe") {
      net = cv::dnn::readNetFromCaffe(spec.files.at(0), spec.files.at(1));
    } else {
      return make_error(spec.spec_path, "unsupported model format " + spec.format);
    }
  } catch (const cv::Exception& e) {
    return make_error(spec.files.empty() ? spec.spec_path : spec.files[0],
                      std::string("OpenCV could not load the model: ") + e.what());
  }
  if (net.empty()) return make_error(spec.files.at(0), "OpenCV loaded an empty network");
  net.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
  net.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
  // OpenCV's thread count is process-wide; the caller that owns the threads decides.
  if (options.threads > 0) {
    cv::setNumThreads(options.threads);
    openblas_set_num_threads(options.threads);  // the 1x1 convolutions run on OpenBLAS
  }
  return std::unique_ptr<ModelBackend>(new OpenCvBackend(spec, std::move(net), options));
}

Result<ModelOutputs> OpenCvBackend::forward(const cv::Mat& blob) {
  if (blob.dims != 4 || blob.size[1] != 3 ||
      !valid_input_shape(blob.size[2], blob.size[3], spec_.input))
    return make_error(spec_.id, "input blob has the wrong shape");
  const int n = blob.size[0];
  std::vector<cv::Mat> outs;
  try {
    net_.setInput(blob, spec_.input.name);
    net_.forward(outs, output_names_);
  } catch (const cv::Exception& e) {
    return make_error(spec_.id, std::string("inference failed: ") + e.what());
  }
  ModelOutputs result;
  result.embeddings = outs.at(0).reshape(1, n).clone();
  if (result.embeddings.cols != spec_.embedding_dim)
    return make_error(spec_.id, "embedding output has " + std::to_string(result.embeddings.cols) +
                                    " values, spec says " + std::to_string(spec_.embedding_dim));
  if (probabilities_at_ > 0)
    result.probabilities = outs.at(probabilities_at_).reshape(1, n).clone();
  if (feature_map_at_ > 0) {
    const cv::Mat& m = outs.at(feature_map_at_);
    if (m.dims != 4)
      return make_error(spec_.id, "feature map output " + spec_.feature_map_output + " is not 4-D");
    result.map_height = m.size[2];
    result.map_width = m.size[3];
    result.feature_map = m.reshape(1, n).clone();
  }
  return result;
}

}  // namespace homelens::model

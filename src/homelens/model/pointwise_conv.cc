#include "homelens/model/pointwise_conv.h"

#include <cblas.h>

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <cstring>
#include <mutex>

#include <opencv2/dnn.hpp>
#include <opencv2/dnn/all_layers.hpp>
#include <opencv2/dnn/layer.details.hpp>

namespace homelens::model {

namespace {

int param_at(const cv::dnn::LayerParams& p, const char* name, int i, int fallback) {
  if (!p.has(name)) return fallback;
  const cv::dnn::DictValue& v = p.get(name);
  return v.size() > i ? v.get<int>(i) : v.get<int>(0);
}

bool is_pointwise(const cv::dnn::LayerParams& p) {
  if (p.blobs.empty() || p.blobs[0].dims != 4) return false;
  const cv::Mat& w = p.blobs[0];
  if (w.size[2] != 1 || w.size[3] != 1 || w.type() != CV_32F) return false;
  if (p.get<int>("group", 1) != 1) return false;
  for (int i = 0; i < 2; ++i) {
    if (param_at(p, "stride", i, 1) != 1 || param_at(p, "dilation", i, 1) != 1) return false;
    if (param_at(p, "pad", i, 0) != 0) return false;
  }
  if (p.has("pad_t") || p.has("pad_mode")) {
    if (p.get<int>("pad_t", 0) || p.get<int>("pad_b", 0) || p.get<int>("pad_l", 0) || p.get<int>("pad_r", 0))
      return false;
  }
  return true;
}

class PointwiseConv final : public cv::dnn::Layer {
 public:
  explicit PointwiseConv(const cv::dnn::LayerParams& p) : Layer(p) {
    weights_ = p.blobs[0].reshape(1, p.blobs[0].size[0]).clone();  // Cout x Cin
    cout_ = weights_.rows;
    cin_ = weights_.cols;
    bias_.assign(cout_, 0.0f);
    if (p.blobs.size() > 1 && p.get<bool>("bias_term", true))
      std::memcpy(bias_.data(), p.blobs[1].ptr<float>(), cout_ * sizeof(float));
  }

  bool getMemoryShapes(const std::vector<cv::dnn::MatShape>& inputs, int,
                       std::vector<cv::dnn::MatShape>& outputs,
                       std::vector<cv::dnn::MatShape>&) const override {
    CV_Assert(inputs.size() == 1 && inputs[0].size() == 4 && inputs[0][1] == cin_);
    outputs.assign(1, cv::dnn::MatShape{inputs[0][0], cout_, inputs[0][2], inputs[0][3]});
    return false;
  }

  // Fusing the following ReLU/ReLU6 saves a full pass over the activations.
  bool setActivation(const cv::Ptr<cv::dnn::ActivationLayer>& layer) override {
    if (!layer) {
      clamp_ = false;
      return true;
    }
    if (auto r6 = layer.dynamicCast<cv::dnn::ReLU6Layer>()) {
      lo_ = r6->minValue;
      hi_ = r6->maxValue;
    } else if (auto r = layer.dynamicCast<cv::dnn::ReLULayer>(); r && r->negativeSlope == 0.0f) {
      lo_ = 0.0f;
      hi_ = std::numeric_limits<float>::infinity();
    } else {
      return false;
    }
    clamp_ = true;
    return true;
  }

  void forward(cv::InputArrayOfArrays in_arr, cv::OutputArrayOfArrays out_arr,
               cv::OutputArrayOfArrays) override {
    std::vector<cv::Mat> in, out;
    in_arr.getMatVector(in);
    out_arr.getMatVector(out);
    const cv::Mat& x = in[0];
    cv::Mat& y = out[0];
    const int n = x.size[0], hw = x.size[2] * x.size[3];
    for (int i = 0; i < n; ++i) {
      const float* src = x.ptr<float>(i);
      float* dst = y.ptr<float>(i);
      // Start from the bias so the GEMM accumulates onto it (beta = 1).
      for (int c = 0; c < cout_; ++c) std::fill(dst + c * hw, dst + (c + 1) * hw, bias_[c]);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, cout_, hw, cin_, 1.0f,
                  weights_.ptr<float>(), cin_, src, hw, 1.0f, dst, hw);
      if (clamp_)
        for (std::size_t j = 0, m = static_cast<std::size_t>(cout_) * hw; j < m; ++j)
          dst[j] = std::min(std::max(dst[j], lo_), hi_);
    }
  }

 private:
  cv::Mat weights_;
  std::vector<float> bias_;
  int cout_ = 0, cin_ = 0;
  bool clamp_ = false;
  float lo_ = 0.0f, hi_ = 0.0f;
};

cv::Ptr<cv::dnn::Layer> create_conv(cv::dnn::LayerParams& params) {
  if (is_pointwise(params)) return cv::makePtr<PointwiseConv>(params);
  return cv::dnn::ConvolutionLayer::create(params);
}

}  // namespace

void register_pointwise_conv() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (const char* env = std::getenv("HOMELENS_OPENCV_CONV"); env && std::strcmp(env, "1") == 0) return;
    cv::dnn::LayerFactory::registerLayer("Convolution", create_conv);
  });
}

}  // namespace homelens::model

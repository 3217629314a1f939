#include "homelens/model/preprocess.h"

#include <cmath>

#include <opencv2/imgproc.hpp>

namespace homelens::model {

namespace {
int interpolation_flag(const std::string& name) {
  if (name == "linear") return cv::INTER_LINEAR;
  if (name == "cubic") return cv::INTER_CUBIC;
  return cv::INTER_AREA;
}
}  // namespace

cv::Mat resize_and_crop(const cv::Mat& rgb, const InputSpec& spec) {
  const int flag = interpolation_flag(spec.interpolation);
  if (spec.resize_shorter <= 0) {
    cv::Mat out;
    cv::resize(rgb, out, cv::Size(spec.width, spec.height), 0, 0, flag);
    return out;
  }
  const double s = static_cast<double>(spec.resize_shorter) / std::min(rgb.cols, rgb.rows);
  // Rounded like the reference pipelines (Python round-half-even on .5 is rare enough to ignore).
  int w = std::max(spec.width, static_cast<int>(std::lround(rgb.cols * s)));
  int h = std::max(spec.height, static_cast<int>(std::lround(rgb.rows * s)));
  cv::Mat resized;
  if (w == rgb.cols && h == rgb.rows) {
    resized = rgb;
  } else {
    cv::resize(rgb, resized, cv::Size(w, h), 0, 0, flag);
  }
  if (spec.crop == "none") {
    cv::Mat out;
    cv::resize(resized, out, cv::Size(spec.width, spec.height), 0, 0, flag);
    return out;
  }
  const int x = (w - spec.width) / 2;
  const int y = (h - spec.height) / 2;
  return resized(cv::Rect(x, y, spec.width, spec.height));
}

void write_planes(const cv::Mat& rgb, const InputSpec& spec, float* dst) {
  CV_Assert(rgb.type() == CV_8UC3 && rgb.cols == spec.width && rgb.rows == spec.height);
  const int plane = spec.width * spec.height;
  const bool bgr = spec.color == "BGR";
  float mul[3], add[3];
  for (int c = 0; c < 3; ++c) {
    mul[c] = static_cast<float>(spec.scale / spec.std[c]);
    add[c] = static_cast<float>(-spec.mean[c] / spec.std[c]);
  }
  for (int y = 0; y < spec.height; ++y) {
    const uchar* row = rgb.ptr<uchar>(y);
    for (int x = 0; x < spec.width; ++x) {
      const int i = y * spec.width + x;
      for (int c = 0; c < 3; ++c) {
        const int out_c = bgr ? 2 - c : c;
        dst[out_c * plane + i] = row[3 * x + c] * mul[c] + add[c];
      }
    }
  }
}

cv::Mat make_blob(const std::vector<cv::Mat>& rgb_images, const InputSpec& spec) {
  const int n = static_cast<int>(rgb_images.size());
  int dims[4] = {n, 3, spec.height, spec.width};
  cv::Mat blob(4, dims, CV_32F);
  const std::size_t per_image = 3u * spec.width * spec.height;
  for (int i = 0; i < n; ++i) {
    cv::Mat fitted = resize_and_crop(rgb_images[i], spec);
    write_planes(fitted, spec, blob.ptr<float>() + i * per_image);
  }
  return blob;
}

}  // namespace homelens::model

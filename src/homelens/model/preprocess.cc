#include "homelens/model/preprocess.h"

#include <algorithm>
#include <cmath>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <opencv2/imgproc.hpp>

namespace homelens::model {

namespace {
int interpolation_flag(const std::string& name) {
  if (name == "linear") return cv::INTER_LINEAR;
  if (name == "cubic") return cv::INTER_CUBIC;
  return cv::INTER_AREA;
}

// The source span of each of `count` outputs from `begin` when `src` pixels shrink to `dst`
// by area averaging: the taps OpenCV's INTER_AREA uses (computeResizeAreaTab), so the fused
// path below gives its pixels; each output's weights are padded with zeros to `stride`.
struct AreaTaps {
  int stride = 0;
  std::vector<int> first;  // per output: its first source index
  std::vector<float> w;    // per output: stride weights from `first` on
};

AreaTaps area_taps(int src, int dst, int begin, int count) {
  const double scale = static_cast<double>(src) / dst;
  std::vector<std::vector<std::pair<int, float>>> taps(count);
  for (int i = 0; i < count; ++i) {
    const double f1 = (begin + i) * scale, f2 = f1 + scale;
    const double cell = std::min(scale, src - f1);
    int s2 = std::min(static_cast<int>(std::floor(f2)), src - 1);
    int s1 = std::min(static_cast<int>(std::ceil(f1)), s2);
    auto& t = taps[i];
    if (s1 - f1 > 1e-3) t.emplace_back(s1 - 1, static_cast<float>((s1 - f1) / cell));
    for (int k = s1; k < s2; ++k) t.emplace_back(k, static_cast<float>(1.0 / cell));
    if (f2 - s2 > 1e-3) t.emplace_back(s2, static_cast<float>(std::min(std::min(f2 - s2, 1.0), cell) / cell));
  }
  AreaTaps out;
  for (const auto& t : taps) out.stride = std::max(out.stride, static_cast<int>(t.size()));
  out.first.resize(count);
  out.w.assign(static_cast<std::size_t>(count) * out.stride, 0.0f);
  for (int i = 0; i < count; ++i) {
    out.first[i] = taps[i].front().first;
    for (std::size_t k = 0; k < taps[i].size(); ++k) out.w[i * out.stride + k] = taps[i][k].second;
  }
  return out;
}

// The normalization as one multiply-add per input channel, and where each channel goes.
struct Normalizer {
  float mul[3], add[3];
  int plane_of[3];
  explicit Normalizer(const InputSpec& spec) {
    for (int c = 0; c < 3; ++c) {
      mul[c] = static_cast<float>(spec.scale / spec.std[c]);
      add[c] = static_cast<float>(-spec.mean[c] / spec.std[c]);
      plane_of[c] = spec.color == "BGR" ? 2 - c : c;
    }
  }
};

// The size resize_and_crop scales rgb to before cropping to `in` (input_size).
cv::Size resized_size(const cv::Mat& rgb, const InputSpec& spec, cv::Size in) {
  const double s = spec.crop == "whole"
                       ? std::max(static_cast<double>(in.width) / rgb.cols,
                                  static_cast<double>(in.height) / rgb.rows)
                       : static_cast<double>(spec.resize_shorter) / std::min(rgb.cols, rgb.rows);
  // Rounded like the reference pipelines (Python round-half-even on .5 is rare enough to ignore).
  return {std::max(in.width, static_cast<int>(std::lround(rgb.cols * s))),
          std::max(in.height, static_cast<int>(std::lround(rgb.rows * s)))};
}

// v rounded half to even as OpenCV's saturate_cast rounds (cvRound), inline: std::nearbyint is
// a libm call, one per value.
inline int round_even(float v) {
#if defined(__SSE2__)
  return _mm_cvtss_si32(_mm_set_ss(v));
#else
  return static_cast<int>(std::lrintf(v));
#endif
}

// resize_and_crop + write_planes in one pass over only the source pixels the crop covers:
// rows first (contiguous, so vectorized) into one float row, then the columns straight into
// the planes. Pixels are rounded to 8 bits as resize's are, so the blob is the two-step one.
void fused_area_planes(const cv::Mat& rgb, const InputSpec& spec, cv::Size resized, cv::Size in,
                       float* dst) {
  const int x0 = (resized.width - in.width) / 2, y0 = (resized.height - in.height) / 2;
  const AreaTaps cols = area_taps(rgb.cols, resized.width, x0, in.width);
  const AreaTaps rows = area_taps(rgb.rows, resized.height, y0, in.height);
  const int src_x0 = cols.first.front();
  const int src_x1 = std::min(rgb.cols, cols.first.back() + cols.stride);
  const int span = 3 * (src_x1 - src_x0);
  std::vector<float> acc(span);
  const Normalizer norm(spec);
  const int plane = in.width * in.height;
  for (int y = 0; y < in.height; ++y) {
    std::fill(acc.begin(), acc.end(), 0.0f);
    for (int k = 0; k < rows.stride; ++k) {
      const float w = rows.w[y * rows.stride + k];
      const int sy = rows.first[y] + k;
      if (w == 0.0f || sy >= rgb.rows) continue;
      const uchar* src = rgb.ptr<uchar>(sy) + 3 * src_x0;
      for (int i = 0; i < span; ++i) acc[i] += w * src[i];
    }
    float* out = dst + y * in.width;
    for (int x = 0; x < in.width; ++x) {
      const float* a = acc.data() + 3 * (cols.first[x] - src_x0);
      const float* w = cols.w.data() + x * cols.stride;
      const int taps = std::min(cols.stride, src_x1 - cols.first[x]);
      float sum[3] = {0, 0, 0};
      for (int k = 0; k < taps; ++k)
        for (int c = 0; c < 3; ++c) sum[c] += w[k] * a[3 * k + c];
      for (int c = 0; c < 3; ++c) {
        const float v = std::clamp(static_cast<float>(round_even(sum[c])), 0.0f, 255.0f);
        out[norm.plane_of[c] * plane + x] = v * norm.mul[c] + norm.add[c];
      }
    }
  }
}

// Whether fused_area_planes computes this image's blob: an area shrink (no axis enlarged,
// where INTER_AREA is bilinear instead) followed by a centre crop.
bool fusable(const cv::Mat& rgb, const InputSpec& spec, cv::Size resized) {
  return (spec.resize_shorter > 0 || spec.crop == "whole") && spec.crop != "none" &&
         interpolation_flag(spec.interpolation) == cv::INTER_AREA && rgb.type() == CV_8UC3 &&
         resized.width <= rgb.cols && resized.height <= rgb.rows;
}
}  // namespace

cv::Mat resize_and_crop(const cv::Mat& rgb, const InputSpec& spec) {
  const int flag = interpolation_flag(spec.interpolation);
  if (spec.resize_shorter <= 0 && spec.crop != "whole") {
    cv::Mat out;
    cv::resize(rgb, out, cv::Size(spec.width, spec.height), 0, 0, flag);
    return out;
  }
  const cv::Size in = input_size(rgb.size(), spec);
  const cv::Size size = resized_size(rgb, spec, in);
  const int w = size.width, h = size.height;
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
  const int x = (w - in.width) / 2;
  const int y = (h - in.height) / 2;
  return resized(cv::Rect(x, y, in.width, in.height));
}

void write_planes(const cv::Mat& rgb, const InputSpec& spec, float* dst) {
  CV_Assert(rgb.type() == CV_8UC3 && valid_input_shape(rgb.rows, rgb.cols, spec));
  const int width = rgb.cols, height = rgb.rows, plane = width * height;
  const Normalizer norm(spec);
  for (int y = 0; y < height; ++y) {
    const uchar* row = rgb.ptr<uchar>(y);
    for (int c = 0; c < 3; ++c) {
      float* out = dst + norm.plane_of[c] * plane + y * width;
      for (int x = 0; x < width; ++x) out[x] = row[3 * x + c] * norm.mul[c] + norm.add[c];
    }
  }
}

void write_input(const cv::Mat& rgb, const InputSpec& spec, float* dst) {
  if (spec.resize_shorter > 0 || spec.crop == "whole") {
    const cv::Size in = input_size(rgb.size(), spec);
    const cv::Size size = resized_size(rgb, spec, in);
    if (fusable(rgb, spec, size)) return fused_area_planes(rgb, spec, size, in, dst);
  }
  write_planes(resize_and_crop(rgb, spec), spec, dst);
}

cv::Mat make_blob(const std::vector<cv::Mat>& rgb_images, const InputSpec& spec) {
  const int n = static_cast<int>(rgb_images.size());
  const cv::Size in =
      n > 0 ? input_size(rgb_images[0].size(), spec) : cv::Size(spec.width, spec.height);
  int dims[4] = {n, 3, in.height, in.width};
  cv::Mat blob(4, dims, CV_32F);
  const std::size_t per_image = 3u * in.width * in.height;
  for (int i = 0; i < n; ++i) {
    CV_Assert(input_size(rgb_images[i].size(), spec) == in);
    write_input(rgb_images[i], spec, blob.ptr<float>() + i * per_image);
  }
  return blob;
}

}  // namespace homelens::model

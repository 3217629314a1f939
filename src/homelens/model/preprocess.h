// Pixels -> network input, exactly as the model spec says. Kept beside the model
// because resize, crop and normalization are part of the network's contract.
#pragma once

#include <algorithm>
#include <cmath>
#include <opencv2/core.hpp>

#include "homelens/model/model_spec.h"

namespace homelens::model {

// The network input size for a photo of size `photo`: the spec's WxH, or with crop "whole" the
// shorter side at min(W, H) and the longer at the multiple of size_step nearest the photo's
// aspect, at most max_aspect times the shorter. (Inline: the oneDNN backend, a library of its
// own, checks shapes with valid_input_shape.)
inline cv::Size input_size(cv::Size photo, const InputSpec& spec) {
  if (spec.crop != "whole" || photo.width <= 0 || photo.height <= 0)
    return {spec.width, spec.height};
  const int shorter = std::min(spec.width, spec.height), step = spec.size_step;
  const double aspect = static_cast<double>(std::max(photo.width, photo.height)) /
                        std::min(photo.width, photo.height);
  const int cap = std::max(shorter, static_cast<int>(shorter * spec.max_aspect) / step * step);
  const int longer =
      std::clamp(static_cast<int>(std::lround(shorter * aspect / step)) * step, shorter, cap);
  return photo.width >= photo.height ? cv::Size(longer, shorter) : cv::Size(shorter, longer);
}

// Whether a blob of h x w images is one this spec's preprocessing makes: a size input_size
// gives itself (load_model_spec makes the shorter side a multiple of size_step, so it does).
inline bool valid_input_shape(int h, int w, const InputSpec& spec) {
  return input_size({w, h}, spec) == cv::Size(w, h);
}

// The cells of a feature map of size `map`, computed from an input of size `input`, that the
// centre crop (shorter side scaled to spec.resize_shorter, then the middle width x height) of the
// same photo covers: what head_view "centre" averages. At least one cell each way.
inline cv::Rect centre_cells(cv::Size map, cv::Size input, const InputSpec& spec) {
  const double keep = static_cast<double>(std::min(spec.width, spec.height)) / spec.resize_shorter;
  const double aspect = static_cast<double>(input.width) / input.height;
  const int w = std::clamp(static_cast<int>(std::lround(map.width * keep / std::max(aspect, 1.0))),
                           1, map.width);
  const int h = std::clamp(static_cast<int>(std::lround(map.height * keep * std::min(aspect, 1.0))),
                           1, map.height);
  return {(map.width - w) / 2, (map.height - h) / 2, w, h};
}

// Scales the shorter side to spec.resize_shorter (or straight to WxH when 0), centre-crops to
// WxH, and returns a CV_8UC3 RGB image of exactly WxH. With crop "whole" it scales the photo
// to cover input_size, aspect kept, and centre-crops the rest (at most size_step / 2 of one
// side, more only beyond max_aspect), returning an image of input_size.
cv::Mat resize_and_crop(const cv::Mat& rgb, const InputSpec& spec);

// Writes one image's normalized planes (3 x h x w floats for an rgb of w x h, in the spec's
// channel order) to dst. `rgb` must already be its input size (resize_and_crop).
void write_planes(const cv::Mat& rgb, const InputSpec& spec, float* dst);

// write_planes(resize_and_crop(rgb, spec), spec, dst) for an RGB image of any size, in one
// pass over only the pixels the crop keeps when the spec shrinks by area and centre-crops
// (the same blob, to float rounding).
void write_input(const cv::Mat& rgb, const InputSpec& spec, float* dst);

// Builds an N x 3 x H x W blob from RGB images of any size (write_input each). With crop
// "whole" all images must have the same input_size (model::Embedder groups them).
cv::Mat make_blob(const std::vector<cv::Mat>& rgb_images, const InputSpec& spec);

}  // namespace homelens::model

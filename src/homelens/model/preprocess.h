// Pixels -> network input, exactly as the model spec says. Kept beside the model
// because resize, crop and normalization are part of the network's contract.
#pragma once

#include <opencv2/core.hpp>

#include "homelens/model/model_spec.h"

namespace homelens::model {

// Scales the shorter side to spec.resize_shorter (or straight to WxH when 0),
// centre-crops to WxH, and returns a CV_8UC3 RGB image of exactly WxH.
cv::Mat resize_and_crop(const cv::Mat& rgb, const InputSpec& spec);

// Writes one image's normalized planes (3 x H x W floats, in the spec's
// channel order) to dst. `rgb` must already be WxH (resize_and_crop).
void write_planes(const cv::Mat& rgb, const InputSpec& spec, float* dst);

// write_planes(resize_and_crop(rgb, spec), spec, dst) for an RGB image of any size, in one
// pass over only the pixels the crop keeps when the spec shrinks by area and centre-crops
// (the same blob, to float rounding).
void write_input(const cv::Mat& rgb, const InputSpec& spec, float* dst);

// Builds an N x 3 x H x W blob from RGB images of any size (write_input each).
cv::Mat make_blob(const std::vector<cv::Mat>& rgb_images, const InputSpec& spec);

}  // namespace homelens::model

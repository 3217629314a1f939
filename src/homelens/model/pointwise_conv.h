// A faster 1x1 convolution for OpenCV DNN. Pointwise convolutions are two
// thirds of MobileNet's time; as a plain GEMM they run on OpenBLAS's AVX-512
// kernels, which OpenCV 4.6's own convolution does not use.
#pragma once

namespace homelens::model {

// Makes OpenCV build 1x1 / stride 1 / ungrouped convolutions with the GEMM layer
// (others stay OpenCV's). Process-wide and idempotent; call before loading a
// network. $HOMELENS_OPENCV_CONV=1 keeps OpenCV's layer (for comparisons).
void register_pointwise_conv();

}  // namespace homelens::model

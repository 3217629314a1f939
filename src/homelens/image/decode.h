// Photo bytes -> 8-bit RGB pixels. Every listing photo enters HomeLens here, so
// this stage is where hostile or odd files are refused with a clear reason.
#pragma once

#include <cstdint>
#include <opencv2/core.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "homelens/core/result.h"

namespace homelens::image {

struct DecodeOptions {
  // Files larger than this are refused before they are read in full.
  std::size_t max_bytes = 64u << 20;
  // Width*height above this is refused from the header, before any pixel is
  // allocated (decompression-bomb guard).
  std::uint64_t max_pixels = 100'000'000;
  // When > 0, a JPEG whose shorter side is at least 2x/4x/8x this is decoded
  // at 1/2, 1/4 or 1/8 scale in the DCT, keeping the shorter side >= this.
  int min_shorter_side = 0;
};

// What the header says, read without decoding pixels.
struct ImageHeader {
  std::string format;  // "jpeg", "png", "webp", "bmp", "tiff"
  int width = 0;
  int height = 0;
};

struct DecodedImage {
  cv::Mat rgb;    // CV_8UC3, RGB order, EXIF orientation applied
  int width = 0;  // full-resolution size after orientation
  int height = 0;
  std::string format;
  int scale_denom = 1;  // 1, 2, 4 or 8 when decoded at reduced scale
};

// Reads format and size from the first bytes without decoding pixels, so limits can be checked
// first. Never throws; errors name `name` and say why (unknown format, truncated header).
Result<ImageHeader> read_header(std::string_view bytes, const std::string& name);

// Decodes JPEG, PNG, WebP, BMP or TIFF bytes. Grayscale, CMYK, 16-bit and
// alpha (composited over white) all come out as 8-bit RGB. `name` is used only
// in error messages. Refuses oversized data and images before allocating pixels;
// never throws, and a truncated or corrupt file is an Error, not a partial image.
Result<DecodedImage> decode(std::string_view bytes, const std::string& name,
                            const DecodeOptions& opts = {});

// Reads a file into memory; one over max_bytes is refused from its size, without
// being read. Never throws; errors name the path.
Result<std::string> read_file(const std::string& path, std::size_t max_bytes);

// decode(read_file(path)): errors from either step, named by `path`.
Result<DecodedImage> decode_file(const std::string& path, const DecodeOptions& opts = {});

// Lower-case hex SHA-256 of the bytes (64 characters): a photo's identity.
std::string sha256_hex(std::string_view bytes);

}  // namespace homelens::image

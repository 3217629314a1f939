#include "homelens/image/decode.h"

#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <random>
#include <string>
#include <vector>

#include "support/bad_corpus.h"
#include "support/testing.h"

namespace homelens::image {
namespace {

namespace fs = std::filesystem;
using homelens::testing::encode_image;
using homelens::testing::houses_dir;
using homelens::testing::read_bytes;
using homelens::testing::TempDir;
using homelens::testing::write_bytes;

const char kFrontal[] = "1_frontal.jpg";  // 640x427, no EXIF

fs::path photo_path(const std::string& name) { return houses_dir() / "images" / name; }

cv::Vec3b rgb_at(const DecodedImage& img, int x, int y) { return img.rgb.at<cv::Vec3b>(y, x); }

double max_diff(const cv::Mat& a, const cv::Mat& b) { return cv::norm(a, b, cv::NORM_INF); }
double mean_diff(const cv::Mat& a, const cv::Mat& b) {
  return cv::norm(a, b, cv::NORM_L1) / static_cast<double>(a.total() * a.channels());
}

// Each channel of `actual` within `tol` of `expected` (R, G, B).
::testing::AssertionResult near_rgb(const cv::Vec3b& actual, cv::Vec3b expected, int tol) {
  for (int c = 0; c < 3; ++c) {
    if (std::abs(actual[c] - expected[c]) > tol) {
      return ::testing::AssertionFailure()
             << "got RGB(" << int{actual[0]} << "," << int{actual[1]} << "," << int{actual[2]}
             << "), want RGB(" << int{expected[0]} << "," << int{expected[1]} << ","
             << int{expected[2]} << ") +/- " << tol;
    }
  }
  return ::testing::AssertionSuccess();
}

DecodedImage decode_ok(const std::string& bytes, const std::string& name,
                       const DecodeOptions& opts = {}) {
  auto r = decode(bytes, name, opts);
  EXPECT_TRUE(r.ok()) << r.message();
  if (!r.ok()) return {};
  EXPECT_EQ(r->rgb.type(), CV_8UC3);
  return std::move(r).value();
}

// The frontal photo with a pure red 64x64 block in its top-left corner, as a JPEG.
std::string frontal_with_red_corner() {
  cv::Mat bgr = cv::imread(photo_path(kFrontal).string(), cv::IMREAD_COLOR);
  bgr(cv::Rect(0, 0, 64, 64)).setTo(cv::Scalar(0, 0, 255));
  return encode_image(bgr, ".jpg", {cv::IMWRITE_JPEG_QUALITY, 95});
}

// Colour at the centre of a 64x64 corner block of an image: tl, tr, bl, br.
cv::Vec3b corner(const DecodedImage& img, const std::string& which, int block = 64) {
  const int x = which[1] == 'l' ? block / 2 : img.rgb.cols - block / 2;
  const int y = which[0] == 't' ? block / 2 : img.rgb.rows - block / 2;
  return rgb_at(img, x, y);
}

const cv::Vec3b kRed(255, 0, 0);
const cv::Vec3b kWhite(255, 255, 255);

TEST(DecodeTest, JpegPhotoDecodesToRgbAtItsHeaderSize) {
  const std::string bytes = read_bytes(photo_path(kFrontal));
  auto header = read_header(bytes, kFrontal);
  ASSERT_TRUE(header.ok()) << header.message();
  EXPECT_EQ(header->format, "jpeg");
  EXPECT_EQ(header->width, 640);
  EXPECT_EQ(header->height, 427);

  const DecodedImage img = decode_ok(bytes, kFrontal);
  EXPECT_EQ(img.format, "jpeg");
  EXPECT_EQ(img.rgb.cols, 640);
  EXPECT_EQ(img.rgb.rows, 427);
  EXPECT_EQ(img.width, 640);
  EXPECT_EQ(img.height, 427);
  EXPECT_EQ(img.scale_denom, 1);
  // Exactly OpenCV's own pixels, with the channels in RGB order.
  cv::Mat expected;
  cv::cvtColor(cv::imread(photo_path(kFrontal).string()), expected, cv::COLOR_BGR2RGB);
  EXPECT_EQ(max_diff(img.rgb, expected), 0);
}

TEST(DecodeTest, SamePhotoInEveryFormatDecodesToTheSamePixels) {
  const DecodedImage ref = decode_ok(read_bytes(photo_path(kFrontal)), kFrontal);
  cv::Mat bgr;
  cv::cvtColor(ref.rgb, bgr, cv::COLOR_RGB2BGR);
  struct Case {
    std::string ext;
    std::vector<int> params;
    std::string format;
    double max_mean_diff;  // 0: lossless, must be exact
  };
  const std::vector<Case> cases = {
      {".png", {}, "png", 0},
      {".bmp", {}, "bmp", 0},
      {".tiff", {}, "tiff", 0},
      {".webp", {cv::IMWRITE_WEBP_QUALITY, 101}, "webp", 0},   // VP8L (lossless)
      {".webp", {cv::IMWRITE_WEBP_QUALITY, 90}, "webp", 4.0},  // VP8 (lossy)
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.ext + " q" + (c.params.empty() ? "-" : std::to_string(c.params[1])));
    const std::string bytes = encode_image(bgr, c.ext, c.params);
    auto header = read_header(bytes, "photo" + c.ext);
    ASSERT_TRUE(header.ok()) << header.message();
    EXPECT_EQ(header->format, c.format);
    EXPECT_EQ(header->width, 640);
    EXPECT_EQ(header->height, 427);
    const DecodedImage img = decode_ok(bytes, "photo" + c.ext);
    EXPECT_EQ(img.format, c.format);
    ASSERT_EQ(img.rgb.size(), ref.rgb.size());
    EXPECT_EQ(img.width, 640);
    EXPECT_EQ(img.height, 427);
    if (c.max_mean_diff == 0) {
      EXPECT_EQ(max_diff(img.rgb, ref.rgb), 0);
    } else {
      EXPECT_LT(mean_diff(img.rgb, ref.rgb), c.max_mean_diff);
    }
  }
}

TEST(DecodeTest, RedStaysRedAndBlueStaysBlue) {
  cv::Mat bgr(64, 128, CV_8UC3, cv::Scalar(255, 0, 0));      // blue (OpenCV order)
  bgr(cv::Rect(0, 0, 64, 64)).setTo(cv::Scalar(0, 0, 255));  // red left half
  for (const std::string ext : {".png", ".jpg", ".webp", ".bmp", ".tiff"}) {
    SCOPED_TRACE(ext);
    const DecodedImage img = decode_ok(encode_image(bgr, ext), "synthetic" + ext);
    ASSERT_EQ(img.rgb.cols, 128);
    const cv::Vec3b left = rgb_at(img, 32, 32), right = rgb_at(img, 96, 32);
    EXPECT_GT(left[0], 240);  // R
    EXPECT_LT(left[2], 15);   // B
    EXPECT_LT(right[0], 15);
    EXPECT_GT(right[2], 240);
  }
}

TEST(DecodeTest, ExifOrientationRotatesJpeg) {
  const std::string plain = frontal_with_red_corner();
  const DecodedImage upright = decode_ok(plain, "plain.jpg");
  ASSERT_TRUE(near_rgb(corner(upright, "tl"), kRed, 12));

  // Orientation 6: the camera was turned, the viewer must turn the image 90 degrees clockwise,
  // which carries the top-left corner to the top-right.
  const DecodedImage rot6 = decode_ok(testing::with_jpeg_exif_orientation(plain, 6), "rotated.jpg");
  EXPECT_EQ(rot6.rgb.cols, 427);
  EXPECT_EQ(rot6.rgb.rows, 640);
  EXPECT_EQ(rot6.width, 427);
  EXPECT_EQ(rot6.height, 640);
  EXPECT_TRUE(near_rgb(corner(rot6, "tr"), kRed, 12));
  EXPECT_FALSE(near_rgb(corner(rot6, "tl"), kRed, 60));
  cv::Mat turned;
  cv::rotate(upright.rgb, turned, cv::ROTATE_90_CLOCKWISE);
  EXPECT_EQ(max_diff(rot6.rgb, turned), 0);

  const DecodedImage rot8 = decode_ok(testing::with_jpeg_exif_orientation(plain, 8), "r8.jpg");
  EXPECT_EQ(rot8.width, 427);
  EXPECT_TRUE(near_rgb(corner(rot8, "bl"), kRed, 12));
  const DecodedImage rot3 = decode_ok(testing::with_jpeg_exif_orientation(plain, 3), "r3.jpg");
  EXPECT_EQ(rot3.width, 640);
  EXPECT_TRUE(near_rgb(corner(rot3, "br"), kRed, 12));
}

TEST(DecodeTest, ExifOrientationSurvivesReducedScaleDecode) {
  const std::string rotated = testing::with_jpeg_exif_orientation(frontal_with_red_corner(), 6);
  DecodeOptions opts;
  opts.min_shorter_side = 200;  // 427 / 2 >= 200 but 427 / 4 is not
  const DecodedImage img = decode_ok(rotated, "rotated.jpg", opts);
  EXPECT_EQ(img.scale_denom, 2);
  EXPECT_EQ(img.rgb.cols, 214);  // ceil(427 / 2), turned
  EXPECT_EQ(img.rgb.rows, 320);
  EXPECT_EQ(img.width, 427);  // full-resolution size, oriented
  EXPECT_EQ(img.height, 640);
  EXPECT_TRUE(near_rgb(corner(img, "tr", 32), kRed, 12));
}

// JPEGs decode straight to RGB through libjpeg, faster than OpenCV's decoder and to exactly
// its pixels (the same library and settings): house photos at every DCT scale, a greyscale
// one, EXIF-turned ones at full and reduced scale.
TEST(DecodeTest, JpegPixelsAreExactlyOpenCvsAtEveryScaleAndOrientation) {
  std::vector<std::pair<std::string, std::string>> cases;  // name, bytes
  for (const char* name : {"1_frontal.jpg", "2_kitchen.jpg", "59_frontal.jpg", "7_bedroom.jpg"})
    cases.emplace_back(name, read_bytes(photo_path(name)));
  cv::Mat grey = cv::imread(photo_path(kFrontal).string(), cv::IMREAD_GRAYSCALE);
  cases.emplace_back("grey.jpg", encode_image(grey, ".jpg", {cv::IMWRITE_JPEG_QUALITY, 90}));
  for (int o : {3, 6, 8}) cases.emplace_back("exif.jpg", testing::with_jpeg_exif_orientation(frontal_with_red_corner(), o));
  for (const auto& [name, bytes] : cases) {
    const DecodedImage full = decode_ok(bytes, name);
    for (int denom : {1, 2, 4, 8}) {
      DecodeOptions opts;
      opts.min_shorter_side = std::min(full.width, full.height) / denom;  // exactly this scale
      const DecodedImage img = decode_ok(bytes, name, opts);
      ASSERT_EQ(img.scale_denom, denom) << name;
      const int flag = denom == 1 ? cv::IMREAD_COLOR
                       : denom == 2 ? cv::IMREAD_REDUCED_COLOR_2
                       : denom == 4 ? cv::IMREAD_REDUCED_COLOR_4
                                    : cv::IMREAD_REDUCED_COLOR_8;
      cv::Mat bgr = cv::imdecode(cv::Mat(1, static_cast<int>(bytes.size()), CV_8U, const_cast<char*>(bytes.data())), flag);
      cv::Mat rgb;
      cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
      ASSERT_EQ(img.rgb.size(), rgb.size()) << name << " 1/" << denom;
      EXPECT_EQ(max_diff(img.rgb, rgb), 0) << name << " 1/" << denom;
    }
  }
}

TEST(DecodeTest, ExifOrientationInPngIsApplied) {
  cv::Mat bgr(40, 60, CV_8UC3, cv::Scalar(200, 200, 200));
  bgr(cv::Rect(0, 0, 10, 10)).setTo(cv::Scalar(0, 0, 255));
  const std::string png = encode_image(bgr, ".png");
  const DecodedImage img = decode_ok(testing::with_png_exif_orientation(png, 6), "rot.png");
  EXPECT_EQ(img.width, 40);
  EXPECT_EQ(img.height, 60);
  EXPECT_EQ(rgb_at(img, 35, 5), kRed);  // top-left went to top-right
  // The alpha path decodes differently inside OpenCV; it must honour the tag as well.
  cv::Mat bgra;
  cv::cvtColor(bgr, bgra, cv::COLOR_BGR2BGRA);
  const DecodedImage alpha =
      decode_ok(testing::with_png_exif_orientation(encode_image(bgra, ".png"), 6), "rot4.png");
  EXPECT_EQ(alpha.width, 40);
  EXPECT_EQ(rgb_at(alpha, 35, 5), kRed);
}

TEST(DecodeTest, GrayscaleJpegComesOutAsThreeEqualChannels) {
  cv::Mat gray = cv::imread(photo_path(kFrontal).string(), cv::IMREAD_GRAYSCALE);
  const std::string bytes = encode_image(gray, ".jpg", {cv::IMWRITE_JPEG_QUALITY, 95});
  const DecodedImage img = decode_ok(bytes, "gray.jpg");
  ASSERT_EQ(img.rgb.size(), gray.size());
  std::vector<cv::Mat> ch;
  cv::split(img.rgb, ch);
  EXPECT_EQ(max_diff(ch[0], ch[1]), 0);
  EXPECT_EQ(max_diff(ch[1], ch[2]), 0);
  EXPECT_LT(mean_diff(ch[0], gray), 2.0);
}

// Ink amounts (0 = none, 255 = full) stored the Adobe way, inverted.
std::array<std::uint8_t, 4> adobe(int c, int m, int y, int k) {
  return {static_cast<std::uint8_t>(255 - c), static_cast<std::uint8_t>(255 - m),
          static_cast<std::uint8_t>(255 - y), static_cast<std::uint8_t>(255 - k)};
}

TEST(DecodeTest, CmykAndYcckJpegsGiveTheRightColours) {
  struct Patch {
    std::array<std::uint8_t, 4> stored;
    cv::Vec3b rgb;
  };
  const std::vector<Patch> patches = {
      {adobe(0, 255, 255, 0), {255, 0, 0}},    // magenta + yellow = red
      {adobe(255, 0, 255, 0), {0, 255, 0}},    // cyan + yellow = green
      {adobe(255, 255, 0, 0), {0, 0, 255}},    // cyan + magenta = blue
      {adobe(0, 0, 0, 0), {255, 255, 255}},    // no ink = white paper
      {adobe(0, 0, 0, 255), {0, 0, 0}},        // full black ink
      {adobe(0, 0, 0, 128), {127, 127, 127}},  // half black
  };
  const int block = 16, w = block * static_cast<int>(patches.size()), h = block;
  std::vector<std::uint8_t> cmyk;
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      const auto& s = patches[x / block].stored;
      cmyk.insert(cmyk.end(), s.begin(), s.end());
    }
  }
  for (bool ycck : {false, true}) {
    SCOPED_TRACE(ycck ? "YCCK" : "CMYK");
    const std::string bytes = testing::encode_cmyk_jpeg(cmyk, w, h, ycck);
    auto header = read_header(bytes, "cmyk.jpg");
    ASSERT_TRUE(header.ok()) << header.message();
    EXPECT_EQ(header->width, w);
    const DecodedImage img = decode_ok(bytes, "cmyk.jpg");
    ASSERT_EQ(img.rgb.cols, w);
    for (std::size_t k = 0; k < patches.size(); ++k) {
      SCOPED_TRACE("patch " + std::to_string(k));
      EXPECT_TRUE(near_rgb(rgb_at(img, static_cast<int>(k) * block + block / 2, block / 2),
                           patches[k].rgb, 8));
    }
  }
}

TEST(DecodeTest, CmykPhotoLooksLikeTheRgbPhoto) {
  const cv::Mat bgr = cv::imread(photo_path("2_kitchen.jpg").string());
  const std::string bytes =
      testing::encode_cmyk_jpeg(testing::bgr_to_adobe_cmyk(bgr), bgr.cols, bgr.rows);
  const DecodedImage img = decode_ok(bytes, "kitchen_cmyk.jpg");
  cv::Mat expected;
  cv::cvtColor(bgr, expected, cv::COLOR_BGR2RGB);
  ASSERT_EQ(img.rgb.size(), expected.size());
  EXPECT_LT(mean_diff(img.rgb, expected), 4.0);
}

TEST(DecodeTest, SixteenBitIsScaledNotTruncated) {
  // Columns: 65535, 32768, 0xFF00, 0x00FF. Taking the low byte would give 255, 0, 0, 255.
  const std::vector<std::uint16_t> values = {65535, 32768, 0xFF00, 0x00FF};
  const std::vector<int> want = {255, 128, 254, 1};
  for (int channels : {1, 3}) {
    for (const std::string ext : {".png", ".tiff"}) {
      SCOPED_TRACE(ext + " channels " + std::to_string(channels));
      cv::Mat m(8, 8 * static_cast<int>(values.size()), CV_16UC(channels));
      for (std::size_t k = 0; k < values.size(); ++k) {
        m(cv::Rect(static_cast<int>(k) * 8, 0, 8, 8)).setTo(cv::Scalar::all(values[k]));
      }
      const DecodedImage img = decode_ok(encode_image(m, ext), "deep" + ext);
      ASSERT_EQ(img.rgb.cols, m.cols);
      for (std::size_t k = 0; k < values.size(); ++k) {
        EXPECT_TRUE(near_rgb(rgb_at(img, static_cast<int>(k) * 8 + 4, 4),
                             cv::Vec3b::all(static_cast<std::uint8_t>(want[k])), 1));
      }
    }
  }
}

// BGRA test card: transparent black | opaque red | half-transparent red.
cv::Mat alpha_card(int depth) {
  cv::Mat m(16, 48, CV_8UC4, cv::Scalar(0, 0, 0, 0));
  m(cv::Rect(16, 0, 16, 16)).setTo(cv::Scalar(0, 0, 255, 255));
  m(cv::Rect(32, 0, 16, 16)).setTo(cv::Scalar(0, 0, 255, 128));
  if (depth == CV_16U) m.convertTo(m, CV_16U, 257.0);
  return m;
}

void expect_alpha_card(const DecodedImage& img, int tol) {
  ASSERT_EQ(img.rgb.cols, 48);
  EXPECT_TRUE(near_rgb(rgb_at(img, 8, 8), kWhite, tol)) << "transparent must become white";
  EXPECT_TRUE(near_rgb(rgb_at(img, 24, 8), kRed, tol)) << "opaque red stays red";
  EXPECT_TRUE(near_rgb(rgb_at(img, 40, 8), cv::Vec3b(255, 127, 127), tol + 2))
      << "half red over white";
}

TEST(DecodeTest, TransparencyIsCompositedOverWhite) {
  {
    SCOPED_TRACE("RGBA PNG");
    expect_alpha_card(decode_ok(encode_image(alpha_card(CV_8U), ".png"), "a.png"), 1);
  }
  {
    SCOPED_TRACE("16-bit RGBA PNG");
    expect_alpha_card(decode_ok(encode_image(alpha_card(CV_16U), ".png"), "a16.png"), 1);
  }
  {
    SCOPED_TRACE("16-bit RGBA TIFF");
    expect_alpha_card(decode_ok(encode_image(alpha_card(CV_16U), ".tiff"), "a16.tiff"), 1);
  }
  {
    SCOPED_TRACE("lossless WebP with alpha");
    const std::string webp =
        encode_image(alpha_card(CV_8U), ".webp", {cv::IMWRITE_WEBP_QUALITY, 101});
    expect_alpha_card(decode_ok(webp, "a.webp"), 1);
  }
  {
    SCOPED_TRACE("lossy WebP with alpha (VP8X)");
    const std::string webp =
        encode_image(alpha_card(CV_8U), ".webp", {cv::IMWRITE_WEBP_QUALITY, 90});
    ASSERT_EQ(webp.substr(12, 4), "VP8X");
    auto header = read_header(webp, "a.webp");
    ASSERT_TRUE(header.ok()) << header.message();
    EXPECT_EQ(header->width, 48);
    EXPECT_EQ(header->height, 16);
    expect_alpha_card(decode_ok(webp, "a.webp"), 12);
  }
}

TEST(DecodeTest, GreyAlphaAndPaletteTransparencyBecomeWhite) {
  // Grey+alpha (colour type 4), 2x1: transparent grey, opaque dark grey.
  const std::string ga(std::string("\0\x80\x00\x40\xFF", 5));
  const DecodedImage grey =
      decode_ok(testing::png_from_scanlines(2, 1, 8, 4, ga), "grey_alpha.png");
  ASSERT_EQ(grey.rgb.cols, 2);
  EXPECT_EQ(rgb_at(grey, 0, 0), kWhite);
  EXPECT_EQ(rgb_at(grey, 1, 0), cv::Vec3b::all(0x40));
  // Palette (colour type 3) with tRNS making entry 0 transparent: [0] clear, [1] opaque red.
  const std::string plte = testing::png_chunk("PLTE", std::string("\0\0\0\xFF\0\0", 6));
  const std::string trns = testing::png_chunk("tRNS", std::string("\0\xFF", 2));
  const DecodedImage pal = decode_ok(
      testing::png_from_scanlines(2, 1, 8, 3, std::string("\0\0\x01", 3), plte + trns), "pal.png");
  ASSERT_EQ(pal.rgb.cols, 2);
  EXPECT_EQ(rgb_at(pal, 0, 0), kWhite);
  EXPECT_EQ(rgb_at(pal, 1, 0), kRed);
}

TEST(DecodeTest, TopDownBmpDecodesUpright) {
  cv::Mat bgr = cv::imread(photo_path("2_kitchen.jpg").string());
  std::string bmp = encode_image(bgr, ".bmp");  // bottom-up rows, height > 0
  // Negate the height and reverse the row order in the file: the same picture, stored top-down.
  const auto height = bgr.rows;
  const std::int32_t neg = -height;
  std::memcpy(bmp.data() + 22, &neg, 4);
  const std::size_t offset = 54, stride = (bgr.cols * 3 + 3) / 4 * 4;
  std::string flipped = bmp.substr(0, offset);
  for (int r = height - 1; r >= 0; --r) flipped += bmp.substr(offset + r * stride, stride);
  auto header = read_header(flipped, "topdown.bmp");
  ASSERT_TRUE(header.ok()) << header.message();
  EXPECT_EQ(header->height, height);
  const DecodedImage img = decode_ok(flipped, "topdown.bmp");
  cv::Mat expected;
  cv::cvtColor(bgr, expected, cv::COLOR_BGR2RGB);
  EXPECT_EQ(max_diff(img.rgb, expected), 0);
}

TEST(DecodeTest, TiffHeaderIsReadInBothByteOrders) {
  const std::string pixels = "\x10\x20\x30\x40\x50\x60";  // 3x2
  for (bool big : {false, true}) {
    for (bool longs : {false, true}) {
      SCOPED_TRACE(std::string(big ? "MM" : "II") + (longs ? " LONG" : " SHORT"));
      const std::string t = testing::gray_tiff(big, longs, 3, 2, pixels);
      auto header = read_header(t, "tiny.tiff");
      ASSERT_TRUE(header.ok()) << header.message();
      EXPECT_EQ(header->format, "tiff");
      EXPECT_EQ(header->width, 3);
      EXPECT_EQ(header->height, 2);
      const DecodedImage img = decode_ok(t, "tiny.tiff");
      ASSERT_EQ(img.rgb.cols, 3);
      EXPECT_EQ(rgb_at(img, 2, 1), cv::Vec3b::all(0x60));
    }
  }
}

TEST(DecodeTest, DecompressionBombIsRefusedFromItsHeader) {
  const std::string bomb = testing::png_claiming_size(100000, 100000);
  auto header = read_header(bomb, "bomb.png");
  ASSERT_TRUE(header.ok()) << header.message();
  EXPECT_EQ(header->width, 100000);
  EXPECT_EQ(header->height, 100000);

  const auto start = std::chrono::steady_clock::now();
  auto r = decode(bomb, "bomb.png");
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.message(),
            "bomb.png: image is 100000x100000 (10000000000 pixels), over the limit of 100000000 "
            "pixels");
  EXPECT_LT(elapsed, std::chrono::milliseconds(100)) << "must not start decoding";

  // The limit is the caller's: a lower one refuses an ordinary photo, naming both numbers.
  DecodeOptions tight;
  tight.max_pixels = 100'000;
  auto small = decode(read_bytes(photo_path(kFrontal)), kFrontal, tight);
  ASSERT_FALSE(small.ok());
  EXPECT_NE(small.message().find("640x427 (273280 pixels)"), std::string::npos) << small.message();
  EXPECT_NE(small.message().find("limit of 100000 pixels"), std::string::npos);
}

TEST(DecodeTest, BadInputsAreErrorsThatNameTheInput) {
  const std::string photo = read_bytes(photo_path(kFrontal));
  const std::string name = "listing-17/photo-3.jpg";
  auto expect_error = [&](const std::string& bytes, const std::string& reason,
                          const DecodeOptions& opts = {}) {
    auto r = decode(bytes, name, opts);
    ASSERT_FALSE(r.ok()) << reason;
    EXPECT_EQ(r.message().rfind(name + ": ", 0), 0u) << r.message();
    EXPECT_NE(r.message().find(reason), std::string::npos) << r.message();
  };
  expect_error("", "empty file (0 bytes)");
  expect_error(photo.substr(0, photo.size() / 2), "truncated JPEG data");
  std::mt19937 rng(7);
  std::string noise(2000, '\0');
  for (char& c : noise) c = static_cast<char>(rng());
  noise[0] = 'R';
  expect_error(noise, "unsupported or unrecognised image format");
  DecodeOptions small;
  small.max_bytes = 1000;
  expect_error(photo, "data is 95417 bytes, over the limit of 1000 bytes", small);

  // Through files: the path is the name.
  TempDir dir;
  const fs::path text = dir / "not-a-photo.jpg";
  write_bytes(text, "Beautiful 3 bed home, photos coming soon!\n");
  auto r = decode_file(text.string());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.message(), text.string() + ": unsupported or unrecognised image format");
  auto missing = decode_file((dir / "missing.jpg").string());
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.message().find("missing.jpg"), std::string::npos);
  auto folder = decode_file(dir.path().string());
  ASSERT_FALSE(folder.ok());
  EXPECT_NE(folder.message().find("directory"), std::string::npos);
}

TEST(DecodeTest, OversizedFileIsRefusedWithoutBeingRead) {
  TempDir dir;
  const fs::path big = dir / "huge.jpg";
  write_bytes(big, read_bytes(photo_path(kFrontal)));
  fs::resize_file(big, std::uintmax_t{8} << 30);  // sparse: 8 GiB of hole, nothing on disk
  const auto start = std::chrono::steady_clock::now();
  auto r = read_file(big.string(), 64u << 20);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.message(),
            big.string() + ": file is 8589934592 bytes, over the limit of 67108864 bytes");
  auto d = decode_file(big.string());
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.message().find("over the limit"), std::string::npos);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));

  auto ok = read_file(photo_path(kFrontal).string(), 95417);  // exactly at the limit is fine
  ASSERT_TRUE(ok.ok()) << ok.message();
  EXPECT_EQ(ok->size(), 95417u);
}

TEST(DecodeTest, ReducedScaleDecodeOfALargeJpeg) {
  cv::Mat big;
  cv::resize(cv::imread(photo_path(kFrontal).string()), big, cv::Size(2000, 1500), 0, 0,
             cv::INTER_LINEAR);
  const std::string bytes = encode_image(big, ".jpg", {cv::IMWRITE_JPEG_QUALITY, 90});

  const DecodedImage full = decode_ok(bytes, "big.jpg");
  EXPECT_EQ(full.scale_denom, 1);
  EXPECT_EQ(full.rgb.cols, 2000);
  EXPECT_EQ(full.rgb.rows, 1500);

  DecodeOptions opts;
  opts.min_shorter_side = 256;  // 1500/8 < 256 <= 1500/4
  const DecodedImage quarter = decode_ok(bytes, "big.jpg", opts);
  EXPECT_EQ(quarter.scale_denom, 4);
  EXPECT_EQ(quarter.rgb.cols, 500);
  EXPECT_EQ(quarter.rgb.rows, 375);
  EXPECT_EQ(quarter.width, 2000);  // the full-resolution size is still reported
  EXPECT_EQ(quarter.height, 1500);
  cv::Mat shrunk;
  cv::resize(full.rgb, shrunk, quarter.rgb.size(), 0, 0, cv::INTER_AREA);
  EXPECT_LT(mean_diff(quarter.rgb, shrunk), 4.0) << "same picture, fewer pixels";

  opts.min_shorter_side = 100;
  const DecodedImage eighth = decode_ok(bytes, "big.jpg", opts);
  EXPECT_EQ(eighth.scale_denom, 8);
  EXPECT_EQ(eighth.rgb.cols, 250);
  EXPECT_EQ(eighth.rgb.rows, 188);  // libjpeg rounds up: ceil(1500 / 8)

  opts.min_shorter_side = 1000;  // even 1/2 would go below it
  EXPECT_EQ(decode_ok(bytes, "big.jpg", opts).scale_denom, 1);

  opts.min_shorter_side = 256;  // other formats are always decoded at full size
  const DecodedImage png = decode_ok(encode_image(big, ".png"), "big.png", opts);
  EXPECT_EQ(png.scale_denom, 1);
  EXPECT_EQ(png.rgb.cols, 2000);
}

TEST(DecodeTest, Sha256MatchesTheStandardVectors) {
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(DecodeTest, EveryCorpusFileIsClassifiedAsTheCorpusSays) {
  TempDir dir;
  const auto corpus = testing::make_photo_corpus(dir.path());
  int good = 0, bad = 0;
  for (const auto& f : corpus) {
    SCOPED_TRACE(f.filename);
    const std::string path = (dir / f.filename).string();
    auto r = decode_file(path);
    if (f.good) {
      ++good;
      ASSERT_TRUE(r.ok()) << r.message();
      EXPECT_EQ(r->rgb.type(), CV_8UC3);
      EXPECT_EQ(r->width, f.width);
      EXPECT_EQ(r->height, f.height);
      EXPECT_EQ(r->rgb.cols, f.width);
      EXPECT_EQ(r->rgb.rows, f.height);
    } else {
      ++bad;
      ASSERT_FALSE(r.ok()) << "decoded a bad file";
      EXPECT_EQ(r.message().rfind(path + ": ", 0), 0u) << r.message();
      EXPECT_NE(r.message().find(f.expected_reason), std::string::npos) << r.message();
    }
  }
  EXPECT_GE(bad, 15);
  EXPECT_GE(good, 8);
}

TEST(DecodeTest, DamagedFilesNeverCrashOrLie) {
  // Byte flips in the first 100 bytes and truncations of every format: any outcome but a crash
  // or a malformed success is fine.
  cv::Mat small;
  cv::resize(cv::imread(photo_path(kFrontal).string()), small, cv::Size(96, 64));
  cv::Mat bgra;
  cv::cvtColor(small, bgra, cv::COLOR_BGR2BGRA);
  const std::vector<std::string> seeds = {
      encode_image(small, ".jpg"),
      encode_image(small, ".png"),
      encode_image(bgra, ".webp"),
      encode_image(small, ".bmp"),
      encode_image(small, ".tiff"),
      testing::with_jpeg_exif_orientation(encode_image(small, ".jpg"), 6),
  };
  std::mt19937 rng(12345);
  int decoded = 0;
  for (const std::string& seed : seeds) {
    for (int trial = 0; trial < 120; ++trial) {
      std::string b = seed;
      if (trial % 3 == 0) {
        b.resize(rng() % b.size());
      } else {
        const int flips = 1 + static_cast<int>(rng() % 4);
        for (int k = 0; k < flips; ++k) {
          b[rng() % std::min<std::size_t>(100, b.size())] = static_cast<char>(rng());
        }
      }
      DecodeOptions opts;
      opts.min_shorter_side = trial % 2 ? 16 : 0;
      auto r = decode(b, "fuzz", opts);
      if (r.ok()) {
        ++decoded;
        EXPECT_EQ(r->rgb.type(), CV_8UC3);
        EXPECT_GT(r->width, 0);
        EXPECT_LE(static_cast<std::uint64_t>(r->width) * r->height, opts.max_pixels);
      } else {
        EXPECT_EQ(r.message().rfind("fuzz: ", 0), 0u) << r.message();
      }
      (void)read_header(b, "fuzz");
    }
  }
  EXPECT_GT(decoded, 0);
}

}  // namespace
}  // namespace homelens::image

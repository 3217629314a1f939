#include "support/bad_corpus.h"

#include <jpeglib.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <random>
#include <stdexcept>

#include "support/testing.h"

namespace homelens::testing {
namespace fs = std::filesystem;

namespace {

std::string be32(std::uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
          static_cast<char>(v)};
}
std::string le16(std::uint32_t v) { return {static_cast<char>(v), static_cast<char>(v >> 8)}; }
std::string le32(std::uint32_t v) { return le16(v & 0xFFFF) + le16(v >> 16); }

// Data length of the PNG chunk starting at `pos`.
std::size_t chunk_length(std::string_view png, std::size_t pos) {
  std::size_t len = 0;
  for (std::size_t k = 0; k < 4; ++k) len = (len << 8) | static_cast<std::uint8_t>(png[pos + k]);
  return len;
}

// Position of the first chunk of `type` in a PNG; npos when absent.
std::size_t find_png_chunk(std::string_view png, std::string_view type) {
  std::size_t pos = 8;
  while (pos + 8 <= png.size()) {
    if (png.substr(pos + 4, 4) == type) return pos;
    pos += 12 + chunk_length(png, pos);
  }
  return std::string_view::npos;
}

cv::Mat photo(const std::string& file) {
  cv::Mat m = cv::imread((houses_dir() / "images" / file).string(), cv::IMREAD_COLOR);
  if (m.empty()) throw std::runtime_error("cannot read test photo " + file);
  return m;
}

// `bgr` with its left half fully transparent and a soft ramp of alpha across the rest.
cv::Mat with_transparent_left_half(const cv::Mat& bgr, int depth) {
  cv::Mat bgra;
  cv::cvtColor(bgr, bgra, cv::COLOR_BGR2BGRA);
  for (int y = 0; y < bgra.rows; ++y) {
    for (int x = 0; x < bgra.cols / 2; ++x) bgra.at<cv::Vec4b>(y, x)[3] = 0;
  }
  if (depth == CV_16U) bgra.convertTo(bgra, CV_16U, 257.0);
  return bgra;
}

}  // namespace

std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path.string());
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const fs::path& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

std::string encode_image(const cv::Mat& image, const std::string& ext,
                         const std::vector<int>& params) {
  std::vector<std::uint8_t> buf;
  if (!cv::imencode(ext, image, buf, params)) throw std::runtime_error("imencode failed: " + ext);
  return {buf.begin(), buf.end()};
}

std::uint32_t crc32(std::string_view bytes) {
  static const std::array<std::uint32_t, 256> table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t n = 0; n < 256; ++n) {
      std::uint32_t c = n;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[n] = c;
    }
    return t;
  }();
  std::uint32_t c = 0xFFFFFFFFu;
  for (char ch : bytes) c = table[(c ^ static_cast<std::uint8_t>(ch)) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

std::string png_chunk(std::string_view type, std::string_view data) {
  std::string body(type);
  body += data;
  return be32(static_cast<std::uint32_t>(data.size())) + body + be32(crc32(body));
}

std::string png_claiming_size(std::uint32_t width, std::uint32_t height) {
  std::string ihdr = be32(width) + be32(height);
  ihdr += std::string("\x08\x02\x00\x00\x00", 5);  // 8-bit, truecolour, deflate, no interlace
  // A valid zlib stream of a few zero bytes: a real decoder would start inflating here.
  const std::string idat("\x78\x9C\x63\x60\x60\x60\x00\x00\x00\x04\x00\x01", 12);
  return std::string("\x89PNG\r\n\x1A\n", 8) + png_chunk("IHDR", ihdr) + png_chunk("IDAT", idat) +
         png_chunk("IEND", "");
}

std::string png_from_scanlines(std::uint32_t width, std::uint32_t height, int bit_depth,
                               int color_type, std::string_view scanlines, std::string_view extra) {
  std::string ihdr = be32(width) + be32(height);
  ihdr += static_cast<char>(bit_depth);
  ihdr += static_cast<char>(color_type);
  ihdr += std::string(3, '\0');
  // zlib stream of "stored" deflate blocks: no compressor needed.
  std::string z("\x78\x01", 2);
  std::size_t pos = 0;
  do {
    const std::size_t n = std::min<std::size_t>(65535, scanlines.size() - pos);
    const bool last = pos + n == scanlines.size();
    z += static_cast<char>(last ? 1 : 0);
    z += le16(static_cast<std::uint32_t>(n)) + le16(static_cast<std::uint32_t>(~n & 0xFFFF));
    z += scanlines.substr(pos, n);
    pos += n;
  } while (pos < scanlines.size());
  std::uint32_t a = 1, b = 0;  // Adler-32
  for (char c : scanlines) {
    a = (a + static_cast<std::uint8_t>(c)) % 65521;
    b = (b + a) % 65521;
  }
  z += be32((b << 16) | a);
  return std::string("\x89PNG\r\n\x1A\n", 8) + png_chunk("IHDR", ihdr) + std::string(extra) +
         png_chunk("IDAT", z) + png_chunk("IEND", "");
}

std::string gray_tiff(bool big_endian, bool long_sizes, std::uint32_t w, std::uint32_t h,
                      std::string_view pixels) {
  auto u16 = [&](std::uint32_t v) {
    return big_endian ? std::string{static_cast<char>(v >> 8), static_cast<char>(v)}
                      : std::string{static_cast<char>(v), static_cast<char>(v >> 8)};
  };
  auto u32 = [&](std::uint32_t v) {
    return big_endian ? u16(v >> 16) + u16(v & 0xFFFF) : u16(v & 0xFFFF) + u16(v >> 16);
  };
  auto entry = [&](std::uint32_t tag, bool as_long, std::uint32_t value) {
    return u16(tag) + u16(as_long ? 4 : 3) + u32(1) + (as_long ? u32(value) : u16(value) + u16(0));
  };
  const int n = 9;
  const std::uint32_t data_at = 8 + 2 + 12 * n + 4;
  std::string t = big_endian ? std::string("MM\0*", 4) : std::string("II*\0", 4);
  t += u32(8) + u16(n);
  t += entry(256, long_sizes, w) + entry(257, long_sizes, h);
  t += entry(258, false, 8) + entry(259, false, 1) + entry(262, false, 1);  // 8 bit, raw, black=0
  t += entry(273, true, data_at) + entry(277, false, 1) + entry(278, true, h);
  t += entry(279, true, w * h);
  t += u32(0);
  return t + std::string(pixels);
}

std::string exif_tiff_with_orientation(int orientation) {
  std::string t("II*\0", 4);
  t += le32(8);                                                  // IFD0 right after the header
  t += le16(1);                                                  // one entry
  t += le16(0x0112) + le16(3) + le32(1);                         // Orientation, SHORT, count 1
  t += le16(static_cast<std::uint32_t>(orientation)) + le16(0);  // value, left-justified
  t += le32(0);                                                  // no next IFD
  return t;
}

std::string with_jpeg_exif_orientation(std::string_view jpeg, int orientation) {
  const std::string payload = std::string("Exif\0\0", 6) + exif_tiff_with_orientation(orientation);
  const auto len = static_cast<std::uint32_t>(payload.size() + 2);
  std::string seg("\xFF\xE1", 2);
  seg += static_cast<char>(len >> 8);
  seg += static_cast<char>(len & 0xFF);
  seg += payload;
  return std::string(jpeg.substr(0, 2)) + seg + std::string(jpeg.substr(2));
}

std::string with_png_exif_orientation(std::string_view png, int orientation) {
  const std::size_t after_ihdr = 8 + 12 + 13;
  return std::string(png.substr(0, after_ihdr)) +
         png_chunk("eXIf", exif_tiff_with_orientation(orientation)) +
         std::string(png.substr(after_ihdr));
}

std::size_t find_jpeg_segment(std::string_view jpeg, std::uint8_t marker) {
  std::size_t i = 2;
  while (i + 4 <= jpeg.size() && static_cast<std::uint8_t>(jpeg[i]) == 0xFF) {
    const auto m = static_cast<std::uint8_t>(jpeg[i + 1]);
    if (m == marker) return i;
    if (m == 0xDA) break;
    i += 2 +
         ((static_cast<std::uint8_t>(jpeg[i + 2]) << 8) | static_cast<std::uint8_t>(jpeg[i + 3]));
  }
  return std::string_view::npos;
}

std::string encode_cmyk_jpeg(const std::vector<std::uint8_t>& cmyk, int width, int height,
                             bool ycck, int quality) {
  if (cmyk.size() != static_cast<std::size_t>(width) * height * 4) {
    throw std::invalid_argument("encode_cmyk_jpeg: need width*height*4 bytes");
  }
  jpeg_compress_struct cinfo{};
  jpeg_error_mgr jerr{};
  cinfo.err = jpeg_std_error(&jerr);
  jpeg_create_compress(&cinfo);
  unsigned char* out = nullptr;
  unsigned long out_size = 0;  // NOLINT(runtime/int): libjpeg's type
  jpeg_mem_dest(&cinfo, &out, &out_size);
  cinfo.image_width = static_cast<JDIMENSION>(width);
  cinfo.image_height = static_cast<JDIMENSION>(height);
  cinfo.input_components = 4;
  cinfo.in_color_space = JCS_CMYK;
  jpeg_set_defaults(&cinfo);  // picks JCS_CMYK output and the Adobe marker
  if (ycck) jpeg_set_colorspace(&cinfo, JCS_YCCK);
  jpeg_set_quality(&cinfo, quality, TRUE);
  jpeg_start_compress(&cinfo, TRUE);
  while (cinfo.next_scanline < cinfo.image_height) {
    JSAMPROW row = const_cast<JSAMPROW>(cmyk.data() + std::size_t{cinfo.next_scanline} * width * 4);
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  std::string bytes(reinterpret_cast<const char*>(out), out_size);
  jpeg_destroy_compress(&cinfo);
  std::free(out);
  return bytes;
}

std::vector<std::uint8_t> bgr_to_adobe_cmyk(const cv::Mat& bgr) {
  std::vector<std::uint8_t> cmyk;
  cmyk.reserve(bgr.total() * 4);
  for (int y = 0; y < bgr.rows; ++y) {
    for (int x = 0; x < bgr.cols; ++x) {
      const cv::Vec3b p = bgr.at<cv::Vec3b>(y, x);
      const int r = p[2], g = p[1], b = p[0];
      const int mx = std::max({r, g, b});  // 255 - K
      auto ink = [&](int v) { return mx == 0 ? 0 : (mx - v) * 255 / mx; };
      // Adobe stores 255 - ink for every channel, K included.
      cmyk.push_back(static_cast<std::uint8_t>(255 - ink(r)));
      cmyk.push_back(static_cast<std::uint8_t>(255 - ink(g)));
      cmyk.push_back(static_cast<std::uint8_t>(255 - ink(b)));
      cmyk.push_back(static_cast<std::uint8_t>(mx));
    }
  }
  return cmyk;
}

std::vector<CorpusFile> make_photo_corpus(const fs::path& dir, std::size_t oversize_bytes) {
  std::vector<CorpusFile> files;
  auto good = [&](const std::string& name, std::string_view bytes, int w, int h) {
    write_bytes(dir / name, bytes);
    files.push_back({name, true, "", w, h});
  };
  auto bad = [&](const std::string& name, std::string_view bytes, const std::string& reason) {
    write_bytes(dir / name, bytes);
    files.push_back({name, false, reason, 0, 0});
  };

  const std::string frontal = read_bytes(houses_dir() / "images" / "1_frontal.jpg");
  const cv::Mat frontal_bgr = photo("1_frontal.jpg");  // 640x427
  const int fw = frontal_bgr.cols, fh = frontal_bgr.rows;
  const cv::Mat kitchen_bgr = photo("2_kitchen.jpg");
  const std::string png = encode_image(frontal_bgr, ".png");
  const std::string lossy_webp = encode_image(frontal_bgr, ".webp", {cv::IMWRITE_WEBP_QUALITY, 85});
  const std::string bmp = encode_image(frontal_bgr, ".bmp");
  const std::string tiff = encode_image(frontal_bgr, ".tiff");

  // ---- Good, some of them odd.
  good("plain_frontal.jpg", frontal, fw, fh);
  good("plain_kitchen.jpg", read_bytes(houses_dir() / "images" / "2_kitchen.jpg"), kitchen_bgr.cols,
       kitchen_bgr.rows);
  // Upstream file with 806 bytes after its end-of-image marker: still a whole photo.
  const cv::Mat trailing = photo("18_frontal.jpg");
  good("trailing_bytes.jpg", read_bytes(houses_dir() / "images" / "18_frontal.jpg"), trailing.cols,
       trailing.rows);
  good("progressive.jpg", encode_image(frontal_bgr, ".jpg", {cv::IMWRITE_JPEG_PROGRESSIVE, 1}), fw,
       fh);
  good("restart_markers.jpg", encode_image(frontal_bgr, ".jpg", {cv::IMWRITE_JPEG_RST_INTERVAL, 4}),
       fw, fh);
  cv::Mat gray;
  cv::cvtColor(frontal_bgr, gray, cv::COLOR_BGR2GRAY);
  good("grayscale.jpg", encode_image(gray, ".jpg"), fw, fh);
  good("cmyk.jpg",
       encode_cmyk_jpeg(bgr_to_adobe_cmyk(kitchen_bgr), kitchen_bgr.cols, kitchen_bgr.rows),
       kitchen_bgr.cols, kitchen_bgr.rows);
  good("ycck.jpg",
       encode_cmyk_jpeg(bgr_to_adobe_cmyk(kitchen_bgr), kitchen_bgr.cols, kitchen_bgr.rows,
                        /*ycck=*/true),
       kitchen_bgr.cols, kitchen_bgr.rows);
  good("exif_orientation_6.jpg", with_jpeg_exif_orientation(frontal, 6), fh, fw);
  good("exif_orientation_3.jpg", with_jpeg_exif_orientation(frontal, 3), fw, fh);
  good("exif_orientation_6.png", with_png_exif_orientation(png, 6), fh, fw);
  good("photo.png", png, fw, fh);
  cv::Mat rgb16;
  frontal_bgr.convertTo(rgb16, CV_16U, 257.0);
  good("rgb_16bit.png", encode_image(rgb16, ".png"), fw, fh);
  good("rgba.png", encode_image(with_transparent_left_half(frontal_bgr, CV_8U), ".png"), fw, fh);
  good("rgba_16bit.png", encode_image(with_transparent_left_half(frontal_bgr, CV_16U), ".png"), fw,
       fh);
  good("photo.bmp", bmp, fw, fh);
  good("photo.tiff", tiff, fw, fh);
  good("rgb_16bit.tiff", encode_image(rgb16, ".tiff"), fw, fh);
  good("lossy.webp", lossy_webp, fw, fh);
  good("lossless.webp", encode_image(frontal_bgr, ".webp", {cv::IMWRITE_WEBP_QUALITY, 101}), fw,
       fh);
  good("alpha.webp",
       encode_image(with_transparent_left_half(frontal_bgr, CV_8U), ".webp",
                    {cv::IMWRITE_WEBP_QUALITY, 90}),
       fw, fh);

  // ---- Bad: each must be refused, with a reason a user can act on.
  bad("empty.jpg", "", "empty file (0 bytes)");
  bad("truncated_half.jpg", std::string_view(frontal).substr(0, frontal.size() / 2),
      "truncated JPEG data");
  bad("header_only.jpg", std::string_view(frontal).substr(0, find_jpeg_segment(frontal, 0xDA)),
      "truncated JPEG data");
  bad("truncated_header.jpg", std::string_view(frontal).substr(0, 20), "truncated header");
  {
    std::mt19937 rng(20240611);
    std::string noise(4096, '\0');
    for (char& c : noise) c = static_cast<char>(rng() & 0xFF);
    noise[0] = 'x';  // never a real signature by chance
    bad("random_bytes.jpg", noise, "unsupported or unrecognised image format");
  }
  bad("not_a_photo.jpg", "Listing 42: 3 bed, 2 bath. Photos to follow.\n",
      "unsupported or unrecognised image format");
  bad("page.png", "<!DOCTYPE html>\n<html><body><h1>404 Not Found</h1></body></html>\n",
      "unsupported or unrecognised image format");
  bad("animation.gif", std::string("GIF89a\x01\x00\x01\x00\x80\x00\x00", 13),
      "unsupported or unrecognised image format");
  bad("wave.webp", std::string("RIFF\x24\x00\x00\x00WAVEfmt ", 16),
      "unsupported or unrecognised image format");
  {
    std::string zero = frontal;
    const std::size_t sof = find_jpeg_segment(zero, 0xC0);
    for (std::size_t k = 5; k < 9; ++k) zero[sof + k] = '\0';  // height and width
    bad("zero_size.jpg", zero, "zero width or height");
  }
  {
    std::string huge = frontal;
    const std::size_t sof = find_jpeg_segment(huge, 0xC0);
    for (std::size_t k = 5; k < 9; ++k) huge[sof + k] = '\xFF';  // 65535x65535
    bad("claims_65535x65535.jpg", huge, "over the limit of 100000000 pixels");
  }
  {
    std::string scan_first("\xFF\xD8\xFF\xDA\x00\x08\x01\x01\x00\x00\x3F\x00\xFF\xD9", 14);
    bad("scan_before_frame.jpg", scan_first, "corrupt JPEG header");
  }
  bad("claims_100000x100000.png", png_claiming_size(100000, 100000),
      "image is 100000x100000 (10000000000 pixels), over the limit of 100000000 pixels");
  bad("zero_width.png", png_claiming_size(0, 480), "zero width or height");
  bad("signature_only.png", std::string_view(png).substr(0, 8), "truncated header");
  bad("truncated_half.png", std::string_view(png).substr(0, png.size() / 2),
      "could not decode PNG data");
  {
    std::string bad_crc = png;
    bad_crc[8 + 8 + 13] ^= 0x55;  // first CRC byte of IHDR
    bad("bad_ihdr_crc.png", bad_crc, "could not decode PNG data");
  }
  {
    // Damage deep inside the compressed data but keep the chunk CRC valid, so only inflating
    // the stream can find the fault.
    std::string corrupt = png;
    const std::size_t idat = find_png_chunk(corrupt, "IDAT");
    const std::size_t len = chunk_length(corrupt, idat);
    for (std::size_t k = 200; k < 600 && k < len; ++k) corrupt[idat + 8 + k] = '\xA5';
    corrupt.replace(idat + 8 + len, 4, be32(crc32(corrupt.substr(idat + 4, 4 + len))));
    bad("corrupt_idat.png", corrupt, "could not decode PNG data");
  }
  {
    std::string header("II*\0", 4);
    header += le32(0x7FFFFFF0u);
    header += std::string(64, '\0');
    bad("bad_ifd_offset.tiff", header, "truncated header");
  }
  {
    std::string t("II*\0", 4);
    t += le32(8) + le16(2);
    t += le16(256) + le16(4) + le32(1) + le32(70000);
    t += le16(257) + le16(4) + le32(1) + le32(70000);
    t += le32(0);
    bad("claims_70000x70000.tiff", t, "over the limit of 100000000 pixels");
  }
  // libtiff writes the IFD after the pixels, so cutting a real TIFF loses its header.
  bad("truncated_half.tiff", std::string_view(tiff).substr(0, tiff.size() / 2), "truncated header");
  {
    // IFD first, then only half of the pixel strip it promises.
    const std::string whole = gray_tiff(false, false, 64, 64, std::string(64 * 64, '\x80'));
    bad("truncated_strip.tiff", std::string_view(whole).substr(0, whole.size() - 64 * 32),
        "could not decode TIFF data");
  }
  {
    std::string h("BM", 2);
    h += le32(54) + le32(0) + le32(54);         // file size (a lie), reserved, pixel offset
    h += le32(40) + le32(60000) + le32(60000);  // BITMAPINFOHEADER, 60000x60000
    h += le16(1) + le16(24) + le32(0) + le32(0) + le32(2835) + le32(2835) + le32(0) + le32(0);
    bad("claims_60000x60000.bmp", h, "over the limit of 100000000 pixels");
  }
  {
    std::string h = bmp.substr(0, 14) + le32(7) + std::string(64, '\0');
    bad("bad_info_header.bmp", h, "corrupt BMP header");
  }
  bad("truncated_half.bmp", std::string_view(bmp).substr(0, bmp.size() / 2),
      "could not decode BMP data");
  bad("truncated_riff.webp", std::string_view(lossy_webp).substr(0, lossy_webp.size() / 2),
      "truncated WebP data");
  {
    std::string vp8 = lossy_webp;
    vp8[23] = '\0';  // the VP8 start code 9D 01 2A
    bad("bad_vp8_start_code.webp", vp8, "corrupt WebP header");
  }
  {
    std::string x("RIFF", 4);
    x += le32(22);
    x += "WEBPVP8X";
    x += le32(10) + std::string(4, '\0');
    x += std::string("\xFF\x3F\x00\xFF\x3F\x00", 6);  // canvas 16384x16384
    bad("claims_16384x16384.webp", x, "over the limit of 100000000 pixels");
  }
  {
    // VP8X with the animation flag, ANIM, and one ANMF frame holding a real lossless image.
    cv::Mat tiny;
    cv::resize(frontal_bgr, tiny, cv::Size(16, 16));
    const std::string still = encode_image(tiny, ".webp", {cv::IMWRITE_WEBP_QUALITY, 101});
    const std::string frame_chunk = still.substr(12);  // "VP8L" + size + data
    auto le24 = [](std::uint32_t v) { return le32(v).substr(0, 3); };
    std::string anmf = le24(0) + le24(0) + le24(15) + le24(15) + le24(100) + std::string(1, '\0');
    anmf += frame_chunk;
    std::string body = "WEBPVP8X" + le32(10) + std::string("\x02\0\0\0", 4) + le24(15) + le24(15);
    body += "ANIM" + le32(6) + le32(0xFFFFFFFFu) + le16(0);
    body += "ANMF" + le32(static_cast<std::uint32_t>(anmf.size())) + anmf;
    if (body.size() % 2) body += '\0';
    bad("animated.webp", "RIFF" + le32(static_cast<std::uint32_t>(body.size())) + body,
        "animated WebP is not supported");
  }
  {
    // A real JPEG start, then a hole up to the requested size: refused from its size alone.
    const fs::path big = dir / "over_byte_limit.jpg";
    write_bytes(big, frontal);
    fs::resize_file(big, oversize_bytes);
    files.push_back({big.filename().string(), false, "over the limit of", 0, 0});
  }
  return files;
}

}  // namespace homelens::testing

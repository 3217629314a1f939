#include "homelens/image/decode.h"

#include <openssl/evp.h>

#include <csetjmp>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <memory>
#include <new>
#include <jpeglib.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <optional>

namespace homelens::image {
namespace {

namespace fs = std::filesystem;

enum class Format { kJpeg, kPng, kWebp, kBmp, kTiff };

const char* format_id(Format f) {
  switch (f) {
    case Format::kJpeg:
      return "jpeg";
    case Format::kPng:
      return "png";
    case Format::kWebp:
      return "webp";
    case Format::kBmp:
      return "bmp";
    case Format::kTiff:
      return "tiff";
  }
  return "?";
}

// For error messages, where users know the formats by these names.
const char* format_display(Format f) {
  switch (f) {
    case Format::kJpeg:
      return "JPEG";
    case Format::kPng:
      return "PNG";
    case Format::kWebp:
      return "WebP";
    case Format::kBmp:
      return "BMP";
    case Format::kTiff:
      return "TIFF";
  }
  return "?";
}

// ---- Bounds-checked little readers. Every offset below may come from a hostile file, so each
// read says whether [pos, pos + n) lies inside the data rather than trusting the arithmetic.

bool has(std::string_view b, std::uint64_t pos, std::uint64_t n) {
  return pos <= b.size() && n <= b.size() - pos;
}
std::uint8_t u8(std::string_view b, std::size_t pos) { return static_cast<std::uint8_t>(b[pos]); }
std::uint32_t be16(std::string_view b, std::size_t pos) {
  return (u8(b, pos) << 8) | u8(b, pos + 1);
}
std::uint32_t le16(std::string_view b, std::size_t pos) {
  return u8(b, pos) | (u8(b, pos + 1) << 8);
}
std::uint32_t be32(std::string_view b, std::size_t pos) {
  return (be16(b, pos) << 16) | be16(b, pos + 2);
}
std::uint32_t le32(std::string_view b, std::size_t pos) {
  return le16(b, pos) | (le16(b, pos + 2) << 16);
}

// TIFF structures (whole files, and the EXIF block inside JPEG APP1 / PNG eXIf) come in either
// byte order, announced by their first two bytes.
struct TiffView {
  std::string_view b;
  bool little = true;
  std::optional<std::uint32_t> u16(std::uint64_t pos) const {
    if (!has(b, pos, 2)) return std::nullopt;
    return little ? le16(b, pos) : be16(b, pos);
  }
  std::optional<std::uint32_t> u32(std::uint64_t pos) const {
    if (!has(b, pos, 4)) return std::nullopt;
    return little ? le32(b, pos) : be32(b, pos);
  }
};

std::optional<TiffView> tiff_view(std::string_view b) {
  if (b.size() < 8) return std::nullopt;
  if (b.substr(0, 4) == std::string_view("II*\0", 4)) return TiffView{b, true};
  if (b.substr(0, 4) == std::string_view("MM\0*", 4)) return TiffView{b, false};
  return std::nullopt;
}

// EXIF Orientation (tag 0x0112) from IFD0 of an EXIF TIFF block; 1 when absent or malformed, as
// OpenCV treats it. The value is read as a SHORT whatever the declared type, like OpenCV does.
int exif_orientation(std::string_view tiff) {
  const auto t = tiff_view(tiff);
  if (!t) return 1;
  const auto ifd = t->u32(4);
  if (!ifd) return 1;
  const auto count = t->u16(*ifd);
  if (!count) return 1;
  for (std::uint64_t k = 0; k < *count; ++k) {
    const std::uint64_t entry = *ifd + 2 + 12 * k;
    const auto tag = t->u16(entry);
    if (!tag) return 1;
    if (*tag == 0x0112) {
      const auto value = t->u16(entry + 8);
      return value && *value >= 1 && *value <= 8 ? static_cast<int>(*value) : 1;
    }
  }
  return 1;
}

// What a walk over a JPEG's marker segments found.
struct JpegScan {
  bool has_sof = false;
  std::uint32_t width = 0;
  std::uint32_t height = 0;
  bool truncated = false;         // the data ended inside a segment or before the frame header
  const char* corrupt = nullptr;  // a structural reason the header is unusable
  int orientation = 1;            // from the first APP1 segment, which is the one OpenCV reads
  bool has_eoi = false;           // an end-of-image marker follows the last scan
};

bool is_sof(std::uint8_t m) {
  return m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC;
}

// Walks markers like libjpeg's next_marker(): stray bytes and fill bytes (0xFF) between segments
// are skipped. With full_walk, continues through the entropy-coded scans to find EOI, because
// libjpeg only *warns* on a premature end and OpenCV then returns a half-grey image as success.
JpegScan scan_jpeg(std::string_view b, bool full_walk) {
  JpegScan s;
  bool app1_done = false;  // OpenCV reads only the first APP1, and only from before the first scan
  std::size_t i = 2;       // past SOI
  for (;;) {
    while (i < b.size() && u8(b, i) != 0xFF) ++i;
    while (i < b.size() && u8(b, i) == 0xFF) ++i;
    if (i >= b.size()) {
      s.truncated = !s.has_sof || full_walk;
      return s;
    }
    const std::uint8_t m = u8(b, i++);
    if (m == 0x00 || m == 0x01 || (m >= 0xD0 && m <= 0xD7) || m == 0xD8) continue;
    if (m == 0xD9) {
      if (!s.has_sof) s.corrupt = "corrupt JPEG header (end of image before the frame header)";
      s.has_eoi = true;
      return s;
    }
    if (m == 0xDA && !s.has_sof) {
      s.corrupt = "corrupt JPEG header (scan before the frame header)";
      return s;
    }
    if (!has(b, i, 2)) {
      s.truncated = true;
      return s;
    }
    const std::size_t len = be16(b, i);
    if (len < 2) {
      s.corrupt = "corrupt JPEG header (segment length below 2)";
      return s;
    }
    if (is_sof(m) && !s.has_sof) {
      if (!has(b, i, 7)) {
        s.truncated = true;
        return s;
      }
      s.has_sof = true;
      s.height = be16(b, i + 3);
      s.width = be16(b, i + 5);
      if (!full_walk) return s;
    }
    if (!has(b, i, len)) {
      s.truncated = true;
      return s;
    }
    if (m == 0xE1 && !app1_done) {
      app1_done = true;
      const std::string_view payload = b.substr(i + 2, len - 2);
      if (payload.substr(0, 6) == std::string_view("Exif\0\0", 6)) {
        s.orientation = exif_orientation(payload.substr(6));
      }
    }
    i += len;
    if (m == 0xDA) {
      app1_done = true;
      // Entropy-coded data: 0xFF is stuffed as FF00, and RSTn markers sit inside the scan.
      for (;;) {
        const void* ff = i < b.size() ? std::memchr(b.data() + i, 0xFF, b.size() - i) : nullptr;
        if (ff == nullptr) {
          s.truncated = true;
          return s;
        }
        std::size_t j = static_cast<const char*>(ff) - b.data();
        while (j < b.size() && u8(b, j) == 0xFF) ++j;
        if (j >= b.size()) {
          s.truncated = true;
          return s;
        }
        const std::uint8_t c = u8(b, j);
        if (c == 0x00 || (c >= 0xD0 && c <= 0xD7)) {
          i = j + 1;
          continue;
        }
        i = j - 1;  // back on the 0xFF that introduces the marker
        break;
      }
    }
  }
}

// PNG: eXIf is honoured by OpenCV only for IMREAD_COLOR, and alpha needs IMREAD_UNCHANGED, so we
// read it ourselves. Like OpenCV (png_read_info), only chunks before the first IDAT count.
int png_orientation(std::string_view b) {
  std::uint64_t pos = 8;
  while (has(b, pos, 8)) {
    const std::uint64_t len = be32(b, pos);
    const std::string_view type = b.substr(pos + 4, 4);
    if (type == "IDAT" || type == "IEND") return 1;
    if (!has(b, pos + 8, len)) return 1;
    if (type == "eXIf") return exif_orientation(b.substr(pos + 8, len));
    pos += 12 + len;
  }
  return 1;
}

struct RawHeader {
  Format format;
  std::uint64_t width = 0;
  std::uint64_t height = 0;
};

struct Signature {
  std::string_view bytes;  // '?' matches any byte
  Format format;
};

constexpr Signature kSignatures[] = {
    {std::string_view("\xFF\xD8\xFF", 3), Format::kJpeg},
    {std::string_view("\x89PNG\r\n\x1A\n", 8), Format::kPng},
    {std::string_view("RIFF????WEBP", 12), Format::kWebp},
    {std::string_view("BM", 2), Format::kBmp},
    {std::string_view("II*\0", 4), Format::kTiff},
    {std::string_view("MM\0*", 4), Format::kTiff},
};

bool prefix_matches(std::string_view b, std::string_view sig) {
  const std::size_t n = std::min(b.size(), sig.size());
  for (std::size_t k = 0; k < n; ++k) {
    if (sig[k] != '?' && sig[k] != b[k]) return false;
  }
  return true;
}

Error truncated_header(const std::string& name, Format f) {
  return make_error(name, std::string("truncated header (") + format_display(f) + ")");
}

Result<RawHeader> parse_jpeg(std::string_view b, const std::string& name) {
  const JpegScan s = scan_jpeg(b, /*full_walk=*/false);
  if (s.corrupt) return make_error(name, s.corrupt);
  if (!s.has_sof) return truncated_header(name, Format::kJpeg);
  return RawHeader{Format::kJpeg, s.width, s.height};
}

Result<RawHeader> parse_png(std::string_view b, const std::string& name) {
  if (!has(b, 8, 16)) return truncated_header(name, Format::kPng);
  if (b.substr(12, 4) != "IHDR") return make_error(name, "corrupt PNG header (IHDR is not first)");
  return RawHeader{Format::kPng, be32(b, 16), be32(b, 20)};
}

Result<RawHeader> parse_bmp(std::string_view b, const std::string& name) {
  if (!has(b, 14, 4)) return truncated_header(name, Format::kBmp);
  const std::uint32_t dib = le32(b, 14);
  if (dib == 12) {  // OS/2 BITMAPCOREHEADER: unsigned 16-bit sizes
    if (!has(b, 18, 4)) return truncated_header(name, Format::kBmp);
    return RawHeader{Format::kBmp, le16(b, 18), le16(b, 20)};
  }
  if (dib < 40 || dib > 1024) {
    return make_error(name, "corrupt BMP header (info header size " + std::to_string(dib) + ")");
  }
  if (!has(b, 18, 8)) return truncated_header(name, Format::kBmp);
  const auto width = static_cast<std::int32_t>(le32(b, 18));
  // Negative height means the rows are stored top-down; the size is its magnitude.
  const auto height = static_cast<std::int64_t>(static_cast<std::int32_t>(le32(b, 22)));
  if (width < 0) return make_error(name, "corrupt BMP header (negative width)");
  return RawHeader{Format::kBmp, static_cast<std::uint64_t>(width),
                   static_cast<std::uint64_t>(height < 0 ? -height : height)};
}

Result<RawHeader> parse_webp(std::string_view b, const std::string& name) {
  if (!has(b, 12, 8)) return truncated_header(name, Format::kWebp);
  const std::string_view chunk = b.substr(12, 4);
  if (chunk == "VP8X") {
    if (!has(b, 24, 6)) return truncated_header(name, Format::kWebp);
    const std::uint64_t w = 1 + (u8(b, 24) | (u8(b, 25) << 8) | (u8(b, 26) << 16));
    const std::uint64_t h = 1 + (u8(b, 27) | (u8(b, 28) << 8) | (u8(b, 29) << 16));
    return RawHeader{Format::kWebp, w, h};
  }
  if (chunk == "VP8 ") {
    if (!has(b, 20, 10)) return truncated_header(name, Format::kWebp);
    if (b.substr(23, 3) != "\x9D\x01\x2A") {
      return make_error(name, "corrupt WebP header (bad VP8 start code)");
    }
    return RawHeader{Format::kWebp, le16(b, 26) & 0x3FFFu, le16(b, 28) & 0x3FFFu};
  }
  if (chunk == "VP8L") {
    if (!has(b, 20, 5)) return truncated_header(name, Format::kWebp);
    if (u8(b, 20) != 0x2F) return make_error(name, "corrupt WebP header (bad VP8L signature)");
    const std::uint32_t bits = le32(b, 21);
    return RawHeader{Format::kWebp, (bits & 0x3FFFu) + 1, ((bits >> 14) & 0x3FFFu) + 1};
  }
  return make_error(name, "corrupt WebP header (unknown first chunk)");
}

Result<RawHeader> parse_tiff(std::string_view b, const std::string& name) {
  const auto t = tiff_view(b);
  if (!t) return truncated_header(name, Format::kTiff);
  const std::uint32_t ifd = *t->u32(4);
  if (ifd < 8) return make_error(name, "corrupt TIFF header (IFD offset points into the header)");
  const auto count = t->u16(ifd);
  if (!count) {
    return make_error(name, "truncated header (TIFF IFD offset " + std::to_string(ifd) +
                                " is past the end of the data)");
  }
  std::optional<std::uint64_t> width, height;
  for (std::uint64_t k = 0; k < *count && !(width && height); ++k) {
    const std::uint64_t entry = std::uint64_t{ifd} + 2 + 12 * k;
    if (!has(b, entry, 12)) return truncated_header(name, Format::kTiff);
    const std::uint32_t tag = *t->u16(entry);
    if (tag != 256 && tag != 257) continue;
    const std::uint32_t type = *t->u16(entry + 2);
    std::uint64_t value = 0;
    if (type == 3) {
      value = *t->u16(entry + 8);  // SHORT, left-justified in the value field
    } else if (type == 4) {
      value = *t->u32(entry + 8);
    } else {
      return make_error(name,
                        "corrupt TIFF header (size tag of type " + std::to_string(type) + ")");
    }
    (tag == 256 ? width : height) = value;
  }
  if (!width || !height) return make_error(name, "corrupt TIFF header (no width/height tags)");
  return RawHeader{Format::kTiff, *width, *height};
}

Result<RawHeader> parse_header(std::string_view b, const std::string& name) {
  if (b.empty()) return make_error(name, "empty file (0 bytes)");
  for (const Signature& sig : kSignatures) {
    if (!prefix_matches(b, sig.bytes)) continue;
    if (b.size() < sig.bytes.size()) return truncated_header(name, sig.format);
    switch (sig.format) {
      case Format::kJpeg:
        return parse_jpeg(b, name);
      case Format::kPng:
        return parse_png(b, name);
      case Format::kWebp:
        return parse_webp(b, name);
      case Format::kBmp:
        return parse_bmp(b, name);
      case Format::kTiff:
        return parse_tiff(b, name);
    }
  }
  return make_error(name, "unsupported or unrecognised image format");
}

// libjpeg's fatal errors leave through longjmp; its warnings (damaged data it patches over,
// as OpenCV's decoder lets it) stay quiet.
struct JpegErrors {
  jpeg_error_mgr mgr;
  std::jmp_buf jump;
};

[[noreturn]] void jpeg_fail(j_common_ptr cinfo) {
  std::longjmp(reinterpret_cast<JpegErrors*>(cinfo->err)->jump, 1);
}

void jpeg_silent(j_common_ptr, int) {}

// Decodes a JPEG of 1 to 3 components at 1/denom scale straight to RGB with libjpeg, the
// library and settings behind OpenCV's decoder (which asks it for RGB too, then swaps to
// BGR, which we swapped back): the same pixels in about two thirds of the time at reduced
// scale. False, `out` empty, for CMYK and YCCK (OpenCV converts those) and on a libjpeg
// error, where OpenCV's path then names what is wrong as it always did.
bool decode_jpeg_rgb(std::string_view bytes, int denom, cv::Mat& out) {
  jpeg_decompress_struct cinfo;
  JpegErrors err;
  cinfo.err = jpeg_std_error(&err.mgr);
  err.mgr.error_exit = jpeg_fail;
  err.mgr.emit_message = jpeg_silent;
  // Nothing with a destructor is made between here and a longjmp.
  if (setjmp(err.jump)) {
    jpeg_destroy_decompress(&cinfo);
    out.release();
    return false;
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<unsigned long>(bytes.size()));
  jpeg_read_header(&cinfo, TRUE);
  if (cinfo.num_components == 4) {
    jpeg_destroy_decompress(&cinfo);
    return false;
  }
  cinfo.scale_num = 1;
  cinfo.scale_denom = static_cast<unsigned>(denom);
  cinfo.out_color_space = JCS_RGB;
  jpeg_start_decompress(&cinfo);
  out.create(static_cast<int>(cinfo.output_height), static_cast<int>(cinfo.output_width), CV_8UC3);
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = out.ptr<unsigned char>(static_cast<int>(cinfo.output_scanline));
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  return true;
}

// Same steps as OpenCV's ApplyExifOrientation, for the decodes where OpenCV skips it.
void apply_orientation(cv::Mat& m, int orientation) {
  switch (orientation) {
    case 2:
      cv::flip(m, m, 1);
      break;
    case 3:
      cv::flip(m, m, -1);
      break;
    case 4:
      cv::flip(m, m, 0);
      break;
    case 5:
      cv::transpose(m, m);
      break;
    case 6:
      cv::rotate(m, m, cv::ROTATE_90_CLOCKWISE);
      break;
    case 7:
      cv::transpose(m, m);
      cv::flip(m, m, -1);
      break;
    case 8:
      cv::rotate(m, m, cv::ROTATE_90_COUNTERCLOCKWISE);
      break;
    default:
      break;
  }
}

// Straight (non-premultiplied) alpha over white, computed at the source depth so that 16-bit
// images keep their precision until the final rounding to 8 bits.
template <class T>
cv::Mat composite_over_white(const cv::Mat& src, double max_value) {
  cv::Mat dst(src.size(), CV_8UC3);
  const int cn = src.channels();
  const double to8 = 255.0 / max_value;
  for (int y = 0; y < src.rows; ++y) {
    const T* s = src.ptr<T>(y);
    std::uint8_t* d = dst.ptr<std::uint8_t>(y);
    for (int x = 0; x < src.cols; ++x, s += cn, d += 3) {
      const double a = s[cn - 1] / max_value;
      const double white = max_value * (1.0 - a);
      auto over = [&](T c) { return cv::saturate_cast<std::uint8_t>((c * a + white) * to8); };
      if (cn == 2) {
        d[0] = d[1] = d[2] = over(s[0]);
      } else {  // BGRA in, RGB out
        d[0] = over(s[2]);
        d[1] = over(s[1]);
        d[2] = over(s[0]);
      }
    }
  }
  return dst;
}

// Any 8/16-bit mat with 1-4 channels in OpenCV order -> CV_8UC3 RGB. Empty when unsupported.
cv::Mat to_rgb8(const cv::Mat& src) {
  const int depth = src.depth();
  if (depth != CV_8U && depth != CV_16U) return {};
  const double max_value = depth == CV_16U ? 65535.0 : 255.0;
  const int cn = src.channels();
  if (cn == 2 || cn == 4) {
    return depth == CV_16U ? composite_over_white<std::uint16_t>(src, max_value)
                           : composite_over_white<std::uint8_t>(src, max_value);
  }
  if (cn != 1 && cn != 3) return {};
  cv::Mat eight;
  if (depth == CV_16U) {
    src.convertTo(eight, CV_8U, 255.0 / 65535.0);  // scaled and rounded: 65535 -> 255
  } else {
    eight = src;
  }
  cv::Mat rgb;
  cv::cvtColor(eight, rgb, cn == 1 ? cv::COLOR_GRAY2RGB : cv::COLOR_BGR2RGB);
  return rgb;
}

std::uint64_t ceil_div(std::uint64_t a, std::uint64_t b) { return (a + b - 1) / b; }

Result<DecodedImage> decode_impl(std::string_view bytes, const std::string& name,
                                 const DecodeOptions& opts) {
  if (bytes.empty()) return make_error(name, "empty file (0 bytes)");
  if (bytes.size() > opts.max_bytes) {
    return make_error(name, "data is " + std::to_string(bytes.size()) +
                                " bytes, over the limit of " + std::to_string(opts.max_bytes) +
                                " bytes");
  }
  if (bytes.size() > static_cast<std::size_t>(INT_MAX)) {
    return make_error(name, "data is too large for the decoder (over 2 GiB)");
  }
  auto header = parse_header(bytes, name);
  if (!header) return header.error();
  const Format format = header->format;
  const std::uint64_t w = header->width;
  const std::uint64_t h = header->height;
  const std::string dims = std::to_string(w) + "x" + std::to_string(h);
  if (w == 0 || h == 0) return make_error(name, "image has zero width or height (" + dims + ")");
  // Both sides are below 2^32, so the product cannot overflow 64 bits.
  if (w * h > opts.max_pixels) {
    return make_error(name, "image is " + dims + " (" + std::to_string(w * h) +
                                " pixels), over the limit of " + std::to_string(opts.max_pixels) +
                                " pixels");
  }

  int flags = cv::IMREAD_UNCHANGED;  // keeps alpha and 16 bits; orientation is then ours to apply
  int denom = 1;
  int orientation = 1;
  bool orient_ourselves = false;
  if (format == Format::kJpeg) {
    const JpegScan scan = scan_jpeg(bytes, /*full_walk=*/true);
    if (scan.corrupt) return make_error(name, scan.corrupt);
    if (!scan.has_eoi) return make_error(name, "truncated JPEG data (no end-of-image marker)");
    orientation = scan.orientation;
    flags = cv::IMREAD_COLOR;  // OpenCV applies EXIF orientation and converts CMYK/YCCK
    if (opts.min_shorter_side > 0) {
      const std::uint64_t shorter = std::min(w, h);
      for (int d : {8, 4, 2}) {
        if (shorter / d >= static_cast<std::uint64_t>(opts.min_shorter_side)) {
          denom = d;
          break;
        }
      }
      if (denom == 2) flags = cv::IMREAD_REDUCED_COLOR_2;
      if (denom == 4) flags = cv::IMREAD_REDUCED_COLOR_4;
      if (denom == 8) flags = cv::IMREAD_REDUCED_COLOR_8;
    }
  } else if (format == Format::kBmp) {
    // BMP alpha is unreliable (32-bit files often carry an all-zero alpha byte), so ignore it.
    flags = cv::IMREAD_COLOR;
  } else if (format == Format::kWebp) {
    // libwebp's still-image decoder, which OpenCV uses, cannot decode animations.
    if (bytes.substr(12, 4) == "VP8X" && has(bytes, 20, 1) && (u8(bytes, 20) & 0x02) != 0) {
      return make_error(name, "animated WebP is not supported");
    }
    if (has(bytes, 4, 4) && std::uint64_t{le32(bytes, 4)} + 8 > bytes.size()) {
      return make_error(name, "truncated WebP data (RIFF chunk claims " +
                                  std::to_string(std::uint64_t{le32(bytes, 4)} + 8) +
                                  " bytes, data has " + std::to_string(bytes.size()) + ")");
    }
  } else if (format == Format::kPng) {
    orientation = png_orientation(bytes);
    orient_ourselves = true;
  }

  // imdecode does not write to the buffer; the Mat header only lets it read in place.
  const cv::Mat buf(1, static_cast<int>(bytes.size()), CV_8U,
                    const_cast<char*>(bytes.data()));  // NOLINT
  const std::string cannot = std::string("could not decode ") + format_display(format) + " data";
  cv::Mat raw, rgb;
  if (format == Format::kJpeg && decode_jpeg_rgb(bytes, denom, rgb)) {
    apply_orientation(rgb, orientation);
  } else {
    try {
      raw = cv::imdecode(buf, flags);
    } catch (const cv::Exception& e) {
      return make_error(name, cannot + " (" + e.err + ")");
    }
    if (raw.empty()) return make_error(name, cannot + " (corrupt or truncated)");
    if (orient_ourselves) apply_orientation(raw, orientation);
    rgb = to_rgb8(raw);
  }
  if (rgb.empty() && flags == cv::IMREAD_UNCHANGED) {
    // Float, signed or many-channel TIFF: let OpenCV reduce it to 8-bit BGR by its own rules.
    raw.release();
    try {
      raw = cv::imdecode(buf, cv::IMREAD_COLOR);
    } catch (const cv::Exception& e) {
      return make_error(name, cannot + " (" + e.err + ")");
    }
    if (raw.empty()) return make_error(name, cannot + " (corrupt or truncated)");
    rgb = to_rgb8(raw);
  }
  if (rgb.empty()) return make_error(name, cannot + " (unsupported pixel layout)");

  DecodedImage out;
  out.format = format_id(format);
  out.scale_denom = denom;
  if (denom == 1) {
    out.width = rgb.cols;
    out.height = rgb.rows;
  } else {
    // libjpeg's scaled size is ceil(side / denom). Which way round the header size goes is
    // read from the decoded mat; only when both ways fit (near-square) does the EXIF tag decide.
    const auto cols = static_cast<std::uint64_t>(rgb.cols);
    const auto rows = static_cast<std::uint64_t>(rgb.rows);
    const bool fits_plain = cols == ceil_div(w, denom) && rows == ceil_div(h, denom);
    const bool fits_swapped = cols == ceil_div(h, denom) && rows == ceil_div(w, denom);
    bool swap = orientation >= 5;
    if (fits_plain != fits_swapped) swap = fits_swapped;
    out.width = static_cast<int>(swap ? h : w);
    out.height = static_cast<int>(swap ? w : h);
  }
  // The header check is only as good as our reading of the header; refuse a disagreement too.
  if (static_cast<std::uint64_t>(out.width) * static_cast<std::uint64_t>(out.height) >
      opts.max_pixels) {
    return make_error(name, "decoded image is " + std::to_string(out.width) + "x" +
                                std::to_string(out.height) + ", over the limit of " +
                                std::to_string(opts.max_pixels) + " pixels");
  }
  out.rgb = std::move(rgb);
  return out;
}

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

}  // namespace

Result<ImageHeader> read_header(std::string_view bytes, const std::string& name) {
  try {
    auto raw = parse_header(bytes, name);
    if (!raw) return raw.error();
    if (raw->width > static_cast<std::uint64_t>(INT_MAX) ||
        raw->height > static_cast<std::uint64_t>(INT_MAX)) {
      return make_error(name, "image size " + std::to_string(raw->width) + "x" +
                                  std::to_string(raw->height) + " is out of range");
    }
    return ImageHeader{format_id(raw->format), static_cast<int>(raw->width),
                       static_cast<int>(raw->height)};
  } catch (const std::exception& e) {
    return make_error(name, std::string("could not read header (") + e.what() + ")");
  }
}

Result<DecodedImage> decode(std::string_view bytes, const std::string& name,
                            const DecodeOptions& opts) {
  try {
    return decode_impl(bytes, name, opts);
  } catch (const std::bad_alloc&) {
    return make_error(name, "out of memory while decoding");
  } catch (const std::exception& e) {
    return make_error(name, std::string("could not decode (") + e.what() + ")");
  }
}

Result<std::string> read_file(const std::string& path, std::size_t max_bytes) {
  try {
    std::error_code ec;
    const fs::file_status st = fs::status(path, ec);
    if (ec || !fs::exists(st)) {
      return make_error(path, "cannot open (" + (ec ? ec.message() : "no such file") + ")");
    }
    if (fs::is_directory(st)) return make_error(path, "is a directory, not an image file");
    if (!fs::is_regular_file(st)) return make_error(path, "is not a regular file");
    const std::uintmax_t size = fs::file_size(path, ec);
    if (ec) return make_error(path, "cannot read size (" + ec.message() + ")");
    if (size > max_bytes) {
      return make_error(path, "file is " + std::to_string(size) + " bytes, over the limit of " +
                                  std::to_string(max_bytes) + " bytes");
    }
    std::unique_ptr<std::FILE, FileCloser> f(std::fopen(path.c_str(), "rb"));
    if (!f) return make_error(path, std::string("cannot open (") + std::strerror(errno) + ")");
    std::string data;
    data.resize(static_cast<std::size_t>(size));
    std::size_t got = std::fread(data.data(), 1, data.size(), f.get());
    data.resize(got);
    // The file may have grown since it was measured; read on, but never past the limit.
    char chunk[1 << 16];
    while (!std::ferror(f.get()) && !std::feof(f.get())) {
      const std::size_t n = std::fread(chunk, 1, sizeof chunk, f.get());
      if (data.size() + n > max_bytes) {
        return make_error(path, "file grew past the limit of " + std::to_string(max_bytes) +
                                    " bytes while being read");
      }
      data.append(chunk, n);
    }
    if (std::ferror(f.get())) return make_error(path, "read error");
    return data;
  } catch (const std::bad_alloc&) {
    return make_error(path, "out of memory while reading");
  } catch (const std::exception& e) {
    return make_error(path, std::string("cannot read (") + e.what() + ")");
  }
}

Result<DecodedImage> decode_file(const std::string& path, const DecodeOptions& opts) {
  auto bytes = read_file(path, opts.max_bytes);
  if (!bytes) return bytes.error();
  return decode(*bytes, path, opts);
}

std::string sha256_hex(std::string_view bytes) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), md, &len, EVP_sha256(), nullptr) != 1) return {};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(2 * len, '0');
  for (unsigned int k = 0; k < len; ++k) {
    out[2 * k] = kHex[md[k] >> 4];
    out[2 * k + 1] = kHex[md[k] & 0xF];
  }
  return out;
}

}  // namespace homelens::image

#include "homelens/image/decode_budget.h"

#include <algorithm>

namespace homelens::image {

namespace {

std::string mb(std::uint64_t bytes) { return std::to_string((bytes + (1u << 20) - 1) >> 20); }

// Calibration: build/bench/decode_peak FILE MIN_SIDE (resident-memory growth of one decode),
// 50-megapixel photos (8660x5774): 8-bit RGB PNG 296.8 MB (5.9 B/px); baseline JPEG at full
// size 297.2 MB (5.9 B/px), at 1/8 scale for a 224-px model 15.3 MB. Progressive JPEGs add
// libjpeg's coefficient image (2 bytes a sample: 3 B/px at 4:2:0, 6 at 4:4:4).
constexpr std::uint64_t kFixedBytes = 16u << 20;  // codec state, full-width row buffers, allocator slack
constexpr std::uint64_t kJpegCoefBytesPerPixel = 6;  // progressive only, full resolution, up to 4:4:4
constexpr std::uint64_t kJpegOutBytesPerPixel = 9;   // decoded BGR, RGB copy, EXIF rotation copy
constexpr std::uint64_t kOtherBytesPerPixel = 16;    // 16-bit RGBA (8) + rotated copy (8); 8-bit RGB needs 6
// JPEGs of 1 to 3 components go straight to RGB through libjpeg (decode.cc): 24 MP baseline
// 69.4 MB at full size (2.9 B/px), 1.6 MB at 1/8; 50 MP at 1/8 2.7 MB (decode_peak).
constexpr std::uint64_t kJpegDirectFixedBytes = 4u << 20;  // libjpeg state and row buffers
constexpr std::uint64_t kJpegDirectOutBytesPerPixel = 6;   // RGB, EXIF rotation copy

// What the estimate needs from a JPEG's frame header (the first SOFn before the scan); when
// it cannot be told, the costlier answers (progressive, four components).
struct JpegFrame {
  bool progressive = true;
  int components = 4;
};

JpegFrame jpeg_frame(std::string_view b) {
  std::size_t pos = 2;
  while (pos + 4 <= b.size() && static_cast<unsigned char>(b[pos]) == 0xFF) {
    const unsigned m = static_cast<unsigned char>(b[pos + 1]);
    if (m == 0xFF) {  // fill byte
      ++pos;
      continue;
    }
    if (m == 0xDA) break;  // start of scan: no frame header seen
    if (m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC) {
      JpegFrame f;
      f.progressive = m == 0xC2 || m == 0xC6 || m == 0xCA || m == 0xCE;
      // Length (2), precision (1), height (2), width (2), then the component count.
      if (pos + 9 < b.size()) f.components = static_cast<unsigned char>(b[pos + 9]);
      return f;
    }
    pos += 2 + ((static_cast<unsigned char>(b[pos + 2]) << 8) | static_cast<unsigned char>(b[pos + 3]));
  }
  return {};
}

}  // namespace

std::uint64_t estimate_decode_bytes(const ImageHeader& header, const DecodeOptions& options,
                                    std::string_view bytes) {
  const std::uint64_t w = static_cast<std::uint64_t>(std::max(header.width, 0));
  const std::uint64_t h = static_cast<std::uint64_t>(std::max(header.height, 0));
  const std::uint64_t full = w * h;
  if (header.format != "jpeg") return kFixedBytes + full * kOtherBytesPerPixel;
  std::uint64_t denom = 1;  // as decode() picks it
  if (options.min_shorter_side > 0)
    for (std::uint64_t d : {8u, 4u, 2u})
      if (std::min(w, h) / d >= static_cast<std::uint64_t>(options.min_shorter_side)) {
        denom = d;
        break;
      }
  const std::uint64_t out = ((w + denom - 1) / denom) * ((h + denom - 1) / denom);
  const JpegFrame frame = jpeg_frame(bytes);
  const std::uint64_t coefficients = frame.progressive ? full * kJpegCoefBytesPerPixel : 0;
  if (frame.components == 4) return kFixedBytes + coefficients + out * kJpegOutBytesPerPixel;  // through OpenCV
  return kJpegDirectFixedBytes + coefficients + out * kJpegDirectOutBytesPerPixel;
}

DecodeBudget::Lease& DecodeBudget::Lease::operator=(Lease&& o) noexcept {
  if (this != &o) {
    release();
    budget_ = o.budget_;
    bytes_ = o.bytes_;
    o.budget_ = nullptr;
  }
  return *this;
}

void DecodeBudget::Lease::release() {
  if (budget_) budget_->used_.fetch_sub(bytes_, std::memory_order_acq_rel);
  budget_ = nullptr;
}

Result<DecodeBudget::Lease> DecodeBudget::try_acquire(std::uint64_t bytes, const std::string& name) {
  if (bytes > total_)
    return make_error(name, "decoding needs " + mb(bytes) + " MB, more than the whole decode budget of " +
                                mb(total_) + " MB", ErrorCode::kInvalidArgument);
  std::uint64_t used = used_.load(std::memory_order_relaxed);
  do {
    if (bytes > total_ - used)
      return make_error(name, "decode budget exhausted: " + mb(used) + " MB in flight of " + mb(total_) + " MB",
                        ErrorCode::kUnavailable);
  } while (!used_.compare_exchange_weak(used, used + bytes, std::memory_order_acq_rel,
                                        std::memory_order_relaxed));
  return Lease(this, bytes);
}

}  // namespace homelens::image

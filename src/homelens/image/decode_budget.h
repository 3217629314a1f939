// How much memory decoding a photo takes, read from its header before any pixel exists, and a
// budget that refuses a decode at once when the photos already being decoded hold too much:
// a burst of large uploads then gets "try later" instead of exhausting the machine.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

#include "homelens/core/result.h"
#include "homelens/image/decode.h"

namespace homelens::image {

// An upper bound on the peak bytes decode() holds for a photo with this header under options
// (full-size pixels, the DCT-reduced JPEG output, conversion and rotation copies, libjpeg's
// progressive coefficient buffers), calibrated against measured peaks (decode_budget.cc).
// `bytes` (the photo, or at least its headers) tells a progressive JPEG, which holds its whole
// coefficient image, from a baseline one, and a CMYK/YCCK one (decoded through OpenCV, with
// more copies) from the others; without them a JPEG is assumed progressive and CMYK.
std::uint64_t estimate_decode_bytes(const ImageHeader& header, const DecodeOptions& options,
                                    std::string_view bytes = {});

// Bytes of decode memory shared by concurrent decodes. Thread-safe; never blocks.
class DecodeBudget {
 public:
  // Holds `bytes` of the budget until destroyed (or moved from). Must not outlive the budget.
  class Lease {
   public:
    Lease() = default;
    Lease(Lease&& o) noexcept : budget_(o.budget_), bytes_(o.bytes_) { o.budget_ = nullptr; }
    Lease& operator=(Lease&& o) noexcept;
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease() { release(); }
    std::uint64_t bytes() const { return budget_ ? bytes_ : 0; }
    void release();

   private:
    friend class DecodeBudget;
    Lease(DecodeBudget* b, std::uint64_t bytes) : budget_(b), bytes_(bytes) {}
    DecodeBudget* budget_ = nullptr;
    std::uint64_t bytes_ = 0;
  };

  explicit DecodeBudget(std::uint64_t total_bytes) : total_(total_bytes) {}
  DecodeBudget(const DecodeBudget&) = delete;
  DecodeBudget& operator=(const DecodeBudget&) = delete;

  // A lease of `bytes` for the photo `name`, or at once (no waiting) kUnavailable "name:
  // decode budget exhausted: N MB in flight of M MB" when it does not fit now. A photo that
  // needs more than the whole budget can never fit: kInvalidArgument, so it is not retried.
  Result<Lease> try_acquire(std::uint64_t bytes, const std::string& name);
  std::uint64_t in_flight() const { return used_.load(std::memory_order_relaxed); }
  std::uint64_t total() const { return total_; }

 private:
  const std::uint64_t total_;
  std::atomic<std::uint64_t> used_{0};
};

}  // namespace homelens::image

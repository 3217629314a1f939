// Peak memory of one image::decode, next to estimate_decode_bytes: the figures that calibrate
// image/decode_budget.cc. Usage: decode_peak FILE [MIN_SHORTER_SIDE]. Prints one JSON line.
// Peak = the process's resident high-water mark (VmHWM, reset through /proc/self/clear_refs)
// over the resident size just before decoding, so the file's bytes are not counted.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "homelens/image/decode.h"
#include "homelens/image/decode_budget.h"

namespace {

long status_kb(const char* key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(key, 0) == 0) return std::atol(line.c_str() + std::char_traits<char>::length(key));
  return -1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: decode_peak FILE [MIN_SHORTER_SIDE]\n");
    return 1;
  }
  using namespace homelens;
  image::DecodeOptions opt;
  opt.max_bytes = 1u << 30;
  opt.max_pixels = 1'000'000'000;
  opt.min_shorter_side = argc > 2 ? std::atoi(argv[2]) : 0;
  auto bytes = image::read_file(argv[1], opt.max_bytes);
  if (!bytes) {
    std::fprintf(stderr, "%s\n", bytes.message().c_str());
    return 1;
  }
  auto header = image::read_header(*bytes, argv[1]);
  if (!header) {
    std::fprintf(stderr, "%s\n", header.message().c_str());
    return 1;
  }
  std::ofstream("/proc/self/clear_refs") << "5";  // resets VmHWM to the current RSS
  const long before = status_kb("VmRSS:");
  long peak = 0;
  {
    auto img = image::decode(*bytes, argv[1], opt);
    if (!img) {
      std::fprintf(stderr, "%s\n", img.message().c_str());
      return 1;
    }
    peak = status_kb("VmHWM:");
  }
  const double est = static_cast<double>(image::estimate_decode_bytes(*header, opt, *bytes));
  const double measured = (peak - before) * 1024.0;
  std::printf("{\"file\": \"%s\", \"format\": \"%s\", \"width\": %d, \"height\": %d, \"min_side\": %d, "
              "\"peak_mb\": %.1f, \"estimate_mb\": %.1f, \"estimate_over_peak\": %.2f}\n",
              argv[1], header->format.c_str(), header->width, header->height, opt.min_shorter_side,
              measured / 1048576, est / 1048576, est / measured);
  return 0;
}

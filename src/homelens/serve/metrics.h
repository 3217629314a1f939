// Request counts and latency histograms per route, in the Prometheus text format.
#pragma once

#include <array>
#include <atomic>
#include <map>
#include <mutex>
#include <string>

namespace homelens::serve {

class Metrics {
 public:
  // Records one finished request of `route` (a route pattern, not a raw path).
  void observe(const std::string& route, const std::string& method, int status, double seconds);
  // Prometheus exposition text; gauges are appended as given.
  std::string render(const std::map<std::string, double>& gauges) const;

  static constexpr std::array<double, 12> kBuckets{0.0005, 0.001, 0.002, 0.005, 0.01, 0.025,
                                                   0.05,   0.1,   0.25,  0.5,   1.0,  2.5};

 private:
  struct Series {
    std::map<int, std::uint64_t> by_status;
    std::array<std::uint64_t, kBuckets.size()> buckets{};
    std::uint64_t count = 0;
    double sum = 0;
  };
  mutable std::mutex mu_;
  std::map<std::pair<std::string, std::string>, Series> series_;  // (route, method)
};

}  // namespace homelens::serve

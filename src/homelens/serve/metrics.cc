#include "homelens/serve/metrics.h"

#include <cstdio>
#include <sstream>

namespace homelens::serve {

void Metrics::observe(const std::string& route, const std::string& method, int status,
                      double seconds) {
  std::lock_guard lock(mu_);
  Series& s = series_[{route, method}];
  ++s.by_status[status];
  ++s.count;
  s.sum += seconds;
  for (std::size_t i = 0; i < kBuckets.size(); ++i)
    if (seconds <= kBuckets[i]) ++s.buckets[i];
}

std::string Metrics::render(const std::map<std::string, double>& gauges) const {
  std::ostringstream out;
  char num[64];
  auto fmt = [&](double v) {
    std::snprintf(num, sizeof num, "%.9g", v);
    return std::string(num);
  };
  std::lock_guard lock(mu_);
  out << "# HELP homelens_http_requests_total HTTP requests by route, method and status.\n"
         "# TYPE homelens_http_requests_total counter\n";
  for (const auto& [key, s] : series_)
    for (const auto& [status, n] : s.by_status)
      out << "homelens_http_requests_total{route=\"" << key.first << "\",method=\"" << key.second
          << "\",status=\"" << status << "\"} " << n << "\n";
  out << "# HELP homelens_http_request_duration_seconds Server-side request latency.\n"
         "# TYPE homelens_http_request_duration_seconds histogram\n";
  for (const auto& [key, s] : series_) {
    const std::string labels = "route=\"" + key.first + "\",method=\"" + key.second + "\"";
    for (std::size_t i = 0; i < kBuckets.size(); ++i)
      out << "homelens_http_request_duration_seconds_bucket{" << labels << ",le=\""
          << fmt(kBuckets[i]) << "\"} " << s.buckets[i] << "\n";
    out << "homelens_http_request_duration_seconds_bucket{" << labels << ",le=\"+Inf\"} "
        << s.count << "\n";
    out << "homelens_http_request_duration_seconds_sum{" << labels << "} " << fmt(s.sum) << "\n";
    out << "homelens_http_request_duration_seconds_count{" << labels << "} " << s.count << "\n";
  }
  for (const auto& [name, v] : gauges) {
    out << "# TYPE " << name << " gauge\n" << name << " " << fmt(v) << "\n";
  }
  return out.str();
}

}  // namespace homelens::serve

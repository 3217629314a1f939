// Helpers the benchmarks share.
#pragma once

#include <algorithm>
#include <string>
#include <vector>

namespace homelens::bench {

// "L<n>", the synthetic listing ids (built without operator+, which trips GCC 12's -Wrestrict).
inline std::string listing_name(int n) {
  std::string s = std::to_string(n);
  s.insert(s.begin(), 'L');
  return s;
}

// The p-quantile (0..1) of the samples, nearest rank; 0 for none.
inline double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * (v.size() - 1) + 0.5))];
}

}  // namespace homelens::bench

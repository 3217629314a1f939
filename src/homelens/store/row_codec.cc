#include "homelens/store/row_codec.h"

#include <algorithm>
#include <ctime>

#include <nlohmann/json.hpp>

namespace homelens::store::internal {

using nlohmann::json;

std::string now_utc() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string map_to_json(const std::map<std::string, std::string>& m) { return json(m).dump(); }

std::string probs_to_json(const std::map<std::string, float>& m) {
  return m.empty() ? std::string() : json(m).dump();
}

std::map<std::string, std::string> json_to_map(const std::string& s) {
  std::map<std::string, std::string> m;
  if (s.empty()) return m;
  auto j = json::parse(s, nullptr, false);
  if (j.is_object())
    for (auto& [k, v] : j.items()) m[k] = v.is_string() ? v.get<std::string>() : v.dump();
  return m;
}

std::map<std::string, float> json_to_probs(const std::string& s) {
  std::map<std::string, float> m;
  if (s.empty()) return m;
  auto j = json::parse(s, nullptr, false);
  if (j.is_object())
    for (auto& [k, v] : j.items())
      if (v.is_number()) m[k] = v.get<float>();
  return m;
}

std::vector<std::pair<int, std::string>> ChangeSet::keys() const {
  auto k = keys_;
  std::sort(k.begin(), k.end());
  k.erase(std::unique(k.begin(), k.end()), k.end());
  return k;
}

Change::Kind change_kind(std::int64_t stored) {
  switch (stored) {
    case 1: return Change::Kind::kImage;
    case 2: return Change::Kind::kPhoto;
    default: return Change::Kind::kListing;
  }
}

}  // namespace homelens::store::internal

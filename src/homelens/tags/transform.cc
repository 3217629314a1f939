#include "homelens/tags/transform.h"

#include <cmath>
#include <cstdio>

namespace homelens::tags {

std::string FeatureTransform::name() const {
  if (identity()) return "embedding";
  std::string s;
  if (power != 1.0) {
    char b[32];
    std::snprintf(b, sizeof b, "power(%g)", power);
    s = b;
  }
  if (l2_normalize) s += s.empty() ? "l2" : ",l2";
  return s;
}

void apply_transform(const FeatureTransform& t, std::span<double> row) {
  if (t.power != 1.0)
    for (double& v : row) v = std::copysign(std::pow(std::fabs(v), t.power), v);
  if (t.l2_normalize) {
    double ss = 0;
    for (double v : row) ss += v * v;
    if (ss > 0) {
      const double inv = 1.0 / std::sqrt(ss);
      for (double& v : row) v *= inv;
    }
  }
}

Matrix apply_transform(const FeatureTransform& t, const Matrix& x) {
  Matrix out = x;
  if (t.identity()) return out;
  for (std::size_t i = 0; i < out.rows; ++i) apply_transform(t, {out.row(i), out.cols});
  return out;
}

nlohmann::json transform_json(const FeatureTransform& t) {
  return {{"power", t.power}, {"l2_normalize", t.l2_normalize}};
}

Result<FeatureTransform> parse_transform(const nlohmann::json& j, const std::string& where) {
  if (!j.is_object()) return make_error(where, "\"transform\" must be an object");
  FeatureTransform t;
  const auto p = j.find("power");
  if (p == j.end() || !p->is_number())
    return make_error(where, "\"transform\" needs a numeric \"power\"");
  t.power = p->get<double>();
  if (!(t.power > 0 && t.power <= 4))
    return make_error(where, "\"transform\" \"power\" must be in (0, 4]");
  const auto n = j.find("l2_normalize");
  if (n == j.end() || !n->is_boolean())
    return make_error(where, "\"transform\" needs a boolean \"l2_normalize\"");
  t.l2_normalize = n->get<bool>();
  for (const auto& [k, v] : j.items())
    if (k != "power" && k != "l2_normalize")
      return make_error(where, "\"transform\" has an unknown key \"" + k + "\"");
  return t;
}

}  // namespace homelens::tags

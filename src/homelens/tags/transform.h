// The fixed transform that turns an embedding into a head's features before standardization:
// power normalization (x -> sign(x) |x|^power per dimension) and an optional L2
// re-normalization. It is part of a head (saved in its file), so tagging from a stored
// embedding applies exactly what training applied.
#pragma once

#include <nlohmann/json.hpp>
#include <span>
#include <string>

#include "homelens/core/result.h"
#include "homelens/tags/logreg.h"

namespace homelens::tags {

struct FeatureTransform {
  double power = 1.0;         // exponent of the signed power; 1 leaves values unchanged
  bool l2_normalize = false;  // then scale each row to unit L2 norm (zero rows stay zero)

  bool identity() const { return power == 1.0 && !l2_normalize; }
  // "embedding" for the identity, else e.g. "power(0.5),l2".
  std::string name() const;
};

// Transforms one row in place.
void apply_transform(const FeatureTransform& t, std::span<double> row);
// Every row of x, transformed.
Matrix apply_transform(const FeatureTransform& t, const Matrix& x);

nlohmann::json transform_json(const FeatureTransform& t);
// Errors (naming `where`) on a malformed object or a power outside (0, 4].
Result<FeatureTransform> parse_transform(const nlohmann::json& j, const std::string& where);

}  // namespace homelens::tags

// Request bodies: JSON into a DOM, except the one part that can be huge. An MLS
// front end sends thousands of candidate listing ids; building a DOM node and a
// heap string for each, then copying them out, cost more than ranking them.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "homelens/core/result.h"

namespace homelens::serve {

struct ParsedRequest {
  nlohmann::json body;  // the whole request; candidates.listing_ids is null when it was taken out
  // The values of candidates.listing_ids (integers as their decimal text), when
  // the body has that array; the DOM then holds null in its place.
  std::optional<std::vector<std::string>> listing_ids;
};

// Parses a request body that must be a JSON object. Errors: "the body is not valid
// JSON", "the JSON body must be an object", "candidates.listing_ids must hold strings".
Result<ParsedRequest> parse_request_json(std::string_view text);

}  // namespace homelens::serve

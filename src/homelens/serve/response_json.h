// Response encoding: engine results to the API's JSON. The recommend answer (up
// to 1,000 results) is written by hand into one string; the rest goes through a DOM.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "homelens/engine/engine.h"

namespace homelens::serve {

// Serializes j; bytes that are not UTF-8 (ids, file names) become U+FFFD instead of throwing.
std::string dump(const nlohmann::json& j);
bool is_utf8(const std::string& s);

std::string image_url(std::int64_t id);
nlohmann::json tags_json(const store::Tags& t);
// with_images: the listing's photos as an "images" array (empty when it has none).
nlohmann::json listing_json(const engine::ListingView& l, bool with_images);
nlohmann::json image_json(const engine::ImageView& v);
nlohmann::json add_image_json(const engine::AddImageResult& r);
nlohmann::json query_json(const engine::QueryInfo& q, const std::string& upload_name);

// The body of a recommend answer: query, results with breakdowns, candidate count,
// the weights used and the time taken.
std::string recommend_json(const engine::RecommendAnswer& answer, const std::string& upload_name,
                           const rank::Weights& weights, double took_ms);

}  // namespace homelens::serve

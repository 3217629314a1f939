// Request decoding: HTTP requests (JSON bodies, multipart uploads, query strings)
// into engine calls. Every field is checked before it is converted; a value of the
// wrong type or out of range throws ApiError 400 naming the field.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "homelens/engine/engine.h"
#include "homelens/rank/recommender.h"

namespace httplib {
struct Request;
}

namespace homelens::serve {

// The limits and defaults a request is read against.
struct RequestDefaults {
  rank::ScoreOptions scoring;
  std::size_t max_k = 1000;
  std::size_t max_candidates = 100000;
};

// The uploaded photo and the JSON request of a multipart or raw-image request.
struct Upload {
  std::string bytes;
  std::string filename = "upload";
  nlohmann::json request = nlohmann::json::object();
  // candidates.listing_ids, parsed straight into strings (request_json.h).
  std::optional<std::vector<std::string>> listing_ids;
};

// Reads a multipart (fields "image" and "request"), raw image (Content-Type image/...)
// or JSON body. photo_required: a request without a photo is a 400.
Upload read_upload(const httplib::Request& req, bool photo_required);

// A whole number from v within [lo, hi]; `what` names the field in the error.
std::int64_t whole_number(const nlohmann::json& v, const std::string& what, double lo, double hi);
// A number in a query-string parameter.
double parse_number_param(const std::string& v, const std::string& name);
// An image id in a path.
std::int64_t parse_image_id(const std::string& s);

// POST /v1/recommend: the query (query.image_id, query.listing_id, or the upload)
// and the request (candidates, filters, k, weights, tags, class_mode, tags_need_fronts, photos); query
// string parameters override body fields.
struct RecommendCall {
  engine::QuerySpec query;
  rank::RecommendRequest request;
};
RecommendCall decode_recommend(const httplib::Request& req, Upload upload, const RequestDefaults& d);

// GET /v1/listings: filters and the page (offset >= 0, 1 <= limit <= 200).
struct ListCall {
  rank::Filters filters;
  std::size_t offset = 0;
  std::size_t limit = 24;
};
ListCall decode_list(const httplib::Request& req);

// POST /v1/images: listing id, source, order, title flag and listing attributes.
engine::AddImageRequest decode_add_image(const httplib::Request& req, Upload upload);

}  // namespace homelens::serve

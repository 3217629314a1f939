#include "homelens/serve/request_decode.h"

#include <httplib.h>

#include <charconv>
#include <cmath>
#include <sstream>

#include "homelens/serve/errors.h"
#include "homelens/serve/request_json.h"
#include "homelens/serve/response_json.h"

namespace homelens::serve {

namespace {

using nlohmann::json;

template <class T>
T get_field(const json& j, const char* key, const std::string& where) {
  try {
    return j.at(key).get<T>();
  } catch (const std::exception&) {
    throw ApiError(bad_request(where + "." + key + " has the wrong type"));
  }
}

std::optional<double> opt_double(const json& j, const char* key, const std::string& where) {
  if (!j.contains(key) || j[key].is_null()) return std::nullopt;
  if (!j[key].is_number()) throw ApiError(bad_request(where + "." + key + " must be a number"));
  return j[key].get<double>();
}

std::vector<std::string> split_csv(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string part; std::getline(ss, part, ',');)
    if (!part.empty()) out.push_back(part);
  return out;
}

void parse_request(const std::string& body, Upload& up) {
  if (body.empty()) return;
  auto parsed = parse_request_json(body);
  if (!parsed) throw ApiError(bad_request(parsed.message()));
  up.request = std::move(parsed->body);
  up.listing_ids = std::move(parsed->listing_ids);
}

// Query-string parameters of recommend and list, written into the request's JSON so
// that one set of checks reads both.
void apply_query_params(const httplib::Request& req, json& j) {
  auto num = [&](const char* name) {
    if (req.has_param(name)) j["filters"][name] = parse_number_param(req.get_param_value(name), name);
  };
  for (const char* f : {"price_min", "price_max", "beds_min", "baths_min", "area_min", "area_max"}) num(f);
  if (req.has_param("zip_prefix")) j["filters"]["zip_prefix"] = req.get_param_value("zip_prefix");
  if (req.has_param("k")) j["k"] = parse_number_param(req.get_param_value("k"), "k");
  if (req.has_param("listing_ids")) j["candidates"]["listing_ids"] = split_csv(req.get_param_value("listing_ids"));
  if (req.has_param("image_ids")) {
    json ids = json::array();
    for (const auto& s : split_csv(req.get_param_value("image_ids"))) ids.push_back(parse_number_param(s, "image_ids"));
    j["candidates"]["image_ids"] = ids;
  }
  for (const char* w : {"class", "tag", "visual"}) {
    const std::string p = std::string("w_") + w;
    if (req.has_param(p)) j["weights"][w] = parse_number_param(req.get_param_value(p), p);
  }
  if (req.has_param("photos")) j["photos"] = req.get_param_value("photos");
  if (req.has_param("class_mode")) j["class_mode"] = req.get_param_value("class_mode");
  if (req.has_param("tags_need_fronts")) {
    const std::string v = req.get_param_value("tags_need_fronts");
    if (v != "true" && v != "false") throw ApiError(bad_request("tags_need_fronts must be true or false"));
    j["tags_need_fronts"] = v == "true";
  }
  if (req.has_param("image_id")) j["query"]["image_id"] = parse_number_param(req.get_param_value("image_id"), "image_id");
  if (req.has_param("listing_id")) j["query"]["listing_id"] = req.get_param_value("listing_id");
}

rank::Filters read_filters(const json& j) {
  rank::Filters f;
  if (!j.contains("filters")) return f;
  const json& o = j["filters"];
  if (!o.is_object()) throw ApiError(bad_request("filters must be an object"));
  f.price_min = opt_double(o, "price_min", "filters");
  f.price_max = opt_double(o, "price_max", "filters");
  f.beds_min = opt_double(o, "beds_min", "filters");
  f.baths_min = opt_double(o, "baths_min", "filters");
  f.area_min = opt_double(o, "area_min", "filters");
  f.area_max = opt_double(o, "area_max", "filters");
  if (o.contains("zip_prefix")) f.zip_prefix = get_field<std::string>(o, "zip_prefix", "filters");
  return f;
}

// An id that JSON may give as a string or an integer.
std::string string_id(const json& v, const std::string& what) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_integer()) return std::to_string(v.get<std::int64_t>());
  throw ApiError(bad_request(what + " must be a string"));
}

// Ids and counts: whole numbers that fit every integer type they are converted to.
constexpr double kMaxId = 9e15;

}  // namespace

std::int64_t whole_number(const json& v, const std::string& what, double lo, double hi) {
  if (v.is_number_integer()) {
    const bool neg = v.is_number_integer() && !v.is_number_unsigned() && v.get<std::int64_t>() < 0;
    const double d = neg ? static_cast<double>(v.get<std::int64_t>()) : static_cast<double>(v.get<std::uint64_t>());
    if (d >= lo && d <= hi) return neg ? v.get<std::int64_t>() : static_cast<std::int64_t>(v.get<std::uint64_t>());
  } else if (v.is_number_float()) {
    // Converting a double outside the target's range is undefined behaviour, so
    // the range is checked on the double first.
    const double d = v.get<double>();
    if (std::isfinite(d) && d == std::floor(d) && d >= lo && d <= hi) return static_cast<std::int64_t>(d);
  }
  char range[96];
  std::snprintf(range, sizeof range, "%.0f to %.0f", lo, hi);
  throw ApiError(bad_request(what + " must be a whole number from " + range));
}

double parse_number_param(const std::string& v, const std::string& name) {
  double d = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), d);
  if (ec != std::errc() || p != v.data() + v.size() || !std::isfinite(d))
    throw ApiError(bad_request("query parameter " + name + " must be a number, got \"" + v + "\""));
  return d;
}

std::int64_t parse_image_id(const std::string& s) {
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size())
    throw ApiError(bad_request("image id must be an integer, got \"" + s + "\""));
  return v;
}

Upload read_upload(const httplib::Request& req, bool photo_required) {
  Upload up;
  const std::string type = req.get_header_value("Content-Type");
  if (req.is_multipart_form_data()) {
    if (req.has_file("image")) {
      const auto& f = req.get_file_value("image");
      up.bytes = f.content;
      if (!f.filename.empty()) up.filename = f.filename;
    }
    if (req.has_file("request")) parse_request(req.get_file_value("request").content, up);
  } else if (type.rfind("image/", 0) == 0 || type == "application/octet-stream") {
    up.bytes = req.body;
  } else {
    parse_request(req.body, up);
  }
  if (photo_required && up.bytes.empty())
    throw ApiError(bad_request("no photo: send it as multipart field \"image\" or as the body "
                               "with Content-Type image/..."));
  return up;
}

RecommendCall decode_recommend(const httplib::Request& req, Upload up, const RequestDefaults& d) {
  apply_query_params(req, up.request);
  if (req.has_param("listing_ids")) up.listing_ids.reset();  // the query string's list wins, as for every field
  const json& j = up.request;
  RecommendCall call;
  rank::RecommendRequest& r = call.request;
  r.scoring = d.scoring;
  r.k = 10;
  if (j.contains("k")) r.k = static_cast<std::size_t>(whole_number(j["k"], "k", 1, static_cast<double>(d.max_k)));
  if (j.contains("candidates")) {
    const json& c = j["candidates"];
    if (!c.is_object()) throw ApiError(bad_request("candidates must be an object"));
    if (up.listing_ids) {
      r.listing_ids = std::move(*up.listing_ids);
    } else if (c.contains("listing_ids")) {
      if (!c["listing_ids"].is_array()) throw ApiError(bad_request("candidates.listing_ids must be an array"));
      for (const auto& v : c["listing_ids"]) r.listing_ids.push_back(string_id(v, "candidates.listing_ids"));
    }
    if (c.contains("image_ids")) {
      if (!c["image_ids"].is_array()) throw ApiError(bad_request("candidates.image_ids must be an array"));
      for (const auto& v : c["image_ids"]) r.image_ids.push_back(whole_number(v, "candidates.image_ids", -kMaxId, kMaxId));
    }
    if (r.listing_ids.size() + r.image_ids.size() > d.max_candidates)
      throw ApiError(bad_request("at most " + std::to_string(d.max_candidates) + " candidates"));
  }
  r.filters = read_filters(j);
  if (j.contains("weights")) {
    const json& w = j["weights"];
    if (!w.is_object()) throw ApiError(bad_request("weights must be an object"));
    if (auto v = opt_double(w, "class", "weights")) r.scoring.weights.cls = *v;
    if (auto v = opt_double(w, "tag", "weights")) r.scoring.weights.tag = *v;
    if (auto v = opt_double(w, "visual", "weights")) r.scoring.weights.visual = *v;
    for (double v : {r.scoring.weights.cls, r.scoring.weights.tag, r.scoring.weights.visual})
      if (!(std::abs(v) <= 1e6)) throw ApiError(bad_request("weights must be from -1e6 to 1e6"));
  }
  if (j.contains("tags")) {
    if (!j["tags"].is_array()) throw ApiError(bad_request("tags must be an array of tag names"));
    r.scoring.tags.clear();
    for (const auto& t : j["tags"]) {
      if (!t.is_string() || (t != "style" && t != "stories" && t != "room"))
        throw ApiError(bad_request("tags may name style, stories and room"));
      r.scoring.tags.push_back(t.get<std::string>());
    }
  }
  if (j.contains("class_mode")) {
    const json& m = j["class_mode"];
    if (m != "hard" && m != "soft") throw ApiError(bad_request("class_mode must be \"hard\" or \"soft\""));
    r.scoring.soft_class = m == "soft";
  }
  if (j.contains("tags_need_fronts")) {
    if (!j["tags_need_fronts"].is_boolean()) throw ApiError(bad_request("tags_need_fronts must be true or false"));
    r.scoring.tags_need_fronts = j["tags_need_fronts"].get<bool>();
  }
  if (j.contains("photos")) {
    const json& p = j["photos"];
    if (p != "title" && p != "all") throw ApiError(bad_request("photos must be \"title\" or \"all\""));
    r.all_photos = p == "all";
  }

  engine::QuerySpec& q = call.query;
  if (!up.bytes.empty()) {
    q.bytes = std::move(up.bytes);
    q.filename = up.filename;
    return call;
  }
  const json qj = j.value("query", json::object());
  if (!qj.is_object()) throw ApiError(bad_request("query must be an object"));
  if (qj.contains("image_id")) q.image_id = whole_number(qj["image_id"], "query.image_id", -kMaxId, kMaxId);
  else if (qj.contains("listing_id")) q.listing_id = string_id(qj["listing_id"], "query.listing_id");
  else throw ApiError(bad_request("say what to compare with: query.image_id, query.listing_id or an uploaded photo"));
  return call;
}

ListCall decode_list(const httplib::Request& req) {
  json j = json::object();
  apply_query_params(req, j);
  ListCall call;
  call.filters = read_filters(j);
  if (req.has_param("offset"))
    call.offset = static_cast<std::size_t>(
        whole_number(parse_number_param(req.get_param_value("offset"), "offset"), "offset", 0, kMaxId));
  if (req.has_param("limit")) {
    // Any number is accepted and clamped into the page size range (as before), but
    // it must be finite and whole before it is converted.
    const double limit = std::clamp(parse_number_param(req.get_param_value("limit"), "limit"), 1.0, 200.0);
    call.limit = static_cast<std::size_t>(whole_number(std::floor(limit), "limit", 1, 200));
  }
  return call;
}

engine::AddImageRequest decode_add_image(const httplib::Request& req, Upload up) {
  json& rq = up.request;
  for (const char* p : {"listing_id", "source", "photo_order", "is_title", "price", "beds",
                        "baths", "area", "zip"}) {
    if (!req.has_param(p)) continue;
    // JSON bodies are UTF-8 by parsing; query strings are not. Stored ids must be.
    if (!is_utf8(req.get_param_value(p))) throw ApiError(bad_request(std::string(p) + " must be UTF-8 text"));
    rq[p] = req.get_param_value(p);
  }
  if (!rq.contains("listing_id") || !(rq["listing_id"].is_string() || rq["listing_id"].is_number_integer()))
    throw ApiError(bad_request("listing_id is required (a string)"));
  engine::AddImageRequest a;
  a.listing_id = string_id(rq["listing_id"], "listing_id");
  if (a.listing_id.empty()) throw ApiError(bad_request("listing_id must not be empty"));
  a.bytes = std::move(up.bytes);
  a.filename = up.filename;
  // Numbers arrive as JSON numbers or, from a query string, as text.
  auto num_field = [&](const json& obj, const char* key) -> std::optional<double> {
    if (!obj.contains(key) || obj[key].is_null()) return std::nullopt;
    if (obj[key].is_number()) return obj[key].get<double>();
    if (obj[key].is_string()) return parse_number_param(obj[key].get<std::string>(), key);
    throw ApiError(bad_request(std::string(key) + " must be a number"));
  };
  if (rq.contains("source") && rq["source"].is_string()) a.source = rq["source"].get<std::string>();
  if (auto order = num_field(rq, "photo_order"))
    a.photo_order = static_cast<int>(whole_number(*order, "photo_order", 0, 1e6));
  if (rq.contains("is_title")) {
    const json& t = rq["is_title"];
    a.is_title = t.is_boolean() ? t.get<bool>() : (t.is_string() && (t == "1" || t == "true"));
  }
  const json attrs = rq.contains("listing") && rq["listing"].is_object() ? rq["listing"] : rq;
  a.listing.price = num_field(attrs, "price");
  a.listing.beds = num_field(attrs, "beds");
  a.listing.baths = num_field(attrs, "baths");
  a.listing.area = num_field(attrs, "area");
  if (attrs.contains("zip")) {
    if (!attrs["zip"].is_string()) throw ApiError(bad_request("zip must be a string"));
    a.listing.zip = attrs["zip"].get<std::string>();
  }
  return a;
}

}  // namespace homelens::serve

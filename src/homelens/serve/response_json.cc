#include "homelens/serve/response_json.h"

#include <charconv>
#include <cstdio>

namespace homelens::serve {

namespace {

using nlohmann::json;

json opt_num(const std::optional<double>& v) { return v ? json(*v) : json(nullptr); }

// Appends a JSON string literal (escaped): the hot path builds results by hand.
void append_json_string(std::string& out, std::string_view s) {
  for (char c : s)
    if (static_cast<unsigned char>(c) >= 0x80) {
      out += dump(json(std::string(s)));
      return;
    }
  out += '"';
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

// Shortest round-trip form of an integer, double or float: scores are floats, whose
// shortest form is shorter and quicker to write than the double they widen to.
template <class T>
void append_number(std::string& out, T v) {
  char buf[32];
  auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, ec == std::errc() ? p : buf);
}

void append_opt(std::string& out, const std::optional<double>& v) {
  if (v) append_number(out, *v);
  else out += "null";
}

}  // namespace

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

bool is_utf8(const std::string& s) {
  try {
    json(s).dump();
    return true;
  } catch (const json::exception&) {
    return false;
  }
}

std::string image_url(std::int64_t id) { return "/v1/images/" + std::to_string(id) + "/content"; }

json tags_json(const store::Tags& t) {
  json j = {{"front", t.front ? json(*t.front) : json(nullptr)}};
  j["room"] = t.room.empty() ? json(nullptr) : json(t.room);
  j["style"] = t.style.empty() ? json(nullptr) : json(t.style);
  j["stories"] = t.stories.empty() ? json(nullptr) : json(t.stories);
  if (!t.style_probs.empty()) j["style_probs"] = t.style_probs;
  if (!t.stories_probs.empty()) j["stories_probs"] = t.stories_probs;
  if (!t.room_probs.empty()) j["room_probs"] = t.room_probs;
  return j;
}

json image_json(const engine::ImageView& v) {
  return {{"image_id", v.image.id},       {"listing_id", v.image.listing_id},
          {"source", v.image.source},     {"sha256", v.sha256},
          {"photo_order", v.image.photo_order}, {"is_title", v.image.is_title},
          {"extra", v.image.extra},       {"tags", tags_json(v.tags)},
          {"image_url", image_url(v.image.id)}};
}

json listing_json(const engine::ListingView& l, bool with_images) {
  json j = {{"id", l.listing.id},          {"price", opt_num(l.listing.price)},
            {"beds", opt_num(l.listing.beds)}, {"baths", opt_num(l.listing.baths)},
            {"area", opt_num(l.listing.area)}, {"zip", l.listing.zip}};
  if (!l.listing.extra.empty()) j["extra"] = l.listing.extra;
  j["title_image_id"] = l.title_image ? json(*l.title_image) : json(nullptr);
  j["title_image_url"] = l.title_image ? json(image_url(*l.title_image)) : json(nullptr);
  j["photo_count"] = l.photo_count;
  if (l.title_tags) j["title_tags"] = tags_json(*l.title_tags);
  if (with_images) {
    j["images"] = json::array();
    for (const auto& im : l.images) j["images"].push_back(image_json(im));
  }
  return j;
}

json add_image_json(const engine::AddImageResult& r) {
  return {{"created", r.created},   {"image_id", r.image_id},
          {"listing_id", r.listing_id}, {"sha256", r.sha256},
          {"image_url", image_url(r.image_id)}, {"tags", tags_json(r.tags)}};
}

json query_json(const engine::QueryInfo& q, const std::string& upload_name) {
  json j = json::object();
  if (q.image_id) {
    j["image_id"] = *q.image_id;
    j["listing_id"] = q.listing_id;
  } else {
    j["upload"] = upload_name;
  }
  j["tags"] = tags_json(q.tags);
  j["expanded"] = q.expanded;
  return j;
}

std::string recommend_json(const engine::RecommendAnswer& answer, const std::string& upload_name,
                           const rank::Weights& weights, double took_ms) {
  std::string body = "{\"query\":" + dump(query_json(answer.query, upload_name)) + ",\"results\":[";
  body.reserve(body.size() + answer.results.size() * 320);
  int rank = 0;
  for (const engine::RecommendItem& r : answer.results) {
    if (rank) body += ',';
    body += "{\"rank\":";
    append_number(body, ++rank);
    body += ",\"listing_id\":";
    append_json_string(body, r.listing_id);
    body += ",\"image_id\":";
    append_number(body, r.image_id);
    body += ",\"score\":";
    append_number(body, r.score);
    body += ",\"breakdown\":{\"class\":";
    append_number(body, r.breakdown.cls);
    body += ",\"tag\":";
    append_number(body, r.breakdown.tag);
    body += ",\"visual\":";
    append_number(body, r.breakdown.visual);
    body += "},\"image_url\":\"/v1/images/";
    append_number(body, r.image_id);
    body += "/content\",\"listing\":{\"price\":";
    append_opt(body, r.price);
    body += ",\"beds\":";
    append_opt(body, r.beds);
    body += ",\"baths\":";
    append_opt(body, r.baths);
    body += ",\"area\":";
    append_opt(body, r.area);
    body += ",\"zip\":";
    append_json_string(body, r.zip);
    body += "},\"tags\":{\"front\":";
    if (r.front) append_number(body, *r.front);
    else body += "null";
    for (auto [key, val] : {std::pair<const char*, const std::string*>{"style", &r.style},
                            {"stories", &r.stories}, {"room", &r.room}}) {
      body += ",\"";
      body += key;
      body += "\":";
      if (val->empty()) body += "null";
      else append_json_string(body, *val);
    }
    body += "}}";
  }
  body += "],\"candidates\":";
  append_number(body, answer.candidates);
  body += answer.approximate ? ",\"approximate\":true" : ",\"approximate\":false";
  body += ",\"weights\":{\"class\":";
  append_number(body, weights.cls);
  body += ",\"tag\":";
  append_number(body, weights.tag);
  body += ",\"visual\":";
  append_number(body, weights.visual);
  body += "},\"took_ms\":";
  append_number(body, took_ms);
  body += "}";
  return body;
}

}  // namespace homelens::serve

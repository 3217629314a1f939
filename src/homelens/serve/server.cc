#include "homelens/serve/server.h"

#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <charconv>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <shared_mutex>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "homelens/ingest/prepare.h"
#include "homelens/model/embedder.h"
#include "homelens/model/embedding.h"
#include "homelens/rank/catalog.h"
#include "homelens/serve/metrics.h"
#include "homelens/serve/request_json.h"
#include "homelens/store/store.h"

namespace homelens::serve {

namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

// An error that becomes a JSON body {"error": {"code", "message"}} with an HTTP status.
struct ApiError {
  int status;
  std::string code;
  std::string message;
};

// Serializes j; bytes that are not UTF-8 (ids, file names) become U+FFFD instead of throwing.
std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

bool is_utf8(const std::string& s) {
  try {
    json(s).dump();
    return true;
  } catch (const json::exception&) {
    return false;
  }
}

void send_error(httplib::Response& res, const ApiError& e) {
  res.status = e.status;
  res.set_content(dump(json{{"error", {{"code", e.code}, {"message", e.message}}}}),
                  "application/json");
}

ApiError bad_request(const std::string& msg) { return {400, "bad_request", msg}; }
ApiError not_found(const std::string& msg) { return {404, "not_found", msg}; }

json opt_num(const std::optional<double>& v) { return v ? json(*v) : json(nullptr); }

json listing_attrs(const store::Listing& l) {
  return {{"price", opt_num(l.price)}, {"beds", opt_num(l.beds)}, {"baths", opt_num(l.baths)},
          {"area", opt_num(l.area)},   {"zip", l.zip}};
}

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

std::string image_url(std::int64_t id) { return "/v1/images/" + std::to_string(id) + "/content"; }

// Appends a JSON string literal (escaped) to out: the hot path builds results by hand.
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

std::string mime_for(const std::string& format) {
  if (format == "jpeg") return "image/jpeg";
  if (format == "png") return "image/png";
  if (format == "webp") return "image/webp";
  if (format == "bmp") return "image/bmp";
  if (format == "tiff") return "image/tiff";
  return "application/octet-stream";
}

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

// An image id from JSON: a whole number (query strings arrive as doubles).
std::int64_t json_id(const json& v, const std::string& what) {
  if (v.is_number_integer()) return v.get<std::int64_t>();
  if (v.is_number_float()) {
    const double d = v.get<double>();
    if (d == std::floor(d) && std::abs(d) < 9e15) return static_cast<std::int64_t>(d);
  }
  throw ApiError(bad_request(what + " must be an integer"));
}

double parse_double_param(const std::string& v, const std::string& name) {
  double d = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), d);
  if (ec != std::errc() || p != v.data() + v.size() || !std::isfinite(d))
    throw ApiError(bad_request("query parameter " + name + " must be a number, got \"" + v + "\""));
  return d;
}

std::vector<std::string> split_csv(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string part; std::getline(ss, part, ',');)
    if (!part.empty()) out.push_back(part);
  return out;
}

bool numeric_less(const std::string& a, const std::string& b) {
  const bool an = !a.empty() && a.find_first_not_of("0123456789") == std::string::npos;
  const bool bn = !b.empty() && b.find_first_not_of("0123456789") == std::string::npos;
  if (an && bn && a.size() != b.size()) return a.size() < b.size();
  return a < b;
}

}  // namespace

struct Server::Impl {
  ServerConfig cfg;
  std::unique_ptr<store::Store> store;
  rank::Catalog catalog{0};
  mutable std::shared_mutex catalog_mu;  // readers: queries; writer: index/delete
  std::mutex write_mu;                   // one write at a time keeps store and catalogue in step
  std::unique_ptr<model::Embedder> embedder;
  std::mutex embed_mu;
  Metrics metrics;
  httplib::Server http;
  std::thread thread;
  std::atomic<bool> running{false};

  // Wraps a handler: JSON errors for ApiError/exceptions, metrics per route.
  httplib::Server::Handler route(const std::string& name,
                                 std::function<void(const httplib::Request&, httplib::Response&)> fn) {
    return [this, name, fn](const httplib::Request& req, httplib::Response& res) {
      const auto t0 = Clock::now();
      guarded(res, [&] { fn(req, res); });
      metrics.observe(name, req.method, res.status,
                      std::chrono::duration<double>(Clock::now() - t0).count());
    };
  }

  // As route, for requests with a body: the body is read here, piece by piece,
  // and refused with 413 the moment it passes the limit. httplib itself enforces
  // the limit only for bodies with a Content-Length, so a chunked upload would
  // otherwise be held in memory whole, however large.
  httplib::Server::HandlerWithContentReader route_with_body(
      const std::string& name, std::function<void(const httplib::Request&, httplib::Response&)> fn) {
    return [this, name, fn](const httplib::Request& req, httplib::Response& res,
                            const httplib::ContentReader& reader) {
      const auto t0 = Clock::now();
      guarded(res, [&] {
        const ApiError too_large{413, "payload_too_large", "the request body is over the size limit"};
        httplib::Request full = req;
        std::size_t total = 0;
        bool over = false;
        auto take = [&](std::size_t n) {
          total += n;
          over = over || total > cfg.max_body_bytes;
          return !over;
        };
        bool read = false;
        if (req.is_multipart_form_data()) {
          httplib::MultipartFormData* current = nullptr;
          read = reader(
              [&](const httplib::MultipartFormData& part) {
                current = &full.files.emplace(part.name, part)->second;
                return true;
              },
              [&](const char* data, std::size_t n) {
                if (!take(n)) return false;
                if (current) current->content.append(data, n);
                return true;
              });
        } else {
          read = reader([&](const char* data, std::size_t n) {
            if (!take(n)) return false;
            full.body.append(data, n);
            return true;
          });
        }
        // A declared length over the limit: httplib has skipped the body without handing it over.
        if (req.has_header("Content-Length")) {
          const std::string declared = req.get_header_value("Content-Length");
          if (declared.size() > 18 || std::stoull("0" + declared) > cfg.max_body_bytes) throw too_large;
        }
        if (over) throw too_large;
        if (!read) throw ApiError(bad_request("the request body could not be read (broken chunked or multipart encoding)"));
        fn(full, res);
      });
      metrics.observe(name, req.method, res.status,
                      std::chrono::duration<double>(Clock::now() - t0).count());
    };
  }

  // Runs a handler body, turning ApiError and other exceptions into JSON errors.
  template <class Body>
  void guarded(httplib::Response& res, const Body& body) {
    try {
      body();
      if (res.status == -1) res.status = 200;  // httplib sets it only after we return
    } catch (const ApiError& e) {
      send_error(res, e);
    } catch (const std::exception& e) {
      send_error(res, {500, "internal", e.what()});
    }
  }

  void require_key(const httplib::Request& req) const {
    if (cfg.api_key.empty()) return;
    std::string key = req.get_header_value("X-API-Key");
    const std::string auth = req.get_header_value("Authorization");
    if (key.empty() && auth.rfind("Bearer ", 0) == 0) key = auth.substr(7);
    if (key != cfg.api_key)
      throw ApiError{401, "unauthorized", "this route needs the API key (X-API-Key header)"};
  }

  // The uploaded photo and the JSON request of a multipart or raw-image request.
  struct Upload {
    std::string bytes;
    std::string filename = "upload";
    json request = json::object();
    // candidates.listing_ids, parsed straight into strings (request_json.h).
    std::optional<std::vector<std::string>> listing_ids;
  };

  Upload read_upload(const httplib::Request& req, bool photo_required) const {
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

  static void parse_request(const std::string& body, Upload& up) {
    if (body.empty()) return;
    auto parsed = parse_request_json(body);
    if (!parsed) throw ApiError(bad_request(parsed.message()));
    up.request = std::move(parsed->body);
    up.listing_ids = std::move(parsed->listing_ids);
  }

  // Decodes, embeds, tags and (when centres are given) codes a photo. Bad photos are 415/422
  // with the decoder's reason; a tagger failure leaves the photo untagged and is logged.
  store::Photo embed_photo(const std::string& bytes, const std::string& name,
                           const std::vector<float>* centres = nullptr) {
    image::DecodeOptions dopt = cfg.decode;
    dopt.max_bytes = std::max(dopt.max_bytes, cfg.max_body_bytes);
    auto header = image::read_header(bytes, name);
    if (!header) throw ApiError{415, "unsupported_media_type", header.message()};
    auto decoded = ingest::decode_photo(bytes, name, dopt, embedder->min_decode_side());
    if (!decoded) throw ApiError{422, "bad_image", decoded.message()};
    std::vector<ingest::DecodedPhoto> batch{std::move(*decoded)};
    std::vector<std::string> tag_failures;
    std::lock_guard lock(embed_mu);
    auto photos = ingest::embed_photos(batch, *embedder, cfg.spec.id, cfg.tagger, centres, &tag_failures);
    if (!photos) throw ApiError{500, "model_failed", photos.message()};
    if (!tag_failures[0].empty()) spdlog::warn("{}", tag_failures[0]);
    return std::move((*photos)[0]);
  }

  void apply_query_params(const httplib::Request& req, json& j) const {
    auto num = [&](const char* name) {
      if (req.has_param(name)) j["filters"][name] = parse_double_param(req.get_param_value(name), name);
    };
    for (const char* f : {"price_min", "price_max", "beds_min", "baths_min", "area_min", "area_max"}) num(f);
    if (req.has_param("zip_prefix")) j["filters"]["zip_prefix"] = req.get_param_value("zip_prefix");
    if (req.has_param("k")) j["k"] = parse_double_param(req.get_param_value("k"), "k");
    if (req.has_param("listing_ids")) j["candidates"]["listing_ids"] = split_csv(req.get_param_value("listing_ids"));
    if (req.has_param("image_ids")) {
      json ids = json::array();
      for (const auto& s : split_csv(req.get_param_value("image_ids"))) ids.push_back(parse_double_param(s, "image_ids"));
      j["candidates"]["image_ids"] = ids;
    }
    for (const char* w : {"class", "tag", "visual"}) {
      const std::string p = std::string("w_") + w;
      if (req.has_param(p)) j["weights"][w] = parse_double_param(req.get_param_value(p), p);
    }
    if (req.has_param("photos")) j["photos"] = req.get_param_value("photos");
    if (req.has_param("class_mode")) j["class_mode"] = req.get_param_value("class_mode");
    if (req.has_param("image_id")) j["query"]["image_id"] = parse_double_param(req.get_param_value("image_id"), "image_id");
    if (req.has_param("listing_id")) j["query"]["listing_id"] = req.get_param_value("listing_id");
  }

  // Everything in a recommend request except the query photo.
  // ids: candidates.listing_ids when the parser took them out of the DOM.
  rank::RecommendRequest parse_recommend(const json& j, std::optional<std::vector<std::string>>* ids = nullptr) const {
    rank::RecommendRequest r;
    r.scoring = cfg.scoring;
    r.k = 10;
    if (j.contains("k")) {
      if (!j["k"].is_number()) throw ApiError(bad_request("k must be a number"));
      const double k = j["k"].get<double>();
      if (k < 1 || k > static_cast<double>(cfg.max_k) || k != std::floor(k))
        throw ApiError(bad_request("k must be a whole number from 1 to " + std::to_string(cfg.max_k)));
      r.k = static_cast<std::size_t>(k);
    }
    if (j.contains("candidates")) {
      const json& c = j["candidates"];
      if (!c.is_object()) throw ApiError(bad_request("candidates must be an object"));
      if (ids && *ids) {
        r.listing_ids = std::move(**ids);
      } else if (c.contains("listing_ids")) {
        if (!c["listing_ids"].is_array()) throw ApiError(bad_request("candidates.listing_ids must be an array"));
        for (const auto& v : c["listing_ids"]) {
          if (v.is_string()) r.listing_ids.push_back(v.get<std::string>());
          else if (v.is_number_integer()) r.listing_ids.push_back(std::to_string(v.get<std::int64_t>()));
          else throw ApiError(bad_request("candidates.listing_ids must hold strings"));
        }
      }
      if (c.contains("image_ids")) {
        if (!c["image_ids"].is_array()) throw ApiError(bad_request("candidates.image_ids must be an array"));
        for (const auto& v : c["image_ids"]) {
          r.image_ids.push_back(json_id(v, "candidates.image_ids"));
        }
      }
      if (r.listing_ids.size() + r.image_ids.size() > cfg.max_candidates)
        throw ApiError(bad_request("at most " + std::to_string(cfg.max_candidates) + " candidates"));
    }
    if (j.contains("filters")) {
      const json& f = j["filters"];
      if (!f.is_object()) throw ApiError(bad_request("filters must be an object"));
      r.filters.price_min = opt_double(f, "price_min", "filters");
      r.filters.price_max = opt_double(f, "price_max", "filters");
      r.filters.beds_min = opt_double(f, "beds_min", "filters");
      r.filters.baths_min = opt_double(f, "baths_min", "filters");
      r.filters.area_min = opt_double(f, "area_min", "filters");
      r.filters.area_max = opt_double(f, "area_max", "filters");
      if (f.contains("zip_prefix")) r.filters.zip_prefix = get_field<std::string>(f, "zip_prefix", "filters");
    }
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
    if (j.contains("photos")) {
      const json& p = j["photos"];
      if (p != "title" && p != "all") throw ApiError(bad_request("photos must be \"title\" or \"all\""));
      r.all_photos = p == "all";
    }
    return r;
  }

  void handle_recommend(const httplib::Request& req, httplib::Response& res) {
    const auto t0 = Clock::now();
    Upload up = read_upload(req, false);
    apply_query_params(req, up.request);
    if (req.has_param("listing_ids")) up.listing_ids.reset();  // the query string's list wins, as for every field
    rank::RecommendRequest r = parse_recommend(up.request, &up.listing_ids);
    json query_j = json::object();
    std::optional<store::Photo> uploaded;
    if (!up.bytes.empty()) uploaded = embed_photo(up.bytes, up.filename);  // outside the lock

    std::shared_lock lock(catalog_mu);
    if (uploaded) {
      r.query.vector = std::move(uploaded->embedding);
      r.query.tags = std::move(uploaded->tags);
      query_j["upload"] = up.filename;
    } else {
      const json q = up.request.value("query", json::object());
      if (!q.is_object()) throw ApiError(bad_request("query must be an object"));
      std::int64_t image_id = -1;
      if (q.contains("image_id")) {
        image_id = json_id(q["image_id"], "query.image_id");
        if (!catalog.find(image_id)) throw ApiError(not_found("no image with id " + std::to_string(image_id)));
      } else if (q.contains("listing_id")) {
        const std::string lid = q["listing_id"].is_string() ? q["listing_id"].get<std::string>()
                                : q["listing_id"].is_number_integer() ? std::to_string(q["listing_id"].get<std::int64_t>())
                                : throw ApiError(bad_request("query.listing_id must be a string"));
        const rank::CatalogListing* l = catalog.listing(lid);
        if (!l || l->title_image < 0) throw ApiError(not_found("no listing with id \"" + lid + "\" and a photo"));
        image_id = l->title_image;
      } else {
        throw ApiError(bad_request("say what to compare with: query.image_id, query.listing_id or an uploaded photo"));
      }
      const rank::CatalogEntry* e = catalog.find(image_id);
      auto v = catalog.index().vector(image_id);
      r.query.vector.assign(v.begin(), v.end());
      r.query.tags = e->tags;
      r.query.image_id = image_id;
      r.query.listing_id = e->image.listing_id;
      query_j["image_id"] = image_id;
      query_j["listing_id"] = e->image.listing_id;
    }
    query_j["tags"] = tags_json(r.query.tags);
    rank::RecommendResult result = rank::recommend(catalog, r);

    std::string body = "{\"query\":" + dump(query_j) + ",\"results\":[";
    body.reserve(body.size() + result.results.size() * 320);
    int rank = 0;
    const auto& recs = result.results;
    for (std::size_t i = 0; i < recs.size(); ++i) {
      // Results sit in scattered map nodes: fetch the entries (and then their
      // listings) a few results ahead, so 1,000 results don't wait on memory one by one.
      if (i + 16 < recs.size()) {
        __builtin_prefetch(recs[i + 16].entry);
        __builtin_prefetch(&recs[i + 16].entry->tags);
        __builtin_prefetch(&recs[i + 16].entry->tags.style);
        __builtin_prefetch(&recs[i + 16].entry->tags.stories);
      }
      if (i + 8 < recs.size() && recs[i + 8].entry->listing) __builtin_prefetch(recs[i + 8].entry->listing);
      const auto& rec = recs[i];
      const rank::CatalogEntry* e = rec.entry;
      const rank::CatalogListing* l = e->listing;
      if (rank) body += ',';
      body += "{\"rank\":";
      append_number(body, ++rank);
      body += ",\"listing_id\":";
      append_json_string(body, rec.listing_id);
      body += ",\"image_id\":";
      append_number(body, rec.image_id);
      body += ",\"score\":";
      append_number(body, rec.score);
      body += ",\"breakdown\":{\"class\":";
      append_number(body, rec.breakdown.cls);
      body += ",\"tag\":";
      append_number(body, rec.breakdown.tag);
      body += ",\"visual\":";
      append_number(body, rec.breakdown.visual);
      body += "},\"image_url\":\"/v1/images/";
      append_number(body, rec.image_id);
      body += "/content\",\"listing\":{\"price\":";
      append_opt(body, l ? l->listing.price : std::nullopt);
      body += ",\"beds\":";
      append_opt(body, l ? l->listing.beds : std::nullopt);
      body += ",\"baths\":";
      append_opt(body, l ? l->listing.baths : std::nullopt);
      body += ",\"area\":";
      append_opt(body, l ? l->listing.area : std::nullopt);
      body += ",\"zip\":";
      append_json_string(body, l ? l->listing.zip : "");
      body += "},\"tags\":{\"front\":";
      if (e->tags.front) append_number(body, *e->tags.front);
      else body += "null";
      for (auto [key, val] : {std::pair<const char*, const std::string*>{"style", &e->tags.style},
                              {"stories", &e->tags.stories}, {"room", &e->tags.room}}) {
        body += ",\"";
        body += key;
        body += "\":";
        if (val->empty()) body += "null";
        else append_json_string(body, *val);
      }
      body += "}}";
    }
    lock.unlock();
    body += "],\"candidates\":";
    append_number(body, result.candidates);
    body += ",\"weights\":{\"class\":";
    append_number(body, r.scoring.weights.cls);
    body += ",\"tag\":";
    append_number(body, r.scoring.weights.tag);
    body += ",\"visual\":";
    append_number(body, r.scoring.weights.visual);
    body += "},\"took_ms\":";
    append_number(body, std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    body += "}";
    res.set_content(body, "application/json");
  }

  json listing_json(const rank::CatalogListing& l, bool with_images) const {
    json j = {{"id", l.listing.id}};
    j.update(listing_attrs(l.listing));
    if (!l.listing.extra.empty()) j["extra"] = l.listing.extra;
    j["title_image_id"] = l.title_image >= 0 ? json(l.title_image) : json(nullptr);
    j["title_image_url"] = l.title_image >= 0 ? json(image_url(l.title_image)) : json(nullptr);
    j["photo_count"] = l.image_ids.size();
    if (l.title_image >= 0) j["title_tags"] = tags_json(catalog.find(l.title_image)->tags);
    if (with_images) {
      j["images"] = json::array();
      for (std::int64_t id : l.image_ids) j["images"].push_back(image_json(*catalog.find(id)));
    }
    return j;
  }

  static json image_json(const rank::CatalogEntry& e) {
    return {{"image_id", e.image.id},       {"listing_id", e.image.listing_id},
            {"source", e.image.source},     {"sha256", e.sha256},
            {"photo_order", e.image.photo_order}, {"is_title", e.image.is_title},
            {"extra", e.image.extra},       {"tags", tags_json(e.tags)},
            {"image_url", image_url(e.image.id)}};
  }

  void handle_list_listings(const httplib::Request& req, httplib::Response& res) {
    json j = json::object();
    apply_query_params(req, j);
    rank::RecommendRequest r = parse_recommend(j);
    std::size_t offset = 0, limit = 24;
    if (req.has_param("offset")) offset = static_cast<std::size_t>(std::max(0.0, parse_double_param(req.get_param_value("offset"), "offset")));
    if (req.has_param("limit")) limit = static_cast<std::size_t>(std::clamp(parse_double_param(req.get_param_value("limit"), "limit"), 1.0, 200.0));
    std::shared_lock lock(catalog_mu);
    std::vector<const rank::CatalogListing*> all;
    for (const auto& [id, l] : catalog.listings())
      if ((r.filters.empty() || r.filters.matches(l.listing)) && l.title_image >= 0) all.push_back(&l);
    std::sort(all.begin(), all.end(), [](auto* a, auto* b) { return numeric_less(a->listing.id, b->listing.id); });
    json out = {{"total", all.size()}, {"offset", offset}, {"limit", limit}, {"listings", json::array()}};
    for (std::size_t i = offset; i < all.size() && i < offset + limit; ++i)
      out["listings"].push_back(listing_json(*all[i], false));
    res.set_content(dump(out), "application/json");
  }

  void handle_get_listing(const httplib::Request& req, httplib::Response& res) {
    const std::string id = req.matches[1];
    std::shared_lock lock(catalog_mu);
    const rank::CatalogListing* l = catalog.listing(id);
    if (!l) throw ApiError(not_found("no listing with id \"" + id + "\""));
    res.set_content(dump(listing_json(*l, true)), "application/json");
  }

  std::int64_t parse_id(const std::string& s) const {
    std::int64_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size()) throw ApiError(bad_request("image id must be an integer, got \"" + s + "\""));
    return v;
  }

  void handle_get_image(const httplib::Request& req, httplib::Response& res) {
    const std::int64_t id = parse_id(req.matches[1]);
    std::shared_lock lock(catalog_mu);
    const rank::CatalogEntry* e = catalog.find(id);
    if (!e) throw ApiError(not_found("no image with id " + std::to_string(id)));
    res.set_content(dump(image_json(*e)), "application/json");
  }

  void handle_image_content(const httplib::Request& req, httplib::Response& res) {
    const std::int64_t id = parse_id(req.matches[1]);
    std::string path, sha;
    {
      std::shared_lock lock(catalog_mu);
      const rank::CatalogEntry* e = catalog.find(id);
      if (!e) throw ApiError(not_found("no image with id " + std::to_string(id)));
      path = e->image.path;
      sha = e->sha256;
    }
    std::string bytes;
    if (!path.empty()) {
      auto b = image::read_file(path, 256u << 20);
      if (!b) throw ApiError{410, "gone", "the photo file is no longer readable: " + b.message()};
      bytes = std::move(*b);
    } else {
      auto blob = store->get_blob(sha);
      if (!blob || !blob->has_value()) throw ApiError{410, "gone", "the photo bytes are not stored"};
      bytes = std::move((*blob)->bytes);
    }
    auto h = image::read_header(bytes, path);
    res.set_header("Cache-Control", "public, max-age=86400, immutable");
    res.set_content(std::move(bytes), mime_for(h ? h->format : ""));
  }

  void handle_post_image(const httplib::Request& req, httplib::Response& res) {
    require_key(req);
    Upload up = read_upload(req, true);
    json& rq = up.request;
    for (const char* p : {"listing_id", "source", "photo_order", "is_title", "price", "beds",
                          "baths", "area", "zip"}) {
      if (!req.has_param(p)) continue;
      // JSON bodies are UTF-8 by parsing; query strings are not. Stored ids must be.
      if (!is_utf8(req.get_param_value(p)))
        throw ApiError(bad_request(std::string(p) + " must be UTF-8 text"));
      rq[p] = req.get_param_value(p);
    }
    if (!rq.contains("listing_id") || !(rq["listing_id"].is_string() || rq["listing_id"].is_number_integer()))
      throw ApiError(bad_request("listing_id is required (a string)"));
    const std::string listing_id = rq["listing_id"].is_string() ? rq["listing_id"].get<std::string>()
                                                                : std::to_string(rq["listing_id"].get<std::int64_t>());
    if (listing_id.empty()) throw ApiError(bad_request("listing_id must not be empty"));
    auto num_field = [&](const json& obj, const char* key) -> std::optional<double> {
      if (!obj.contains(key) || obj[key].is_null()) return std::nullopt;
      if (obj[key].is_number()) return obj[key].get<double>();
      if (obj[key].is_string()) return parse_double_param(obj[key].get<std::string>(), key);
      throw ApiError(bad_request(std::string(key) + " must be a number"));
    };
    const std::string sha = image::sha256_hex(up.bytes);
    const std::string source = rq.contains("source") && rq["source"].is_string() ? rq["source"].get<std::string>() : "upload:" + sha;

    std::optional<store::Photo> emb;
    auto existing_photo = store->get_photo(sha, cfg.spec.id);
    if (!existing_photo) throw ApiError{500, "store_failed", existing_photo.message()};
    if (!existing_photo->has_value()) {
      auto centres = store->get_centres(cfg.spec.id);
      emb = embed_photo(up.bytes, up.filename, centres && centres->has_value() ? &**centres : nullptr);
    }

    std::lock_guard wlock(write_mu);
    // Idempotent by content: the same bytes already in this listing (under this
    // source when one is given; under any source, the command line's included,
    // when none is) are that image, not a new one.
    std::optional<std::int64_t> already;
    if (rq.contains("source")) {
      auto present = store->find_image(listing_id, source, cfg.spec.id);
      if (present && present->has_value() && (*present)->sha256 == sha) already = (*present)->id;
    } else {
      std::shared_lock lock(catalog_mu);
      if (const rank::CatalogListing* l = catalog.listing(listing_id))
        for (std::int64_t id : l->image_ids)
          if (const rank::CatalogEntry* e = catalog.find(id); e && e->sha256 == sha) {
            already = id;
            break;
          }
    }
    if (already) {
      std::shared_lock lock(catalog_mu);
      const rank::CatalogEntry* e = catalog.find(*already);
      json out = {{"created", false}, {"image_id", *already}, {"listing_id", listing_id}, {"sha256", sha},
                  {"image_url", image_url(*already)}, {"tags", e ? tags_json(e->tags) : json(nullptr)}};
      res.status = 200;
      res.set_content(dump(out), "application/json");
      return;
    }
    store::WriteBatch batch;
    store::Listing listing;
    {
      std::shared_lock lock(catalog_mu);
      if (const rank::CatalogListing* l = catalog.listing(listing_id)) listing = l->listing;
    }
    listing.id = listing_id;
    const json attrs = rq.contains("listing") && rq["listing"].is_object() ? rq["listing"] : rq;
    if (auto v = num_field(attrs, "price")) listing.price = v;
    if (auto v = num_field(attrs, "beds")) listing.beds = v;
    if (auto v = num_field(attrs, "baths")) listing.baths = v;
    if (auto v = num_field(attrs, "area")) listing.area = v;
    if (attrs.contains("zip")) {
      if (!attrs["zip"].is_string()) throw ApiError(bad_request("zip must be a string"));
      listing.zip = attrs["zip"].get<std::string>();
    }
    batch.listings.push_back(listing);
    store::Photo photo;
    if (emb) {
      photo = std::move(*emb);
      batch.photos.push_back(photo);
    } else {
      photo = **existing_photo;
    }
    store::Image im;
    im.listing_id = listing_id;
    im.source = source;
    im.sha256 = sha;
    auto order = num_field(rq, "photo_order");
    {
      std::shared_lock lock(catalog_mu);
      const rank::CatalogListing* l = catalog.listing(listing_id);
      im.photo_order = order ? static_cast<int>(*order) : (l ? static_cast<int>(l->image_ids.size()) : 0);
    }
    if (rq.contains("is_title")) {
      const json& t = rq["is_title"];
      im.is_title = t.is_boolean() ? t.get<bool>() : (t.is_string() && (t == "1" || t == "true"));
      im.title_explicit = true;
    }
    auto header = image::read_header(up.bytes, up.filename);
    batch.images.push_back(im);
    batch.blobs.push_back({sha, mime_for(header ? header->format : ""), up.bytes});
    if (auto st = store->write(batch); !st) throw ApiError{500, "store_failed", st.message()};
    if (auto st = store->assign_titles({listing_id}, cfg.spec.id); !st) throw ApiError{500, "store_failed", st.message()};
    auto images = store->listing_images(listing_id);
    if (!images) throw ApiError{500, "store_failed", images.message()};
    std::int64_t new_id = -1;
    {
      std::unique_lock lock(catalog_mu);
      catalog.put_listing(listing);
      for (const store::Image& stored : *images) {
        if (stored.source == source) {
          new_id = stored.id;
          if (auto s = catalog.put(stored, photo); !s) throw ApiError{500, "internal", s.message()};
        }
      }
      for (const store::Image& stored : *images)
        if (stored.is_title) catalog.set_title(listing_id, stored.id);
    }
    json out = {{"created", true}, {"image_id", new_id}, {"listing_id", listing_id}, {"sha256", sha},
                {"image_url", image_url(new_id)}, {"tags", tags_json(photo.tags)}};
    res.status = 201;
    res.set_content(dump(out), "application/json");
  }

  void handle_delete_image(const httplib::Request& req, httplib::Response& res) {
    require_key(req);
    const std::int64_t id = parse_id(req.matches[1]);
    std::lock_guard wlock(write_mu);
    std::string listing_id;
    {
      std::shared_lock lock(catalog_mu);
      const rank::CatalogEntry* e = catalog.find(id);
      if (!e) throw ApiError(not_found("no image with id " + std::to_string(id)));
      listing_id = e->image.listing_id;
    }
    if (auto st = store->delete_image(id); !st) throw ApiError{500, "store_failed", st.message()};
    if (auto st = store->assign_titles({listing_id}, cfg.spec.id); !st) throw ApiError{500, "store_failed", st.message()};
    auto images = store->listing_images(listing_id);
    std::unique_lock lock(catalog_mu);
    catalog.remove_image(id);
    if (images)
      for (const store::Image& im : *images)
        if (im.is_title) catalog.set_title(listing_id, im.id);
    res.status = 204;
  }

  void handle_delete_listing(const httplib::Request& req, httplib::Response& res) {
    require_key(req);
    const std::string id = req.matches[1];
    std::lock_guard wlock(write_mu);
    {
      std::shared_lock lock(catalog_mu);
      if (!catalog.listing(id)) throw ApiError(not_found("no listing with id \"" + id + "\""));
    }
    if (auto st = store->delete_listing(id); !st) throw ApiError{500, "store_failed", st.message()};
    std::unique_lock lock(catalog_mu);
    catalog.remove_listing(id);
    res.status = 204;
  }

  void handle_health(const httplib::Request&, httplib::Response& res) {
    std::shared_lock lock(catalog_mu);
    res.set_content(json{{"status", "ok"}, {"model", cfg.spec.id}, {"images", catalog.size()},
                         {"listings", catalog.listings().size()}, {"tags", static_cast<bool>(cfg.tagger)}}
                        .dump(),
                    "application/json");
  }

  void handle_metrics(const httplib::Request&, httplib::Response& res) {
    std::map<std::string, double> gauges;
    {
      std::shared_lock lock(catalog_mu);
      gauges["homelens_index_images"] = static_cast<double>(catalog.size());
      gauges["homelens_index_listings"] = static_cast<double>(catalog.listings().size());
      gauges["homelens_index_vector_bytes"] = static_cast<double>(catalog.size() * catalog.index().dim() * sizeof(float));
    }
    res.set_content(metrics.render(gauges), "text/plain; version=0.0.4");
  }

  void handle_openapi(const httplib::Request&, httplib::Response& res) {
    std::ifstream in(std::filesystem::path(cfg.web_dir) / "openapi.json");
    if (!in) throw ApiError(not_found("openapi.json is not in " + cfg.web_dir));
    std::stringstream ss;
    ss << in.rdbuf();
    res.set_content(ss.str(), "application/json");
  }

  void install_routes() {
    http.new_task_queue = [n = cfg.threads] { return new httplib::ThreadPool(static_cast<std::size_t>(n)); };
    http.set_payload_max_length(cfg.max_body_bytes);
    // A keep-alive connection holds a worker thread until it has made this many
    // requests; then it reconnects and queues behind the others (FIFO).
    http.set_keep_alive_max_count(1000);
    // Without it a keep-alive answer (headers, then body) waits ~40 ms on Nagle + delayed ACK.
    http.set_tcp_nodelay(true);
    http.set_read_timeout(10, 0);
    // httplib's own refusals (413, 404 of unknown paths, 400) get JSON bodies too.
    http.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
      if (!res.body.empty()) return;
      std::string code = res.status == 404 ? "not_found" : res.status == 413 ? "payload_too_large" : "error";
      std::string msg = res.status == 404   ? "no route " + req.method + " " + req.path
                        : res.status == 413 ? "the request body is over the size limit"
                                            : "request refused";
      send_error(res, {res.status, code, msg});
    });
    http.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
      std::string what = "unexpected error";
      try {
        std::rethrow_exception(ep);
      } catch (const std::exception& e) {
        what = e.what();
      } catch (...) {
      }
      send_error(res, {500, "internal", what});
    });
    using R = const httplib::Request&;
    using W = httplib::Response&;
    http.Post("/v1/recommend", route_with_body("/v1/recommend", [this](R q, W s) { handle_recommend(q, s); }));
    http.Get("/v1/listings", route("/v1/listings", [this](R q, W s) { handle_list_listings(q, s); }));
    http.Get(R"(/v1/listings/([^/]+))", route("/v1/listings/{id}", [this](R q, W s) { handle_get_listing(q, s); }));
    http.Delete(R"(/v1/listings/([^/]+))", route("/v1/listings/{id}", [this](R q, W s) { handle_delete_listing(q, s); }));
    http.Post("/v1/images", route_with_body("/v1/images", [this](R q, W s) { handle_post_image(q, s); }));
    http.Get(R"(/v1/images/([^/]+))", route("/v1/images/{id}", [this](R q, W s) { handle_get_image(q, s); }));
    http.Delete(R"(/v1/images/([^/]+))", route("/v1/images/{id}", [this](R q, W s) { handle_delete_image(q, s); }));
    http.Get(R"(/v1/images/([^/]+)/content)", route("/v1/images/{id}/content", [this](R q, W s) { handle_image_content(q, s); }));
    http.Get("/healthz", route("/healthz", [this](R q, W s) { handle_health(q, s); }));
    http.Get("/metrics", route("/metrics", [this](R q, W s) { handle_metrics(q, s); }));
    http.Get("/openapi.json", route("/openapi.json", [this](R q, W s) { handle_openapi(q, s); }));
    if (!cfg.web_dir.empty()) http.set_mount_point("/", cfg.web_dir);
  }
};

namespace {

// Debian's cpp-httplib 0.11 is a compiled library that listens with a backlog of
// 5: a burst of new connections (64 clients connecting at once) overflows it and
// the kernel drops SYNs, which clients only retry after 1-3 s. Listening again on
// the same socket raises the backlog; the socket is found by its bound port.
void raise_listen_backlog(int port) {
  for (int fd = 3; fd < 4096; ++fd) {
    int listening = 0;
    socklen_t len = sizeof listening;
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 || !listening) continue;
    sockaddr_storage addr{};
    socklen_t alen = sizeof addr;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &alen) != 0) continue;
    int bound = -1;
    if (addr.ss_family == AF_INET) bound = ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
    if (addr.ss_family == AF_INET6) bound = ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port);
    if (bound == port) ::listen(fd, SOMAXCONN);
  }
}

}  // namespace

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Server::~Server() { stop(); }

Result<std::unique_ptr<Server>> Server::create(const ServerConfig& config) {
  auto impl = std::make_unique<Impl>();
  impl->cfg = config;
  auto st = store::open_store(config.db);
  if (!st) return st.error();
  impl->store = std::move(*st);
  auto cat = rank::Catalog::load(*impl->store, config.spec.id);
  if (!cat) return cat.error();
  impl->catalog = std::move(*cat);
  auto emb = model::Embedder::open(config.spec, {0, true});
  if (!emb) return emb.error();
  impl->embedder = std::make_unique<model::Embedder>(std::move(*emb));
  impl->install_routes();
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Result<int> Server::start() {
  int port = impl_->cfg.port;
  if (port == 0) {
    port = impl_->http.bind_to_any_port(impl_->cfg.host);
  } else if (!impl_->http.bind_to_port(impl_->cfg.host, port)) {
    port = -1;
  }
  if (port < 0)
    return make_error(impl_->cfg.host + ":" + std::to_string(impl_->cfg.port), "cannot listen (address in use?)");
  raise_listen_backlog(port);
  impl_->running = true;
  impl_->thread = std::thread([this] { impl_->http.listen_after_bind(); });
  while (!impl_->http.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return port;
}

Status Server::run() {
  if (!impl_->running) {
    auto p = start();
    if (!p) return p.error();
  }
  if (impl_->thread.joinable()) impl_->thread.join();
  return {};
}

void Server::stop() {
  if (!impl_) return;
  impl_->http.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
  impl_->running = false;
}

Status load_server_config(const std::string& path, ServerConfig& cfg) {
  std::ifstream in(path);
  if (!in) return make_error(path, "cannot open config file");
  json j = json::parse(in, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return make_error(path, "not a JSON object");
  try {
    if (j.contains("weights")) {
      const json& w = j["weights"];
      cfg.scoring.weights.cls = w.value("class", cfg.scoring.weights.cls);
      cfg.scoring.weights.tag = w.value("tag", cfg.scoring.weights.tag);
      cfg.scoring.weights.visual = w.value("visual", cfg.scoring.weights.visual);
    }
    if (j.contains("tags")) cfg.scoring.tags = j["tags"].get<std::vector<std::string>>();
    if (j.contains("class_mode")) cfg.scoring.soft_class = j["class_mode"].get<std::string>() == "soft";
    cfg.scoring.front_threshold = j.value("front_threshold", cfg.scoring.front_threshold);
    cfg.api_key = j.value("api_key", cfg.api_key);
    cfg.max_body_bytes = j.value("max_body_bytes", cfg.max_body_bytes);
    cfg.max_k = j.value("max_k", cfg.max_k);
    cfg.max_candidates = j.value("max_candidates", cfg.max_candidates);
    cfg.threads = j.value("threads", cfg.threads);
  } catch (const std::exception& e) {
    return make_error(path, std::string("bad field: ") + e.what());
  }
  return {};
}

}  // namespace homelens::serve

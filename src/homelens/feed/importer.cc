#include "homelens/feed/importer.h"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "homelens/core/log.h"
#include "homelens/feed/record.h"

namespace homelens::feed {

namespace {

using nlohmann::json;

bool same_attributes(const store::Listing& a, const store::Listing& b) {
  return a.price == b.price && a.beds == b.beds && a.baths == b.baths && a.area == b.area && a.zip == b.zip &&
         a.extra == b.extra;
}

// A photo to fetch and index for one listing.
struct PhotoTask {
  std::string listing;
  FeedMedia media;
  store::Listing attributes;
  std::string modified;  // the record's ModificationTimestamp
  std::optional<bool> title;  // the feed named a title photo: true for it, false for the others
  bool ok = false;
};

class Importer {
 public:
  Importer(engine::Engine& eng, const ImportOptions& o) : eng_(eng), o_(o), client_(o.client) {}

  Result<ImportSummary> run() {
    const auto start = std::chrono::steady_clock::now();
    s_.dry_run = o_.dry_run;
    if (auto st = read_metadata(); !st) return st.error();
    s_.media_access = media_access_name(meta_.media);
    Progress progress("import", 0, o_.progress);
    progress_ = &progress;
    Status st = o_.base_url.empty() ? import_files() : import_feed();
    progress.finish();
    if (!st) return st.error();
    s_.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return s_;
  }

 private:
  bool stopping() const { return o_.stop && o_.stop->load(); }

  Status read_metadata() {
    if (!o_.metadata_file.empty()) {
      auto m = read_metadata_file(o_.metadata_file);
      if (!m) return m.error();
      meta_ = std::move(*m);
    } else if (!o_.base_url.empty()) {
      auto r = client_.get(o_.base_url + "/$metadata", true, "application/xml");
      if (!r) return r.error();
      auto m = parse_metadata(r->body, o_.base_url + "/$metadata");
      if (!m) return m.error();
      meta_ = std::move(*m);
    } else {
      // Saved pages without metadata: RESO's standard names, Media sent inline.
      meta_.property_set = "Property";
      meta_.media = MediaAccess::kComplexCollection;
      meta_.media_path = "Media";
    }
    return {};
  }

  std::string inline_media_field() const {
    return meta_.media == MediaAccess::kNavigation || meta_.media == MediaAccess::kComplexCollection
               ? meta_.media_path
               : "";
  }

  Status import_files() {
    for (const std::string& path : o_.files) {
      if (stopping()) {
        s_.interrupted = true;
        break;
      }
      std::ifstream in(path, std::ios::binary);
      if (!in) return make_error(path, "cannot open", ErrorCode::kIO);
      std::stringstream ss;
      ss << in.rdbuf();
      auto page = parse_page(ss.str(), path);
      if (!page) return page.error();
      if (auto st = process_page(*page); !st) return st;
    }
    return {};
  }

  Result<json> parse_page(const std::string& body, const std::string& where) {
    json j = json::parse(body, nullptr, false);
    if (j.is_discarded()) return make_error(where, "not JSON", ErrorCode::kInvalidArgument);
    if (j.is_object() && j.contains("error")) {
      const json& e = j["error"];
      std::string msg = e.is_object() && e.contains("message") ? e["message"].dump() : e.dump();
      return make_error(where, "the server answered an OData error: " + msg, ErrorCode::kInvalidArgument);
    }
    if (!j.is_object() || !j.contains("value") || !j["value"].is_array())
      return make_error(where, "not an OData collection (no \"value\" array)", ErrorCode::kInvalidArgument);
    return j;
  }

  std::string resolve(const std::string& link) const {
    if (link.find("://") != std::string::npos) return link;
    auto parts = split_url(o_.base_url);
    if (!parts) return link;
    if (!link.empty() && link[0] == '/') return parts->first + link;
    return o_.base_url + "/" + link;
  }

  // Pages through a collection: @odata.nextLink when the server gives one, else $top/$skip.
  Status page_through(const std::string& resource, const std::string& query,
                      const std::function<Status(json&)>& on_page) {
    std::size_t skip = 0;
    std::string url = o_.base_url + "/" + resource + "?" + query + "&$top=" + std::to_string(o_.page_size);
    bool server_paging = false;
    for (;;) {
      auto r = client_.get(url);
      if (!r) return r.error();
      auto page = parse_page(r->body, url);
      if (!page) return page.error();
      const std::size_t n = (*page)["value"].size();
      if (auto st = on_page(*page); !st) return st;
      if (stopping()) {
        s_.interrupted = true;
        return {};
      }
      if (page->contains("@odata.nextLink") && (*page)["@odata.nextLink"].is_string()) {
        server_paging = true;
        url = resolve((*page)["@odata.nextLink"].get<std::string>());
        continue;
      }
      if (server_paging || n < o_.page_size || n == 0) return {};
      skip += n;
      url = o_.base_url + "/" + resource + "?" + query + "&$top=" + std::to_string(o_.page_size) +
            "&$skip=" + std::to_string(skip);
    }
  }

  Status import_feed() {
    const std::string key = high_water_key(o_.base_url);
    if (o_.since) {
      if (!o_.since->empty()) {
        auto n = normalize_timestamp(*o_.since);
        if (!n) return make_error("--since", n.message(), ErrorCode::kInvalidArgument);
        s_.since = *n;
      }
    } else {
      auto stored = eng_.store().get_meta(key);
      if (!stored) return stored.error();
      s_.since = stored->value_or("");
    }
    std::string query;
    auto add = [&](const std::string& k, const std::string& v) {
      query += (query.empty() ? "" : "&") + k + "=" + url_encode(v);
    };
    const bool stamped = meta_.has_property_field("ModificationTimestamp");
    if (stamped && !s_.since.empty()) add("$filter", "ModificationTimestamp gt " + s_.since);
    if (stamped) add("$orderby", "ModificationTimestamp asc");
    if (meta_.media == MediaAccess::kNavigation) add("$expand", meta_.media_path);
    Status st = page_through(meta_.property_set, query, [&](json& page) { return process_page(page); });
    if (!st) return st;
    if (s_.interrupted || o_.dry_run) return {};
    // Past records whose photos all landed: a failed photo is tried again next run.
    std::string mark;
    for (const auto& [stamp, failed] : stamps_) {
      if (failed) break;
      mark = stamp;
    }
    if (!mark.empty() && mark > s_.since) {
      if (auto w = eng_.store().set_meta(key, mark); !w) return w;
      s_.high_water = mark;
    }
    return {};
  }

  Status fetch_separate_media(FeedRecord& rec) {
    std::string filter = "ResourceRecordKey eq '";
    for (char c : rec.key) filter += c == '\'' ? std::string("''") : std::string(1, c);
    filter += "'";
    json all = json::array();
    std::string query = "$filter=" + url_encode(filter);
    if (meta_.media_fields.count("Order")) query += "&$orderby=Order";
    Status st = page_through(meta_.media_set, query, [&](json& page) -> Status {
      for (json& m : page["value"]) all.push_back(std::move(m));
      return {};
    });
    if (!st) return st;
    rec.media = map_media(all, rec.media_problems);
    return {};
  }

  void problem(const std::string& key, const std::string& reason) {
    std::lock_guard lock(mu_);
    s_.problems.push_back({key, reason});
    log::warn("skipped " + key + ": " + reason);
  }

  Status process_page(json& page) {
    ++s_.pages;
    std::vector<PhotoTask> tasks;
    std::vector<std::pair<FeedRecord, std::size_t>> with_media;  // record, first task
    for (const json& raw : page["value"]) {
      ++s_.seen;
      auto rec = map_record(raw, meta_.key, inline_media_field());
      if (!rec) {
        ++s_.skipped;
        const std::string k = raw.is_object() && raw.contains(meta_.key) ? raw[meta_.key].dump() : "record";
        problem(rec.message().rfind("listing ", 0) == 0 ? rec.message().substr(8, rec.message().find(':') - 8) : k,
                rec.message());
        continue;
      }
      if (!rec->modified.empty()) stamps_.emplace(rec->modified, false);
      auto stored = eng_.store().get_listing(rec->key);
      if (!stored) return stored.error();
      if (rec->deleted || !status_is_active(rec->status, o_.active_statuses)) {
        if (stored->has_value()) {
          ++s_.removed;
          if (o_.dry_run) s_.changes.push_back({rec->key, "remove"});
          if (!o_.dry_run)
            if (auto st = eng_.remove_listing(rec->key); !st && st.code() != ErrorCode::kNotFound) return st;
        } else {
          ++s_.unchanged;
        }
        continue;
      }
      if (meta_.media == MediaAccess::kSeparateResource && !o_.base_url.empty())
        if (auto st = fetch_separate_media(*rec); !st) return st;
      for (const std::string& p : rec->media_problems) problem(rec->key, p);
      bool changed = !stored->has_value() || !same_attributes(**stored, rec->listing);
      if (changed && !o_.dry_run) {
        store::WriteBatch b;
        b.listings.push_back(rec->listing);
        if (auto st = eng_.store().write(b); !st) return st;
      }
      std::size_t first = tasks.size();
      ImportChange what{rec->key, stored->has_value() ? "change" : "add"};
      what.attributes = stored->has_value() && changed;
      if (rec->media) {
        auto images = eng_.store().listing_images(rec->key);
        if (!images) return images.error();
        std::map<std::string, const store::Image*> have;
        for (const store::Image& im : *images) have.emplace(im.source, &im);
        std::set<std::string> wanted;
        const bool hinted = std::any_of(rec->media->begin(), rec->media->end(),
                                        [](const FeedMedia& m) { return m.title_hint(); });
        store::WriteBatch moved;  // photos kept whose Order or title flag the feed changed
        for (const FeedMedia& m : *rec->media) {
          wanted.insert(m.source());
          if (auto it = have.find(m.source()); it != have.end()) {
            store::Image im = *it->second;
            const bool retitled = hinted && (im.is_title != m.title_hint() || !im.title_explicit);
            if (im.photo_order == m.order && !retitled) {
              ++s_.photos_unchanged;
              continue;
            }
            im.photo_order = m.order;
            if (hinted) {
              im.is_title = m.title_hint();
              im.title_explicit = true;
            }
            moved.images.push_back(std::move(im));
            ++s_.photos_reordered;
            changed = true;
            continue;
          }
          tasks.push_back({rec->key, m, rec->listing, rec->modified,
                           hinted ? std::optional<bool>(m.title_hint()) : std::nullopt});
          changed = true;
        }
        for (const store::Image& im : *images)
          if (im.source.rfind("reso:", 0) == 0 && !wanted.count(im.source)) {
            changed = true;
            ++what.photos_removed;
          }
        what.photos_new = tasks.size() - first;
        what.photos_reordered = moved.images.size();
        if (!moved.images.empty() && !o_.dry_run)
          if (auto st = eng_.store().write(moved); !st) return st;
      }
      if (!stored->has_value()) ++s_.added;
      else if (changed) ++s_.changed;
      else ++s_.unchanged;
      if (o_.dry_run && changed) s_.changes.push_back(std::move(what));
      if (rec->media) with_media.emplace_back(std::move(*rec), first);
      progress_->update(s_.seen);
    }
    if (o_.dry_run) {
      s_.photos_downloaded += tasks.size();
      for (auto& [rec, first] : with_media)
        if (auto st = count_stale(rec, tasks, first, false); !st) return st;
      return {};
    }
    if (auto st = fetch_photos(tasks); !st) return st;
    for (auto& [rec, first] : with_media) {
      if (auto st = count_stale(rec, tasks, first, true); !st) return st;
    }
    if (auto st = eng_.refresh(); !st) return st;
    return {};
  }

  // Removes the listing's imported images the feed no longer lists; an image whose
  // replacement failed to download stays until one lands.
  Status count_stale(const FeedRecord& rec, const std::vector<PhotoTask>& tasks, std::size_t first, bool apply) {
    auto images = eng_.store().listing_images(rec.key);
    if (!images) return images.error();
    std::set<std::string> wanted, failed_keys;
    for (const FeedMedia& m : *rec.media) wanted.insert(m.source());
    for (std::size_t i = first; i < tasks.size() && tasks[i].listing == rec.key; ++i)
      if (!tasks[i].ok) failed_keys.insert("reso:" + tasks[i].media.key + "@");
    for (const store::Image& im : *images) {
      if (im.source.rfind("reso:", 0) != 0 || wanted.count(im.source)) continue;
      const std::string prefix = im.source.substr(0, im.source.find('@') + 1);
      if (apply && failed_keys.count(prefix)) continue;
      ++s_.photos_removed;
      if (!apply) continue;
      if (auto st = eng_.remove_image(im.id); !st && st.code() != ErrorCode::kNotFound) return st;
    }
    return {};
  }

  Status fetch_photos(std::vector<PhotoTask>& tasks) {
    std::atomic<std::size_t> next{0};
    std::mutex err_mu;
    Status fatal;
    const std::string origin = split_url(o_.base_url).ok() ? split_url(o_.base_url)->first : "";
    auto worker = [&] {
      for (std::size_t i = next++; i < tasks.size(); i = next++) {
        PhotoTask& t = tasks[i];
        const std::string who = t.listing + "/" + t.media.key;
        // Only the feed's own host gets the token; media CDNs are public or signed.
        const bool auth = !origin.empty() && t.media.url.rfind(origin + "/", 0) == 0;
        auto r = client_.get(t.media.url, auth, "image/*");
        if (!r) {
          fail(t, who, "download failed: " + r.message());
          continue;
        }
        engine::AddImageRequest rq;
        rq.listing_id = t.listing;
        rq.bytes = std::move(r->body);
        rq.filename = t.media.url;
        rq.source = t.media.source();
        rq.photo_order = t.media.order;
        rq.is_title = t.title;
        rq.listing.price = t.attributes.price;
        rq.listing.beds = t.attributes.beds;
        rq.listing.baths = t.attributes.baths;
        rq.listing.area = t.attributes.area;
        rq.listing.zip = t.attributes.zip;
        auto added = eng_.add_image(rq);
        if (!added) {
          if (added.code() == ErrorCode::kIO || added.code() == ErrorCode::kUnavailable ||
              added.code() == ErrorCode::kInternal) {
            std::lock_guard lock(err_mu);
            if (fatal.ok()) fatal = added.error();
          }
          fail(t, who, added.message());
          continue;
        }
        t.ok = true;
        std::lock_guard lock(mu_);
        ++s_.photos_downloaded;
      }
    };
    std::vector<std::thread> pool;
    const int n = std::max(1, std::min<int>(o_.concurrency, static_cast<int>(tasks.size())));
    for (int i = 0; i < n && !tasks.empty(); ++i) pool.emplace_back(worker);
    for (auto& th : pool) th.join();
    return fatal;
  }

  void fail(const PhotoTask& t, const std::string& who, const std::string& reason) {
    problem(who, reason);
    std::lock_guard lock(mu_);
    ++s_.photos_failed;
    if (!t.modified.empty()) stamps_[t.modified] = true;
  }

  engine::Engine& eng_;
  const ImportOptions& o_;
  Client client_;
  FeedMetadata meta_;
  ImportSummary s_;
  Progress* progress_ = nullptr;
  std::mutex mu_;
  std::map<std::string, bool> stamps_;  // ModificationTimestamp seen -> a photo of it failed
};

}  // namespace

std::string high_water_key(const std::string& base_url) { return "reso.high_water " + base_url; }

Result<ImportSummary> run_import(engine::Engine& engine, const ImportOptions& options) {
  if (options.base_url.empty() && options.files.empty())
    return make_error("import", "give a feed URL or saved pages (--file)", ErrorCode::kInvalidArgument);
  Importer imp(engine, options);
  return imp.run();
}

}  // namespace homelens::feed

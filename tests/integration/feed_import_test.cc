// `homelens import reso` against a small feed server of our own on 127.0.0.1 (the cases a
// real OData server does not produce on demand): server-driven paging, an expired token
// then a refresh, a 429 with Retry-After, a 500 then success, a malformed record, a 404
// photo, a truncated photo and a server too slow to answer; then an incremental import
// applying a change set exactly. Also the saved RESO payloads, whose photo URLs point
// nowhere, import with their quirks.
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <condition_variable>
#include <chrono>
#include <ctime>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "homelens/store/store.h"
#include "support/pg_cluster.h"
#include "support/testing.h"

namespace homelens {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using testing::run_command;
using testing::shell_quote;
using testing::TempDir;

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

testing::CommandResult homelens(const std::string& args) {
  return run_command(shell_quote(testing::homelens_bin().string()) + " " + args);
}

// Listings 1..4 of the houses dataset with their four photos, plus records that go wrong.
class FeedServer {
 public:
  FeedServer() {
    port_ = srv_.bind_to_any_port("127.0.0.1");  // first: the records hold URLs with the port
    for (int house = 1; house <= 4; ++house) {
      json rec = {{"ListingKey", "H" + std::to_string(house)}, {"StandardStatus", "Active"},
                  {"ModificationTimestamp", "2026-06-01T10:00:0" + std::to_string(house) + "Z"}};
      json media = json::array();
      int order = 0;
      for (const char* room : {"frontal", "bedroom", "bathroom", "kitchen"}) {
        const std::string name = std::to_string(house) + "_" + std::string(room) + ".jpg";
        media.push_back({{"MediaKey", name}, {"MediaURL", base() + "/photos/" + name},
                         {"Order", std::to_string(order++)}, {"MediaCategory", "Photo"},
                         {"ImageOf", std::string(room) == "frontal" ? "FrontOfStructure" : "Bedroom"}});
      }
      rec["Media"] = media;
      records_.push_back(rec);
    }
    // Attributes with quirks: strings for numbers, 12.0 for integers.
    records_[0].update({{"ListPrice", "869500"}, {"BedroomsTotal", 4.0}, {"BathroomsTotalInteger", "4"},
                        {"LivingArea", 4053}, {"PostalCode", "85255"}});
    records_[1].update({{"ListPrice", 865200}, {"BedroomsTotal", 4}, {"PostalCode", 36372}});
    // House 3's photos fail: one is missing (404), one is cut short, one never answers in time.
    records_[2]["Media"][1]["MediaURL"] = base() + "/photos/missing.jpg";
    records_[2]["Media"][2]["MediaURL"] = base() + "/photos/truncated/3_bathroom.jpg";
    records_[2]["Media"][3]["MediaURL"] = base() + "/photos/slow/3_kitchen.jpg";
    records_.push_back({{"ListingKey", "BAD1"}, {"ListPrice", "call agent"},
                        {"ModificationTimestamp", "2026-06-01T10:00:05Z"}});

    srv_.Post("/token", [this](const httplib::Request&, httplib::Response& res) {
      std::lock_guard lock(mu_);
      token_ = "tok" + std::to_string(++tokens_issued_);
      res.set_content(json{{"access_token", token_}, {"token_type", "Bearer"}}.dump(), "application/json");
    });
    srv_.Get("/api/\\$metadata", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(read_file(testing::shared_dir() / "data/reso/metadata/dd-2.0-enum.xml"), "application/xml");
    });
    srv_.Get("/api/Property", [this](const httplib::Request& req, httplib::Response& res) { property(req, res); });
    srv_.Get("/photos/(.*)", [this](const httplib::Request& req, httplib::Response& res) { photo(req, res); });
    thread_ = std::thread([this] { srv_.listen_after_bind(); });
  }
  ~FeedServer() {
    {
      std::lock_guard lock(mu_);
      gate_.clear();
      gate_cv_.notify_all();
    }
    srv_.stop();
    thread_.join();
  }

  std::string base() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::string api() const { return base() + "/api"; }

  std::mutex mu_;
  std::vector<json> records_;
  std::string token_;
  int tokens_issued_ = 0;
  bool expire_next_ = true;        // the first token is refused once, as an expired one
  std::vector<std::string> filters_;  // the $filter of each first page
  std::map<std::string, int> photo_hits_;
  std::string gate_;  // a photo whose request waits until the gate is cleared
  std::condition_variable gate_cv_;
  std::map<std::string, std::vector<Clock::time_point>> page_hits_;

 private:
  bool authorized(const httplib::Request& req, httplib::Response& res) {
    std::lock_guard lock(mu_);
    const bool ok = !token_.empty() && req.get_header_value("Authorization") == "Bearer " + token_;
    if (!ok || expire_next_) {
      expire_next_ = false;
      res.status = 401;
      res.set_content(R"({"error":{"code":"401","message":"token expired"}})", "application/json");
      return false;
    }
    return true;
  }

  // Two records a page with @odata.nextLink; honours "ModificationTimestamp gt X".
  void property(const httplib::Request& req, httplib::Response& res) {
    if (!authorized(req, res)) return;
    const int page = req.has_param("page") ? std::stoi(req.get_param_value("page")) : 0;
    const std::string filter = req.get_param_value("$filter");
    std::lock_guard lock(mu_);
    auto& hits = page_hits_[std::to_string(page) + filter];
    hits.push_back(Clock::now());
    if (page == 0 && hits.size() == 1) filters_.push_back(filter);
    // The second page answers 429 (Retry-After: 1) once, the third a 500 once.
    if (page == 1 && hits.size() == 1) {
      res.status = 429;
      res.set_header("Retry-After", "1");
      return;
    }
    if (page == 2 && hits.size() == 1) {
      res.status = 500;
      return;
    }
    std::string since;
    if (auto gt = filter.find(" gt "); gt != std::string::npos) since = filter.substr(gt + 4);
    std::vector<json> selected;
    // Instants compare as text once both carry milliseconds ("...:03Z" -> "...:03.000Z").
    auto norm = [](std::string t) {
      if (t.size() == 20) t.insert(19, ".000");
      return t;
    };
    for (const json& r : records_)
      if (since.empty() || norm(r["ModificationTimestamp"].get<std::string>()) > norm(since)) selected.push_back(r);
    std::sort(selected.begin(), selected.end(), [](const json& a, const json& b) {
      return a["ModificationTimestamp"] < b["ModificationTimestamp"];
    });
    json out = {{"value", json::array()}};
    for (std::size_t i = page * 2; i < selected.size() && i < page * 2 + 2u; ++i) out["value"].push_back(selected[i]);
    if (selected.size() > page * 2 + 2u)
      out["@odata.nextLink"] = "/api/Property?page=" + std::to_string(page + 1) + "&$filter=" +
                               httplib::detail::encode_query_param(filter);
    res.set_content(out.dump(), "application/json");
  }

  void photo(const httplib::Request& req, httplib::Response& res) {
    std::string name = req.matches[1];
    {
      std::unique_lock lock(mu_);
      ++photo_hits_[name];
      gate_cv_.notify_all();
      gate_cv_.wait(lock, [&] { return gate_ != name; });
    }
    if (name.rfind("slow/", 0) == 0) {
      std::this_thread::sleep_for(std::chrono::seconds(3));  // past the client's 1 s timeout
      name = name.substr(5);
    }
    const bool truncated = name.rfind("truncated/", 0) == 0;
    if (truncated) name = name.substr(10);
    const fs::path file = testing::houses_dir() / "images" / name;
    if (!fs::exists(file)) {
      res.status = 404;
      return;
    }
    auto bytes = std::make_shared<std::string>(read_file(file));
    if (!truncated) {
      res.set_content(*bytes, "image/jpeg");
      return;
    }
    // Announces the whole length, sends half, then drops the connection.
    res.set_content_provider(bytes->size(), "image/jpeg",
                             [bytes](std::size_t offset, std::size_t, httplib::DataSink& sink) {
                               if (offset >= bytes->size() / 2) return false;
                               sink.write(bytes->data(), bytes->size() / 2);
                               return true;
                             });
  }

  httplib::Server srv_;
  int port_ = 0;
  std::thread thread_;
};

// db: a SQLite file or a postgresql:// URL.
std::string import_args(const FeedServer& s, const std::string& db) {
  return "import reso --json --db " + shell_quote(db) + " --url " + s.api() +
         " --client-id homelens --client-secret s3cret --token-url " + s.base() +
         "/token --timeout 1 --retries 2 --backoff 0.2 --concurrency 3";
}

std::set<std::string> problem_keys(const json& j) {
  std::set<std::string> out;
  for (const json& p : j["problems"]) out.insert(p["key"].get<std::string>());
  return out;
}

TEST(FeedImport, ImportsFromAFeedServerThroughItsFailuresThenSyncsAChangeSet) {
  FeedServer server;
  TempDir tmp;
  const fs::path db = tmp / "feed.db";
  auto r = homelens(import_args(server, db));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const json j = json::parse(r.out);
  EXPECT_EQ(j["media"], "navigation");
  EXPECT_EQ(j["pages"], 3);  // 5 records, 2 a page, by @odata.nextLink
  EXPECT_EQ(j["seen"], 5);
  EXPECT_EQ(j["added"], 4);
  EXPECT_EQ(j["skipped"], 1);
  EXPECT_EQ(j["photos_downloaded"], 13);
  EXPECT_EQ(j["photos_failed"], 3);
  const auto keys = problem_keys(j);
  EXPECT_TRUE(keys.count("BAD1")) << j["problems"].dump();
  EXPECT_TRUE(keys.count("H3/3_bedroom.jpg"));   // 404
  EXPECT_TRUE(keys.count("H3/3_bathroom.jpg"));  // truncated
  EXPECT_TRUE(keys.count("H3/3_kitchen.jpg"));   // too slow
  for (const json& p : j["problems"]) {
    const std::string k = p["key"], why = p["reason"];
    if (k == "BAD1") {
      EXPECT_NE(why.find("ListPrice"), std::string::npos) << why;
    }
    if (k == "H3/3_bedroom.jpg") {
      EXPECT_NE(why.find("HTTP 404"), std::string::npos) << why;
    }
    if (k == "H3/3_bathroom.jpg") {
      EXPECT_NE(why.find("cut short"), std::string::npos) << why;
    }
    if (k == "H3/3_kitchen.jpg") {
      EXPECT_NE(why.find("gave up after 3 tries"), std::string::npos) << why;
    }
  }
  {
    std::lock_guard lock(server.mu_);
    EXPECT_EQ(server.tokens_issued_, 2);  // the refused token was refreshed once
    const auto& limited = server.page_hits_["1"];
    ASSERT_EQ(limited.size(), 2u);        // the 429 was retried ...
    EXPECT_GE(limited[1] - limited[0], std::chrono::milliseconds(950));  // ... after its Retry-After
    EXPECT_EQ(server.page_hits_["2"].size(), 2u);  // the 500 was retried
    EXPECT_EQ(server.photo_hits_["missing.jpg"], 1);  // a 404 is not retried
  }

  auto store = store::open_store(db.string());
  ASSERT_TRUE(store.ok()) << store.message();
  auto h1 = (*store)->get_listing("H1");
  ASSERT_TRUE(h1.ok() && h1->has_value());
  EXPECT_EQ((*h1)->price, 869500);
  EXPECT_EQ((*h1)->beds, 4);
  EXPECT_EQ((*h1)->baths, 4);
  EXPECT_EQ((*h1)->area, 4053);
  EXPECT_EQ((*h1)->zip, "85255");
  EXPECT_EQ((*(*store)->get_listing("H2"))->zip, "36372");
  auto h1_images = (*store)->listing_images("H1");
  ASSERT_EQ(h1_images->size(), 4u);
  for (const auto& im : *h1_images)
    EXPECT_EQ(im.is_title, im.source.find("frontal") != std::string::npos) << im.source;  // ImageOf hint
  EXPECT_EQ((*store)->listing_images("H3")->size(), 1u);
  EXPECT_FALSE((*(*store)->get_listing("BAD1")).has_value());
  // House 3's failed photos hold the mark back so the next run tries them again.
  auto mark = (*store)->get_meta("reso.high_water " + server.api());
  ASSERT_TRUE(mark.ok() && mark->has_value());
  EXPECT_EQ(**mark, "2026-06-01T10:00:02.000Z");

  // The change set: a price, a photo removed, a listing withdrawn; house 3's photos now answer.
  {
    std::lock_guard lock(server.mu_);
    auto& recs = server.records_;
    recs[0]["ListPrice"] = 900000;
    recs[0]["ModificationTimestamp"] = "2026-06-02T09:00:00Z";
    recs[1]["Media"].erase(3);
    recs[1]["ModificationTimestamp"] = "2026-06-02T09:00:01Z";
    recs[3]["StandardStatus"] = "Withdrawn";
    recs[3]["ModificationTimestamp"] = "2026-06-02T09:00:02Z";
    for (int i = 1; i <= 3; ++i)
      recs[2]["Media"][i]["MediaURL"] = server.base() + "/photos/" + recs[2]["Media"][i]["MediaKey"].get<std::string>();
    recs[2]["ModificationTimestamp"] = "2026-06-02T09:00:03Z";
    server.expire_next_ = true;
  }
  r = homelens(import_args(server, db));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const json k = json::parse(r.out);
  EXPECT_EQ(k["since"], "2026-06-01T10:00:02.000Z");
  EXPECT_EQ(k["seen"], 5);  // H1, H2, H3, H4 changed; BAD1 is newer than the mark and still bad
  EXPECT_EQ(k["changed"], 3);
  EXPECT_EQ(k["removed"], 1);
  EXPECT_EQ(k["photos_downloaded"], 3);
  EXPECT_EQ(k["photos_removed"], 1);
  EXPECT_EQ(k["photos_failed"], 0);
  {
    std::lock_guard lock(server.mu_);
    ASSERT_EQ(server.filters_.size(), 2u);
    EXPECT_EQ(server.filters_[1], "ModificationTimestamp gt 2026-06-01T10:00:02.000Z");
  }
  EXPECT_EQ((*(*store)->get_listing("H1"))->price, 900000);
  EXPECT_EQ((*store)->listing_images("H2")->size(), 3u);
  EXPECT_EQ((*store)->listing_images("H3")->size(), 4u);
  EXPECT_FALSE((*(*store)->get_listing("H4")).has_value());
  EXPECT_EQ(**(*store)->get_meta("reso.high_water " + server.api()), "2026-06-02T09:00:03.000Z");

  // Nothing new: a third run fetches nothing and changes nothing.
  r = homelens(import_args(server, db));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const json l = json::parse(r.out);
  EXPECT_EQ(l["seen"], 0);
}

// What a table holds of the imported listings, independent of row ids.
std::string table_contents(const std::string& db) {
  auto store = store::open_store(db);
  if (!store.ok()) return store.message();
  std::ostringstream out;
  std::vector<store::Listing> listings;  // a scan callback must not call back into the store
  Status st = (*store)->scan_listings([&](const store::Listing& l) { listings.push_back(l); });
  for (const store::Listing& l : listings) {
    out << l.id << " " << l.price.value_or(-1) << " " << l.zip << "\n";
    auto images = (*store)->listing_images(l.id);
    if (!images.ok()) return images.message();
    for (const auto& im : *images)
      out << "  " << im.source.substr(0, im.source.find('@'))  // the URL names the server's port
          << " " << im.sha256 << " " << im.photo_order << " " << im.is_title << "\n";
  }
  return st.ok() ? out.str() : st.message();
}

TEST(FeedImport, KilledMidImportThenRunAgainGivesTheUninterruptedTable) {
  TempDir tmp;
  const fs::path whole = tmp / "whole.db", killed = tmp / "killed.db";
  {
    FeedServer server;
    auto r = homelens(import_args(server, whole));
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  }
  FeedServer server;
  {
    std::lock_guard lock(server.mu_);
    server.gate_ = "4_bathroom.jpg";  // page 2: houses 1 and 2 are committed by then
  }
  const fs::path pid_file = tmp / "pid";
  auto started = run_command("sh -c " + shell_quote(shell_quote(testing::homelens_bin().string()) + " " +
                                                    import_args(server, killed) + " >/dev/null 2>&1 & echo $! > " +
                                                    shell_quote(pid_file.string())));
  ASSERT_EQ(started.exit_code, 0);
  {
    std::unique_lock lock(server.mu_);
    ASSERT_TRUE(server.gate_cv_.wait_for(lock, std::chrono::minutes(2),
                                         [&] { return server.photo_hits_.count("4_bathroom.jpg") > 0; }));
  }
  std::string pid = read_file(pid_file);
  pid.erase(pid.find_last_not_of(" \n") + 1);
  ASSERT_EQ(run_command("kill -9 " + pid).exit_code, 0);
  // Reaped by init once the shell is gone; wait until it no longer exists.
  while (run_command("kill -0 " + pid + " 2>/dev/null").exit_code == 0)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  {
    std::lock_guard lock(server.mu_);
    server.gate_.clear();
    server.gate_cv_.notify_all();
  }
  const std::string partial = table_contents(killed);
  EXPECT_NE(partial, table_contents(whole));  // the kill left the import unfinished
  auto r = homelens(import_args(server, killed));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(table_contents(killed), table_contents(whole));
}

// A feed whose Media is its own resource (the MLS Grid metadata: PropertyResi, and Media joined by
// ResourceRecordKey), one page without nextLink. The first Media request answers 503 with a
// Retry-After given as an HTTP date. Every request's arrival is kept for the rate-limit check.
class MediaResourceServer {
 public:
  MediaResourceServer() {
    port_ = srv_.bind_to_any_port("127.0.0.1");
    for (int house : {5, 6}) {
      const std::string key = "H" + std::to_string(house);
      records_.push_back({{"ListingKey", key}, {"StandardStatus", "Active"}, {"ListPrice", 500000 + house},
                          {"ModificationTimestamp", "2026-07-01T08:00:0" + std::to_string(house) + "Z"}});
      int order = 0;
      for (const char* room : {"frontal", "bedroom", "bathroom", "kitchen"}) {
        const std::string name = std::to_string(house) + "_" + room + ".jpg";
        media_.push_back({{"MediaKey", "M" + name}, {"ResourceRecordKey", key}, {"ResourceName", "Property"},
                          {"MediaURL", base() + "/photos/" + name}, {"Order", order++},
                          {"MediaModificationTimestamp", "2026-07-01T07:00:00Z"}});
      }
    }
    srv_.set_logger([this](const httplib::Request& req, const httplib::Response&) {
      std::lock_guard lock(mu_);
      if (req.path.rfind("/api/", 0) == 0) api_hits_.push_back(arrivals_[&req]);
    });
    srv_.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response&) {
      std::lock_guard lock(mu_);
      arrivals_[&req] = Clock::now();
      return httplib::Server::HandlerResponse::Unhandled;
    });
    srv_.Get("/api/\\$metadata", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(read_file(testing::shared_dir() / "data/reso/metadata/REQ-WA103-END3_Metadata_MLSGrid_MLSGrid.xml"),
                      "application/xml");
    });
    srv_.Get("/api/PropertyResi", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mu_);
      const std::string filter = req.get_param_value("$filter");
      const auto gt = filter.find(" gt ");
      json out = {{"value", json::array()}};
      for (const json& r : records_)
        if (gt == std::string::npos || r["ModificationTimestamp"].get<std::string>().substr(0, 19) >
                                           filter.substr(gt + 4, 19))
          out["value"].push_back(r);
      res.set_content(out.dump(), "application/json");
    });
    srv_.Get("/api/Media", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mu_);
      media_times_.push_back(arrivals_[&req]);
      if (media_times_.size() == 1) {
        // An HTTP date 2 s ahead: at least 1 s away at one-second resolution.
        const std::time_t at = std::time(nullptr) + 2;
        char date[64];
        std::tm tm{};
        gmtime_r(&at, &tm);
        std::strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        res.status = 503;
        res.set_header("Retry-After", date);
        return;
      }
      const std::string filter = req.get_param_value("$filter");  // ResourceRecordKey eq 'H5'
      const auto q = filter.find('\'');
      const std::string key = q == std::string::npos ? "" : filter.substr(q + 1, filter.rfind('\'') - q - 1);
      std::vector<json> mine;
      for (const json& m : media_)
        if (m["ResourceRecordKey"] == key) mine.push_back(m);
      std::sort(mine.begin(), mine.end(), [](const json& a, const json& b) { return a["Order"] < b["Order"]; });
      res.set_content(json{{"value", mine}}.dump(), "application/json");
    });
    srv_.Get("/photos/(.*)", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mu_);
      ++photo_requests_;
      res.set_content(read_file(testing::houses_dir() / "images" / std::string(req.matches[1])), "image/jpeg");
    });
    thread_ = std::thread([this] { srv_.listen_after_bind(); });
  }
  ~MediaResourceServer() {
    srv_.stop();
    thread_.join();
  }
  std::string base() const { return "http://127.0.0.1:" + std::to_string(port_); }

  std::mutex mu_;
  std::vector<json> records_, media_;
  std::vector<Clock::time_point> api_hits_, media_times_;
  int photo_requests_ = 0;

 private:
  std::map<const httplib::Request*, Clock::time_point> arrivals_;
  httplib::Server srv_;
  int port_ = 0;
  std::thread thread_;
};

std::map<std::string, json> changes_by_key(const json& j) {
  std::map<std::string, json> out;
  for (const json& c : j["changes"]) out[c["key"].get<std::string>()] = c;
  return out;
}

TEST(FeedImport, ASeparateMediaResourceDryRunRateLimitAndReorderedPhotos) {
  MediaResourceServer server;
  TempDir tmp;
  const fs::path db = tmp / "media.db";
  const std::string args = "import reso --json --db " + shell_quote(db.string()) + " --url " + server.base() +
                           "/api --token t --timeout 5 --retries 2 --backoff 0.2";

  // A dry run lists what would change, downloads no photo and writes nothing, and keeps to the
  // rate limit over every request, its retry included.
  auto r = homelens(args + " --dry-run --rate-limit 4");
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  json j = json::parse(r.out);
  EXPECT_EQ(j["media"], "separate-resource");
  EXPECT_TRUE(j["dry_run"].get<bool>());
  EXPECT_EQ(j["added"], 2);
  EXPECT_EQ(j["photos_downloaded"], 8);  // would be downloaded
  auto changes = changes_by_key(j);
  ASSERT_EQ(changes.size(), 2u) << j.dump();
  EXPECT_EQ(changes["H5"]["action"], "add");
  EXPECT_EQ(changes["H5"]["photos_new"], 4);
  EXPECT_EQ(changes["H6"]["photos_new"], 4);
  {
    std::lock_guard lock(server.mu_);
    EXPECT_EQ(server.photo_requests_, 0);
    // $metadata, PropertyResi, Media (503), Media again, Media for H6.
    ASSERT_EQ(server.api_hits_.size(), 5u);
    std::sort(server.api_hits_.begin(), server.api_hits_.end());
    for (std::size_t i = 1; i < server.api_hits_.size(); ++i)
      EXPECT_GE(server.api_hits_[i] - server.api_hits_[i - 1], std::chrono::milliseconds(240)) << i;
    ASSERT_GE(server.media_times_.size(), 2u);
    // The Retry-After date (1-2 s ahead) won over the 0.2 s backoff.
    EXPECT_GE(server.media_times_[1] - server.media_times_[0], std::chrono::milliseconds(900));
  }
  {
    auto store = store::open_store(db.string());
    ASSERT_TRUE(store.ok()) << store.message();
    EXPECT_FALSE((*(*store)->get_listing("H5")).has_value());
    EXPECT_FALSE((*(*store)->get_meta("reso.high_water " + server.base() + "/api")).has_value());
  }

  // The import itself: the photos come from the Media resource, in their Order.
  r = homelens(args);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  j = json::parse(r.out);
  EXPECT_EQ(j["added"], 2);
  EXPECT_EQ(j["photos_downloaded"], 8);
  EXPECT_FALSE(j.contains("changes"));
  auto order_of = [&](const std::string& listing) {
    std::map<std::string, int> out;
    auto store = store::open_store(db.string());
    if (!store.ok()) return out;
    auto images = (*store)->listing_images(listing);
    if (!images.ok()) return out;
    for (const store::Image& im : *images) out[im.source.substr(0, im.source.find('@'))] = im.photo_order;
    return out;
  };
  const std::map<std::string, int> before = {{"reso:M5_frontal.jpg", 0}, {"reso:M5_bedroom.jpg", 1},
                                              {"reso:M5_bathroom.jpg", 2}, {"reso:M5_kitchen.jpg", 3}};
  EXPECT_EQ(order_of("H5"), before);
  EXPECT_EQ(order_of("H6").size(), 4u);

  // The MLS reorders H5's photos without changing them: the order follows, nothing is downloaded.
  {
    std::lock_guard lock(server.mu_);
    for (json& m : server.media_)
      if (m["ResourceRecordKey"] == "H5") m["Order"] = 3 - m["Order"].get<int>();
    server.records_[0]["ModificationTimestamp"] = "2026-07-02T08:00:00Z";
    server.photo_requests_ = 0;
  }
  r = homelens(args + " --dry-run");
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  changes = changes_by_key(json::parse(r.out));
  ASSERT_EQ(changes.size(), 1u) << r.out;
  EXPECT_EQ(changes["H5"]["action"], "change");
  EXPECT_EQ(changes["H5"]["photos_reordered"], 4);
  EXPECT_EQ(changes["H5"]["photos_new"], 0);
  EXPECT_EQ(order_of("H5"), before);  // the dry run changed nothing
  r = homelens(args);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  j = json::parse(r.out);
  EXPECT_EQ(j["changed"], 1);
  EXPECT_EQ(j["photos_reordered"], 4);
  EXPECT_EQ(j["photos_downloaded"], 0);
  const std::map<std::string, int> after = {{"reso:M5_frontal.jpg", 3}, {"reso:M5_bedroom.jpg", 2},
                                            {"reso:M5_bathroom.jpg", 1}, {"reso:M5_kitchen.jpg", 0}};
  EXPECT_EQ(order_of("H5"), after);
  std::lock_guard lock(server.mu_);
  EXPECT_EQ(server.photo_requests_, 0);
}

TEST(FeedImport, AnImportIntoPostgresGivesTheTableOfAnImportIntoSqlite) {
  FeedServer server;
  TempDir tmp;
  const fs::path lite = tmp / "lite.db";
  const std::string pg = testing::PgCluster::get().create_database();
  auto r = homelens(import_args(server, lite));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  r = homelens(import_args(server, pg));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const json j = json::parse(r.out);
  EXPECT_EQ(j["added"], 4);
  EXPECT_EQ(j["photos_downloaded"], 13);
  const std::string want = table_contents(lite);
  EXPECT_NE(want.find("H1 869500 85255"), std::string::npos) << want;
  EXPECT_EQ(table_contents(pg), want);
  auto store = store::open_store(pg);
  ASSERT_TRUE(store.ok()) << store.message();
  EXPECT_EQ(**(*store)->get_meta("reso.high_water " + server.api()), "2026-06-01T10:00:02.000Z");
}

TEST(FeedImport, ARefusedTokenThatCannotBeRefreshedIsAClearError) {
  FeedServer server;
  TempDir tmp;
  auto r = homelens("import reso --db " + shell_quote((tmp / "t.db").string()) + " --url " + server.api() +
                    " --token wrong");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("HTTP 401 Unauthorized"), std::string::npos) << r.err;
}

TEST(FeedImport, SavedPayloadsImportWithTheirQuirks) {
  TempDir tmp;
  const fs::path dir = testing::shared_dir() / "data/reso/payloads";
  std::string files;
  for (const char* f : {"property_page1.json", "property_page2.json", "property_quirks.json",
                        "property_deleted.json", "good-property-payload.json", "good-property-payload-null.json",
                        "good-property-payload-count.json", "reso-common-format_multi-valued-example.json"})
    files += " --file " + shell_quote((dir / f).string());
  auto r = homelens("import reso --json --timeout 2 --retries 0 --db " + shell_quote((tmp / "p.db").string()) + files);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const json j = json::parse(r.out);
  EXPECT_EQ(j["pages"], 8);
  // page1 2 + page2 1 + quirks 2 + deleted 2 + 3 single records + the common-format one.
  EXPECT_EQ(j["seen"], 11);
  EXPECT_EQ(j["photos_failed"], 2);  // media.example.test does not exist here
  EXPECT_EQ(j["photos_downloaded"], 0);
  const auto keys = problem_keys(j);
  EXPECT_TRUE(keys.count("TST0000000001/TSTMEDIA0001")) << j["problems"].dump();
  EXPECT_TRUE(keys.count("record"));  // the common-format record has no ListingKey
  auto store = store::open_store((tmp / "p.db").string());
  ASSERT_TRUE(store.ok());
  EXPECT_TRUE((*(*store)->get_listing("TSTQUIRK00001")).has_value());  // 12.0, no offset, "TBD" elsewhere
  EXPECT_TRUE((*(*store)->get_listing("TSTQUIRK00002")).has_value());
  EXPECT_TRUE((*(*store)->get_listing("abc123")).has_value());
  EXPECT_EQ((*(*store)->get_listing("TST0000000004"))->price, 510000);
  // Closed (page 1), then withdrawn by MlgCanView false: never kept.
  EXPECT_FALSE((*(*store)->get_listing("TST0000000002")).has_value());
  EXPECT_EQ((*(*store)->get_listing("TST0000000001"))->zip, "60000");
}

}  // namespace
}  // namespace homelens

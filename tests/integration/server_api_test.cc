// The HTTP API against a real server on 127.0.0.1: every route's success and
// error cases, the score breakdown, filters and candidates, uploads, writes that
// show at once, the API key, limits, metrics, the OpenAPI document and
// `homelens serve` itself.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <opencv2/imgcodecs.hpp>
#include <cstring>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "homelens/image/decode.h"
#include "homelens/model/model_spec.h"
#include "homelens/serve/server.h"
#include "homelens/store/store.h"
#include "support/bad_corpus.h"
#include "support/testing.h"

namespace homelens {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using testing::houses_dir;
using testing::run_command;
using testing::shell_quote;
using testing::TempDir;

constexpr const char* kKey = "test-key-123";

using testing::read_bytes;  // from support/bad_corpus.h

fs::path photo_path(int house, const std::string& room) {
  return houses_dir() / "images" / (std::to_string(house) + "_" + room + ".jpg");
}
std::string photo(int house, const std::string& room) {
  return read_bytes(photo_path(house, room));
}

// The index every server here starts from: the first 200 photos of the shared
// houses (listings 1..50) plus houses 59 and 72, whose front photos are
// byte-identical. ctest runs each test in its own process, so it is built once
// per homelens binary and kept next to the shared fixture; servers get copies.
const fs::path& pristine_db() {
  static const fs::path db = [] {
    const char* env = std::getenv("HOMELENS_HOUSES_DB");
    const fs::path dir = fs::path(env ? env : HOMELENS_TEST_HOUSES_DB).parent_path();
    const auto stamp = fs::last_write_time(testing::homelens_bin()).time_since_epoch().count();
    const fs::path cached = dir / ("server_api-" + std::to_string(stamp) + ".db");
    if (fs::exists(cached)) return cached;
    TempDir tmp;
    std::ifstream in(houses_dir() / "manifest.csv");
    std::ofstream out(tmp / "manifest.csv");
    std::string line;
    std::getline(in, line);
    out << line << "\n";
    for (int row = 0; std::getline(in, line); ++row) {
      const auto a = line.find(',');
      const std::string house = line.substr(a + 1, line.find(',', a + 1) - a - 1);
      if (row < 200 || house == "59" || house == "72") out << line << "\n";
    }
    out.close();
    const fs::path built = tmp / "pristine.db";
    auto r = run_command(shell_quote(testing::homelens_bin().string()) + " index --quiet --db " +
                         shell_quote(built.string()) + " --manifest " +
                         shell_quote((tmp / "manifest.csv").string()) + " --base-dir " +
                         shell_quote(houses_dir().string()) +
                         " --col listing=house_id --col price=price_usd --col beds=bedrooms"
                         " --col baths=bathrooms --col area=area_sqft --col zip=zipcode"
                         " --col extra=room_type --col extra=is_front_exterior");
    if (r.exit_code != 0) throw std::runtime_error("indexing failed: " + r.err);
    if (fs::exists(built.string() + "-wal")) throw std::runtime_error("the index left a WAL");
    std::error_code ec;
    for (const auto& old : fs::directory_iterator(dir, ec))
      if (old.path().filename().string().rfind("server_api-", 0) == 0) fs::remove(old.path(), ec);
    fs::create_directories(dir);
    const fs::path part = cached.string() + ".part" + std::to_string(getpid());
    fs::copy_file(built, part, fs::copy_options::overwrite_existing);
    fs::rename(part, cached);  // atomic: a test in another process sees all of it or nothing
    return cached;
  }();
  return db;
}

fs::path copy_db(const fs::path& dest_dir) {
  const fs::path src = pristine_db();
  const fs::path dst = dest_dir / "homelens.db";
  fs::copy_file(src, dst, fs::copy_options::overwrite_existing);
  return dst;
}

model::ModelSpec default_spec() {
  auto spec =
      model::find_model_spec(model::kDefaultModelId, (testing::shared_dir() / "models").string());
  if (!spec) throw std::runtime_error(spec.message());
  return *spec;
}

struct Reply {
  int status = -1;  // -1: no answer (transport error)
  std::string body;
  std::string content_type;
  json j;  // the body parsed, or discarded when it is not JSON
};

Reply reply_of(const httplib::Result& r) {
  Reply out;
  if (!r) {
    out.body = "transport error: " + httplib::to_string(r.error());
    return out;
  }
  out.status = r->status;
  out.body = r->body;
  out.content_type = r->get_header_value("Content-Type");
  out.j = json::parse(r->body, nullptr, false);
  return out;
}

std::ostream& operator<<(std::ostream& os, const Reply& r) {
  return os << "HTTP " << r.status << ": " << r.body.substr(0, 400);
}

// One client per test; 127.0.0.1 only.
class Api {
 public:
  explicit Api(int port) : cli_("127.0.0.1", port) {
    cli_.set_read_timeout(120, 0);
    cli_.set_write_timeout(120, 0);
    cli_.set_connection_timeout(10, 0);
  }
  httplib::Headers headers;  // sent with every request

  Reply get(const std::string& path) { return reply_of(cli_.Get(path, headers)); }
  Reply del(const std::string& path) { return reply_of(cli_.Delete(path, headers)); }
  Reply post(const std::string& path, const std::string& body, const std::string& type) {
    return reply_of(cli_.Post(path, headers, body, type));
  }
  Reply post_json(const std::string& path, const json& body) {
    return post(path, body.dump(), "application/json");
  }
  Reply post_multipart(const std::string& path, const httplib::MultipartFormDataItems& items) {
    return reply_of(cli_.Post(path, headers, items));
  }
  Reply recommend(const json& body) { return post_json("/v1/recommend", body); }
  httplib::Client& raw() { return cli_; }

 private:
  httplib::Client cli_;
};

// Every error is a JSON body {"error": {"code", "message"}}.
void expect_error(const Reply& r, std::set<int> statuses, const std::string& what) {
  EXPECT_TRUE(statuses.count(r.status)) << what << ": " << r;
  EXPECT_EQ(r.content_type.rfind("application/json", 0), 0u) << what << ": " << r.content_type;
  ASSERT_TRUE(r.j.is_object()) << what << ": the error body is not JSON: " << r;
  ASSERT_TRUE(r.j.contains("error") && r.j["error"].is_object()) << what << ": " << r;
  EXPECT_TRUE(r.j["error"].contains("code") && r.j["error"]["code"].is_string() &&
              !r.j["error"]["code"].get<std::string>().empty())
      << what << ": " << r;
  EXPECT_TRUE(r.j["error"].contains("message") && r.j["error"]["message"].is_string() &&
              !r.j["error"]["message"].get<std::string>().empty())
      << what << ": " << r;
}

struct W {
  double cls = 1.0, tag = 0.3, visual = 1.0;
};

// Checks what every recommend answer promises and returns the listing ids in rank order:
// one result per listing, best first, score = w.class*class + w.tag*tag + w.visual*visual.
std::vector<std::string> check_results(const Reply& r, W w = {}) {
  std::vector<std::string> listings;
  EXPECT_EQ(r.status, 200) << r;
  if (r.status != 200 || !r.j.is_object() || !r.j["results"].is_array()) {
    ADD_FAILURE() << "no results array: " << r;
    return listings;
  }
  std::set<std::string> seen;
  double prev = INFINITY;
  for (const json& res : r.j["results"]) {
    const std::string lid = res.at("listing_id").get<std::string>();
    EXPECT_TRUE(res.at("image_id").is_number_integer()) << res;
    EXPECT_TRUE(seen.insert(lid).second) << "listing " << lid << " comes back twice";
    const json& b = res.at("breakdown");
    const double cls = b.at("class"), tag = b.at("tag"), visual = b.at("visual");
    const double score = res.at("score");
    EXPECT_NEAR(score, w.cls * cls + w.tag * tag + w.visual * visual, 1e-4) << res;
    EXPECT_GE(visual, 0.0) << res;
    EXPECT_LE(visual, 1.0) << res;
    EXPECT_LE(score, prev + 1e-6) << "results are not best first at " << res;
    prev = score;
    listings.push_back(lid);
  }
  return listings;
}

std::set<std::string> as_set(const std::vector<std::string>& v) { return {v.begin(), v.end()}; }

std::unique_ptr<serve::Server> start_server(const fs::path& db, const std::string& api_key,
                                            int* port, std::string* error) {
  serve::ServerConfig cfg;
  cfg.engine.db = db.string();
  cfg.engine.spec = default_spec();
  cfg.host = "127.0.0.1";
  cfg.port = 0;
  cfg.api_key = api_key;
  cfg.web_dir = (testing::source_dir() / "web").string();
  cfg.quiet = true;
  auto server = serve::Server::create(cfg);
  if (!server) {
    *error = server.message();
    return nullptr;
  }
  auto p = (*server)->start();
  if (!p) {
    *error = p.message();
    return nullptr;
  }
  *port = *p;
  return std::move(*server);
}

// A server on a private copy of the index; ids of the indexed photos by (house, room).
class ServerFixture : public ::testing::Test {
 protected:
  static void start(const std::string& api_key) {
    dir_ = new TempDir;
    try {
      const fs::path db = copy_db(dir_->path());
      {
        auto s = store::open_store(db.string());
        if (!s) throw std::runtime_error(s.message());
        ids_ = new std::map<std::pair<int, std::string>, std::int64_t>;
        for (int house = 1; house <= 72; ++house) {
          auto images = (*s)->listing_images(std::to_string(house));
          if (!images) throw std::runtime_error(images.message());
          for (const auto& im : *images) (*ids_)[{house, im.extra.at("room_type")}] = im.id;
        }
      }
      server_ = start_server(db, api_key, &port_, &error_).release();
    } catch (const std::exception& e) {
      error_ = e.what();
    }
  }
  static void stop() {
    delete server_;
    server_ = nullptr;
    delete ids_;
    ids_ = nullptr;
    delete dir_;
    dir_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(server_, nullptr) << "the server did not start: " << error_; }

  static std::int64_t id(int house, const std::string& room) {
    auto it = ids_->find({house, room});
    if (it == ids_->end()) throw std::runtime_error("no photo " + std::to_string(house) + room);
    return it->second;
  }
  static int images_now(Api& api) {
    Reply h = api.get("/healthz");
    return h.status == 200 ? h.j.value("images", -1) : -1;
  }

  static TempDir* dir_;
  static serve::Server* server_;
  static int port_;
  static std::string error_;
  static std::map<std::pair<int, std::string>, std::int64_t>* ids_;
};
TempDir* ServerFixture::dir_ = nullptr;
serve::Server* ServerFixture::server_ = nullptr;
int ServerFixture::port_ = 0;
std::string ServerFixture::error_;
std::map<std::pair<int, std::string>, std::int64_t>* ServerFixture::ids_ = nullptr;

class ServerApi : public ServerFixture {
 protected:
  static void SetUpTestSuite() { start(""); }
  static void TearDownTestSuite() { stop(); }
};

constexpr int kIndexedImages = 208;   // 200 + 4 + 4
constexpr int kIndexedListings = 52;  // 1..50, 59, 72

// Listings with a photo now (tests that write add some): what a query over the whole index ranks.
std::size_t listings_now(Api& api) {
  Reply r = api.get("/v1/listings?limit=1");
  return r.status == 200 ? r.j["total"].get<std::size_t>() : 0;
}

// ---------------------------------------------------------------- recommend

TEST_F(ServerApi, RecommendByImageIdGivesOtherListingsOncePerListingBestFirstWithBreakdowns) {
  Api api(port_);
  Reply r = api.recommend({{"query", {{"image_id", id(1, "frontal")}}}, {"k", 20}});
  auto listings = check_results(r);
  EXPECT_EQ(listings.size(), 20u);
  EXPECT_FALSE(as_set(listings).count("1")) << "the query's own listing came back";
  EXPECT_EQ(r.j["query"]["image_id"], id(1, "frontal"));
  EXPECT_EQ(r.j["query"]["listing_id"], "1");
  EXPECT_EQ(r.j["weights"], json({{"class", 1.0}, {"tag", 0.3}, {"visual", 1.0}}));
  const json& first = r.j["results"][0];
  for (const char* key : {"listing_id", "image_id", "score", "breakdown", "image_url", "listing"})
    EXPECT_TRUE(first.contains(key)) << key << " missing in " << first;
}

TEST_F(ServerApi, RecommendByListingIdQueriesItsTitlePhotoAndLeavesThatListingOut) {
  Api api(port_);
  Reply listing = api.get("/v1/listings/2");
  ASSERT_EQ(listing.status, 200) << listing;
  const std::int64_t title = listing.j["title_image_id"];
  Reply by_listing = api.recommend({{"query", {{"listing_id", "2"}}}, {"k", 1000}});
  Reply by_image = api.recommend({{"query", {{"image_id", title}}}, {"k", 1000}});
  auto a = check_results(by_listing);
  auto b = check_results(by_image);
  EXPECT_EQ(by_listing.j["query"]["image_id"], title);
  EXPECT_EQ(a, b);
  EXPECT_EQ(a.size(), listings_now(api) - 1);
  EXPECT_FALSE(as_set(a).count("2"));
  // A numeric listing id means the same listing.
  EXPECT_EQ(check_results(api.recommend({{"query", {{"listing_id", 2}}}, {"k", 1000}})), a);
}

TEST_F(ServerApi, CustomWeightsAreUsedAndTheBreakdownStillAddsUp) {
  Api api(port_);
  const W w{0.5, 2.0, 3.0};
  Reply r = api.recommend({{"query", {{"image_id", id(3, "kitchen")}}},
                           {"k", 30},
                           {"weights", {{"class", w.cls}, {"tag", w.tag}, {"visual", w.visual}}}});
  EXPECT_EQ(check_results(r, w).size(), 30u);
  EXPECT_EQ(r.j["weights"], json({{"class", 0.5}, {"tag", 2.0}, {"visual", 3.0}}));
  // Only the visual part: the score is the visual similarity itself.
  Reply v = api.recommend({{"query", {{"image_id", id(3, "kitchen")}}},
                           {"weights", {{"class", 0}, {"tag", 0}, {"visual", 1}}}});
  check_results(v, {0, 0, 1});
}

TEST_F(ServerApi, KIsHonouredUpTo1000AndRefusedBeyond) {
  Api api(port_);
  const json q = {{"image_id", id(4, "frontal")}};
  EXPECT_EQ(check_results(api.recommend({{"query", q}})).size(), 10u) << "default k";
  EXPECT_EQ(check_results(api.recommend({{"query", q}, {"k", 1}})).size(), 1u);
  EXPECT_EQ(check_results(api.recommend({{"query", q}, {"k", 7}})).size(), 7u);
  EXPECT_EQ(check_results(api.recommend({{"query", q}, {"k", 1000}})).size(),
            listings_now(api) - 1);
  for (const json& k : {json(1001), json(0), json(-3), json(2.5), json(1e9)})
    expect_error(api.recommend({{"query", q}, {"k", k}}), {400}, "k=" + k.dump());
}

TEST_F(ServerApi, ExplicitCandidateListingIdsAreTheOnlyOnesRankedAndUnknownIdsAreIgnored) {
  Api api(port_);
  Reply r = api.recommend({{"query", {{"image_id", id(1, "frontal")}}},
                           {"k", 100},
                           {"candidates", {{"listing_ids", {"3", "4", 5, "no-such", "1", "3"}}}}});
  EXPECT_EQ(as_set(check_results(r)), (std::set<std::string>{"3", "4", "5"}));
}

TEST_F(ServerApi, ExplicitCandidateImageIdsAreTheOnlyPhotosRanked) {
  Api api(port_);
  const std::set<std::int64_t> wanted = {id(6, "kitchen"), id(7, "frontal"), id(8, "bathroom")};
  json ids = json::array({99999999});
  for (auto i : wanted) ids.push_back(i);
  Reply r = api.recommend(
      {{"query", {{"image_id", id(1, "frontal")}}}, {"candidates", {{"image_ids", ids}}}});
  check_results(r);
  std::set<std::int64_t> got;
  for (const json& res : r.j["results"]) got.insert(res["image_id"].get<std::int64_t>());
  EXPECT_EQ(got, wanted);
}

TEST_F(ServerApi, CandidatePhotosOfOneListingStillGiveThatListingOnce) {
  Api api(port_);
  json ids = json::array();
  for (const char* room : {"frontal", "bedroom", "bathroom", "kitchen"}) ids.push_back(id(9, room));
  ids.push_back(id(10, "kitchen"));
  Reply r = api.recommend(
      {{"query", {{"image_id", id(1, "kitchen")}}}, {"candidates", {{"image_ids", ids}}}});
  auto listings = check_results(r);
  EXPECT_EQ(as_set(listings), (std::set<std::string>{"9", "10"}));
  EXPECT_EQ(listings.size(), 2u) << r;
}

TEST_F(ServerApi, ThousandsOfCandidateIdsAsAnMlsFrontEndSendsAreAccepted) {
  Api api(port_);
  json ids = json::array();
  for (int i = 0; i < 5000; ++i) ids.push_back("mls-" + std::to_string(i));
  for (int house = 11; house <= 20; ++house) ids.push_back(std::to_string(house));
  Reply r = api.recommend(
      {{"query", {{"listing_id", "1"}}}, {"k", 1000}, {"candidates", {{"listing_ids", ids}}}});
  std::set<std::string> expected;
  for (int house = 11; house <= 20; ++house) expected.insert(std::to_string(house));
  EXPECT_EQ(as_set(check_results(r)), expected);
}

// Every listing's attributes as the API reports them.
std::map<std::string, json> all_listings(Api& api) {
  std::map<std::string, json> out;
  Reply r = api.get("/v1/listings?limit=200");
  EXPECT_EQ(r.status, 200) << r;
  if (r.status == 200)
    for (const json& l : r.j["listings"]) out[l["id"]] = l;
  return out;
}

TEST_F(ServerApi, FiltersHoldForEveryResultAndKeepEveryListingThatPasses) {
  Api api(port_);
  const auto listings = all_listings(api);
  ASSERT_GE(listings.size(), static_cast<std::size_t>(kIndexedListings));
  const double pmin = 500000, pmax = 1300000, beds = 4, baths = 3;
  const std::string zip = "852";
  std::set<std::string> expected;
  for (const auto& [lid, l] : listings) {
    if (lid == "1" || l["price"].is_null() || l["beds"].is_null() || l["baths"].is_null()) continue;
    const double price = l["price"];
    if (price >= pmin && price <= pmax && l["beds"].get<double>() >= beds &&
        l["baths"].get<double>() >= baths && l["zip"].get<std::string>().rfind(zip, 0) == 0)
      expected.insert(lid);
  }
  ASSERT_GE(expected.size(), 3u);
  ASSERT_LT(expected.size(), listings.size() / 2);
  Reply r = api.recommend({{"query", {{"image_id", id(1, "frontal")}}},
                           {"k", 1000},
                           {"filters",
                            {{"price_min", pmin},
                             {"price_max", pmax},
                             {"beds_min", beds},
                             {"baths_min", baths},
                             {"zip_prefix", zip}}}});
  EXPECT_EQ(as_set(check_results(r)), expected);
  for (const json& res : r.j["results"]) {
    const json& l = res["listing"];
    EXPECT_GE(l["price"].get<double>(), pmin) << res;
    EXPECT_LE(l["price"].get<double>(), pmax) << res;
    EXPECT_GE(l["beds"].get<double>(), beds) << res;
    EXPECT_GE(l["baths"].get<double>(), baths) << res;
    EXPECT_EQ(l["zip"].get<std::string>().rfind(zip, 0), 0u) << res;
  }
  // Filters narrow explicit candidates too.
  Reply c = api.recommend({{"query", {{"image_id", id(1, "frontal")}}},
                           {"candidates", {{"listing_ids", {"43", "44", "2", "3"}}}},
                           {"filters", {{"zip_prefix", "98"}}}});
  EXPECT_EQ(as_set(check_results(c)), (std::set<std::string>{"43", "44"}));
}

TEST_F(ServerApi, RawImageBodyWithQueryParametersIsARecommendRequest) {
  Api api(port_);
  const W w{0.5, 0.0, 2.0};
  Reply r = api.post(
      "/v1/recommend?k=3&w_class=0.5&w_tag=0&w_visual=2&price_min=400000&beds_min=4"
      "&listing_ids=2,3,4,5,6,7,8,11,45,49",
      photo(1, "frontal"), "image/jpeg");
  auto listings = check_results(r, w);
  EXPECT_EQ(listings.size(), 3u);
  EXPECT_EQ(r.j["weights"], json({{"class", 0.5}, {"tag", 0.0}, {"visual", 2.0}}));
  // 3, 5 and 7 have 3 beds; 45 is under the price.
  const std::set<std::string> allowed = {"2", "4", "6", "8", "11", "49"};
  for (const auto& l : listings) EXPECT_TRUE(allowed.count(l)) << l;
  // Candidate image ids and zip prefix in the query string.
  Reply i = api.post("/v1/recommend?image_ids=" + std::to_string(id(12, "frontal")) + "," +
                         std::to_string(id(43, "frontal")) + "&zip_prefix=98",
                     photo(1, "frontal"), "image/jpeg");
  EXPECT_EQ(check_results(i), (std::vector<std::string>{"43"}));
}

TEST_F(ServerApi, UploadedCopyOfAnIndexedFrontPhotoRanksTheListingItCameFromFirst) {
  Api api(port_);
  const std::string bytes = photo(59, "frontal");
  ASSERT_EQ(bytes, photo(72, "frontal")) << "houses 59 and 72 share their front photo";
  Reply m =
      api.post_multipart("/v1/recommend", {{"image", bytes, "59_frontal.jpg", "image/jpeg"},
                                           {"request", R"({"k": 5})", "", "application/json"}});
  auto listings = check_results(m);
  ASSERT_GE(listings.size(), 2u);
  EXPECT_EQ(as_set({listings[0], listings[1]}), (std::set<std::string>{"59", "72"}));
  EXPECT_GT(m.j["results"][0]["breakdown"]["visual"].get<double>(), 0.999);
  EXPECT_EQ(m.j["query"].value("upload", ""), "59_frontal.jpg");
  // As a raw body the same.
  Reply raw = api.post("/v1/recommend?k=5", bytes, "image/jpeg");
  EXPECT_EQ(check_results(raw), listings);
  // With candidates that leave both out, something else ranks first.
  json others = json::array();
  for (int house = 1; house <= 50; ++house) others.push_back(std::to_string(house));
  Reply o = api.post_multipart(
      "/v1/recommend", {{"image", bytes, "59_frontal.jpg", "image/jpeg"},
                        {"request", json{{"candidates", {{"listing_ids", others}}}}.dump(), "",
                         "application/json"}});
  auto rest = check_results(o);
  ASSERT_FALSE(rest.empty());
  EXPECT_NE(rest[0], "59");
  EXPECT_NE(rest[0], "72");
  EXPECT_LT(o.j["results"][0]["breakdown"]["visual"].get<double>(), 0.999);
}

TEST_F(ServerApi, MultipartRequestFieldCarriesCandidatesFiltersAndWeights) {
  Api api(port_);
  json rq = {{"k", 10},
             {"candidates", {{"listing_ids", {"59", "3", "43"}}}},
             {"filters", {{"zip_prefix", "85"}}},
             {"weights", {{"class", 0}, {"tag", 0}, {"visual", 1}}}};
  Reply r = api.post_multipart("/v1/recommend",
                               {{"image", photo(59, "frontal"), "front.jpg", "image/jpeg"},
                                {"request", rq.dump(), "", "application/json"}});
  auto listings = check_results(r, {0, 0, 1});
  EXPECT_EQ(as_set(listings), (std::set<std::string>{"3"})) << "59 is in 77082, 43 in 98021";
}

// ---------------------------------------------------------------- reads

TEST_F(ServerApi, ListingShowsItsAttributesPhotosAndTags) {
  Api api(port_);
  Reply r = api.get("/v1/listings/1");
  ASSERT_EQ(r.status, 200) << r;
  EXPECT_EQ(r.j["id"], "1");
  EXPECT_EQ(r.j["price"], 869500);
  EXPECT_EQ(r.j["beds"], 4);
  EXPECT_EQ(r.j["baths"], 4);
  EXPECT_EQ(r.j["area"], 4053);
  EXPECT_EQ(r.j["zip"], "85255");
  ASSERT_EQ(r.j["images"].size(), 4u);
  std::set<std::int64_t> ids;
  for (const json& im : r.j["images"]) {
    ids.insert(im["image_id"].get<std::int64_t>());
    EXPECT_TRUE(im["tags"].is_object()) << im;
    EXPECT_EQ(im["image_url"],
              "/v1/images/" + std::to_string(im["image_id"].get<int>()) + "/content");
    EXPECT_EQ(im["listing_id"], "1");
  }
  EXPECT_EQ(ids, (std::set<std::int64_t>{id(1, "frontal"), id(1, "bedroom"), id(1, "bathroom"),
                                         id(1, "kitchen")}));
  EXPECT_EQ(r.j["title_image_id"], id(1, "frontal"));
}

TEST_F(ServerApi, ImageShowsItsListingAndTags) {
  Api api(port_);
  Reply r = api.get("/v1/images/" + std::to_string(id(5, "kitchen")));
  ASSERT_EQ(r.status, 200) << r;
  EXPECT_EQ(r.j["image_id"], id(5, "kitchen"));
  EXPECT_EQ(r.j["listing_id"], "5");
  EXPECT_TRUE(r.j["tags"].is_object());
  EXPECT_EQ(r.j["sha256"].get<std::string>().size(), 64u);
}

TEST_F(ServerApi, ImageContentIsTheExactPhotoBytesAsJpeg) {
  Api api(port_);
  Reply r = api.get("/v1/images/" + std::to_string(id(2, "bedroom")) + "/content");
  ASSERT_EQ(r.status, 200) << r.status;
  EXPECT_EQ(r.content_type, "image/jpeg");
  EXPECT_TRUE(r.body == photo(2, "bedroom")) << "content differs from 2_bedroom.jpg";
}

// Re-indexing a source can change an image's bytes, so caching is tied to their hash.
TEST_F(ServerApi, ImageContentCarriesItsHashAsETagAndAMatchingIfNoneMatchIs304) {
  Api api(port_);
  const std::string path = "/v1/images/" + std::to_string(id(2, "bedroom")) + "/content";
  auto first = api.raw().Get(path);
  ASSERT_TRUE(first);
  ASSERT_EQ(first->status, 200);
  const std::string etag = first->get_header_value("ETag");
  EXPECT_EQ(etag, "\"" + image::sha256_hex(photo(2, "bedroom")) + "\"");
  EXPECT_EQ(first->get_header_value("Cache-Control").find("immutable"), std::string::npos);
  auto again = api.raw().Get(path, {{"If-None-Match", etag}});
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 304);
  EXPECT_TRUE(again->body.empty());
  auto other = api.raw().Get(path, {{"If-None-Match", "\"not-the-hash\""}});
  ASSERT_TRUE(other);
  EXPECT_EQ(other->status, 200);
  EXPECT_TRUE(other->body == photo(2, "bedroom"));
}

// Converting a double outside an integer's range is undefined behaviour: such
// numbers are refused before any conversion.
TEST_F(ServerApi, NumbersOutsideTheirRangeAre400) {
  Api api(port_);
  for (const char* q : {"offset=1e300", "offset=-1", "offset=2.5", "limit=1e300&offset=1e19"})
    expect_error(api.get(std::string("/v1/listings?") + q), {400}, q);
  EXPECT_EQ(api.get("/v1/listings?limit=1e300").status, 200) << "limit is clamped into 1..200";
  for (const json& body : {json{{"query", {{"image_id", 1e300}}}}, json{{"query", {{"image_id", -1e300}}}},
                           json{{"query", {{"listing_id", "1"}}}, {"k", 1e300}},
                           json{{"query", {{"listing_id", "1"}}}, {"candidates", {{"image_ids", {1e300}}}}}})
    expect_error(api.recommend(body), {400}, body.dump());
  for (const char* order : {"1e300", "-1e300", "nan", "3.5"})
    expect_error(api.post(std::string("/v1/images?listing_id=range-test&photo_order=") + order,
                          photo(3, "frontal"), "image/jpeg"),
                 {400}, std::string("photo_order=") + order);
  EXPECT_EQ(api.get("/v1/listings/range-test").status, 404) << "nothing was stored";
}

TEST_F(ServerApi, ListingsPageFiltersAndPages) {
  Api api(port_);
  Reply all = api.get("/v1/listings?limit=200");
  ASSERT_EQ(all.status, 200) << all;
  EXPECT_GE(all.j["total"].get<int>(), kIndexedListings);
  EXPECT_EQ(all.j["listings"].size(), all.j["total"].get<std::size_t>());
  Reply page = api.get("/v1/listings?limit=5&offset=5&zip_prefix=85");
  ASSERT_EQ(page.status, 200) << page;
  EXPECT_EQ(page.j["listings"].size(), 5u);
  for (const json& l : page.j["listings"])
    EXPECT_EQ(l["zip"].get<std::string>().rfind("85", 0), 0u);
  expect_error(api.get("/v1/listings?price_min=cheap"), {400}, "price_min=cheap");
}

// ---------------------------------------------------------------- writes

TEST_F(ServerApi, PostedPhotoIsCreatedOnceAndPostingTheSameBytesAgainReturnsTheSameImage) {
  Api api(port_);
  const int before = images_now(api);
  const std::string bytes = photo(300, "frontal");
  Reply first =
      api.post("/v1/images?listing_id=api-idem&price=450000&beds=3&zip=99001", bytes, "image/jpeg");
  ASSERT_EQ(first.status, 201) << first;
  EXPECT_EQ(first.j["created"], true);
  ASSERT_TRUE(first.j["image_id"].is_number_integer()) << first;
  const std::int64_t image_id = first.j["image_id"];
  EXPECT_EQ(first.j["listing_id"], "api-idem");
  EXPECT_TRUE(first.j.contains("tags")) << first;
  Reply again = api.post("/v1/images?listing_id=api-idem", bytes, "image/jpeg");
  EXPECT_EQ(again.status, 200) << again;
  EXPECT_EQ(again.j["created"], false);
  EXPECT_EQ(again.j["image_id"], image_id);
  Reply multipart = api.post_multipart(
      "/v1/images", {{"image", bytes, "300_frontal.jpg", "image/jpeg"},
                     {"request", R"({"listing_id": "api-idem"})", "", "application/json"}});
  EXPECT_EQ(multipart.status, 200) << multipart;
  EXPECT_EQ(multipart.j["image_id"], image_id);
  EXPECT_EQ(images_now(api), before + 1);
  Reply listing = api.get("/v1/listings/api-idem");
  ASSERT_EQ(listing.status, 200) << listing;
  EXPECT_EQ(listing.j["images"].size(), 1u);
  EXPECT_EQ(listing.j["price"], 450000);
  EXPECT_EQ(listing.j["beds"], 3);
  EXPECT_EQ(listing.j["zip"], "99001");
}

TEST_F(ServerApi, PostingAPhotoTheListingAlreadyHasFromTheCommandLineReturnsThatImage) {
  Api api(port_);
  const int before = images_now(api);
  Reply r = api.post("/v1/images?listing_id=1", photo(1, "kitchen"), "image/jpeg");
  ASSERT_EQ(r.status, 200) << r;
  EXPECT_EQ(r.j["created"], false);
  EXPECT_EQ(r.j["image_id"], id(1, "kitchen"));
  EXPECT_EQ(images_now(api), before);
  Reply listing = api.get("/v1/listings/1");
  ASSERT_EQ(listing.status, 200) << listing;
  EXPECT_EQ(listing.j["images"].size(), 4u);
}

TEST_F(ServerApi, PostedPhotoIsInTheNextRecommendationAtOnce) {
  Api api(port_);
  const std::string bytes = photo(301, "frontal");
  Reply posted = api.post_multipart(
      "/v1/images", {{"image", bytes, "301_frontal.jpg", "image/jpeg"},
                     {"request", R"({"listing_id": "api-new", "listing": {"price": 777000}})", "",
                      "application/json"}});
  ASSERT_EQ(posted.status, 201) << posted;
  const std::int64_t image_id = posted.j["image_id"];
  // Its own bytes find it first; it is a query itself; it is a candidate by id.
  auto up = check_results(api.post("/v1/recommend?k=3", bytes, "image/jpeg"));
  ASSERT_FALSE(up.empty());
  EXPECT_EQ(up[0], "api-new");
  auto by_id = check_results(api.recommend({{"query", {{"image_id", image_id}}}}));
  EXPECT_EQ(by_id.size(), 10u);
  EXPECT_FALSE(as_set(by_id).count("api-new"));
  auto cand =
      check_results(api.recommend({{"query", {{"listing_id", "1"}}},
                                   {"candidates", {{"listing_ids", json::array({"api-new"})}}}}));
  EXPECT_EQ(cand, (std::vector<std::string>{"api-new"}));
  auto filtered =
      check_results(api.recommend({{"query", {{"listing_id", "1"}}},
                                   {"filters", {{"price_min", 776000}, {"price_max", 778000}}}}));
  EXPECT_EQ(filtered, (std::vector<std::string>{"api-new"}));
  // The listing page shows it, and its bytes come back unchanged.
  Reply listing = api.get("/v1/listings/api-new");
  ASSERT_EQ(listing.status, 200) << listing;
  ASSERT_EQ(listing.j["images"].size(), 1u);
  EXPECT_EQ(listing.j["images"][0]["image_id"], image_id);
  EXPECT_TRUE(listing.j["images"][0]["tags"].is_object());
  EXPECT_EQ(listing.j["price"], 777000);
  Reply content = api.get("/v1/images/" + std::to_string(image_id) + "/content");
  ASSERT_EQ(content.status, 200);
  EXPECT_EQ(content.content_type, "image/jpeg");
  EXPECT_TRUE(content.body == bytes) << "uploaded bytes differ";
}

TEST_F(ServerApi, DeletedImageIsGoneFromReadsAndFromEveryRecommendation) {
  Api api(port_);
  const std::string bytes = photo(302, "frontal");
  Reply posted = api.post("/v1/images?listing_id=api-del-image", bytes, "image/jpeg");
  ASSERT_EQ(posted.status, 201) << posted;
  Reply second =
      api.post("/v1/images?listing_id=api-del-image", photo(302, "kitchen"), "image/jpeg");
  ASSERT_EQ(second.status, 201) << second;
  const int before = images_now(api);
  const std::string id_s = std::to_string(posted.j["image_id"].get<std::int64_t>());
  Reply d = api.del("/v1/images/" + id_s);
  EXPECT_EQ(d.status, 204) << d;
  EXPECT_EQ(images_now(api), before - 1);
  expect_error(api.get("/v1/images/" + id_s), {404}, "GET deleted image");
  expect_error(api.get("/v1/images/" + id_s + "/content"), {404}, "content of deleted image");
  expect_error(api.recommend({{"query", {{"image_id", posted.j["image_id"]}}}}), {404},
               "recommend by deleted image");
  expect_error(api.del("/v1/images/" + id_s), {404}, "deleting twice");
  Reply r = api.post("/v1/recommend?k=1000", bytes, "image/jpeg");
  check_results(r);
  for (const json& res : r.j["results"]) EXPECT_NE(res["image_id"], posted.j["image_id"]);
  Reply c = api.recommend({{"query", {{"listing_id", "1"}}},
                           {"candidates", {{"image_ids", json::array({posted.j["image_id"]})}}}});
  EXPECT_TRUE(check_results(c).empty());
  // The listing keeps its other photo, which is now its title.
  Reply listing = api.get("/v1/listings/api-del-image");
  ASSERT_EQ(listing.status, 200) << listing;
  ASSERT_EQ(listing.j["images"].size(), 1u);
  EXPECT_EQ(listing.j["title_image_id"], second.j["image_id"]);
}

TEST_F(ServerApi, DeletedListingTakesItsPhotosWithIt) {
  Api api(port_);
  const int before = images_now(api);
  std::vector<std::int64_t> ids;
  for (const char* room : {"frontal", "kitchen"}) {
    Reply p = api.post("/v1/images?listing_id=api-del-listing&price=123456", photo(303, room),
                       "image/jpeg");
    ASSERT_EQ(p.status, 201) << p;
    ids.push_back(p.j["image_id"]);
  }
  EXPECT_EQ(images_now(api), before + 2);
  Reply d = api.del("/v1/listings/api-del-listing");
  EXPECT_EQ(d.status, 204) << d;
  EXPECT_EQ(images_now(api), before);
  expect_error(api.get("/v1/listings/api-del-listing"), {404}, "GET deleted listing");
  for (auto i : ids) expect_error(api.get("/v1/images/" + std::to_string(i)), {404}, "its photo");
  expect_error(api.recommend({{"query", {{"listing_id", "api-del-listing"}}}}), {404},
               "recommend by deleted listing");
  auto all = check_results(api.post("/v1/recommend?k=1000", photo(303, "frontal"), "image/jpeg"));
  EXPECT_FALSE(as_set(all).count("api-del-listing"));
  auto cand = check_results(
      api.recommend({{"query", {{"listing_id", "1"}}},
                     {"candidates", {{"listing_ids", json::array({"api-del-listing"})}}}}));
  EXPECT_TRUE(cand.empty());
  expect_error(api.del("/v1/listings/api-del-listing"), {404}, "deleting twice");
}

TEST_F(ServerApi, PostImageWithoutListingIdOrPhotoIs400) {
  Api api(port_);
  const int before = images_now(api);
  expect_error(api.post("/v1/images", photo(304, "frontal"), "image/jpeg"), {400}, "no listing");
  expect_error(api.post("/v1/images?listing_id=", photo(304, "frontal"), "image/jpeg"), {400},
               "empty listing id");
  expect_error(api.post_json("/v1/images", {{"listing_id", "x"}}), {400}, "no photo");
  expect_error(api.post_multipart(
                   "/v1/images", {{"image", photo(304, "frontal"), "a.jpg", "image/jpeg"},
                                  {"request", R"({"listing_id": ["x"]})", "", "application/json"}}),
               {400}, "listing id of the wrong type");
  expect_error(api.post("/v1/images?listing_id=x&price=cheap", photo(304, "frontal"), "image/jpeg"),
               {400}, "price not a number");
  EXPECT_EQ(images_now(api), before);
}

// ---------------------------------------------------------------- errors

TEST_F(ServerApi, MalformedJsonIs400WithAJsonError) {
  Api api(port_);
  for (const char* body :
       {"{not json", "{\"query\": {\"image_id\": 1}", "[1, 2]", "\"text\"", "nul"})
    expect_error(api.post("/v1/recommend", body, "application/json"), {400}, body);
  expect_error(
      api.post_multipart("/v1/recommend", {{"image", photo(1, "frontal"), "a.jpg", "image/jpeg"},
                                           {"request", "{oops", "", "application/json"}}),
      {400}, "malformed multipart request field");
}

TEST_F(ServerApi, WrongTypesAre400WithAJsonError) {
  Api api(port_);
  const json q = {{"image_id", id(1, "frontal")}};
  const std::vector<json> bodies = {
      {{"query", q}, {"k", "5"}},
      {{"query", q}, {"filters", {{"price_min", "100000"}}}},
      {{"query", q}, {"filters", {{"zip_prefix", 852}}}},
      {{"query", q}, {"filters", 5}},
      {{"query", q}, {"candidates", {{"listing_ids", "3"}}}},
      {{"query", q}, {"candidates", {{"listing_ids", json::array({json{{"id", "3"}}})}}}},
      {{"query", q}, {"candidates", {{"image_ids", json::array({"12"})}}}},
      {{"query", q}, {"candidates", json::array()}},
      {{"query", q}, {"weights", {{"class", "high"}}}},
      {{"query", q}, {"weights", json::array({1, 2, 3})}},
      {{"query", q}, {"tags", "style"}},
      {{"query", q}, {"class_mode", "medium"}},
      {{"query", q}, {"tags_need_fronts", "yes"}},
      {{"query", q}, {"photos", 3}},
      {{"query", {{"image_id", "12"}}}},
      {{"query", {{"listing_id", json::array()}}}},
      {{"query", "listing 1"}},
      {{"k", 3}},
  };
  for (const json& b : bodies) expect_error(api.recommend(b), {400}, b.dump());
  const std::string img = "image_id=" + std::to_string(id(1, "frontal"));
  for (const char* qs : {"k=ten", "price_min=cheap", "w_class=", "image_ids=1,x", "k=5x", "tags_need_fronts=1"})
    expect_error(api.post("/v1/recommend?" + img + "&" + qs, "", "application/json"), {400}, qs);
  expect_error(api.get("/v1/images/abc"), {400}, "non-numeric image id");
}

TEST_F(ServerApi, NumbersTheScoreCannotCarryAre400NotBrokenJson) {
  Api api(port_);
  const std::string img = "image_id=" + std::to_string(id(1, "frontal"));
  for (const char* qs : {"w_class=nan", "w_visual=inf", "w_tag=-inf", "price_min=nan"}) {
    Reply r = api.post("/v1/recommend?" + img + "&" + qs, "", "application/json");
    expect_error(r, {400}, qs);
  }
  const json q = {{"image_id", id(1, "frontal")}};
  for (const json& w : {json{{"class", 1e308}, {"visual", 1e308}}, json{{"visual", -1e300}}}) {
    Reply r = api.recommend({{"query", q}, {"weights", w}});
    EXPECT_FALSE(r.j.is_discarded()) << "the answer is not JSON: " << r;
    if (r.status != 200) expect_error(r, {400}, w.dump());
  }
  for (const json& i : {json(1e300), json(-1e300), json(1.5)}) {
    Reply r = api.recommend({{"query", {{"image_id", i}}}});
    expect_error(r, {400, 404}, "image_id " + i.dump());
    Reply c = api.recommend({{"query", q}, {"candidates", {{"image_ids", json::array({i})}}}});
    EXPECT_FALSE(c.j.is_discarded()) << c;
    EXPECT_TRUE(c.status == 200 || c.status == 400) << c;
  }
}

TEST_F(ServerApi, TextThatIsNotUtf8NeverBreaksAnAnswer) {
  Api api(port_);
  expect_error(api.get("/v1/listings/%FF%FE"), {404}, "GET listing with a non-UTF-8 id");
  expect_error(api.del("/v1/listings/%FF%FE"), {404}, "DELETE listing with a non-UTF-8 id");
  expect_error(api.post("/v1/recommend?listing_id=%C3%28", "", "application/json"), {404},
               "recommend by a non-UTF-8 listing id");
  Reply up = api.post_multipart("/v1/recommend",
                                {{"image", photo(1, "frontal"), "caf\xE9.jpg", "image/jpeg"}});
  EXPECT_EQ(up.status, 200) << up;
  EXPECT_FALSE(up.j.is_discarded()) << "not JSON: " << up;
  // A listing id that is not UTF-8 is refused, or else stored and listed as valid JSON.
  Reply p = api.post("/v1/images?listing_id=bad%FF", photo(307, "frontal"), "image/jpeg");
  if (p.status != 201) expect_error(p, {400}, "POST image with a non-UTF-8 listing id");
  Reply all = api.get("/v1/listings?limit=200");
  EXPECT_EQ(all.status, 200) << all;
  EXPECT_FALSE(all.j.is_discarded()) << "the listings page is no longer JSON: " << all;
  Reply rec = api.post("/v1/recommend?k=1000", photo(307, "frontal"), "image/jpeg");
  EXPECT_EQ(rec.status, 200) << rec;
  EXPECT_FALSE(rec.j.is_discarded()) << "recommend is no longer JSON: " << rec;
}

TEST_F(ServerApi, UnknownIdsAre404WithAJsonError) {
  Api api(port_);
  expect_error(api.recommend({{"query", {{"image_id", 99999999}}}}), {404}, "recommend image id");
  expect_error(api.recommend({{"query", {{"listing_id", "no-such"}}}}), {404}, "recommend listing");
  expect_error(api.post("/v1/recommend?image_id=99999999", "", "application/json"), {404},
               "image id in the query string");
  expect_error(api.get("/v1/images/99999999"), {404}, "GET image");
  expect_error(api.get("/v1/images/99999999/content"), {404}, "GET content");
  expect_error(api.get("/v1/listings/no-such"), {404}, "GET listing");
  expect_error(api.del("/v1/images/99999999"), {404}, "DELETE image");
  expect_error(api.del("/v1/listings/no-such"), {404}, "DELETE listing");
}

TEST_F(ServerApi, RecommendWithoutAQueryIs400) {
  Api api(port_);
  expect_error(api.recommend(json::object()), {400}, "empty object");
  expect_error(api.post("/v1/recommend", "", "application/json"), {400}, "empty body");
  expect_error(api.post_multipart("/v1/recommend", {{"request", R"({"k": 3})", "", ""}}), {400},
               "multipart without a photo");
}

TEST_F(ServerApi, UnknownRouteOrMethodIs404WithAJsonError) {
  Api api(port_);
  expect_error(api.get("/v1/nothing-here"), {404}, "GET unknown");
  expect_error(api.post_json("/v1/nope", json::object()), {404}, "POST unknown");
  expect_error(api.get("/v1/recommend"), {404, 405}, "GET /v1/recommend");
  expect_error(reply_of(api.raw().Put("/v1/images/1", "{}", "application/json")), {404, 405},
               "PUT image");
}

TEST_F(ServerApi, A50MegabyteBodyIs413AndTheServerKeepsAnswering) {
  Api api(port_);
  const int before = images_now(api);
  const std::string big(50u << 20, 'x');
  expect_error(api.post("/v1/recommend", big, "application/json"), {413}, "50 MB JSON");
  expect_error(api.post("/v1/images?listing_id=huge", big, "image/jpeg"), {413}, "50 MB photo");
  expect_error(api.post_multipart("/v1/recommend", {{"image", big, "big.jpg", "image/jpeg"},
                                                    {"request", "{}", "", "application/json"}}),
               {413}, "50 MB multipart");
  // Without a Content-Length (chunked) the limit holds as well.
  std::size_t sent = 0;
  Reply chunked = reply_of(api.raw().Post(
      "/v1/images?listing_id=huge",
      [&](std::size_t, httplib::DataSink& sink) {
        if (sent >= big.size()) {
          sink.done();
          return true;
        }
        const std::size_t n = std::min<std::size_t>(1u << 20, big.size() - sent);
        sink.write(big.data() + sent, n);
        sent += n;
        return true;
      },
      "image/jpeg"));
  if (chunked.status != -1) expect_error(chunked, {413}, "50 MB chunked photo");
  Api fresh(port_);
  EXPECT_EQ(fresh.get("/healthz").status, 200);
  EXPECT_EQ(images_now(fresh), before);
  expect_error(fresh.get("/v1/listings/huge"), {404}, "nothing was stored");
  check_results(fresh.recommend({{"query", {{"image_id", id(1, "frontal")}}}}));
}

// The server runs in this process, so its peak memory is ours: a chunked body of
// 1 GB must be refused as it arrives, not held whole before the 413. (Reading up to
// the 20 MB limit costs well under 300 MB of peak even with ASan's quarantine.)
std::size_t peak_rss_mb() {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("VmHWM:", 0) == 0) return std::stoul(line.substr(6)) / 1024;
  return 0;
}

TEST_F(ServerApi, AHugeChunkedBodyIsRefusedWithoutBeingHeldInMemory) {
  Api api(port_);
  const std::string block(1u << 20, 'x');
  const std::size_t before = peak_rss_mb();
  std::size_t sent = 0;
  Reply r = reply_of(api.raw().Post(
      "/v1/recommend",
      [&](std::size_t, httplib::DataSink& sink) {
        if (sent >= 1024) {
          sink.done();
          return true;
        }
        sink.write(block.data(), block.size());
        ++sent;
        return true;
      },
      "image/jpeg"));
  if (r.status != -1) expect_error(r, {413}, "1 GB chunked photo");
  EXPECT_LT(peak_rss_mb(), before + 300) << "peak memory grew by far more than the 20 MB limit allows";
  Api fresh(port_);
  EXPECT_EQ(fresh.get("/healthz").status, 200);
}

TEST_F(ServerApi, NonImageUploadIs415Or422AndStoresNothing) {
  Api api(port_);
  const int before = images_now(api);
  const std::string text = "this is a text file, not a photo\n";
  const std::string jpeg = photo(305, "frontal");
  const std::string truncated = jpeg.substr(0, jpeg.size() / 3);
  for (const auto& [name, bytes] : {std::pair{"text", text}, std::pair{"truncated", truncated}}) {
    expect_error(api.post("/v1/images?listing_id=api-bad", bytes, "image/jpeg"), {415, 422},
                 std::string(name) + " posted as image/jpeg");
    expect_error(
        api.post_multipart("/v1/images", {{"image", bytes, "bad.jpg", "image/jpeg"},
                                          {"request", R"({"listing_id":"api-bad"})", "", ""}}),
        {415, 422}, std::string(name) + " posted as multipart");
    expect_error(api.post("/v1/recommend", bytes, "image/jpeg"), {415, 422},
                 std::string(name) + " as a recommend query");
  }
  EXPECT_EQ(images_now(api), before);
  expect_error(api.get("/v1/listings/api-bad"), {404}, "no listing was made");
}

TEST_F(ServerApi, GarbledRequestsNeverCrashTheServerOrGive5xx) {
  Api api(port_);
  const int before = images_now(api);
  const std::vector<std::string> seeds = {
      json{{"query", {{"image_id", id(1, "frontal")}}},
           {"k", 5},
           {"candidates",
            {{"listing_ids", {"2", "3"}}, {"image_ids", json::array({id(4, "frontal")})}}},
           {"filters", {{"price_min", 1}, {"zip_prefix", "8"}}},
           {"weights", {{"class", 1}, {"tag", 0.3}, {"visual", 1}}},
           {"tags", json::array({"style"})},
           {"class_mode", "soft"},
           {"photos", "all"}}
          .dump(),
      json{{"query", {{"listing_id", "7"}}}}.dump()};
  std::mt19937 rng(7);
  int answered = 0;
  for (int i = 0; i < 300; ++i) {
    std::string body = seeds[i % seeds.size()];
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits && !body.empty(); ++e) {
      const std::size_t at = rng() % body.size();
      switch (rng() % 3) {
        case 0:
          body[at] = static_cast<char>(rng() % 256);
          break;
        case 1:
          body.erase(at, 1 + rng() % 8);
          break;
        default:
          body.insert(at, 1, "{}[]\",:-0123456789e.ntf"[rng() % 23]);
      }
    }
    Reply r = api.post("/v1/recommend", body, "application/json");
    ASSERT_NE(r.status, -1) << "no answer to " << body << ": " << r.body;
    EXPECT_LT(r.status, 500) << body << " -> " << r;
    EXPECT_FALSE(r.j.is_discarded()) << "not JSON for " << body << ": " << r;
    if (r.status >= 400) expect_error(r, {400, 404}, body);
    ++answered;
  }
  EXPECT_EQ(answered, 300);
  EXPECT_EQ(images_now(api), before);
}

// ---------------------------------------------------------------- health, metrics, docs

TEST_F(ServerApi, HealthzReportsStatusModelAndIndexSize) {
  Api api(port_);
  Reply r = api.get("/healthz");
  ASSERT_EQ(r.status, 200) << r;
  EXPECT_EQ(r.j["status"], "ok");
  EXPECT_EQ(r.j["model"], model::kDefaultModelId);
  EXPECT_GE(r.j["images"].get<int>(), kIndexedImages);
  EXPECT_GE(r.j["listings"].get<int>(), kIndexedListings);
  // The count is the catalogue's: the listings' photos add up to it.
  Reply all = api.get("/v1/listings?limit=200");
  int photos = 0;
  for (const json& l : all.j["listings"]) photos += l["photo_count"].get<int>();
  EXPECT_EQ(photos, r.j["images"].get<int>());
}

TEST_F(ServerApi, MetricsArePrometheusTextWithCountsLatencyAndIndexSize) {
  Api api(port_);
  const Reply whole = api.recommend({{"query", {{"image_id", id(1, "frontal")}}}});
  check_results(whole);
  EXPECT_EQ(whole.j["approximate"], false) << "the houses are below the approximate index's threshold";
  expect_error(api.recommend({{"k", "x"}}), {400}, "a counted error");
  const int images = images_now(api);
  Reply r = api.get("/metrics");
  EXPECT_NE(r.body.find("\nhomelens_ann_recommends 0\n"), std::string::npos) << "no recommend went approximate";
  ASSERT_EQ(r.status, 200) << r;
  EXPECT_EQ(r.content_type.rfind("text/plain", 0), 0u) << r.content_type;
  EXPECT_NE(r.body.find("homelens_http_requests_total{route=\"/v1/recommend\""), std::string::npos);
  EXPECT_NE(r.body.find("homelens_http_request_duration_seconds_bucket{"), std::string::npos);
  EXPECT_NE(r.body.find("status=\"400\""), std::string::npos);
  EXPECT_EQ(r.body.find("status=\"-1\""), std::string::npos) << "a status httplib had not set yet";
  const std::regex sample(
      R"(^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="[^"]*",?)*\})? -?[0-9.eE+-]+$)");
  const std::regex meta(R"(^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]*( .*)?$)");
  std::istringstream lines(r.body);
  double index_images = -1, recommend_200 = 0;
  for (std::string line; std::getline(lines, line);) {
    if (line.empty()) continue;
    EXPECT_TRUE(std::regex_match(line, line[0] == '#' ? meta : sample)) << "bad line: " << line;
    if (line.rfind("homelens_index_images ", 0) == 0) index_images = std::stod(line.substr(22));
    if (line.rfind("homelens_http_requests_total{route=\"/v1/recommend\"", 0) == 0 &&
        line.find("status=\"200\"") != std::string::npos)
      recommend_200 += std::stod(line.substr(line.rfind(' ') + 1));
  }
  EXPECT_EQ(index_images, images);
  EXPECT_GE(recommend_200, 1);
}

// OpenAPI: responses documented for an operation (a code, a range such as 4XX, or default).
bool documents(const json& op, int status) {
  if (!op.contains("responses")) return false;
  const json& r = op["responses"];
  const std::string s = std::to_string(status);
  return r.contains(s) || r.contains(s.substr(0, 1) + "XX") || r.contains("default");
}

std::string normalize_path(const std::string& p) {
  return std::regex_replace(p, std::regex(R"(\{[^}]*\})"), "{}");
}

TEST_F(ServerApi, OpenApiDocumentListsExactlyTheRoutesTheServerAnswers) {
  if (!fs::exists(testing::source_dir() / "web" / "openapi.json"))
    GTEST_SKIP() << "web/openapi.json does not exist yet";
  Api api(port_);
  Reply r = api.get("/openapi.json");
  ASSERT_EQ(r.status, 200) << r;
  ASSERT_TRUE(r.j.is_object()) << "not JSON";
  ASSERT_TRUE(r.j["openapi"].is_string());
  EXPECT_EQ(r.j["openapi"].get<std::string>().rfind("3.", 0), 0u) << r.j["openapi"];
  ASSERT_TRUE(r.j["paths"].is_object());
  EXPECT_TRUE(r.j.contains("info"));

  // What the server answers (route pattern -> methods and the statuses they give).
  const std::map<std::string, std::map<std::string, std::vector<int>>> routes = {
      {"/v1/recommend", {{"post", {200, 400, 404, 413, 415, 422, 503}}}},
      {"/v1/images", {{"post", {200, 201, 400, 413, 415, 422, 503}}}},
      {"/v1/images/{}", {{"get", {200, 404}}, {"delete", {204, 404}}}},
      {"/v1/images/{}/content", {{"get", {200, 304, 404}}}},
      {"/v1/images/{}/duplicates", {{"get", {200, 400, 404}}}},
      {"/v1/listings", {{"get", {200, 400}}}},
      {"/v1/listings/{}", {{"get", {200, 404}}, {"delete", {204, 404}}}},
      {"/healthz", {{"get", {200}}}},
      {"/metrics", {{"get", {200}}}},
      {"/openapi.json", {{"get", {200}}}},
  };
  static const std::set<std::string> kMethods = {"get",    "post", "put",    "patch",
                                                 "delete", "head", "options"};
  std::map<std::string, std::pair<std::string, json>> doc;  // normalized -> (as written, item)
  for (const auto& [path, item] : r.j["paths"].items()) doc[normalize_path(path)] = {path, item};
  for (const auto& [route, methods] : routes) {
    ASSERT_TRUE(doc.count(route)) << route << " is not in the document's paths";
    const json& item = doc[route].second;
    for (const auto& [method, statuses] : methods) {
      ASSERT_TRUE(item.contains(method)) << method << " " << route << " is not documented";
      for (int s : statuses)
        EXPECT_TRUE(documents(item[method], s))
            << method << " " << route << " answers " << s << " but the document does not say so";
    }
    for (const auto& [key, op] : item.items()) {
      if (kMethods.count(key)) {
        EXPECT_TRUE(methods.count(key))
            << "the document has " << key << " " << route << " but the server has no such route";
      }
    }
  }
  const json& rec = doc["/v1/recommend"].second["post"];
  ASSERT_TRUE(rec.contains("requestBody")) << "recommend takes a body";
  const json& types = rec["requestBody"]["content"];
  EXPECT_TRUE(types.contains("application/json"));
  EXPECT_TRUE(types.contains("multipart/form-data"));
  bool image_type = false;
  for (const auto& [t, v] : types.items()) image_type |= t.rfind("image/", 0) == 0;
  EXPECT_TRUE(image_type) << "a raw image body is documented";

  // Every documented path answers its methods (with real ids), never "no route".
  const std::string bytes = photo(306, "frontal");
  Reply a = api.post("/v1/images?listing_id=openapi-a", bytes, "image/jpeg");
  Reply b = api.post("/v1/images?listing_id=openapi-b", bytes, "image/jpeg");
  ASSERT_EQ(a.status, 201) << a;
  ASSERT_EQ(b.status, 201) << b;
  for (const auto& [norm, entry] : doc) {
    const auto& [written, item] = entry;
    for (const auto& [method, op] : item.items()) {
      if (!kMethods.count(method)) continue;
      const bool images = written.rfind("/v1/images", 0) == 0;
      const std::string real =
          method == "delete" ? (images ? std::to_string(a.j["image_id"].get<int>()) : "openapi-b")
                             : (images ? std::to_string(id(1, "frontal")) : "1");
      const std::string path = std::regex_replace(written, std::regex(R"(\{[^}]*\})"), real);
      Reply got;
      if (method == "get")
        got = api.get(path);
      else if (method == "delete")
        got = api.del(path);
      else if (method == "post")
        got = api.post_json(path, {{"query", {{"listing_id", "1"}}}});
      else
        got = reply_of(api.raw().Put(path, "{}", "application/json"));
      EXPECT_NE(got.status, 404) << method << " " << path << ": " << got;
      EXPECT_NE(got.status, -1) << method << " " << path << ": " << got;
    }
  }
}

TEST_F(ServerApi, WebPageIsServedAtTheRoot) {
  if (!fs::exists(testing::source_dir() / "web" / "index.html"))
    GTEST_SKIP() << "web/index.html does not exist yet";
  Api api(port_);
  Reply r = api.get("/");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type.rfind("text/html", 0), 0u) << r.content_type;
}

// ---------------------------------------------------------------- the API key

class ServerApiKey : public ServerFixture {
 protected:
  static void SetUpTestSuite() { start(kKey); }
  static void TearDownTestSuite() { stop(); }
};

TEST_F(ServerApiKey, WriteRoutesWithoutTheRightKeyAre401AndChangeNothing) {
  Api api(port_);
  const int before = images_now(api);
  const std::string bytes = photo(310, "frontal");
  const std::string image = std::to_string(id(1, "kitchen"));
  for (const std::string& key : {std::string(), std::string("wrong-key")}) {
    api.headers.clear();
    if (!key.empty()) api.headers.emplace("X-API-Key", key);
    expect_error(api.post("/v1/images?listing_id=key-test", bytes, "image/jpeg"), {401},
                 "POST image, key '" + key + "'");
    expect_error(api.del("/v1/images/" + image), {401}, "DELETE image, key '" + key + "'");
    expect_error(api.del("/v1/listings/1"), {401}, "DELETE listing, key '" + key + "'");
  }
  api.headers = {{"Authorization", "Bearer wrong-key"}};
  expect_error(api.del("/v1/listings/1"), {401}, "wrong bearer token");
  api.headers.clear();
  EXPECT_EQ(images_now(api), before);
  EXPECT_EQ(api.get("/v1/listings/1").status, 200);
  EXPECT_EQ(api.get("/v1/images/" + image).status, 200);
  expect_error(api.get("/v1/listings/key-test"), {404}, "nothing was written");
}

TEST_F(ServerApiKey, WriteRoutesWithTheKeySucceed) {
  Api api(port_);
  api.headers = {{"X-API-Key", kKey}};
  Reply p = api.post("/v1/images?listing_id=key-ok", photo(311, "frontal"), "image/jpeg");
  ASSERT_EQ(p.status, 201) << p;
  Reply q = api.post("/v1/images?listing_id=key-ok", photo(311, "kitchen"), "image/jpeg");
  ASSERT_EQ(q.status, 201) << q;
  EXPECT_EQ(api.del("/v1/images/" + std::to_string(p.j["image_id"].get<int>())).status, 204);
  api.headers = {{"Authorization", std::string("Bearer ") + kKey}};
  EXPECT_EQ(api.del("/v1/listings/key-ok").status, 204);
  EXPECT_EQ(api.get("/v1/listings/key-ok").status, 404);
}

TEST_F(ServerApiKey, ReadRoutesNeedNoKey) {
  Api api(port_);
  check_results(api.recommend({{"query", {{"image_id", id(1, "frontal")}}}}));
  check_results(api.post("/v1/recommend?k=2", photo(1, "frontal"), "image/jpeg"));
  EXPECT_EQ(api.get("/v1/listings/3").status, 200);
  EXPECT_EQ(api.get("/v1/listings").status, 200);
  EXPECT_EQ(api.get("/v1/images/" + std::to_string(id(3, "frontal"))).status, 200);
  EXPECT_EQ(api.get("/v1/images/" + std::to_string(id(3, "frontal")) + "/content").status, 200);
  EXPECT_EQ(api.get("/healthz").status, 200);
  EXPECT_EQ(api.get("/metrics").status, 200);
}

// ---------------------------------------------------------------- homelens serve

// Waits for a child to exit; kills it after timeout. Returns the wait status or -1.
int wait_for(pid_t pid, std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    if (waitpid(pid, &status, WNOHANG) == pid) return status;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
  return -1;
}

// `homelens serve ARGS` as a child process; the port it printed.
struct ServeProcess {
  pid_t pid = -1;
  int port = -1;
  std::string first_line;
};

ServeProcess spawn_serve(const std::vector<std::string>& extra_args, const std::string& err_path) {
  std::vector<std::string> args = {testing::homelens_bin().string(), "serve", "--port", "0"};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  ServeProcess p;
  int out[2];
  if (pipe(out) != 0) return p;
  p.pid = fork();
  if (p.pid == 0) {
    dup2(out[1], 1);
    close(out[0]);
    close(out[1]);
    const int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (err >= 0) dup2(err, 2);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(out[1]);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd pf{out[0], POLLIN, 0};
    if (poll(&pf, 1, 200) <= 0) continue;
    char c;
    if (read(out[0], &c, 1) != 1 || c == '\n') break;
    p.first_line += c;
  }
  close(out[0]);
  std::smatch m;
  if (std::regex_search(p.first_line, m, std::regex(R"(on http://127\.0\.0\.1:(\d+)/)")))
    p.port = std::stoi(m[1].str());
  return p;
}

TEST(ServeCommand, ServesOnThePortItPrintsAndExitsCleanlyOnSigterm) {
  TempDir dir;
  const fs::path db = copy_db(dir.path());
  const std::string err_path = (dir / "stderr").string();
  ServeProcess p = spawn_serve({"--db", db.string()}, err_path);
  const pid_t pid = p.pid;
  std::smatch m;
  const bool matched = std::regex_search(
      p.first_line, m, std::regex(R"(^HomeLens serving (.+) on http://127\.0\.0\.1:(\d+)/)"));
  if (!matched) {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    FAIL() << "first line: \"" << p.first_line << "\"; stderr: " << read_bytes(err_path);
  }
  EXPECT_EQ(m[1].str(), db.string());
  const int port = std::stoi(m[2].str());
  EXPECT_GT(port, 0);
  {
    Api api(port);
    Reply h = api.get("/healthz");
    EXPECT_EQ(h.status, 200) << h;
    EXPECT_EQ(h.j["status"], "ok");
    EXPECT_EQ(h.j["images"], kIndexedImages);
    EXPECT_EQ(h.j["listings"], kIndexedListings);
  }
  ASSERT_EQ(kill(pid, SIGTERM), 0);
  const int status = wait_for(pid, std::chrono::seconds(30));
  ASSERT_NE(status, -1) << "did not exit within 30 s of SIGTERM";
  ASSERT_TRUE(WIFEXITED(status)) << "killed by signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 0) << read_bytes(err_path);
  Api after(port);
  EXPECT_EQ(after.get("/healthz").status, -1) << "still answering after exit";
}


TEST(ServerConfigCheck, ANonLoopbackAddressWithoutAnApiKeyIsRefusedUnlessAllowed) {
  TempDir dir;
  serve::ServerConfig cfg;
  cfg.engine.db = copy_db(dir.path()).string();
  cfg.engine.spec = default_spec();
  cfg.host = "0.0.0.0";
  auto refused = serve::Server::create(cfg);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.message().find("API key"), std::string::npos) << refused.message();
  EXPECT_NE(refused.message().find("0.0.0.0"), std::string::npos) << refused.message();
  cfg.api_key = "k";
  EXPECT_TRUE(serve::Server::create(cfg)) << "with a key it may serve any address";
  cfg.api_key.clear();
  cfg.allow_open_writes = true;
  EXPECT_TRUE(serve::Server::create(cfg)) << "--allow-open-writes says so explicitly";
  cfg.allow_open_writes = false;
  cfg.host = "127.0.0.2";
  EXPECT_TRUE(serve::Server::create(cfg)) << "all of 127/8 is loopback";
}

TEST(ServeCommand, FlagsGivenOnTheCommandLineWinOverTheConfigFile) {
  TempDir dir;
  const fs::path db = copy_db(dir.path());
  const fs::path config = dir / "homelens.json";
  std::ofstream(config) << R"({"api_key": "from-config", "max_k": 5})";
  const std::string err = (dir / "stderr").string();
  ServeProcess p = spawn_serve({"--db", db.string(), "--config", config.string(), "--api-key", "from-flag"}, err);
  ASSERT_GT(p.port, 0) << "first line: " << p.first_line << "; stderr: " << read_bytes(err);
  {
    Api api(p.port);
    api.headers = {{"X-API-Key", "from-config"}};
    expect_error(api.del("/v1/images/99999999"), {401}, "the config file's key");
    api.headers = {{"X-API-Key", "from-flag"}};
    expect_error(api.del("/v1/images/99999999"), {404}, "the flag's key gets past auth");
    // What no flag overrides still comes from the file.
    expect_error(api.recommend({{"query", {{"listing_id", "1"}}}, {"k", 6}}), {400}, "max_k from the file");
    EXPECT_EQ(api.recommend({{"query", {{"listing_id", "1"}}}, {"k", 5}}).status, 200);
  }
  kill(p.pid, SIGTERM);
  EXPECT_NE(wait_for(p.pid, std::chrono::seconds(30)), -1);
}


long proc_status_kb(const char* field) {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind(field, 0) == 0) return std::atol(line.c_str() + std::strlen(field));
  return -1;
}

// 32 uploads of a 50-megapixel PNG at once: decoding one holds hundreds of MB, so the
// server takes what fits its decode budget, answers the rest 503 at once, keeps its
// memory under the budget and goes on serving.
TEST(ServerDecodeBudget, ConcurrentHugeUploadsStayUnderTheBudgetAndTheExcessGet503) {
  TempDir dir;
  serve::ServerConfig cfg;
  cfg.engine.db = copy_db(dir.path()).string();
  cfg.engine.spec = default_spec();
  cfg.engine.decode_budget_bytes = 1ull << 30;
  cfg.port = 0;
  cfg.quiet = true;
  auto server = serve::Server::create(cfg);
  ASSERT_TRUE(server) << server.message();
  auto port = (*server)->start();
  ASSERT_TRUE(port) << port.message();
  // A smooth 8660 x 5774 picture: 50 megapixels in a PNG of a few hundred KB.
  cv::Mat big(5774, 8660, CV_8UC3);
  for (int y = 0; y < big.rows; ++y)
    big.row(y).setTo(cv::Scalar(y % 256, (y / 23) % 256, 128));
  std::vector<uchar> png;
  ASSERT_TRUE(cv::imencode(".png", big, png));
  big.release();
  const std::string body(png.begin(), png.end());
  { Api warm(*port); ASSERT_EQ(warm.get("/healthz").status, 200); }
  // Peak memory from here on: clear_refs "5" resets the process's high-water mark.
  const long rss_before = proc_status_kb("VmRSS:");
  std::ofstream("/proc/self/clear_refs") << "5";
  std::vector<int> statuses(32, -1);
  std::vector<std::thread> clients;
  for (int i = 0; i < 32; ++i)
    clients.emplace_back([&, i] {
      Api api(*port);
      statuses[i] = api.post("/v1/images?listing_id=huge-" + std::to_string(i), body, "image/png").status;
    });
  for (auto& c : clients) c.join();
  const long peak = proc_status_kb("VmHWM:");
  int stored = 0, refused = 0;
  for (int s : statuses) {
    if (s == 201) ++stored;
    else if (s == 503) ++refused;
    else ADD_FAILURE() << "status " << s;
  }
  EXPECT_GE(stored, 1);
  EXPECT_GE(refused, 1);
  const double grew_mb = (peak - rss_before) / 1024.0;
  std::cout << "32 concurrent 50 MP PNG uploads: " << stored << " stored, " << refused
            << " refused with 503; peak memory " << grew_mb << " MB over the "
            << rss_before / 1024 << " MB before (budget 1024 MB)\n";
  EXPECT_LT(grew_mb, 1024.0) << "peak memory went past the decode budget";
  Api api(*port);
  EXPECT_EQ(api.get("/healthz").status, 200) << "the server keeps answering";
  Reply r = api.get("/v1/listings/huge-0");
  EXPECT_TRUE(r.status == 200 || r.status == 404) << r;
}

// ---------------------------------------------------------------- near-duplicate photos

TEST_F(ServerApi, DuplicatesOfAnImageAreTheSamePictureInOtherListings) {
  // Houses 59 and 72 are the same listing entered twice: the front photos are identical.
  Api api(port_);
  Reply r = api.get("/v1/images/" + std::to_string(id(59, "frontal")) + "/duplicates");
  ASSERT_EQ(r.status, 200) << r;
  std::set<std::string> listings;
  for (const json& d : r.j["duplicates"]) listings.insert(d.at("listing_id").get<std::string>());
  EXPECT_EQ(listings, std::set<std::string>{"72"}) << r;
  Reply none = api.get("/v1/images/" + std::to_string(id(1, "frontal")) + "/duplicates");
  ASSERT_EQ(none.status, 200) << none;
  EXPECT_TRUE(none.j["duplicates"].empty()) << none;
  EXPECT_EQ(api.get("/v1/images/" + std::to_string(id(59, "frontal")) + "/duplicates?threshold=x").status, 400);
  EXPECT_EQ(api.get("/v1/images/99999999/duplicates").status, 404);
}

}  // namespace
}  // namespace homelens

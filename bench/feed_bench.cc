// Import throughput: `homelens import reso` from a feed server on 127.0.0.1 (Property pages
// with inline Media by @odata.nextLink, photos over HTTP) next to `homelens index` over the
// same photos from disk, in the same run. Prints listings/s and photos/s for both.
#include <httplib.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <thread>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>


namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

json run_json(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return json();
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  if (pclose(p) != 0) std::cerr << "failed: " << cmd << "\n";
  return json::parse(out, nullptr, false);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"homelens import reso throughput from a local feed server, next to homelens index"};
  std::string bin, shared, work = "/tmp";
  std::size_t page_size = 100;
  app.add_option("--homelens", bin, "The homelens binary")->required();
  app.add_option("--shared", shared, "The shared data folder")->required();
  app.add_option("--work", work, "Folder for the two tables")->capture_default_str();
  app.add_option("--page-size", page_size, "Listings a page")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  const fs::path houses = fs::path(shared) / "data/houses_dataset";
  const fs::path manifest = houses / "manifest.csv";
  std::ifstream in(manifest);
  std::string header_line;
  std::getline(in, header_line);
  // The manifest's columns have no quoting, so a split on commas reads it.
  std::vector<std::string> header;
  {
    std::stringstream hs(header_line);
    for (std::string c; std::getline(hs, c, ',');) header.push_back(c);
  }
  auto col = [&](const std::string& name) {
    return static_cast<std::size_t>(std::find(header.begin(), header.end(), name) - header.begin());
  };
  std::vector<json> records;
  std::map<std::string, std::size_t> where;
  std::size_t photos = 0;
  httplib::Server srv;
  const int port = srv.bind_to_any_port("127.0.0.1");
  const std::string base = "http://127.0.0.1:" + std::to_string(port);
  for (std::string line; std::getline(in, line);) {
    std::vector<std::string> f;
    std::stringstream ls(line);
    for (std::string c; std::getline(ls, c, ',');) f.push_back(c);
    const std::string id = f[col("house_id")];
    if (!where.count(id)) {
      where[id] = records.size();
      records.push_back({{"ListingKey", id}, {"ListPrice", f[col("price_usd")]}, {"BedroomsTotal", f[col("bedrooms")]},
                         {"LivingArea", f[col("area_sqft")]}, {"PostalCode", f[col("zipcode")]},
                         {"StandardStatus", "Active"}, {"Media", json::array()}});
    }
    json& media = records[where[id]]["Media"];
    media.push_back({{"MediaKey", f[col("path")]}, {"MediaURL", base + "/" + f[col("path")]},
                     {"Order", media.size()}, {"MediaCategory", "Photo"}});
    ++photos;
  }
  const std::string edmx = slurp(fs::path(shared) / "data/reso/metadata/actris_ref_metadata.xml");
  srv.Get("/api/\\$metadata", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content(edmx, "application/xml");
  });
  srv.Get("/api/Property", [&](const httplib::Request& req, httplib::Response& res) {
    const std::size_t from = req.has_param("from") ? std::stoul(req.get_param_value("from")) : 0;
    json out = {{"value", json::array()}};
    for (std::size_t i = from; i < records.size() && i < from + page_size; ++i) out["value"].push_back(records[i]);
    if (from + page_size < records.size())
      out["@odata.nextLink"] = base + "/api/Property?from=" + std::to_string(from + page_size);
    res.set_content(out.dump(), "application/json");
  });
  srv.Get("/images/(.*)", [&](const httplib::Request& req, httplib::Response& res) {
    res.set_content(slurp(houses / "images" / req.matches[1].str()), "image/jpeg");
  });
  std::thread th([&] { srv.listen_after_bind(); });

  const fs::path idx_db = fs::path(work) / "feed_bench_index.db", imp_db = fs::path(work) / "feed_bench_import.db";
  for (const auto& p : {idx_db, imp_db})
    for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(p.string() + suffix);
  const json idx = run_json(bin + " index --quiet --json --no-heads --db " + idx_db.string() + " --manifest " +
                            manifest.string() + " --col listing=house_id");
  const json imp = run_json(bin + " import reso --quiet --json --db " + imp_db.string() + " --url " + base + "/api");
  srv.stop();
  th.join();
  if (idx.is_discarded() || imp.is_discarded()) return 1;
  const double idx_s = idx["seconds"], imp_s = imp["seconds"];
  const std::size_t imp_photos = imp["photos_downloaded"], imp_listings = imp["seen"];
  const std::size_t idx_photos = static_cast<std::size_t>(idx["indexed"]) + static_cast<std::size_t>(idx["reused"]);
  std::printf("feed: %zu listings, %zu photos (metadata: Bridge's actris, Media inline; %zu listings a page)\n",
              records.size(), photos, page_size);
  std::printf("homelens import reso (HTTP 127.0.0.1): %zu listings, %zu photos in %.1f s = %.1f listings/s, %.1f photos/s\n",
              imp_listings, imp_photos, imp_s, imp_listings / imp_s, imp_photos / imp_s);
  std::printf("homelens index (files on disk):        %zu listings, %zu photos in %.1f s = %.1f listings/s, %.1f photos/s\n",
              records.size(), idx_photos, idx_s, records.size() / idx_s, idx_photos / idx_s);
  return 0;
}

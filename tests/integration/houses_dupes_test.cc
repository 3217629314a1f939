// `homelens dupes` on the index of the shared house photos finds the photos the dataset's README
// lists as identical across houses, at the default threshold, and besides them only the pairs
// that are the same picture with different bytes (re-encoded or resized upstream).
#include <gtest/gtest.h>

#include <set>

#include <nlohmann/json.hpp>

#include "homelens/core/csv.h"
#include "support/testing.h"

namespace homelens {
namespace {

using testing::run_command;
using testing::shell_quote;

TEST(HousesDupes, FindsTheListedIdenticalPhotosAndOnlyOtherSamePicturePairs) {
  // Expected: every photo whose manifest row says its upstream bytes equal another house's photo
  // (houses 59 = 72, 199 = 214, fronts 292 = 293 and 331 = 351). Same-house label conflicts
  // (12 bathroom = bedroom ...) are one listing and so not cross-listing duplicates.
  auto m = read_csv((testing::houses_dir() / "manifest.csv").string());
  ASSERT_TRUE(m.ok()) << m.message();
  std::size_t path_col = 0, house_col = 0, same_col = 0;
  for (std::size_t i = 0; i < m->header.size(); ++i) {
    if (m->header[i] == "path") path_col = i;
    if (m->header[i] == "house_id") house_col = i;
    if (m->header[i] == "identical_original_bytes_as") same_col = i;
  }
  std::set<std::string> expected;  // sources ("images/59_frontal.jpg")
  for (const auto& row : m->rows) {
    const std::string& same = row.fields[same_col];
    if (!same.empty() && same.substr(0, same.find('_')) != row.fields[house_col])
      expected.insert(row.fields[path_col]);
  }
  ASSERT_TRUE(expected.count("images/59_frontal.jpg"));
  ASSERT_TRUE(expected.count("images/72_frontal.jpg"));
  ASSERT_EQ(expected.size(), 18u);
  // Not in the README (their upstream bytes differ) but the same picture: their pHashes are within
  // 2 of 64 bits (checked with `homelens eval triplets --method phash`), while the nearest
  // different pictures across listings are 31+ pHash bits apart.
  for (const char* p : {"9_bedroom", "21_bedroom", "9_bathroom", "21_bathroom", "10_kitchen",
                        "27_kitchen", "11_frontal", "30_frontal", "12_frontal", "32_frontal",
                        "259_bedroom", "296_bedroom", "259_bathroom", "296_bathroom", "271_frontal",
                        "305_frontal", "271_bedroom", "305_bedroom", "271_kitchen", "305_kitchen"}) {
    std::string src = "images/";
    src += p;
    src += ".jpg";
    expected.insert(src);
  }

  auto r = run_command(shell_quote(testing::homelens_bin().string()) + " dupes --json --db " +
                       shell_quote(testing::houses_db().string()));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  std::set<std::string> found;
  for (const auto& g : j["groups"]) {
    std::set<std::string> listings;
    for (const auto& mem : g["members"]) {
      const std::string src = mem["source"];
      found.insert(src.substr(src.find("images/")));
      listings.insert(mem["listing_id"].get<std::string>());
    }
    EXPECT_GE(listings.size(), 2u) << g.dump();
  }
  EXPECT_EQ(found, expected) << r.out;
  EXPECT_EQ(j["groups"].size(), 19u) << r.out;
}

}  // namespace
}  // namespace homelens

// Photo sources: the real houses manifest, hand-made broken manifests, column
// mappings, and folder scans.
#include "homelens/ingest/source.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "homelens/core/csv.h"
#include "support/testing.h"

namespace homelens::ingest {
namespace {

namespace fs = std::filesystem;
using homelens::testing::houses_dir;
using homelens::testing::TempDir;

void write_file(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream out(p, std::ios::binary);
  out << text;
}

ManifestColumns houses_columns() {
  ManifestColumns cols;
  Status st =
      apply_column_mapping({"listing=house_id", "price=price_usd", "beds=bedrooms",
                            "baths=bathrooms", "area=area_sqft", "zip=zipcode", "extra=room_type"},
                           cols);
  EXPECT_TRUE(st.ok()) << (st.ok() ? "" : st.message());
  return cols;
}

// True when `problems` has one whose `where` ends with "line N" and whose reason contains `what`.
bool has_problem(const std::vector<SourceProblem>& problems, std::size_t line,
                 const std::string& what) {
  const std::string suffix = " line " + std::to_string(line);
  for (const auto& p : problems)
    if (p.where.size() >= suffix.size() &&
        p.where.compare(p.where.size() - suffix.size(), suffix.size(), suffix) == 0 &&
        p.reason.find(what) != std::string::npos)
      return true;
  return false;
}

std::string describe(const std::vector<SourceProblem>& problems) {
  std::string s;
  for (const auto& p : problems) s += p.where + ": " + p.reason + "\n";
  return s;
}

class HousesManifestTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const std::string manifest = (houses_dir() / "manifest.csv").string();
    auto r = read_manifest(manifest, houses_columns());
    ASSERT_TRUE(r.ok()) << r.message();
    items_ = new SourceItems(std::move(r).value());
  }
  static void TearDownTestSuite() {
    delete items_;
    items_ = nullptr;
  }
  static SourceItems* items_;
};
SourceItems* HousesManifestTest::items_ = nullptr;

TEST_F(HousesManifestTest, Has2140PhotosOf535ListingsAndNoProblems) {
  ASSERT_NE(items_, nullptr);
  EXPECT_EQ(items_->items.size(), 2140u);
  EXPECT_TRUE(items_->problems.empty()) << describe(items_->problems);
  std::set<std::string> listings;
  for (const Item& it : items_->items) listings.insert(it.listing.id);
  EXPECT_EQ(listings.size(), 535u);
}

TEST_F(HousesManifestTest, House1HasItsPriceBedsBathsAreaAndZip) {
  ASSERT_NE(items_, nullptr);
  std::size_t n = 0;
  for (const Item& it : items_->items) {
    if (it.listing.id != "1") continue;
    ++n;
    EXPECT_EQ(it.listing.price, 869500.0);
    EXPECT_EQ(it.listing.beds, 4.0);
    EXPECT_EQ(it.listing.baths, 4.0);
    EXPECT_EQ(it.listing.area, 4053.0);
    EXPECT_EQ(it.listing.zip, "85255");
  }
  EXPECT_EQ(n, 4u);
  ASSERT_FALSE(items_->items.empty());
  const Item& first = items_->items.front();
  EXPECT_EQ(first.source, "images/1_frontal.jpg");
  EXPECT_EQ(first.extra.at("room_type"), "frontal");
  EXPECT_FALSE(first.is_title.has_value()) << "no title column was mapped";
}

TEST_F(HousesManifestTest, EveryPathExistsAndSourceIsTheManifestValueUnchanged) {
  ASSERT_NE(items_, nullptr);
  auto table = read_csv((houses_dir() / "manifest.csv").string());
  ASSERT_TRUE(table.ok()) << table.message();
  const auto& header = table->header;
  const auto ipath = std::find(header.begin(), header.end(), "path") - header.begin();
  const auto iroom = std::find(header.begin(), header.end(), "room_type") - header.begin();
  ASSERT_EQ(table->rows.size(), items_->items.size());
  for (std::size_t i = 0; i < items_->items.size(); ++i) {
    const Item& it = items_->items[i];
    EXPECT_EQ(it.seq, i);
    EXPECT_EQ(it.source, table->rows[i].fields[static_cast<std::size_t>(ipath)]);
    EXPECT_EQ(it.extra.at("room_type"), table->rows[i].fields[static_cast<std::size_t>(iroom)]);
    EXPECT_TRUE(fs::path(it.path).is_absolute()) << it.path;
    EXPECT_TRUE(fs::exists(it.path)) << it.path;
    EXPECT_EQ(fs::weakly_canonical(it.path), fs::weakly_canonical(houses_dir() / it.source));
  }
}

TEST_F(HousesManifestTest, PhotoOrderCountsFromZeroWithinEachListingInFileOrder) {
  ASSERT_NE(items_, nullptr);
  std::map<std::string, int> expected_next;
  for (const Item& it : items_->items) {
    int& next = expected_next[it.listing.id];
    EXPECT_EQ(it.photo_order, next) << it.source;
    ++next;
  }
  for (const auto& [id, count] : expected_next) EXPECT_EQ(count, 4) << "listing " << id;
}

TEST(SourceTest, MappingToAMissingColumnIsAnErrorNamingTheColumn) {
  ManifestColumns cols = houses_columns();
  ASSERT_TRUE(apply_column_mapping({"price=asking_price"}, cols).ok());
  auto r = read_manifest((houses_dir() / "manifest.csv").string(), cols);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.message().find("asking_price"), std::string::npos) << r.message();

  ManifestColumns extra = houses_columns();
  extra.extra.push_back("no_such_extra");
  auto r2 = read_manifest((houses_dir() / "manifest.csv").string(), extra);
  ASSERT_FALSE(r2.ok());
  EXPECT_NE(r2.message().find("no_such_extra"), std::string::npos) << r2.message();
}

TEST(SourceTest, ApplyColumnMappingRejectsUnknownNamesAndMissingEquals) {
  ManifestColumns cols;
  Status unknown = apply_column_mapping({"foo=bar"}, cols);
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.message().find("foo=bar"), std::string::npos) << unknown.message();
  for (const std::string bad : {"price", "=price_usd", "price="}) {
    Status st = apply_column_mapping({bad}, cols);
    ASSERT_FALSE(st.ok()) << bad;
    EXPECT_NE(st.message().find(bad), std::string::npos) << st.message();
  }
  EXPECT_TRUE(cols.price.empty()) << "rejected mappings change nothing";

  ASSERT_TRUE(
      apply_column_mapping({"path=file", "order=pos", "title=cover", "extra=a", "extra=b"}, cols)
          .ok());
  EXPECT_EQ(cols.path, "file");
  EXPECT_EQ(cols.order, "pos");
  EXPECT_EQ(cols.title, "cover");
  EXPECT_EQ(cols.extra, (std::vector<std::string>{"a", "b"}));
}

TEST(SourceTest, BrokenManifestRowsAreReportedByLineAndGoodRowsKept) {
  TempDir dir;
  const fs::path manifest = dir / "manifest.csv";
  write_file(manifest,
             "path,house,price,cover,room\n"      // 1
             "img/1.jpg,h1,\"$1,200\",1,front\n"  // 2 ok
             "img/2.jpg,h1,abc,0,kitchen\n"       // 3 non-numeric price
             ",h1,100,0,bath\n"                   // 4 empty path
             "img/3.jpg,h2,100,true\n"            // 5 wrong field count
             "img/4.jpg,h2,,false,bed\n"          // 6 ok, no price
             "img/5.jpg,h2,300,maybe,x\n"         // 7 bad title value
             "/abs/6.jpg,h1,5,TRUE,y\n"           // 8 ok, absolute path
             "img/7.jpg,h1,6,0,z\n");             // 9 ok
  ManifestColumns cols;
  ASSERT_TRUE(
      apply_column_mapping({"listing=house", "price=price", "title=cover", "extra=room"}, cols)
          .ok());
  auto r = read_manifest(manifest.string(), cols);
  ASSERT_TRUE(r.ok()) << r.message();

  const auto& problems = r->problems;
  EXPECT_EQ(problems.size(), 4u) << describe(problems);
  EXPECT_TRUE(has_problem(problems, 3, "abc")) << describe(problems);
  EXPECT_TRUE(has_problem(problems, 3, "price")) << describe(problems);
  EXPECT_TRUE(has_problem(problems, 4, "empty path")) << describe(problems);
  EXPECT_TRUE(has_problem(problems, 5, "fields")) << describe(problems);
  EXPECT_TRUE(has_problem(problems, 7, "maybe")) << describe(problems);
  for (const auto& p : problems) EXPECT_EQ(p.where.rfind("manifest.csv line ", 0), 0u) << p.where;

  const auto& items = r->items;
  ASSERT_EQ(items.size(), 4u);
  EXPECT_EQ(items[0].source, "img/1.jpg");
  EXPECT_EQ(items[0].path, (dir.path() / "img/1.jpg").string()) << "relative to the manifest";
  EXPECT_EQ(items[0].listing.id, "h1");
  EXPECT_EQ(items[0].listing.price, 1200.0);
  EXPECT_EQ(items[0].is_title, true);
  EXPECT_EQ(items[0].photo_order, 0);
  EXPECT_EQ(items[0].extra.at("room"), "front");

  EXPECT_EQ(items[1].source, "img/4.jpg");
  EXPECT_EQ(items[1].listing.id, "h2");
  EXPECT_FALSE(items[1].listing.price.has_value()) << "a blank price is missing, not 0";
  EXPECT_EQ(items[1].is_title, false);
  EXPECT_EQ(items[1].photo_order, 0);

  EXPECT_EQ(items[2].source, "/abs/6.jpg");
  EXPECT_EQ(items[2].path, "/abs/6.jpg");
  EXPECT_EQ(items[2].is_title, true);
  EXPECT_EQ(items[2].photo_order, 1);  // second good row of h1

  EXPECT_EQ(items[3].source, "img/7.jpg");
  EXPECT_EQ(items[3].is_title, false);
  EXPECT_EQ(items[3].photo_order, 2);
  for (std::size_t i = 0; i < items.size(); ++i) EXPECT_EQ(items[i].seq, i);
}

TEST(SourceTest, TitleColumnParsesOneZeroTrueFalse) {
  TempDir dir;
  const fs::path manifest = dir / "m.csv";
  write_file(manifest,
             "path,title\n"
             "a.jpg,1\n"
             "b.jpg,0\n"
             "c.jpg,true\n"
             "d.jpg,false\n"
             "e.jpg,True\n"
             "f.jpg,FALSE\n");
  ManifestColumns cols;
  cols.title = "title";
  auto r = read_manifest(manifest.string(), cols);
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_TRUE(r->problems.empty()) << describe(r->problems);
  std::vector<bool> titles;
  for (const Item& it : r->items) {
    ASSERT_TRUE(it.is_title.has_value()) << it.source;
    titles.push_back(*it.is_title);
  }
  EXPECT_EQ(titles, (std::vector<bool>{true, false, true, false, true, false}));
}

TEST(SourceTest, WithoutAListingColumnEachPhotoIsItsOwnListingAndOrderColumnIsUsed) {
  TempDir dir;
  const fs::path manifest = dir / "m.csv";
  write_file(manifest, "file,pos\nx/a.jpg,3\nx/b.jpg,1\n");
  ManifestColumns cols;
  ASSERT_TRUE(apply_column_mapping({"path=file", "order=pos"}, cols).ok());
  const fs::path base = dir / "photos";
  auto r = read_manifest(manifest.string(), cols, base.string());
  ASSERT_TRUE(r.ok()) << r.message();
  ASSERT_EQ(r->items.size(), 2u);
  EXPECT_EQ(r->items[0].listing.id, "x/a.jpg");
  EXPECT_EQ(r->items[0].photo_order, 3);
  EXPECT_EQ(r->items[1].listing.id, "x/b.jpg");
  EXPECT_EQ(r->items[1].photo_order, 1);
  EXPECT_EQ(r->items[0].path, (base / "x/a.jpg").string()) << "relative to base_dir";
}

TEST(SourceTest, MissingManifestIsAnErrorNamingIt) {
  TempDir dir;
  const std::string missing = (dir / "nope.csv").string();
  auto r = read_manifest(missing, ManifestColumns{});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.message().find(missing), std::string::npos) << r.message();
}

class ScanFolderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* f :
         {"b/z.jpeg", "a/y.PNG", "a/x.jpg", "top.webp", "c/d/e.tiff", "a/w.bmp", "a/v.tif",
          "a/notes.txt", "a/no_extension", "b/photo.jpg.bak", "readme.md"})
      write_file(dir_ / f, "x");
    fs::create_directories(dir_ / "folder.jpg");  // a folder, not an image
  }
  std::vector<std::string> sources(const SourceItems& s) {
    std::vector<std::string> out;
    for (const Item& it : s.items) out.push_back(it.source);
    return out;
  }
  TempDir dir_;
};

TEST_F(ScanFolderTest, ListsOnlyImageFilesSortedWithOneListingPerPhoto) {
  auto r = scan_folder(dir_.path().string(), false);
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(sources(*r), (std::vector<std::string>{"a/v.tif", "a/w.bmp", "a/x.jpg", "a/y.PNG",
                                                   "b/z.jpeg", "c/d/e.tiff", "top.webp"}));
  std::vector<std::string> listings;
  for (const Item& it : r->items) {
    listings.push_back(it.listing.id);
    EXPECT_EQ(it.photo_order, 0);
    EXPECT_EQ(it.path, (dir_.path() / it.source).string());
    EXPECT_TRUE(fs::exists(it.path));
  }
  EXPECT_EQ(listings,
            (std::vector<std::string>{"a/v", "a/w", "a/x", "a/y", "b/z", "c/d/e", "top"}));
  for (std::size_t i = 0; i < r->items.size(); ++i) EXPECT_EQ(r->items[i].seq, i);
}

TEST_F(ScanFolderTest, ATrailingSlashOnTheFolderGivesTheSameSourcesAndListings) {
  auto plain = scan_folder(dir_.path().string(), true);
  auto slashed = scan_folder(dir_.path().string() + "/", true);
  ASSERT_TRUE(plain.ok()) << plain.message();
  ASSERT_TRUE(slashed.ok()) << slashed.message();
  ASSERT_EQ(sources(*slashed), sources(*plain));
  for (std::size_t i = 0; i < plain->items.size(); ++i)
    EXPECT_EQ(slashed->items[i].listing.id, plain->items[i].listing.id);
}

TEST_F(ScanFolderTest, ListingPerFolderGroupsPhotosOfOneFolder) {
  auto r = scan_folder(dir_.path().string(), true);
  ASSERT_TRUE(r.ok()) << r.message();
  std::vector<std::pair<std::string, int>> got;
  for (const Item& it : r->items) got.emplace_back(it.listing.id, it.photo_order);
  EXPECT_EQ(got, (std::vector<std::pair<std::string, int>>{
                     {"a", 0}, {"a", 1}, {"a", 2}, {"a", 3}, {"b", 0}, {"c/d", 0}, {".", 0}}));
}

TEST(SourceTest, ScanFolderOfAMissingFolderIsAnErrorNamingIt) {
  TempDir dir;
  const std::string missing = (dir / "nope").string();
  auto r = scan_folder(missing, false);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.message().find(missing), std::string::npos) << r.message();
}

}  // namespace
}  // namespace homelens::ingest

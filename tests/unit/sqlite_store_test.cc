// The SQLite store: what goes in comes back, survives reopening, and batches land
// whole or not at all.
#include "homelens/store/sqlite_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "homelens/model/embedding.h"
#include "support/testing.h"

namespace homelens::store {
namespace {

using homelens::testing::TempDir;

constexpr const char* kModel = "resnet50-v1";
constexpr const char* kOtherModel = "clip-b32";

std::vector<float> random_embedding(std::uint32_t seed, std::size_t dim) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::vector<float> v(dim);
  for (float& x : v) x = g(rng);
  model::l2_normalize(v);
  return v;
}

Listing make_listing(const std::string& id) {
  Listing l;
  l.id = id;
  l.price = 869500;
  l.beds = 4;
  l.baths = 2.5;
  l.area = 4053;
  l.zip = "85255";
  return l;
}

Photo make_photo(const std::string& sha, const std::string& model_id, std::size_t dim = 16,
                 std::uint32_t seed = 1) {
  Photo p;
  p.sha256 = sha;
  p.model_id = model_id;
  p.width = 640;
  p.height = 427;
  p.embedding = random_embedding(seed, dim);
  return p;
}

Image make_image(const std::string& listing, const std::string& source, const std::string& sha,
                 int order = 0) {
  Image im;
  im.listing_id = listing;
  im.source = source;
  im.sha256 = sha;
  im.photo_order = order;
  return im;
}

bool same_bytes(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = (dir_ / "homelens.db").string();
    auto s = SqliteStore::open(path_);
    ASSERT_TRUE(s.ok()) << s.message();
    store_ = std::move(s).value();
  }

  StoreStats stats() {
    auto s = store_->stats();
    EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.message());
    return s.ok() ? *s : StoreStats{};
  }

  std::optional<Image> image_of(const std::string& listing, const std::string& source,
                                const std::string& model_id = kModel) {
    auto r = store_->find_image(listing, source, model_id);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.message());
    return r.ok() ? *r : std::nullopt;
  }

  std::optional<Photo> photo_of(const std::string& sha, const std::string& model_id = kModel) {
    auto r = store_->get_photo(sha, model_id);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.message());
    return r.ok() ? *r : std::nullopt;
  }

  std::vector<ImageWithPhoto> scan(const std::string& model_id) {
    std::vector<ImageWithPhoto> rows;
    Status st = store_->scan(model_id, [&](const ImageWithPhoto& r) { rows.push_back(r); });
    EXPECT_TRUE(st.ok()) << (st.ok() ? "" : st.message());
    return rows;
  }

  TempDir dir_;
  std::string path_;
  std::unique_ptr<Store> store_;
};

TEST_F(SqliteStoreTest, BatchRoundTripsListingsPhotosAndImages) {
  WriteBatch b;
  Listing full = make_listing("house-1");
  full.extra = {{"agent", "Jane \"JJ\" Doe"}, {"notes", "pool, spa\nnew roof"}, {"empty", ""}};
  Listing sparse;
  sparse.id = "house-2";
  sparse.beds = 0;  // zero is a value, not a missing one
  b.listings = {full, sparse};

  Photo tagged = make_photo("aaa", kModel, 33, 1);
  tagged.embedding[0] = -0.0f;
  tagged.embedding[1] = std::numeric_limits<float>::denorm_min();
  tagged.embedding[2] = std::nextafter(1.0f, 0.0f);
  tagged.code = {0x00, 0xFF, 0x5A, 0x01, 0x80};
  tagged.tags.front = 0.8125f;
  tagged.tags.room = "kitchen";
  tagged.tags.room_probs = {{"kitchen", 0.7f}, {"bathroom", 0.2f}, {"bedroom", 0.1f}};
  tagged.tags.style = "ranch";
  tagged.tags.style_probs = {{"ranch", 0.6f}, {"modern", 0.4f}};
  tagged.tags.stories = "1";
  tagged.tags.stories_probs = {{"1", 0.9f}, {"2", 0.1f}};
  tagged.tags.heads_id = "heads-v2";
  Photo plain = make_photo("bbb", kModel, 33, 2);
  plain.width = 448;
  plain.height = 299;
  b.photos = {tagged, plain};

  Image front = make_image("house-1", "images/1_frontal.jpg", "aaa", 0);
  front.is_title = true;
  front.indexed_at = "2024-05-01T12:00:00Z";
  front.extra = {{"room_type", "frontal"}};
  Image kitchen = make_image("house-1", "images/1_kitchen.jpg", "bbb", 1);
  Image other = make_image("house-2", "https://example.com/p.jpg?x=1,2", "bbb", 0);
  b.images = {kitchen, front, other};
  ASSERT_TRUE(store_->write(b).ok());

  auto l1 = store_->get_listing("house-1");
  ASSERT_TRUE(l1.ok() && l1->has_value());
  const Listing& got1 = **l1;
  EXPECT_EQ(got1.id, "house-1");
  EXPECT_EQ(got1.price, 869500.0);
  EXPECT_EQ(got1.beds, 4.0);
  EXPECT_EQ(got1.baths, 2.5);
  EXPECT_EQ(got1.area, 4053.0);
  EXPECT_EQ(got1.zip, "85255");
  EXPECT_EQ(got1.extra, full.extra);

  auto l2 = store_->get_listing("house-2");
  ASSERT_TRUE(l2.ok() && l2->has_value());
  EXPECT_FALSE((*l2)->price.has_value());
  EXPECT_EQ((*l2)->beds, 0.0);
  EXPECT_FALSE((*l2)->baths.has_value());
  EXPECT_FALSE((*l2)->area.has_value());
  EXPECT_EQ((*l2)->zip, "");
  EXPECT_TRUE((*l2)->extra.empty());

  auto none = store_->get_listing("house-3");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());

  auto p = photo_of("aaa");
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->sha256, "aaa");
  EXPECT_EQ(p->model_id, kModel);
  EXPECT_EQ(p->width, 640);
  EXPECT_EQ(p->height, 427);
  EXPECT_TRUE(same_bytes(p->embedding, tagged.embedding)) << "embedding bytes differ";
  EXPECT_TRUE(std::signbit(p->embedding[0])) << "-0.0f must keep its sign";
  EXPECT_EQ(p->code, tagged.code);
  EXPECT_EQ(p->tags.front, tagged.tags.front);
  EXPECT_EQ(p->tags.room, "kitchen");
  EXPECT_EQ(p->tags.room_probs, tagged.tags.room_probs);
  EXPECT_EQ(p->tags.style, "ranch");
  EXPECT_EQ(p->tags.style_probs, tagged.tags.style_probs);
  EXPECT_EQ(p->tags.stories, "1");
  EXPECT_EQ(p->tags.stories_probs, tagged.tags.stories_probs);
  EXPECT_EQ(p->tags.heads_id, "heads-v2");

  auto q = photo_of("bbb");
  ASSERT_TRUE(q.has_value());
  EXPECT_EQ(q->width, 448);
  EXPECT_EQ(q->height, 299);
  EXPECT_TRUE(same_bytes(q->embedding, plain.embedding));
  EXPECT_TRUE(q->code.empty());
  EXPECT_FALSE(q->tags.front.has_value());
  EXPECT_TRUE(q->tags.room.empty());
  EXPECT_TRUE(q->tags.room_probs.empty());
  EXPECT_TRUE(q->tags.heads_id.empty());
  EXPECT_FALSE(photo_of("aaa", kOtherModel).has_value());

  auto images = store_->listing_images("house-1");
  ASSERT_TRUE(images.ok());
  ASSERT_EQ(images->size(), 2u);  // by photo_order, not write order
  const Image& f = (*images)[0];
  EXPECT_EQ(f.source, "images/1_frontal.jpg");
  EXPECT_EQ(f.listing_id, "house-1");
  EXPECT_EQ(f.sha256, "aaa");
  EXPECT_EQ(f.photo_order, 0);
  EXPECT_TRUE(f.is_title);
  EXPECT_EQ(f.indexed_at, "2024-05-01T12:00:00Z");
  EXPECT_EQ(f.extra, front.extra);
  const Image& k = (*images)[1];
  EXPECT_EQ(k.source, "images/1_kitchen.jpg");
  EXPECT_EQ(k.photo_order, 1);
  EXPECT_FALSE(k.is_title);
  EXPECT_FALSE(k.indexed_at.empty()) << "the store stamps indexed_at when not given";
  EXPECT_TRUE(k.extra.empty());
  EXPECT_NE(f.id, k.id);

  auto byid = store_->get_image(f.id);
  ASSERT_TRUE(byid.ok() && byid->has_value());
  EXPECT_EQ((*byid)->source, "images/1_frontal.jpg");
  auto missing = store_->get_image(999999);
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());

  auto o = image_of("house-2", "https://example.com/p.jpg?x=1,2");
  ASSERT_TRUE(o.has_value());
  EXPECT_EQ(o->sha256, "bbb");

  StoreStats s = stats();
  EXPECT_EQ(s.listings, 2);
  EXPECT_EQ(s.photos, 2);
  EXPECT_EQ(s.images, 3);
}

TEST_F(SqliteStoreTest, StoreFileReopensWithItsData) {
  WriteBatch b;
  b.listings = {make_listing("L1")};
  Photo p = make_photo("sha-1", kModel, 64, 7);
  b.photos = {p};
  b.images = {make_image("L1", "a.jpg", "sha-1")};
  ASSERT_TRUE(store_->write(b).ok());
  const std::vector<float> centres(64, 0.0f);
  ASSERT_TRUE(store_->set_centres_and_codes(kModel, centres).ok());
  const std::int64_t id = image_of("L1", "a.jpg")->id;
  store_.reset();

  auto reopened = open_store(path_);
  ASSERT_TRUE(reopened.ok()) << reopened.message();
  store_ = std::move(reopened).value();
  StoreStats s = stats();
  EXPECT_EQ(s.listings, 1);
  EXPECT_EQ(s.photos, 1);
  EXPECT_EQ(s.images, 1);
  auto im = image_of("L1", "a.jpg");
  ASSERT_TRUE(im.has_value());
  EXPECT_EQ(im->id, id);
  auto photo = photo_of("sha-1");
  ASSERT_TRUE(photo.has_value());
  EXPECT_TRUE(same_bytes(photo->embedding, p.embedding));
  EXPECT_EQ(photo->code.size(), 8u);
  auto c = store_->get_centres(kModel);
  ASSERT_TRUE(c.ok() && c->has_value());
  EXPECT_EQ(**c, centres);
  auto l = store_->get_listing("L1");
  ASSERT_TRUE(l.ok() && l->has_value());
  EXPECT_EQ((*l)->price, 869500.0);

  // Reopening also works through the sqlite: prefix.
  store_.reset();
  auto prefixed = open_store("sqlite:" + path_);
  ASSERT_TRUE(prefixed.ok()) << prefixed.message();
  auto stats2 = (*prefixed)->stats();
  ASSERT_TRUE(stats2.ok());
  EXPECT_EQ(stats2->images, 1);
}

TEST_F(SqliteStoreTest, FindImageOnlyFindsImagesWhosePhotoIsEmbeddedWithThatModel) {
  WriteBatch b;
  b.listings = {make_listing("L1")};
  b.photos = {make_photo("sha-1", kModel)};
  b.images = {make_image("L1", "a.jpg", "sha-1")};
  ASSERT_TRUE(store_->write(b).ok());

  auto found = image_of("L1", "a.jpg", kModel);
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->sha256, "sha-1");
  EXPECT_FALSE(image_of("L1", "a.jpg", kOtherModel).has_value())
      << "the photo is not embedded with the other model, so it must be re-indexed";
  EXPECT_FALSE(image_of("L1", "b.jpg", kModel).has_value());
  EXPECT_FALSE(image_of("L2", "a.jpg", kModel).has_value());

  // Once the other model embeds the same bytes, the same image row is found for it too.
  WriteBatch b2;
  b2.photos = {make_photo("sha-1", kOtherModel, 8)};
  ASSERT_TRUE(store_->write(b2).ok());
  auto other = image_of("L1", "a.jpg", kOtherModel);
  ASSERT_TRUE(other.has_value());
  EXPECT_EQ(other->id, found->id);
}

TEST_F(SqliteStoreTest, HasPhotoIsTrueOnlyForTheHashAndModelWritten) {
  WriteBatch b;
  b.photos = {make_photo("sha-1", kModel)};
  ASSERT_TRUE(store_->write(b).ok());
  auto yes = store_->has_photo("sha-1", kModel);
  ASSERT_TRUE(yes.ok());
  EXPECT_TRUE(*yes);
  auto other_model = store_->has_photo("sha-1", kOtherModel);
  ASSERT_TRUE(other_model.ok());
  EXPECT_FALSE(*other_model);
  auto other_sha = store_->has_photo("sha-2", kModel);
  ASSERT_TRUE(other_sha.ok());
  EXPECT_FALSE(*other_sha);
}

TEST_F(SqliteStoreTest, WritingTheSameImageTwiceKeepsOneRowWithTheSameId) {
  WriteBatch b;
  b.listings = {make_listing("L1")};
  b.photos = {make_photo("sha-1", kModel), make_photo("sha-2", kModel, 16, 2)};
  b.images = {make_image("L1", "a.jpg", "sha-1", 0)};
  ASSERT_TRUE(store_->write(b).ok());
  const std::int64_t id = image_of("L1", "a.jpg")->id;

  // Same (listing, source) again, now with new content and order.
  WriteBatch again;
  Listing changed = make_listing("L1");
  changed.price = 900000;
  again.listings = {changed};
  Image im = make_image("L1", "a.jpg", "sha-2", 3);
  im.is_title = true;
  again.images = {im};
  ASSERT_TRUE(store_->write(again).ok());
  ASSERT_TRUE(store_->write(again).ok());

  StoreStats s = stats();
  EXPECT_EQ(s.images, 1);
  EXPECT_EQ(s.listings, 1);
  auto got = image_of("L1", "a.jpg");
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->id, id);
  EXPECT_EQ(got->sha256, "sha-2");
  EXPECT_EQ(got->photo_order, 3);
  EXPECT_TRUE(got->is_title);
  EXPECT_EQ((*store_->get_listing("L1"))->price, 900000.0) << "listing attributes are replaced";
}

TEST_F(SqliteStoreTest, TwoListingsUsingTheSamePhotoBytesShareOnePhotoRow) {
  WriteBatch b;
  b.listings = {make_listing("L1"), make_listing("L2")};
  Photo p = make_photo("same-bytes", kModel, 16, 3);
  b.photos = {p, p};  // the pipeline may hand the same photo twice in one batch
  b.images = {make_image("L1", "l1/front.jpg", "same-bytes"),
              make_image("L2", "l2/front.jpg", "same-bytes")};
  ASSERT_TRUE(store_->write(b).ok());

  // A later batch with the same bytes does not replace the stored embedding.
  WriteBatch later;
  later.listings = {make_listing("L3")};
  Photo recomputed = make_photo("same-bytes", kModel, 16, 4);
  later.photos = {recomputed};
  later.images = {make_image("L3", "l3/front.jpg", "same-bytes")};
  ASSERT_TRUE(store_->write(later).ok());

  StoreStats s = stats();
  EXPECT_EQ(s.photos, 1);
  EXPECT_EQ(s.images, 3);
  EXPECT_EQ(s.listings, 3);
  auto stored = photo_of("same-bytes");
  ASSERT_TRUE(stored.has_value());
  EXPECT_TRUE(same_bytes(stored->embedding, p.embedding));
  EXPECT_EQ(scan(kModel).size(), 3u);
}

TEST_F(SqliteStoreTest, PhotoTagsAreUpdatedOnlyByABatchThatCarriesTags) {
  WriteBatch b;
  b.photos = {make_photo("sha-1", kModel)};
  ASSERT_TRUE(store_->write(b).ok());
  WriteBatch tagged;
  Photo t = make_photo("sha-1", kModel);
  t.tags.room = "kitchen";
  t.tags.room_probs = {{"kitchen", 1.0f}};
  t.tags.heads_id = "heads-v1";
  tagged.photos = {t};
  ASSERT_TRUE(store_->write(tagged).ok());
  EXPECT_EQ(photo_of("sha-1")->tags.room, "kitchen");
  // Writing the photo again without tags keeps the tags.
  ASSERT_TRUE(store_->write(b).ok());
  auto p = photo_of("sha-1");
  EXPECT_EQ(p->tags.room, "kitchen");
  EXPECT_EQ(p->tags.heads_id, "heads-v1");
}

TEST_F(SqliteStoreTest, ABatchThatFailsPartWayLeavesNothingOfThatBatch) {
  WriteBatch first;
  first.listings = {make_listing("L1")};
  first.photos = {make_photo("sha-1", kModel)};
  first.images = {make_image("L1", "a.jpg", "sha-1")};
  ASSERT_TRUE(store_->write(first).ok());
  const StoreStats before = stats();

  WriteBatch bad;
  Listing changed = make_listing("L1");
  changed.price = 1;
  bad.listings = {changed, make_listing("L2")};
  bad.photos = {make_photo("sha-2", kModel, 16, 2)};
  bad.images = {make_image("L2", "b.jpg", "sha-2"),
                make_image("no-such-listing", "ghost.jpg", "sha-2")};  // foreign key fails
  Status st = store_->write(bad);
  ASSERT_FALSE(st.ok()) << "an image of an unknown listing must be refused";
  EXPECT_NE(st.message().find("ghost.jpg"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find(path_), std::string::npos) << st.message();

  const StoreStats after = stats();
  EXPECT_EQ(after.listings, before.listings);
  EXPECT_EQ(after.photos, before.photos);
  EXPECT_EQ(after.images, before.images);
  EXPECT_FALSE((*store_->get_listing("L2")).has_value());
  EXPECT_EQ((*store_->get_listing("L1"))->price, 869500.0) << "the upsert was rolled back";
  EXPECT_FALSE(*store_->has_photo("sha-2", kModel));
  EXPECT_FALSE(image_of("L2", "b.jpg").has_value());

  // The store is usable afterwards (no transaction left open).
  WriteBatch good;
  good.listings = {make_listing("L2")};
  good.photos = {make_photo("sha-2", kModel, 16, 2)};
  good.images = {make_image("L2", "b.jpg", "sha-2")};
  Status ok = store_->write(good);
  ASSERT_TRUE(ok.ok()) << ok.message();
  EXPECT_EQ(stats().images, before.images + 1);

  // And the rolled-back batch did not reach the file either.
  store_.reset();
  auto reopened = open_store(path_);
  ASSERT_TRUE(reopened.ok());
  auto s = (*reopened)->stats();
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->listings, 2);
  EXPECT_EQ(s->images, 2);
}

TEST_F(SqliteStoreTest, OpeningAFileWithANewerSchemaVersionFailsNamingTheFile) {
  store_.reset();
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    const std::string sql = "UPDATE meta SET value='" +
                            std::to_string(SqliteStore::kSchemaVersion + 1) +
                            "' WHERE key='schema_version'";
    char* err = nullptr;
    const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
    EXPECT_EQ(rc, SQLITE_OK) << (err ? err : "");
    sqlite3_free(err);
    EXPECT_EQ(sqlite3_changes(db), 1) << "the store records its schema_version in meta";
    sqlite3_close(db);
  }
  auto s = SqliteStore::open(path_);
  ASSERT_FALSE(s.ok()) << "a file written by a newer build must be refused";
  EXPECT_NE(s.message().find(path_), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("newer"), std::string::npos) << s.message();
  EXPECT_FALSE(open_store(path_).ok());
}

TEST(SqliteStoreOpenTest, OpeningAPathInAMissingFolderFailsWithThePath) {
  TempDir dir;
  const std::string path = (dir / "no-such-folder" / "store.db").string();
  auto s = SqliteStore::open(path);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find(path), std::string::npos) << s.message();
  auto via_url = open_store("sqlite:" + path);
  ASSERT_FALSE(via_url.ok());
  EXPECT_NE(via_url.message().find(path), std::string::npos) << via_url.message();
}

TEST(SqliteStoreOpenTest, PostgresqlUrlGivesAClearError) {
  for (const std::string url :
       {"postgresql://user@db.example.com/homelens", "postgres://db.example.com/homelens"}) {
    auto s = open_store(url);
    ASSERT_FALSE(s.ok()) << url;
    EXPECT_NE(s.message().find(url), std::string::npos) << s.message();
    EXPECT_NE(s.message().find("PostgreSQL"), std::string::npos) << s.message();
  }
}

TEST_F(SqliteStoreTest, CentresGiveEveryPhotoOfTheModelACodeAndLaterPhotosAreFilled) {
  const std::size_t dim = 20;  // not a multiple of 8: ceil(20/8) = 3 bytes
  WriteBatch b;
  for (int i = 0; i < 5; ++i)
    b.photos.push_back(make_photo("p" + std::to_string(i), kModel, dim, 10 + i));
  b.photos.push_back(make_photo("other", kOtherModel, dim, 99));
  ASSERT_TRUE(store_->write(b).ok());

  auto none = store_->get_centres(kModel);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  EXPECT_TRUE(store_->fill_missing_codes(kModel).ok()) << "no centres yet: nothing to do";
  EXPECT_TRUE(photo_of("p0")->code.empty());

  std::vector<float> rows;
  for (int i = 0; i < 5; ++i) {
    auto e = photo_of("p" + std::to_string(i))->embedding;
    rows.insert(rows.end(), e.begin(), e.end());
  }
  const auto centres = model::compute_centres(rows, 5, dim);
  ASSERT_TRUE(store_->set_centres_and_codes(kModel, centres).ok());
  auto stored = store_->get_centres(kModel);
  ASSERT_TRUE(stored.ok() && stored->has_value());
  EXPECT_EQ(**stored, centres);

  for (int i = 0; i < 5; ++i) {
    auto p = photo_of("p" + std::to_string(i));
    ASSERT_TRUE(p.has_value());
    EXPECT_EQ(p->code.size(), (dim + 7) / 8);
    EXPECT_EQ(p->code, model::binary_code(p->embedding, centres)) << "photo p" << i;
  }
  EXPECT_TRUE(photo_of("other", kOtherModel)->code.empty()) << "other models are untouched";

  // A photo added after the centres were fixed has no code until fill_missing_codes.
  WriteBatch later;
  later.photos = {make_photo("late", kModel, dim, 50)};
  ASSERT_TRUE(store_->write(later).ok());
  EXPECT_TRUE(photo_of("late")->code.empty());
  ASSERT_TRUE(store_->fill_missing_codes(kModel).ok());
  auto late = photo_of("late");
  EXPECT_EQ(late->code.size(), 3u);
  EXPECT_EQ(late->code, model::binary_code(late->embedding, centres));
  EXPECT_EQ(photo_of("p3")->code, model::binary_code(photo_of("p3")->embedding, centres));

  // New centres recompute every code of the model.
  const std::vector<float> high(dim, 10.0f);
  ASSERT_TRUE(store_->set_centres_and_codes(kModel, high).ok());
  for (const std::string sha : {"p0", "p4", "late"})
    EXPECT_EQ(photo_of(sha)->code, std::vector<std::uint8_t>(3, 0)) << sha;
}

TEST_F(SqliteStoreTest, DeleteListingRemovesItsImagesAndKeepsOtherListings) {
  WriteBatch b;
  b.listings = {make_listing("L1"), make_listing("L2")};
  b.photos = {make_photo("s1", kModel), make_photo("s2", kModel, 16, 2)};
  b.images = {make_image("L1", "a.jpg", "s1", 0), make_image("L1", "b.jpg", "s2", 1),
              make_image("L2", "c.jpg", "s1", 0)};
  ASSERT_TRUE(store_->write(b).ok());

  ASSERT_TRUE(store_->delete_listing("L1").ok());
  EXPECT_FALSE((*store_->get_listing("L1")).has_value());
  auto gone = store_->listing_images("L1");
  ASSERT_TRUE(gone.ok());
  EXPECT_TRUE(gone->empty());
  EXPECT_FALSE(image_of("L1", "a.jpg").has_value());
  EXPECT_TRUE(image_of("L2", "c.jpg").has_value());
  StoreStats s = stats();
  EXPECT_EQ(s.listings, 1);
  EXPECT_EQ(s.images, 1);
  auto rows = scan(kModel);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].image.listing_id, "L2");
  EXPECT_TRUE(store_->delete_listing("never-there").ok());

  const std::int64_t id = image_of("L2", "c.jpg")->id;
  ASSERT_TRUE(store_->delete_image(id).ok());
  EXPECT_FALSE((*store_->get_image(id)).has_value());
  EXPECT_EQ(stats().images, 0);
}

TEST_F(SqliteStoreTest, ScanVisitsOnlyTheModelsImagesInIdOrder) {
  WriteBatch b;
  b.listings = {make_listing("L1"), make_listing("L2")};
  b.photos = {make_photo("a", kModel, 16, 1), make_photo("b", kOtherModel, 8, 2),
              make_photo("c", kModel, 16, 3), make_photo("d", kModel, 16, 4),
              make_photo("d", kOtherModel, 8, 5)};
  // Written in an order unlike their listing order; ids follow write order.
  b.images = {make_image("L2", "2.jpg", "c", 5), make_image("L1", "1.jpg", "a", 9),
              make_image("L1", "x.jpg", "b", 0), make_image("L2", "3.jpg", "d", 1),
              make_image("L1", "4.jpg", "unknown-sha", 2)};
  ASSERT_TRUE(store_->write(b).ok());
  // Re-writing an early image keeps its place in id order.
  WriteBatch again;
  again.images = {make_image("L2", "2.jpg", "c", 6)};
  ASSERT_TRUE(store_->write(again).ok());

  auto rows = scan(kModel);
  ASSERT_EQ(rows.size(), 3u);
  std::vector<std::string> sources;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    sources.push_back(rows[i].image.source);
    EXPECT_EQ(rows[i].photo.model_id, kModel);
    EXPECT_EQ(rows[i].photo.sha256, rows[i].image.sha256);
    EXPECT_EQ(rows[i].photo.embedding.size(), 16u);
    if (i > 0) {
      EXPECT_LT(rows[i - 1].image.id, rows[i].image.id);
    }
  }
  EXPECT_EQ(sources, (std::vector<std::string>{"2.jpg", "1.jpg", "3.jpg"}));
  EXPECT_EQ(rows[0].image.photo_order, 6);

  auto other = scan(kOtherModel);
  ASSERT_EQ(other.size(), 2u);
  EXPECT_EQ(other[0].image.source, "x.jpg");
  EXPECT_EQ(other[1].image.source, "3.jpg");
  EXPECT_EQ(other[1].photo.embedding.size(), 8u);
  EXPECT_TRUE(scan("no-such-model").empty());
}

}  // namespace
}  // namespace homelens::store

// Both stores, SQLite and a real PostgreSQL, through the Store interface: what goes in comes
// back, survives reopening, batches land whole or not at all, every write is in the change log
// in commit order, deletes leave no orphans, and concurrent writers leave one row per key.
#include "homelens/store/store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <pqxx/pqxx>

#include "homelens/model/embedding.h"
#include "homelens/store/postgres_store.h"
#include "homelens/store/sqlite_store.h"
#include "support/pg_cluster.h"
#include "support/testing.h"

namespace homelens::store {
namespace {

using homelens::testing::PgCluster;
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

// Runs on "sqlite" (a file in a temp folder) or "postgresql" (a fresh database on this
// process's throw-away cluster).
class StoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (sqlite()) {
      path_ = (dir_ / "homelens.db").string();
    } else {
      path_ = PgCluster::get().create_database();
    }
    store_ = open_another();
    ASSERT_TRUE(store_);
  }

  bool sqlite() const { return GetParam() == "sqlite"; }
  int schema_version() const {
    return sqlite() ? SqliteStore::kSchemaVersion : PostgresStore::kSchemaVersion;
  }

  // Another Store object on the same database (its own connection).
  std::unique_ptr<Store> open_another() {
    auto s = open_store(path_);
    EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.message());
    return s.ok() ? std::move(s).value() : nullptr;
  }

  // Runs SQL on the database behind the store's back.
  void exec_sql(const std::string& sql) {
    if (sqlite()) {
      sqlite3* db = nullptr;
      ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
      char* err = nullptr;
      const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
      EXPECT_EQ(rc, SQLITE_OK) << (err ? err : "");
      sqlite3_free(err);
      sqlite3_close(db);
    } else {
      pqxx::connection c(path_);
      pqxx::nontransaction tx(c);
      tx.exec(sql);
    }
  }

  std::vector<Change> changes_since(std::int64_t after, Store* store = nullptr) {
    auto r = (store ? store : store_.get())->changes_since(after, 100000);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.message());
    return r.ok() ? *r : std::vector<Change>{};
  }

  std::int64_t last_change() {
    auto r = store_->last_change();
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.message());
    return r.ok() ? *r : -1;
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
  std::string path_;  // the file, or the database's url (how errors name the store)
  std::unique_ptr<Store> store_;
};

class SqliteOnlyTest : public StoreTest {};
class PostgresOnlyTest : public StoreTest {};

TEST_P(StoreTest, BatchRoundTripsListingsPhotosAndImages) {
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
  tagged.head_embedding = random_embedding(9, 33);  // a two-view model's heads' view
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
  EXPECT_TRUE(same_bytes(p->head_embedding, tagged.head_embedding)) << "heads' view bytes differ";
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
  EXPECT_TRUE(q->head_embedding.empty()) << "a one-view model's photo has no second vector";
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

// A feed's high-water mark survives the process: set by one connection, read by another.
TEST_P(StoreTest, MetaValuesAreKeptAndReplaced) {
  auto missing = store_->get_meta("reso.high_water http://mls/api");
  ASSERT_TRUE(missing.ok()) << missing.message();
  EXPECT_FALSE(missing->has_value());
  ASSERT_TRUE(store_->set_meta("reso.high_water http://mls/api", "2026-06-01T10:00:00.000Z").ok());
  ASSERT_TRUE(store_->set_meta("reso.high_water http://mls/api", "2026-06-02T09:00:03.000Z").ok());
  auto other = open_another();
  ASSERT_TRUE(other);
  auto got = other->get_meta("reso.high_water http://mls/api");
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ(**got, "2026-06-02T09:00:03.000Z");
}

TEST_P(StoreTest, StoreReopensWithItsData) {
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

  if (!sqlite()) return;
  // Reopening also works through the sqlite: prefix.
  store_.reset();
  auto prefixed = open_store("sqlite:" + path_);
  ASSERT_TRUE(prefixed.ok()) << prefixed.message();
  auto stats2 = (*prefixed)->stats();
  ASSERT_TRUE(stats2.ok());
  EXPECT_EQ(stats2->images, 1);
}

TEST_P(StoreTest, FindImageOnlyFindsImagesWhosePhotoIsEmbeddedWithThatModel) {
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

TEST_P(StoreTest, HasPhotoIsTrueOnlyForTheHashAndModelWritten) {
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

TEST_P(StoreTest, WritingTheSameImageTwiceKeepsOneRowWithTheSameId) {
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

TEST_P(StoreTest, TwoListingsUsingTheSamePhotoBytesShareOnePhotoRow) {
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

TEST_P(StoreTest, PhotoTagsAreUpdatedOnlyByABatchThatCarriesTags) {
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

TEST_P(StoreTest, ABatchThatFailsPartWayLeavesNothingOfThatBatch) {
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
  EXPECT_EQ(st.code(), ErrorCode::kConflict) << st.message();
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

TEST_P(StoreTest, OpeningADatabaseWithANewerSchemaVersionFailsNamingIt) {
  store_.reset();
  exec_sql("UPDATE meta SET value='" + std::to_string(schema_version() + 1) +
           "' WHERE key='schema_version'");
  auto s = open_store(path_);
  ASSERT_FALSE(s.ok()) << "a database written by a newer build must be refused";
  EXPECT_EQ(s.code(), ErrorCode::kCorruption);
  EXPECT_NE(s.message().find(path_), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("newer"), std::string::npos) << s.message();
}

TEST(SqliteStoreOpenTest, OpeningAPathInAMissingFolderFailsWithThePath) {
  TempDir dir;
  const std::string path = (dir / "no-such-folder" / "store.db").string();
  auto s = SqliteStore::open(path);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), ErrorCode::kIO);
  EXPECT_NE(s.message().find(path), std::string::npos) << s.message();
  auto via_url = open_store("sqlite:" + path);
  ASSERT_FALSE(via_url.ok());
  EXPECT_NE(via_url.message().find(path), std::string::npos) << via_url.message();
}

// Two indexers (or an indexer and a server) started together on a new file both switch it to
// WAL; neither may fail with "database is locked".
TEST(SqliteStoreOpenTest, ManyOpenersOfOneNewFileAtOnceAllSucceed) {
  TempDir dir;
  for (int round = 0; round < 20; ++round) {
    const std::string path = (dir / ("new-" + std::to_string(round) + ".db")).string();
    std::atomic<bool> go{false};
    std::vector<std::string> errors(6);
    std::vector<std::thread> openers;
    for (std::size_t t = 0; t < errors.size(); ++t)
      openers.emplace_back([&, t] {
        while (!go.load()) std::this_thread::yield();
        auto s = SqliteStore::open(path);
        if (!s.ok()) errors[t] = s.message();
        else if (auto st = (*s)->stats(); !st.ok()) errors[t] = st.message();
      });
    go = true;
    for (auto& t : openers) t.join();
    for (const auto& e : errors) EXPECT_EQ(e, "") << "round " << round;
  }
}

TEST(PostgresStoreOpenTest, AnUnreachableServerIsUnavailableAndTheMessageHidesThePassword) {
  for (const std::string url : {"postgresql://homelens:s3cret@127.0.0.1:1/homelens",
                                "postgres://homelens:s3cret@127.0.0.1:1/homelens"}) {
    auto s = open_store(url);
    ASSERT_FALSE(s.ok()) << url;
    EXPECT_EQ(s.code(), ErrorCode::kUnavailable) << s.message();
    EXPECT_NE(s.message().find(url.substr(0, url.find(':', 12)) + "@127.0.0.1:1/homelens"),
              std::string::npos)
        << s.message();
    EXPECT_EQ(s.message().find("s3cret"), std::string::npos) << s.message();
  }
}

TEST_P(StoreTest, CentresGiveEveryPhotoOfTheModelACodeAndLaterPhotosAreFilled) {
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

TEST_P(StoreTest, DeleteListingRemovesItsImagesAndKeepsOtherListings) {
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

TEST_P(StoreTest, ScanVisitsOnlyTheModelsImagesInIdOrder) {
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


// "prefix<n>" and "prefix<n>-<m>" ids (through std::string, which GCC 12's -Wrestrict false
// positive on "literal" + std::to_string() does not trip over).
std::string id_of(const std::string& prefix, int n) { return prefix + std::to_string(n); }
std::string id_of(const std::string& prefix, int n, int m) {
  return id_of(prefix, n) + id_of("-", m);
}

// Keys of a change list as "kind:key" (listing L1 -> "L:L1", image 3 -> "I:3", photo -> "P:sha").
std::vector<std::string> change_keys(const std::vector<Change>& changes) {
  std::vector<std::string> out;
  for (const Change& c : changes)
    out.push_back(std::string(c.kind == Change::Kind::kListing ? "L:"
                              : c.kind == Change::Kind::kImage ? "I:"
                                                               : "P:") +
                  c.key);
  return out;
}

TEST_P(StoreTest, TheChangeLogRecordsEveryKindOfWriteInSeqOrder) {
  EXPECT_EQ(last_change(), 0) << "a new table has no changes";
  EXPECT_TRUE(changes_since(0).empty());

  WriteBatch b;
  b.listings = {make_listing("L1"), make_listing("L2")};
  b.photos = {make_photo("s1", kModel), make_photo("s2", kModel, 16, 2)};
  b.images = {make_image("L1", "a.jpg", "s1"), make_image("L2", "b.jpg", "s2")};
  ASSERT_TRUE(store_->write(b).ok());
  const std::int64_t a = image_of("L1", "a.jpg")->id;
  const std::int64_t bid = image_of("L2", "b.jpg")->id;
  auto first = changes_since(0);
  std::vector<std::string> keys = change_keys(first);
  std::sort(keys.begin(), keys.end());
  EXPECT_EQ(keys, (std::vector<std::string>{"I:" + std::to_string(a), "I:" + std::to_string(bid),
                                            "L:L1", "L:L2"}))
      << "new photos are not logged: their images are";
  for (std::size_t i = 0; i < first.size(); ++i) EXPECT_EQ(first[i].seq, static_cast<std::int64_t>(i + 1));
  EXPECT_EQ(last_change(), 4);

  // An existing photo that gets tags is logged; one written again without tags is not.
  std::int64_t seen = last_change();
  Photo tagged = make_photo("s1", kModel);
  tagged.tags.room = "kitchen";
  tagged.tags.heads_id = "heads-v1";
  WriteBatch retag;
  retag.photos = {tagged, make_photo("s2", kModel, 16, 2)};
  ASSERT_TRUE(store_->write(retag).ok());
  EXPECT_EQ(change_keys(changes_since(seen)), std::vector<std::string>{"P:s1"});

  seen = last_change();
  ASSERT_TRUE(store_->assign_titles({"L2", "L1"}, kModel).ok());
  keys = change_keys(changes_since(seen));
  std::sort(keys.begin(), keys.end());
  EXPECT_EQ(keys, (std::vector<std::string>{"L:L1", "L:L2"}));

  seen = last_change();
  ASSERT_TRUE(store_->delete_image(bid).ok());
  keys = change_keys(changes_since(seen));
  std::sort(keys.begin(), keys.end());
  EXPECT_EQ(keys, (std::vector<std::string>{"I:" + std::to_string(bid), "L:L2"}));

  seen = last_change();
  ASSERT_TRUE(store_->delete_listing("L1").ok());
  keys = change_keys(changes_since(seen));
  std::sort(keys.begin(), keys.end());
  EXPECT_EQ(keys, (std::vector<std::string>{"I:" + std::to_string(a), "L:L1"}));

  // Deleting what is not there changes nothing.
  seen = last_change();
  ASSERT_TRUE(store_->delete_image(bid).ok());
  ASSERT_TRUE(store_->delete_listing("never-there").ok());
  EXPECT_EQ(last_change(), seen);

  // The log keeps one entry per key (its latest seq), not one per write; reading with a limit
  // pages through it in seq order.
  auto all = changes_since(0);
  EXPECT_EQ(all.size(), 5u) << "L1, L2, two images, photo s1";
  for (std::size_t i = 1; i < all.size(); ++i) EXPECT_LT(all[i - 1].seq, all[i].seq);
  EXPECT_EQ(all.back().seq, last_change());
  auto page = store_->changes_since(0, 2);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->size(), 2u);
  EXPECT_EQ((*page)[1].seq, all[1].seq);
}

TEST_P(StoreTest, AReaderFollowingTheLogSeesEveryChangeOfTwoConcurrentWritersInSeqOrder) {
  constexpr int kBatches = 60;
  WriteBatch setup;
  setup.photos = {make_photo("shared", kModel)};
  ASSERT_TRUE(store_->write(setup).ok());
  std::atomic<int> writers_left{2};
  std::atomic<bool> failed{false};
  auto writer = [&](int w) {
    auto store = open_another();
    if (!store) {
      failed = true;
      --writers_left;
      return;
    }
    for (int i = 0; i < kBatches && !failed; ++i) {
      WriteBatch b;
      const std::string id = id_of("w", w, i);
      b.listings = {make_listing(id)};
      b.images = {make_image(id, "front.jpg", "shared")};
      if (Status st = store->write(b); !st) {
        ADD_FAILURE() << st.message();
        failed = true;
      }
    }
    --writers_left;
  };
  std::thread w0(writer, 0), w1(writer, 1);

  auto reader = open_another();
  ASSERT_TRUE(reader);
  std::vector<Change> seen;
  std::int64_t after = 0;
  for (;;) {
    const bool done = writers_left == 0;  // read once more after the writers finished
    auto r = reader->changes_since(after, 7);  // small pages: many polls mid-write
    ASSERT_TRUE(r.ok()) << r.message();
    for (const Change& c : *r) {
      EXPECT_GT(c.seq, after) << "seqs only grow";
      after = c.seq;
      seen.push_back(c);
    }
    if (done && r->empty()) break;
  }
  w0.join();
  w1.join();
  ASSERT_FALSE(failed);

  // Every key is new, so no seq was overwritten: the reader must have seen exactly 1..N, none
  // skipped (a seq committed after a higher one would have been skipped).
  const std::size_t n = 2 * kBatches * 2;  // a listing and an image per batch
  ASSERT_EQ(seen.size(), n);
  for (std::size_t i = 0; i < n; ++i) EXPECT_EQ(seen[i].seq, static_cast<std::int64_t>(i + 1));
  std::set<std::string> keys;
  for (const std::string& k : change_keys(seen)) keys.insert(k);
  EXPECT_EQ(keys.size(), n) << "each change once";
  // Each writer's batches appear in the order it committed them.
  for (int w = 0; w < 2; ++w) {
    std::int64_t prev = 0;
    for (int i = 0; i < kBatches; ++i) {
      const std::string id = id_of("w", w, i);
      auto it = std::find_if(seen.begin(), seen.end(), [&](const Change& c) {
        return c.kind == Change::Kind::kListing && c.key == id;
      });
      ASSERT_NE(it, seen.end()) << id;
      EXPECT_GT(it->seq, prev) << id;
      prev = it->seq;
    }
  }
  EXPECT_EQ(last_change(), static_cast<std::int64_t>(n));
}

TEST_P(StoreTest, DeletesRemovePhotosAndBlobsNoImageShowsAnyMore) {
  WriteBatch b;
  b.listings = {make_listing("L1"), make_listing("L2")};
  b.photos = {make_photo("s1", kModel), make_photo("s1", kOtherModel, 8),
              make_photo("s2", kModel, 16, 2), make_photo("s2", kOtherModel, 8, 3)};
  b.images = {make_image("L1", "a.jpg", "s1"), make_image("L1", "b.jpg", "s2"),
              make_image("L2", "c.jpg", "s1")};
  b.blobs = {Blob{"s1", "image/jpeg", std::string("\xff\xd8\x00jpeg", 7)},
             Blob{"s2", "image/png", "png"}};
  ASSERT_TRUE(store_->write(b).ok());

  ASSERT_TRUE(store_->delete_image(image_of("L1", "b.jpg")->id).ok());
  EXPECT_FALSE(photo_of("s2").has_value()) << "no image shows s2 any more";
  EXPECT_FALSE(photo_of("s2", kOtherModel).has_value()) << "every model's row goes";
  EXPECT_FALSE(store_->get_blob("s2")->has_value());
  EXPECT_TRUE(photo_of("s1").has_value());
  EXPECT_EQ(stats().photos, 2);

  ASSERT_TRUE(store_->delete_listing("L1").ok());
  EXPECT_TRUE(photo_of("s1").has_value()) << "L2 still shows s1";
  EXPECT_TRUE(photo_of("s1", kOtherModel).has_value());
  auto blob = store_->get_blob("s1");
  ASSERT_TRUE(blob.ok() && blob->has_value());
  EXPECT_EQ((*blob)->bytes, std::string("\xff\xd8\x00jpeg", 7));

  ASSERT_TRUE(store_->delete_listing("L2").ok());
  EXPECT_FALSE(photo_of("s1").has_value());
  EXPECT_FALSE(photo_of("s1", kOtherModel).has_value());
  EXPECT_FALSE(store_->get_blob("s1")->has_value());
  StoreStats s = stats();
  EXPECT_EQ(s.photos, 0);
  EXPECT_EQ(s.images, 0);
  EXPECT_EQ(s.listings, 0);
}

TEST_P(StoreTest, GetImageWithPhotoJoinsTheImageWithThatModelsPhoto) {
  WriteBatch b;
  b.listings = {make_listing("L1")};
  Photo p = make_photo("s1", kModel, 16, 5);
  p.tags.front = 0.25f;
  p.tags.heads_id = "h";
  b.photos = {p};
  b.images = {make_image("L1", "a.jpg", "s1", 2), make_image("L1", "b.jpg", "not-embedded")};
  ASSERT_TRUE(store_->write(b).ok());
  const std::int64_t id = image_of("L1", "a.jpg")->id;

  auto got = store_->get_image_with_photo(id, kModel);
  ASSERT_TRUE(got.ok()) << got.message();
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ((*got)->image.id, id);
  EXPECT_EQ((*got)->image.source, "a.jpg");
  EXPECT_EQ((*got)->image.photo_order, 2);
  EXPECT_EQ((*got)->photo.sha256, "s1");
  EXPECT_TRUE(same_bytes((*got)->photo.embedding, p.embedding));
  EXPECT_EQ((*got)->photo.tags.front, 0.25f);

  auto other_model = store_->get_image_with_photo(id, kOtherModel);
  ASSERT_TRUE(other_model.ok());
  EXPECT_FALSE(other_model->has_value());
  const auto b_id = store_->listing_images("L1")->at(0).id;  // b.jpg: photo_order 0
  auto no_photo = store_->get_image_with_photo(b_id, kModel);
  ASSERT_TRUE(no_photo.ok());
  EXPECT_FALSE(no_photo->has_value()) << "its bytes have no photo row";
  auto gone = store_->get_image_with_photo(id + 1000, kModel);
  ASSERT_TRUE(gone.ok());
  EXPECT_FALSE(gone->has_value());
}

TEST_P(StoreTest, ImagesOfPhotoListsEveryImageShowingTheBytes) {
  WriteBatch b;
  b.listings = {make_listing("L1"), make_listing("L2")};
  b.photos = {make_photo("s1", kModel), make_photo("s2", kModel, 16, 2)};
  b.images = {make_image("L1", "a.jpg", "s1"), make_image("L1", "b.jpg", "s2"),
              make_image("L2", "c.jpg", "s1")};
  ASSERT_TRUE(store_->write(b).ok());
  auto ids = store_->images_of_photo("s1");
  ASSERT_TRUE(ids.ok()) << ids.message();
  EXPECT_EQ(*ids, (std::vector<std::int64_t>{image_of("L1", "a.jpg")->id, image_of("L2", "c.jpg")->id}));
  EXPECT_EQ(store_->images_of_photo("s2")->size(), 1u);
  auto none = store_->images_of_photo("nobody");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST_P(StoreTest, AFailedReadIsAnIOErrorNeverAMissingRow) {
  WriteBatch b;
  b.listings = {make_listing("L1")};
  b.blobs = {Blob{"s1", "image/jpeg", "bytes"}};
  ASSERT_TRUE(store_->write(b).ok());
  auto missing = store_->get_blob("nope");
  ASSERT_TRUE(missing.ok()) << "a missing row is not an error";
  EXPECT_FALSE(missing->has_value());

  exec_sql("DROP TABLE blobs");
  auto broken = store_->get_blob("s1");
  ASSERT_FALSE(broken.ok()) << "a read that failed must not look like a missing row";
  EXPECT_EQ(broken.code(), ErrorCode::kIO) << broken.message();
  EXPECT_NE(broken.message().find(path_), std::string::npos) << broken.message();
  auto listing = store_->get_listing("L1");
  ASSERT_TRUE(listing.ok() && listing->has_value()) << "the store still answers other reads";
}

TEST_P(StoreTest, TwoStoreObjectsOnOneDatabaseSeeEachOthersWrites) {
  auto other = open_another();
  ASSERT_TRUE(other);
  WriteBatch b;
  b.listings = {make_listing("L1")};
  b.photos = {make_photo("s1", kModel)};
  b.images = {make_image("L1", "a.jpg", "s1")};
  ASSERT_TRUE(store_->write(b).ok());
  auto seen = other->find_image("L1", "a.jpg", kModel);
  ASSERT_TRUE(seen.ok() && seen->has_value());

  WriteBatch b2;
  b2.listings = {make_listing("L2")};
  b2.images = {make_image("L2", "b.jpg", "s1")};
  ASSERT_TRUE(other->write(b2).ok());
  EXPECT_TRUE(image_of("L2", "b.jpg").has_value());
  EXPECT_EQ(stats().images, 2);
  EXPECT_EQ(change_keys(changes_since(0, other.get())), change_keys(changes_since(0)));
  EXPECT_EQ(last_change(), *other->last_change());
  ASSERT_TRUE(other->delete_listing("L1").ok());
  EXPECT_FALSE(store_->get_listing("L1")->has_value());
}

// The version 1 layout, as the previous release wrote it.
constexpr const char* kSchemaV1 = R"sql(
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE listings(id TEXT PRIMARY KEY, price REAL, beds REAL, baths REAL, area REAL, zip TEXT,
  extra TEXT NOT NULL DEFAULT '{}', updated_at TEXT NOT NULL);
CREATE TABLE photos(sha256 TEXT NOT NULL, model_id TEXT NOT NULL, width INTEGER NOT NULL,
  height INTEGER NOT NULL, embedding BLOB NOT NULL, code BLOB, front REAL, room TEXT,
  room_probs TEXT, style TEXT, style_probs TEXT, stories TEXT, stories_probs TEXT, heads_id TEXT,
  PRIMARY KEY(sha256, model_id));
CREATE TABLE images(id INTEGER PRIMARY KEY AUTOINCREMENT,
  listing_id TEXT NOT NULL REFERENCES listings(id) ON DELETE CASCADE, source TEXT NOT NULL,
  sha256 TEXT NOT NULL, photo_order INTEGER NOT NULL DEFAULT 0, is_title INTEGER NOT NULL DEFAULT 0,
  title_explicit INTEGER NOT NULL DEFAULT 0, path TEXT NOT NULL DEFAULT '', indexed_at TEXT NOT NULL,
  extra TEXT NOT NULL DEFAULT '{}', UNIQUE(listing_id, source));
CREATE INDEX images_sha256 ON images(sha256);
CREATE TABLE blobs(sha256 TEXT PRIMARY KEY, content_type TEXT NOT NULL, bytes BLOB NOT NULL);
CREATE TABLE models(model_id TEXT PRIMARY KEY, dim INTEGER NOT NULL, centres BLOB NOT NULL);
INSERT INTO meta VALUES('schema_version', '1');
INSERT INTO listings(id, price, updated_at) VALUES('old-1', 500000, '2024-01-01T00:00:00Z');
INSERT INTO photos(sha256, model_id, width, height, embedding) VALUES('old-sha', 'resnet50-v1', 2, 2, x'0000803f');
INSERT INTO images(listing_id, source, sha256, indexed_at) VALUES('old-1', 'old.jpg', 'old-sha', '2024-01-01T00:00:00Z');
)sql";

TEST_P(SqliteOnlyTest, AVersion1FileIsMigratedKeepingItsRowsWithAnEmptyChangeLog) {
  store_.reset();
  std::filesystem::remove(path_);
  exec_sql(kSchemaV1);
  store_ = open_another();
  ASSERT_TRUE(store_);
  EXPECT_EQ(stats().images, 1);
  auto old = image_of("old-1", "old.jpg");
  ASSERT_TRUE(old.has_value());
  EXPECT_EQ((*store_->get_listing("old-1"))->price, 500000.0);
  EXPECT_EQ(last_change(), 0) << "rows from before the log have no entries";
  EXPECT_TRUE(changes_since(0).empty());

  WriteBatch b;
  b.listings = {make_listing("new-1")};
  ASSERT_TRUE(store_->write(b).ok());
  EXPECT_EQ(change_keys(changes_since(0)), std::vector<std::string>{"L:new-1"});
  EXPECT_TRUE(photo_of("old-sha", "resnet50-v1")->head_embedding.empty());
  // Version 3's column: a photo with the heads' own view is stored whole in the migrated file.
  WriteBatch two_view;
  two_view.photos = {make_photo("new-sha", kModel, 4, 3)};
  two_view.photos[0].head_embedding = random_embedding(4, 4);
  ASSERT_TRUE(store_->write(two_view).ok());
  EXPECT_TRUE(same_bytes(photo_of("new-sha")->head_embedding, two_view.photos[0].head_embedding));
  ASSERT_TRUE(store_->delete_image(old->id).ok());
  EXPECT_FALSE(photo_of("old-sha").has_value()) << "orphan cleanup works on migrated rows";

  // The file now says the current version and opens again without migrating twice.
  store_.reset();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* q = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key='schema_version'", -1, &q, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(q), SQLITE_ROW);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(sqlite3_column_text(q, 0))), "3");
  sqlite3_finalize(q);
  sqlite3_close(db);
  store_ = open_another();
  ASSERT_TRUE(store_);
  EXPECT_EQ(last_change(), 3) << "new-1, then the deleted image and its listing";
}

TEST_P(PostgresOnlyTest, AVersion1TableGainsTheHeadsViewColumnKeepingItsPhotos) {
  WriteBatch b;
  b.photos = {make_photo("old-sha", kModel, 8, 1)};
  ASSERT_TRUE(store_->write(b).ok());
  store_.reset();
  exec_sql(
      "ALTER TABLE photos DROP COLUMN head_embedding; "
      "UPDATE meta SET value='1' WHERE key='schema_version'");
  store_ = open_another();
  ASSERT_TRUE(store_);
  auto old = photo_of("old-sha");
  ASSERT_TRUE(old.has_value());
  EXPECT_TRUE(same_bytes(old->embedding, b.photos[0].embedding));
  EXPECT_TRUE(old->head_embedding.empty());
  WriteBatch two_view;
  two_view.photos = {make_photo("new-sha", kModel, 8, 2)};
  two_view.photos[0].head_embedding = random_embedding(3, 8);
  ASSERT_TRUE(store_->write(two_view).ok());
  EXPECT_TRUE(same_bytes(photo_of("new-sha")->head_embedding, two_view.photos[0].head_embedding));
}

TEST_P(PostgresOnlyTest, ManyIndexersWritingOverlappingBatchesAtOnceLeaveOneRowPerKey) {
  // 8 threads, each its own Store (connection), write the same 30 listings x 4 images over 60
  // distinct photos, each in its own shuffled order and batch split.
  constexpr int kListings = 30, kPerListing = 4, kPhotos = 60, kThreads = 8;
  auto sha_of = [](int l, int k) { return id_of("sha-", (l * kPerListing + k) % kPhotos); };
  std::vector<std::pair<int, int>> items;
  for (int l = 0; l < kListings; ++l)
    for (int k = 0; k < kPerListing; ++k) items.emplace_back(l, k);
  std::atomic<int> failures{0};
  auto indexer = [&](int t) {
    auto store = open_another();
    if (!store) {
      ++failures;
      return;
    }
    std::mt19937 rng(t);
    auto order = items;
    std::shuffle(order.begin(), order.end(), rng);
    for (std::size_t i = 0; i < order.size();) {
      const std::size_t n = std::min<std::size_t>(1 + rng() % 12, order.size() - i);
      WriteBatch b;
      for (std::size_t j = i; j < i + n; ++j) {
        const auto [l, k] = order[j];
        const std::string id = id_of("L", l);
        b.listings.push_back(make_listing(id));
        b.photos.push_back(make_photo(sha_of(l, k), kModel, 16, 100 + (l * kPerListing + k) % kPhotos));
        b.images.push_back(make_image(id, std::to_string(k) + ".jpg", sha_of(l, k), k));
        b.blobs.push_back(Blob{sha_of(l, k), "image/jpeg", "bytes"});
      }
      if (Status st = store->write(b); !st) {
        ADD_FAILURE() << st.message();
        ++failures;
      }
      i += n;
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) threads.emplace_back(indexer, t);
  for (auto& th : threads) th.join();
  ASSERT_EQ(failures, 0) << "serialization failures and deadlocks are retried, never returned";

  StoreStats s = stats();
  EXPECT_EQ(s.listings, kListings);
  EXPECT_EQ(s.images, kListings * kPerListing) << "one image per (listing, source)";
  EXPECT_EQ(s.photos, kPhotos) << "one photo row per sha256";
  for (int l = 0; l < kListings; ++l) {
    auto images = store_->listing_images(id_of("L", l));
    ASSERT_TRUE(images.ok());
    ASSERT_EQ(images->size(), static_cast<std::size_t>(kPerListing));
    for (int k = 0; k < kPerListing; ++k) EXPECT_EQ((*images)[k].sha256, sha_of(l, k));
  }
  EXPECT_EQ(scan(kModel).size(), static_cast<std::size_t>(kListings * kPerListing));
  // The log holds each listing and image once, at its last write.
  EXPECT_EQ(changes_since(0).size(), static_cast<std::size_t>(kListings + kListings * kPerListing));
}

TEST_P(PostgresOnlyTest, ALostConnectionIsUnavailableAndTheNextCallReconnects) {
  WriteBatch b;
  b.listings = {make_listing("L1")};
  ASSERT_TRUE(store_->write(b).ok());
  exec_sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
           "WHERE datname = current_database() AND pid <> pg_backend_pid()");
  auto lost = store_->get_listing("L1");
  ASSERT_FALSE(lost.ok()) << "the server closed the connection";
  EXPECT_EQ(lost.code(), ErrorCode::kUnavailable) << lost.message();
  auto again = store_->get_listing("L1");
  ASSERT_TRUE(again.ok()) << again.message();
  EXPECT_TRUE(again->has_value());
  ASSERT_TRUE(store_->write(b).ok()) << "prepared statements are prepared again";
}

TEST_P(PostgresOnlyTest, ABarePostgresqlUrlUsesTheLibpqEnvironment) {
  const PgCluster& pg = PgCluster::get();
  WriteBatch b;
  b.listings = {make_listing("via-url")};
  ASSERT_TRUE(store_->write(b).ok());
  const std::string db = path_.substr(path_.rfind('/') + 1);
  setenv("PGHOST", pg.host().c_str(), 1);
  setenv("PGPORT", std::to_string(pg.port()).c_str(), 1);
  setenv("PGUSER", pg.user().c_str(), 1);
  setenv("PGDATABASE", db.c_str(), 1);
  auto bare = open_store("postgresql://");
  ASSERT_TRUE(bare.ok()) << bare.message();
  auto l = (*bare)->get_listing("via-url");
  ASSERT_TRUE(l.ok() && l->has_value()) << "the same database as " << path_;
}

INSTANTIATE_TEST_SUITE_P(Stores, StoreTest, ::testing::Values("sqlite", "postgresql"),
                         [](const auto& info) { return info.param; });
INSTANTIATE_TEST_SUITE_P(Stores, SqliteOnlyTest, ::testing::Values("sqlite"),
                         [](const auto& info) { return info.param; });
INSTANTIATE_TEST_SUITE_P(Stores, PostgresOnlyTest, ::testing::Values("postgresql"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace homelens::store

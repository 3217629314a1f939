// The engine over a real SQLite table: what other writers commit reaches its
// catalogue through the change log, deletes take their rows with them, errors carry
// their kind, and queries stay correct while writes and refreshes run concurrently
// (this file also runs in the ThreadSanitizer build).
#include "homelens/engine/engine.h"

#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <set>
#include <thread>

#include "support/testing.h"

namespace homelens::engine {
namespace {

using testing::TempDir;

constexpr std::size_t kDim = 32;

model::ModelSpec test_spec() {
  model::ModelSpec spec;
  spec.id = "engine-test-model";
  spec.embedding_dim = static_cast<int>(kDim);
  return spec;
}

// A writer standing in for another process: its own Store on the same file.
class Writer {
 public:
  explicit Writer(const std::string& db) {
    auto s = store::open_store(db);
    if (!s) throw std::runtime_error(s.message());
    store_ = std::move(*s);
  }
  // Adds `photos` images to listing `id`, each its own photo.
  void add(const std::string& id, int photos, std::uint32_t seed, double price = 500000) {
    std::mt19937 rng(seed);
    store::WriteBatch b;
    store::Listing l;
    l.id = id;
    l.price = price;
    l.zip = "85255";
    b.listings.push_back(l);
    for (int i = 0; i < photos; ++i) {
      store::Photo p;
      p.sha256 = id + "-photo-" + std::to_string(i) + "-" + std::to_string(seed);
      p.model_id = test_spec().id;
      p.width = 640;
      p.height = 480;
      p.embedding = testing::random_unit(rng, kDim);
      p.tags.front = i == 0 ? 0.9f : 0.1f;
      b.photos.push_back(p);
      store::Image im;
      im.listing_id = id;
      im.source = "photo-" + std::to_string(i) + ".jpg";
      im.sha256 = p.sha256;
      im.photo_order = i;
      im.is_title = i == 0;
      b.images.push_back(im);
    }
    if (auto st = store_->write(b); !st) throw std::runtime_error(st.message());
  }
  store::Store& store() { return *store_; }

 private:
  std::unique_ptr<store::Store> store_;
};

// prefix + number, appended: GCC 12 warns falsely (-Wrestrict) about "w" + to_string(i) in a lambda.
std::string id_of(const char* prefix, long i) {
  std::string s = prefix;
  s += std::to_string(i);
  return s;
}

std::unique_ptr<Engine> open_engine(const std::string& db, double refresh_seconds = 0) {
  EngineOptions o;
  o.db = db;
  o.spec = test_spec();
  o.refresh_seconds = refresh_seconds;
  auto e = Engine::open(o);
  if (!e) throw std::runtime_error(e.message());
  if (auto st = (*e)->load(); !st) throw std::runtime_error(st.message());
  return std::move(*e);
}

std::set<std::string> listing_ids(Engine& e) {
  std::set<std::string> ids;
  auto page = e.list_listings({}, 0, 1u << 30);
  if (!page) throw std::runtime_error(page.message());
  for (const auto& l : page->listings) ids.insert(l.listing.id);
  return ids;
}

TEST(Engine, RefreshAppliesWhatAnotherWriterCommitted) {
  TempDir tmp;
  const std::string db = (tmp / "t.db").string();
  Writer w(db);
  w.add("a", 3, 1);
  auto e = open_engine(db);
  EXPECT_EQ(listing_ids(*e), (std::set<std::string>{"a"}));

  w.add("b", 2, 2, 300000);
  w.add("c", 1, 3);
  ASSERT_TRUE(w.store().delete_listing("a"));
  EXPECT_EQ(listing_ids(*e), (std::set<std::string>{"a"})) << "nothing is applied before a refresh";
  ASSERT_TRUE(e->refresh());
  EXPECT_EQ(listing_ids(*e), (std::set<std::string>{"b", "c"}));
  auto b = e->get_listing("b");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->photo_count, 2u);
  EXPECT_EQ(b->listing.price, 300000);
  EXPECT_EQ(e->get_listing("a").code(), ErrorCode::kNotFound);

  // A listing's attributes change: the new price is what filters see.
  w.add("b", 2, 2, 900000);
  ASSERT_TRUE(e->refresh());
  rank::Filters cheap;
  cheap.price_max = 600000;
  auto page = e->list_listings(cheap, 0, 10);
  ASSERT_TRUE(page);
  ASSERT_EQ(page->listings.size(), 1u);
  EXPECT_EQ(page->listings[0].listing.id, "c");
}

TEST(Engine, RecommendSeesNewListingsAndNotDeletedOnesAfterRefresh) {
  TempDir tmp;
  const std::string db = (tmp / "t.db").string();
  Writer w(db);
  for (int i = 0; i < 20; ++i) w.add(id_of("l", i), 2, 100 + i);
  auto e = open_engine(db);
  w.add("new", 2, 999);
  ASSERT_TRUE(w.store().delete_listing("l3"));
  ASSERT_TRUE(e->refresh());
  QuerySpec q;
  q.listing_id = "l0";
  rank::RecommendRequest r;
  r.k = 100;
  auto answer = e->recommend(q, r);
  ASSERT_TRUE(answer) << answer.message();
  std::set<std::string> got;
  for (const auto& item : answer->results) got.insert(item.listing_id);
  EXPECT_EQ(got.size(), 19u);  // 20 - l3 + new - the query's own listing
  EXPECT_TRUE(got.count("new"));
  EXPECT_FALSE(got.count("l3"));
}

TEST(Engine, RemovingWhatIsNotThereIsNotFound) {
  TempDir tmp;
  const std::string db = (tmp / "t.db").string();
  Writer w(db);
  w.add("a", 1, 1);
  auto e = open_engine(db);
  EXPECT_EQ(e->remove_listing("nope").code(), ErrorCode::kNotFound);
  EXPECT_EQ(e->remove_image(123456).code(), ErrorCode::kNotFound);
  QuerySpec q;
  q.image_id = 987654;
  EXPECT_EQ(e->similar(q, {}).code(), ErrorCode::kNotFound);
  QuerySpec none;
  EXPECT_EQ(e->similar(none, {}).code(), ErrorCode::kInvalidArgument);
}

TEST(Engine, RemoveImageMovesTheTitleAndRemoveListingEmptiesIt) {
  TempDir tmp;
  const std::string db = (tmp / "t.db").string();
  Writer w(db);
  w.add("a", 3, 1);
  w.add("b", 1, 2);
  auto e = open_engine(db);
  auto a = e->get_listing("a");
  ASSERT_TRUE(a);
  ASSERT_TRUE(a->title_image);
  const std::int64_t title = *a->title_image;
  ASSERT_TRUE(e->remove_image(title));
  a = e->get_listing("a");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->photo_count, 2u);
  ASSERT_TRUE(a->title_image);
  EXPECT_NE(*a->title_image, title);
  EXPECT_EQ(e->get_image(title).code(), ErrorCode::kNotFound);
  ASSERT_TRUE(e->remove_listing("a"));
  EXPECT_EQ(listing_ids(*e), (std::set<std::string>{"b"}));
}

// Readers query without pause while another writer adds and deletes listings and
// the engine's background refresh applies them: every answer is well-formed, and
// once the writer stops, the catalogue equals a fresh load of the table.
TEST(EngineConcurrency, QueriesStayCorrectDuringWritesAndLiveRefresh) {
  TempDir tmp;
  const std::string db = (tmp / "t.db").string();
  Writer w(db);
  for (int i = 0; i < 50; ++i) w.add(id_of("base", i), 3, 10 + i);
  auto e = open_engine(db, 0.005);
  std::atomic<bool> done{false};
  std::atomic<int> queries{0}, bad{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&, t] {
      std::mt19937 rng(t);
      while (!done) {
        QuerySpec q;
        q.listing_id = id_of("base", static_cast<long>(rng() % 50));
        rank::RecommendRequest r;
        r.k = 20;
        if (t == 1) r.listing_ids = {"base1", "base2", "w0", "w1", "w2"};
        auto answer = e->recommend(q, r);
        if (!answer) ++bad;
        else
          for (std::size_t i = 1; i < answer->results.size(); ++i)
            if (answer->results[i].score > answer->results[i - 1].score) ++bad;
        if (t == 2) {
          auto page = e->list_listings({}, 0, 1000);
          if (!page || page->listings.size() != page->total) ++bad;
        }
        ++queries;
      }
    });
  }
  std::thread writer([&] {
    for (int i = 0; i < 40; ++i) {
      w.add(id_of("w", i), 2, 1000 + i);
      if (i % 3 == 2) (void)w.store().delete_listing(id_of("w", i - 1));
    }
  });
  writer.join();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  done = true;
  for (auto& r : readers) r.join();
  EXPECT_EQ(bad, 0);
  EXPECT_GT(queries, 10);
  ASSERT_TRUE(e->refresh());
  auto fresh = open_engine(db);
  EXPECT_EQ(listing_ids(*e), listing_ids(*fresh));
  auto s1 = e->stats(), s2 = fresh->stats();
  ASSERT_TRUE(s1 && s2);
  EXPECT_EQ(s1->images, s2->images);
  EXPECT_GT(s1->refreshes, 0u);
}

}  // namespace
}  // namespace homelens::engine

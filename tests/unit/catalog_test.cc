// The catalogue over the index seam: it loads a real SQLite table into the index
// kind it is given (a bad kind, or one without float vectors, is an error naming
// it), and similar() leaves out the query photo, its listing and byte-identical
// photos through a selector.
#include "homelens/rank/catalog.h"
#include "homelens/index/half_flat_index.h"
#include "homelens/index/index_factory.h"
#include "support/testing.h"

#include <gtest/gtest.h>

#include <random>
#include <set>

namespace homelens::rank {
namespace {

constexpr std::size_t kDim = 48;

// A real SQLite table: 30 listings x 3 photos; listing L1's photo 0 has the same
// bytes (sha) as listing L0's photo 0.
struct Table {
  homelens::testing::TempDir dir;
  std::unique_ptr<store::Store> store;
  Table() {
    auto opened = store::open_store((dir / "t.db").string());
    EXPECT_TRUE(opened.ok()) << opened.message();
    store = std::move(*opened);
    std::mt19937 rng(3);
    store::WriteBatch batch;
    for (int l = 0; l < 30; ++l) {
      store::Listing li;
      li.id = "L" + std::to_string(l);
      batch.listings.push_back(li);
      for (int p = 0; p < 3; ++p) {
        store::Photo ph;
        ph.sha256 = (l == 1 && p == 0) ? "L0-0" : li.id + "-" + std::to_string(p);
        ph.model_id = "m";
        ph.embedding = homelens::testing::random_unit(rng, kDim);
        store::Image im;
        im.listing_id = li.id;
        im.source = li.id + "-" + std::to_string(p) + ".jpg";
        im.sha256 = ph.sha256;
        im.photo_order = p;
        im.is_title = p == 0;
        if (!(l == 1 && p == 0)) batch.photos.push_back(std::move(ph));
        batch.images.push_back(std::move(im));
      }
    }
    EXPECT_TRUE((*store).write(batch).ok());
  }
};

TEST(CatalogIndexTest, LoadsIntoTheGivenIndexKindAndRefusesAnUnknownOrVectorlessOne) {
  Table t;
  for (std::string spec : {"Flat", ""}) {
    auto cat = Catalog::load(*t.store, "m", spec);
    ASSERT_TRUE(cat.ok()) << cat.message();
    EXPECT_EQ(cat->index().kind(), spec.empty() ? index::default_index_spec() : spec);
    EXPECT_EQ(cat->size(), 90u);
    EXPECT_EQ(cat->index().dim(), kDim);
    for (const auto& [id, e] : cat->entries()) {
      ASSERT_EQ(cat->index().row_of(id), e.row) << id;
      ASSERT_EQ(cat->index().vector(id).size(), kDim) << id;
    }
  }
  auto bad = Catalog::load(*t.store, "m", "HNSW32");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(bad.message().find("HNSW32"), std::string::npos) << bad.message();
  auto unbalanced = Catalog::create(kDim, "Refine(Flat");
  ASSERT_FALSE(unbalanced.ok());
  EXPECT_NE(unbalanced.message().find("Refine(Flat"), std::string::npos) << unbalanced.message();
  // HalfFlat alone could not give back the vector of a photo to query by.
  auto half = Catalog::create(kDim, "HalfFlat");
  ASSERT_FALSE(half.ok());
  EXPECT_EQ(half.code(), index::HalfFlatIndex::supported() ? ErrorCode::kInvalidArgument : ErrorCode::kUnavailable);
  EXPECT_NE(half.message().find("HalfFlat"), std::string::npos) << half.message();
}

TEST(CatalogIndexTest, SimilarLeavesOutTheQueryItsListingAndIdenticalPhotos) {
  Table t;
  auto cat = Catalog::load(*t.store, "m");
  ASSERT_TRUE(cat.ok()) << cat.message();
  const CatalogListing* l0 = cat->listing("L0");
  ASSERT_NE(l0, nullptr);
  const CatalogEntry* q = l0->title;
  SimilarQuery sq;
  const auto v = cat->index().vector(q->image.id);
  sq.vector.assign(v.begin(), v.end());
  sq.image_id = q->image.id;
  sq.listing_id = "L0";
  sq.sha256 = q->sha256;
  sq.k = 100;
  auto hits = similar(*cat, sq);
  EXPECT_EQ(hits.size(), 87u) << "all but L0's three photos";
  std::set<std::int64_t> l0_ids(l0->image_ids.begin(), l0->image_ids.end());
  for (const auto& h : hits) EXPECT_FALSE(l0_ids.count(h.id)) << h.id;
  // L1's first photo has the query's bytes: the best hit, unless identical photos are left out.
  EXPECT_EQ(cat->find(hits[0].id)->sha256, q->sha256);
  EXPECT_NEAR(hits[0].score, 1.0f, 1e-5);
  sq.exclude_same_photo = true;
  hits = similar(*cat, sq);
  EXPECT_EQ(hits.size(), 86u);
  for (const auto& h : hits) EXPECT_NE(cat->find(h.id)->sha256, q->sha256);
  // Including the query's own listing: only the query photo itself is left out.
  sq.exclude_same_listing = false;
  sq.exclude_same_photo = false;
  EXPECT_EQ(similar(*cat, sq).size(), 89u);
}

}  // namespace
}  // namespace homelens::rank

// The query side's in-memory view of the table for one model: every image's
// vector in an exact index, its tags, and every listing's attributes and photos,
// so a recommendation never waits on the database.
#pragma once

#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "homelens/index/exact_index.h"
#include "homelens/store/store.h"

namespace homelens::rank {

struct CatalogListing;

struct CatalogEntry {
  store::Image image;
  std::string sha256;
  store::Tags tags;
  std::uint32_t row = 0;                   // its row in index(): stable while it exists
  const CatalogListing* listing = nullptr; // its listing, so hot paths skip a lookup
};

struct CatalogListing {
  store::Listing listing;
  std::vector<std::int64_t> image_ids;  // by photo order
  std::int64_t title_image = -1;        // -1 when the listing has no photo
  const CatalogEntry* title = nullptr;  // the title image's entry
};

class Catalog {
 public:
  explicit Catalog(std::size_t dim) : index_(dim) {}
  // Loads every listing and every image embedded with model_id.
  static Result<Catalog> load(store::Store& store, const std::string& model_id);

  const index::ExactIndex& index() const { return index_; }
  const CatalogEntry* find(std::int64_t image_id) const;
  const CatalogListing* listing(const std::string& id) const;
  const std::unordered_map<std::int64_t, CatalogEntry>& entries() const { return entries_; }
  const std::unordered_map<std::string, CatalogListing>& listings() const { return listings_; }
  std::size_t size() const { return entries_.size(); }

  // Adds or replaces one image (its listing must have been put first, or is created bare).
  Status put(const store::Image& image, const store::Photo& photo);
  // Adds or replaces a listing's attributes, keeping its photos.
  void put_listing(const store::Listing& listing);
  // Re-reads which photo is the title of a listing from the given images.
  void set_title(const std::string& listing_id, std::int64_t image_id);
  bool remove_image(std::int64_t image_id);
  bool remove_listing(const std::string& listing_id);

 private:
  void relink(CatalogListing& l);
  index::ExactIndex index_;
  std::unordered_map<std::int64_t, CatalogEntry> entries_;
  std::unordered_map<std::string, CatalogListing> listings_;
};

struct SimilarQuery {
  std::vector<float> vector;            // unit-length query embedding
  std::optional<std::int64_t> image_id; // the query's own image, never returned
  std::string listing_id;               // the query's listing ("" for an uploaded photo)
  std::string sha256;                   // the query photo's bytes
  std::size_t k = 10;
  bool exclude_same_listing = true;     // a buyer wants other homes, not the same one
  bool exclude_same_photo = false;      // drop exact byte-duplicates of the query photo
};

// The k most similar images by cosine, best first (exact).
std::vector<index::Hit> similar(const Catalog& catalog, const SimilarQuery& query);

}  // namespace homelens::rank

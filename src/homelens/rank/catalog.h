// The query side's in-memory view of the table for one model: every image's
// vector in an exact index plus what a result line shows about it.
#pragma once

#include <optional>
#include <string>
#include <unordered_map>

#include "homelens/index/exact_index.h"
#include "homelens/store/store.h"

namespace homelens::rank {

struct CatalogEntry {
  store::Image image;
  std::string sha256;
  store::Tags tags;
};

class Catalog {
 public:
  explicit Catalog(std::size_t dim) : index_(dim) {}
  // Loads every image embedded with model_id.
  static Result<Catalog> load(store::Store& store, const std::string& model_id);

  const index::ExactIndex& index() const { return index_; }
  const CatalogEntry* find(std::int64_t image_id) const;
  std::size_t size() const { return entries_.size(); }
  // Adds or replaces one image.
  Status put(const store::Image& image, const store::Photo& photo);

 private:
  index::ExactIndex index_;
  std::unordered_map<std::int64_t, CatalogEntry> entries_;
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

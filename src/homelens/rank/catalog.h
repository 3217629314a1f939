// The query side's in-memory view of the table for one model: every image's
// vector in a VectorIndex (the kind index_factory.h picks), its tags, and every listing's attributes and photos,
// so a recommendation never waits on the database.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "homelens/index/vector_index.h"
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
  std::int64_t title_row = -1;          // the title image's index row (beside the id, for the hot path)
  store::Listing listing;
  std::vector<std::int64_t> image_ids;  // by photo order
  std::int64_t title_image = -1;        // -1 when the listing has no photo
  const CatalogEntry* title = nullptr;  // the title image's entry
};

// What a candidate scan reads of each image, packed by index row so that
// thousands of candidates touch a few contiguous cache lines each instead of
// scattered map nodes. Tags are small codes (Catalog::tag_code).
struct HotRow {
  const CatalogEntry* entry = nullptr;      // nullptr for a free row
  const CatalogListing* listing = nullptr;
  std::int64_t image_id = 0;
  float front = 0;
  bool has_front : 1 = false;
  bool is_title : 1 = false;  // its listing's title photo (whole-index requests sweep these)
  std::uint8_t style = 0, stories = 0, room = 0;
};

class Catalog {
 public:
  // Tag code 0 is "no tag"; kUnknownTag is a value no stored photo has.
  static constexpr std::uint8_t kUnknownTag = 255;

  // An empty catalogue over the default index (index::default_index_spec()).
  explicit Catalog(std::size_t dim);
  // An empty catalogue over the index kind index_spec (index_factory.h; "" is the
  // default); errors (kInvalidArgument) name a bad spec or one that keeps no float
  // vectors (HalfFlat or SQ8Flat alone). Dimension 0 takes the first photo's.
  static Result<Catalog> create(std::size_t dim, std::string_view index_spec);
  // Loads every listing and every image embedded with model_id.
  static Result<Catalog> load(store::Store& store, const std::string& model_id,
                              std::string_view index_spec = "");

  const index::VectorIndex& index() const { return *index_; }
  // For maintenance of the index itself (the approximate index's build and catch-up);
  // entries and rows must not be changed through it.
  index::VectorIndex& mutable_index() { return *index_; }
  // Replaces the index by wrap(index): a wrapper that keeps its rows (AnnIndex).
  void wrap_index(const std::function<std::unique_ptr<index::VectorIndex>(std::unique_ptr<index::VectorIndex>)>& wrap) {
    index_ = wrap(std::move(index_));
  }
  const CatalogEntry* find(std::int64_t image_id) const;
  const CatalogListing* listing(const std::string& id) const;
  const std::unordered_map<std::int64_t, CatalogEntry>& entries() const { return entries_; }
  const std::unordered_map<std::string, CatalogListing>& listings() const { return listings_; }
  std::size_t size() const { return entries_.size(); }
  // The hot fields of every index row (row_capacity() of them).
  const std::vector<HotRow>& hot() const { return hot_; }
  // The small code of a tag value: 0 for "", kUnknownTag for a value no photo has.
  std::uint8_t tag_code(const std::string& value) const;
  // out[i] = the listing with id ids[i], or nullptr. Looks them up in an open-addressed
  // table with the next lookups' memory prefetched, so a list of thousands of ids
  // costs little more than its memory traffic.
  void find_listings(std::span<const std::string> ids, std::vector<const CatalogListing*>& out) const;
  // Calls f(listing) for every listing, in no order, with the next listings and their
  // title rows' hot fields prefetched: a whole-index request visits every listing, and
  // map nodes lie anywhere in memory.
  template <typename F>
  void for_each_listing(F&& f) const {
    constexpr std::size_t kListingAhead = 16, kHotAhead = 8;
    const std::size_t n = slots_.size();
    for (std::size_t i = 0; i < n; ++i) {
      if (i + kListingAhead < n && slots_[i + kListingAhead].listing) __builtin_prefetch(slots_[i + kListingAhead].listing);
      if (i + kHotAhead < n)
        if (const CatalogListing* ahead = slots_[i + kHotAhead].listing; ahead && ahead->title_row >= 0)
          __builtin_prefetch(&hot_[static_cast<std::size_t>(ahead->title_row)]);
      if (slots_[i].listing) f(*slots_[i].listing);
    }
  }

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
  void refresh_hot(const CatalogEntry& e);
  CatalogListing& listing_node(const std::string& id);  // found or created (and indexed)
  std::uint8_t intern(const std::string& value);
  // Open addressing with linear probing over (hash, listing); capacity a power of two.
  struct Slot {
    std::uint64_t hash = 0;
    const CatalogListing* listing = nullptr;
  };
  void slot_insert(const CatalogListing* l);
  void slot_erase(const std::string& id);
  static std::uint64_t hash_id(const std::string& id);

  Catalog(std::string index_spec, std::unique_ptr<index::VectorIndex> index)
      : index_spec_(std::move(index_spec)), index_(std::move(index)) {}

  std::string index_spec_;  // what index_ was made from (valid), to remake it for another dimension
  std::unique_ptr<index::VectorIndex> index_;
  std::unordered_map<std::int64_t, CatalogEntry> entries_;
  std::unordered_map<std::string, CatalogListing> listings_;
  std::vector<HotRow> hot_;
  std::vector<std::string> tag_values_{""};  // code -> value
  std::vector<Slot> slots_;
  std::size_t slots_used_ = 0;
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

// The k most similar images by cosine, best first (exact unless the index kind is HalfFlat or SQ8Flat).
std::vector<index::Hit> similar(const Catalog& catalog, const SimilarQuery& query);

}  // namespace homelens::rank

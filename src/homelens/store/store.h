// The table seam: callers hold a Store and never a concrete class, so a shared
// PostgreSQL store can replace the embedded SQLite file without touching them.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "homelens/core/result.h"
#include "homelens/store/records.h"

namespace homelens::store {

// One transaction's worth of ingest output: all of it lands or none of it.
struct WriteBatch {
  std::vector<Listing> listings;  // upserted (attributes replaced)
  std::vector<Photo> photos;      // inserted unless (sha256, model) exists
  std::vector<Image> images;      // upserted by (listing_id, source)
  std::vector<Blob> blobs;        // inserted unless the hash exists
};

struct StoreStats {
  std::int64_t listings = 0;
  std::int64_t images = 0;
  std::int64_t photos = 0;  // distinct (bytes, model) rows
};

// One entry of the change log: something about `key` changed at `seq`. A reader re-reads the key's
// current state (absent = deleted), so applying a change twice is harmless.
struct Change {
  enum class Kind { kListing, kImage, kPhoto };  // key: listing id | image id (decimal) | sha256
  Kind kind;
  std::string key;
  std::int64_t seq = 0;
};

// Every store answers a missing row with an empty optional (never an error); errors carry
// kIO for a failed query, kUnavailable for a lost connection or a busy database (retry later),
// kConflict for a write that contradicts what is stored (an image of an unknown listing) and
// kCorruption for an unknown schema version. Implementations are safe to call from several
// threads; a callback of scan/scan_listings must not call back into the same Store.
class Store {
 public:
  virtual ~Store() = default;

  // The image row for (listing, source) if it exists and its photo is embedded with model_id.
  virtual Result<std::optional<Image>> find_image(const std::string& listing_id,
                                                  const std::string& source,
                                                  const std::string& model_id) = 0;
  // Whether bytes with this hash are already embedded with model_id.
  virtual Result<bool> has_photo(const std::string& sha256, const std::string& model_id) = 0;
  // Writes the batch in one transaction and logs every listing, every image and every
  // already-stored photo that got new tags (see Change).
  virtual Status write(const WriteBatch& batch) = 0;

  virtual Result<std::optional<Image>> get_image(std::int64_t id) = 0;
  virtual Result<std::optional<Photo>> get_photo(const std::string& sha256,
                                                 const std::string& model_id) = 0;
  virtual Result<std::optional<Listing>> get_listing(const std::string& id) = 0;
  virtual Result<std::vector<Image>> listing_images(const std::string& listing_id) = 0;
  // Calls fn for every listing, in id order.
  virtual Status scan_listings(const std::function<void(const Listing&)>& fn) = 0;
  // Bytes kept for a photo (uploads), if any.
  virtual Result<std::optional<Blob>> get_blob(const std::string& sha256) = 0;
  // Calls fn for every image whose photo is embedded with model_id, in image id order.
  virtual Status scan(const std::string& model_id,
                      const std::function<void(const ImageWithPhoto&)>& fn) = 0;

  // Per-dimension centres of the model's binary codes (empty optional until set).
  virtual Result<std::optional<std::vector<float>>> get_centres(const std::string& model_id) = 0;
  // Stores the centres and (re)computes the code of every photo of the model, in one transaction.
  virtual Status set_centres_and_codes(const std::string& model_id,
                                       const std::vector<float>& centres) = 0;
  // Codes for photos embedded after the centres were fixed.
  virtual Status fill_missing_codes(const std::string& model_id) = 0;

  // For each listing whose title was not given explicitly, makes the image whose
  // photo is most likely the house front (tags.front; photo_order breaks ties and
  // stands in when there are no tags) the title photo. One transaction.
  virtual Status assign_titles(const std::vector<std::string>& listing_ids,
                               const std::string& model_id) = 0;

  // Deletes the image (logging it and its listing) and, in the same transaction, the photo
  // rows (all models) and blob of its bytes when no image shows them any more.
  virtual Status delete_image(std::int64_t id) = 0;
  // Deletes the listing and its images (logging each), with the same orphan cleanup.
  virtual Status delete_listing(const std::string& id) = 0;
  virtual Result<StoreStats> stats() = 0;

  // The highest committed change sequence (0 for a new table).
  virtual Result<std::int64_t> last_change() = 0;
  // Changes with seq > after, in seq order, at most `limit`. Commit order equals seq order, so a
  // reader that remembers the last seq it applied never misses a committed write.
  virtual Result<std::vector<Change>> changes_since(std::int64_t after, std::size_t limit) = 0;
  // The image joined with its photo embedded with model_id; nullopt when the image is gone or its
  // photo has no row for that model.
  virtual Result<std::optional<ImageWithPhoto>> get_image_with_photo(std::int64_t id,
                                                                     const std::string& model_id) = 0;
  // Ids of the images that show the photo with this hash (any listing), in id order.
  virtual Result<std::vector<std::int64_t>> images_of_photo(const std::string& sha256) = 0;

  // Small named values kept in the table's meta table beside the schema version (a feed's
  // high-water mark). get_meta answers a missing key with an empty optional; set_meta
  // replaces the value in its own transaction.
  virtual Result<std::optional<std::string>> get_meta(const std::string& key) = 0;
  virtual Status set_meta(const std::string& key, const std::string& value) = 0;
};

// Opens (creating or migrating the schema if needed) the store at `url`: postgresql://... or
// postgres://... for PostgreSQL (a bare postgresql:// takes PGHOST, PGPORT, PGUSER, PGDATABASE
// from the environment, as libpq does), otherwise a file path or sqlite:PATH for SQLite.
// Errors name the url (without its password).
Result<std::unique_ptr<Store>> open_store(const std::string& url);

}  // namespace homelens::store

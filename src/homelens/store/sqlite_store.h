// Store on one SQLite file (WAL): the embedded default, no server needed.
// Thread-safe: one connection guarded by a mutex; write transactions of several processes on
// one file are serialized by SQLite (BEGIN IMMEDIATE, 10 s busy timeout, then kUnavailable).
#pragma once

#include <functional>
#include <mutex>
#include <string>

#include "homelens/store/store.h"

struct sqlite3;

namespace homelens::store {

namespace internal {
class ChangeSet;
}

class SqliteStore final : public Store {
 public:
  // Opens or creates the file and its schema, migrating a version 1 file to version 2 (the
  // change log); refuses a file written by a newer schema (kCorruption).
  static Result<std::unique_ptr<Store>> open(const std::string& path);
  ~SqliteStore() override;

  Result<std::optional<Image>> find_image(const std::string& listing_id, const std::string& source,
                                          const std::string& model_id) override;
  Result<bool> has_photo(const std::string& sha256, const std::string& model_id) override;
  Status write(const WriteBatch& batch) override;
  Result<std::optional<Image>> get_image(std::int64_t id) override;
  Result<std::optional<Photo>> get_photo(const std::string& sha256,
                                         const std::string& model_id) override;
  Result<std::optional<Listing>> get_listing(const std::string& id) override;
  Result<std::vector<Image>> listing_images(const std::string& listing_id) override;
  Status scan_listings(const std::function<void(const Listing&)>& fn) override;
  Result<std::optional<Blob>> get_blob(const std::string& sha256) override;
  Status scan(const std::string& model_id,
              const std::function<void(const ImageWithPhoto&)>& fn) override;
  Result<std::optional<std::vector<float>>> get_centres(const std::string& model_id) override;
  Status set_centres_and_codes(const std::string& model_id,
                               const std::vector<float>& centres) override;
  Status fill_missing_codes(const std::string& model_id) override;
  Status assign_titles(const std::vector<std::string>& listing_ids,
                       const std::string& model_id) override;
  Status delete_image(std::int64_t id) override;
  Status delete_listing(const std::string& id) override;
  Result<StoreStats> stats() override;
  Result<std::int64_t> last_change() override;
  Result<std::vector<Change>> changes_since(std::int64_t after, std::size_t limit) override;
  Result<std::optional<std::string>> get_meta(const std::string& key) override;
  Status set_meta(const std::string& key, const std::string& value) override;
  Result<std::optional<ImageWithPhoto>> get_image_with_photo(std::int64_t id,
                                                             const std::string& model_id) override;
  Result<std::vector<std::int64_t>> images_of_photo(const std::string& sha256) override;

  static constexpr int kSchemaVersion = 3;

 private:
  SqliteStore(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  Status exec(const char* sql);
  Status commit();  // COMMIT, or ROLLBACK when the commit fails
  // BEGIN IMMEDIATE, body, then COMMIT; ROLLBACK when the body or the commit fails.
  Status transaction(const std::function<Status()>& body);
  Status write_locked(const WriteBatch& batch);
  // Gives each changed key the next sequence number; inside the caller's transaction.
  Status log_changes(const internal::ChangeSet& changes);
  // Deletes photo and blob rows of these hashes that no image shows any more.
  Status delete_orphans(const std::vector<std::string>& sha256s);
  Status recompute_codes(const std::string& model_id, const std::vector<float>& centres,
                         bool only_missing);
  Error error(const std::string& what) const;
  // Records that these keys changed, with the next sequence numbers (inside the caller's transaction).
  Status log_changes(const std::vector<std::pair<Change::Kind, std::string>>& keys);

  sqlite3* db_;
  std::string path_;
  std::mutex mu_;  // one connection, used from many threads
};

}  // namespace homelens::store

// Store on a PostgreSQL database: one table shared by many indexers and servers.
// Thread-safe: each PostgresStore holds one connection guarded by a mutex (calls from several
// threads take turns); for parallel writes open one PostgresStore per thread. Several processes
// may open and write the same database at once: the schema is created under an advisory lock,
// writes upsert with rows locked in one global order, and a transaction that still hits a
// serialization failure or deadlock is retried whole a few times (then kUnavailable).
// A lost connection answers kUnavailable and is reopened by the next call.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "homelens/store/store.h"

namespace pqxx {
class transaction_base;
}

namespace homelens::store {

namespace internal {
class ChangeSet;
}

class PostgresStore final : public Store {
 public:
  // Connects to `url` (postgresql://... or postgres://..., libpq syntax; a bare postgresql://
  // uses PGHOST/PGPORT/PGUSER/PGDATABASE) and creates or migrates the schema in one
  // transaction. Refuses a database written by a newer schema (kCorruption); an unreachable
  // server is kUnavailable. Errors name the url without its password.
  static Result<std::unique_ptr<Store>> open(const std::string& url);
  ~PostgresStore() override;

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
  // Streams the rows through a cursor, a thousand at a time, inside one read transaction.
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

  static constexpr int kSchemaVersion = 2;

  // The url with any password removed, as error messages name it.
  static std::string redact(const std::string& url);

 private:
  struct Connection;
  // A transaction body; `step` names what it is doing for the error message.
  using Body = std::function<void(pqxx::transaction_base& tx, std::string& step)>;

  PostgresStore(std::string url, std::string name);
  Status connect();  // (re)opens the connection when there is none; with mu_ held
  // Runs body in a read-write transaction, retried on serialization failure or deadlock unless
  // `retry` is false (a scan that has already handed rows to its callback must not start over).
  Status transact(const std::string& what, const Body& body, bool retry = true);
  // Runs body in one autocommit statement context (no retry: reads see committed rows).
  Status read(const std::string& what, const Body& body);
  Error failure(const std::string& step, const std::exception& e);
  void log_changes(pqxx::transaction_base& tx, const internal::ChangeSet& changes);
  void delete_orphans(pqxx::transaction_base& tx, const std::vector<std::string>& sha256s);
  void recompute_codes(pqxx::transaction_base& tx, const std::string& model_id,
                       const std::vector<float>& centres, bool only_missing);

  std::string url_;
  std::string name_;  // url_ without password
  std::unique_ptr<Connection> conn_;
  std::mutex mu_;  // one connection, used from many threads
};

}  // namespace homelens::store

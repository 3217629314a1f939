#include "homelens/store/sqlite_store.h"

#include <sqlite3.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstring>
#include <thread>

#include "homelens/model/embedding.h"
#include "homelens/store/row_codec.h"

namespace homelens::store {

namespace {

using namespace internal;

// Version 2 added changes and change_counter. Every statement is IF NOT EXISTS, so running
// it on a version 1 file is the migration: rows written before it have no log entries, which a
// reader does not need (it loads the whole table before it follows the log). Version 3 added
// photos.head_embedding (kHeadEmbeddingColumn adds it to an older file).
const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS listings(
  id TEXT PRIMARY KEY,
  price REAL, beds REAL, baths REAL, area REAL, zip TEXT,
  extra TEXT NOT NULL DEFAULT '{}',
  updated_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS photos(
  sha256 TEXT NOT NULL,
  model_id TEXT NOT NULL,
  width INTEGER NOT NULL, height INTEGER NOT NULL,
  embedding BLOB NOT NULL,
  code BLOB,
  front REAL, room TEXT, room_probs TEXT, style TEXT, style_probs TEXT,
  stories TEXT, stories_probs TEXT, heads_id TEXT,
  head_embedding BLOB,
  PRIMARY KEY(sha256, model_id));
CREATE TABLE IF NOT EXISTS images(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  listing_id TEXT NOT NULL REFERENCES listings(id) ON DELETE CASCADE,
  source TEXT NOT NULL,
  sha256 TEXT NOT NULL,
  photo_order INTEGER NOT NULL DEFAULT 0,
  is_title INTEGER NOT NULL DEFAULT 0,
  title_explicit INTEGER NOT NULL DEFAULT 0,
  path TEXT NOT NULL DEFAULT '',
  indexed_at TEXT NOT NULL,
  extra TEXT NOT NULL DEFAULT '{}',
  UNIQUE(listing_id, source));
CREATE INDEX IF NOT EXISTS images_sha256 ON images(sha256);
CREATE TABLE IF NOT EXISTS blobs(
  sha256 TEXT PRIMARY KEY,
  content_type TEXT NOT NULL,
  bytes BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS models(
  model_id TEXT PRIMARY KEY,
  dim INTEGER NOT NULL,
  centres BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS changes(
  kind INTEGER NOT NULL,
  key TEXT NOT NULL,
  seq INTEGER NOT NULL,
  PRIMARY KEY(kind, key));
CREATE INDEX IF NOT EXISTS changes_seq ON changes(seq);
CREATE TABLE IF NOT EXISTS change_counter(
  id INTEGER PRIMARY KEY CHECK(id = 1),
  seq INTEGER NOT NULL);
INSERT OR IGNORE INTO change_counter(id, seq) VALUES(1, 0);
)sql";
const char* kHeadEmbeddingColumn = "ALTER TABLE photos ADD COLUMN head_embedding BLOB";

// A prepared statement that finalizes itself.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) { rc_ = sqlite3_prepare_v2(db, sql, -1, &s_, nullptr); }
  ~Stmt() { sqlite3_finalize(s_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  bool ok() const { return rc_ == SQLITE_OK; }
  sqlite3_stmt* get() { return s_; }

  void bind(int i, const std::string& v) {
    sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  }
  void bind(int i, std::int64_t v) { sqlite3_bind_int64(s_, i, v); }
  void bind(int i, int v) { sqlite3_bind_int(s_, i, v); }
  void bind(int i, const std::optional<double>& v) {
    if (v) sqlite3_bind_double(s_, i, *v);
    else sqlite3_bind_null(s_, i);
  }
  void bind(int i, const std::optional<float>& v) {
    if (v) sqlite3_bind_double(s_, i, *v);
    else sqlite3_bind_null(s_, i);
  }
  void bind_blob(int i, const void* data, std::size_t n) {
    if (n == 0) sqlite3_bind_null(s_, i);
    else sqlite3_bind_blob(s_, i, data, static_cast<int>(n), SQLITE_TRANSIENT);
  }
  void bind_text_or_null(int i, const std::string& v) {
    if (v.empty()) sqlite3_bind_null(s_, i);
    else bind(i, v);
  }
  int step() { return sqlite3_step(s_); }
  void reset() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }

  std::string text(int c) {
    const unsigned char* t = sqlite3_column_text(s_, c);
    return t ? std::string(reinterpret_cast<const char*>(t), sqlite3_column_bytes(s_, c)) : "";
  }
  std::int64_t int64(int c) { return sqlite3_column_int64(s_, c); }
  std::optional<double> opt_double(int c) {
    if (sqlite3_column_type(s_, c) == SQLITE_NULL) return std::nullopt;
    return sqlite3_column_double(s_, c);
  }
  template <class T>
  std::vector<T> blob(int c) {
    const void* p = sqlite3_column_blob(s_, c);
    const int n = sqlite3_column_bytes(s_, c);
    std::vector<T> v(static_cast<std::size_t>(n) / sizeof(T));
    if (p && n > 0) std::memcpy(v.data(), p, v.size() * sizeof(T));
    return v;
  }

 private:
  sqlite3_stmt* s_ = nullptr;
  int rc_;
};

// Column order shared by every SELECT of images.
constexpr const char* kImageCols =
    "i.id, i.listing_id, i.source, i.sha256, i.photo_order, i.is_title, i.indexed_at, i.extra, "
    "i.title_explicit, i.path";
Image read_image(Stmt& s, int c0 = 0) {
  Image im;
  im.id = s.int64(c0);
  im.listing_id = s.text(c0 + 1);
  im.source = s.text(c0 + 2);
  im.sha256 = s.text(c0 + 3);
  im.photo_order = static_cast<int>(s.int64(c0 + 4));
  im.is_title = s.int64(c0 + 5) != 0;
  im.indexed_at = s.text(c0 + 6);
  im.extra = json_to_map(s.text(c0 + 7));
  im.title_explicit = s.int64(c0 + 8) != 0;
  im.path = s.text(c0 + 9);
  return im;
}

constexpr const char* kListingCols = "id, price, beds, baths, area, zip, extra";
Listing read_listing(Stmt& q) {
  Listing l;
  l.id = q.text(0);
  l.price = q.opt_double(1);
  l.beds = q.opt_double(2);
  l.baths = q.opt_double(3);
  l.area = q.opt_double(4);
  l.zip = q.text(5);
  l.extra = json_to_map(q.text(6));
  return l;
}

constexpr const char* kPhotoCols =
    "p.sha256, p.model_id, p.width, p.height, p.embedding, p.code, p.front, p.room, p.room_probs, "
    "p.style, p.style_probs, p.stories, p.stories_probs, p.heads_id, p.head_embedding";
Photo read_photo(Stmt& s, int c0) {
  Photo p;
  p.sha256 = s.text(c0);
  p.model_id = s.text(c0 + 1);
  p.width = static_cast<int>(s.int64(c0 + 2));
  p.height = static_cast<int>(s.int64(c0 + 3));
  p.embedding = s.blob<float>(c0 + 4);
  p.code = s.blob<std::uint8_t>(c0 + 5);
  if (auto f = s.opt_double(c0 + 6)) p.tags.front = static_cast<float>(*f);
  p.tags.room = s.text(c0 + 7);
  p.tags.room_probs = json_to_probs(s.text(c0 + 8));
  p.tags.style = s.text(c0 + 9);
  p.tags.style_probs = json_to_probs(s.text(c0 + 10));
  p.tags.stories = s.text(c0 + 11);
  p.tags.stories_probs = json_to_probs(s.text(c0 + 12));
  p.tags.heads_id = s.text(c0 + 13);
  p.head_embedding = s.blob<float>(c0 + 14);
  return p;
}

// The code a failed SQLite call gets: busy/locked can be retried, a constraint is the caller's
// write contradicting the table, everything else is a failed read or write of the file.
ErrorCode code_of(int rc) {
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return ErrorCode::kUnavailable;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB: return ErrorCode::kCorruption;
    case SQLITE_CONSTRAINT: return ErrorCode::kConflict;
    default: return ErrorCode::kIO;
  }
}

}  // namespace

Error SqliteStore::error(const std::string& what) const {
  return make_error(path_, what + ": " + sqlite3_errmsg(db_), code_of(sqlite3_extended_errcode(db_)));
}

Status SqliteStore::commit() {
  if (auto st = exec("COMMIT"); !st) {
    (void)exec("ROLLBACK");  // never leave a transaction open for the next writer
    return st;
  }
  return {};
}

Status SqliteStore::exec(const char* sql) {
  char* msg = nullptr;
  if (const int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &msg); rc != SQLITE_OK) {
    std::string m = msg ? msg : "unknown error";
    sqlite3_free(msg);
    return make_error(path_, m, code_of(rc));
  }
  return {};
}

Status SqliteStore::transaction(const std::function<Status()>& body) {
  if (auto st = exec("BEGIN IMMEDIATE"); !st) return st;
  if (auto st = body(); !st) {
    (void)exec("ROLLBACK");
    return st;
  }
  return commit();
}

Result<std::unique_ptr<Store>> SqliteStore::open(const std::string& path) {
  sqlite3* db = nullptr;
  const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX;
  if (const int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr); rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return make_error(path, "cannot open database: " + msg, code_of(rc));
  }
  std::unique_ptr<SqliteStore> s(new SqliteStore(db, path));
  sqlite3_busy_timeout(db, 10000);
  // WAL lets readers go on while a batch commits; NORMAL sync in WAL still never
  // loses a committed transaction to a process crash.
  auto prepare = [&]() -> Status {
    for (const char* pragma :
         {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", "PRAGMA foreign_keys=ON"}) {
      if (auto st = s->exec(pragma); !st) return st.error();
    }
    Status st = s->transaction([&]() -> Status {
      // The meta table first: the version decides whether the rest of the schema may be touched.
      if (auto st =
              s->exec("CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)");
          !st)
        return st;
      int version = 0;
      {
        Stmt q(db, "SELECT value FROM meta WHERE key='schema_version'");
        if (!q.ok()) return s->error("reading schema version");
        if (q.step() == SQLITE_ROW) {
          const std::string v = q.text(0);
          auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), version);
          if (ec != std::errc() || p != v.data() + v.size())
            return make_error(path, "not a HomeLens database: schema_version is \"" + v + "\"",
                              ErrorCode::kCorruption);
        }
      }
      if (version > kSchemaVersion)
        return make_error(path,
                          "database schema version " + std::to_string(version) +
                              " is newer than this build understands (" +
                              std::to_string(kSchemaVersion) + ")",
                          ErrorCode::kCorruption);
      if (version == kSchemaVersion) return {};
      if (auto st = s->exec(kSchema); !st) return st;
      if (version > 0 && version < 3)
        if (auto st = s->exec(kHeadEmbeddingColumn); !st) return st;
      Stmt q(db, "INSERT OR REPLACE INTO meta(key, value) VALUES('schema_version', ?)");
      q.bind(1, std::to_string(kSchemaVersion));
      if (q.step() != SQLITE_DONE) return s->error("writing schema version");
      return {};
    });
    return st;
  };
  // Two processes opening a new file at once both switch it from the rollback journal to WAL;
  // in rollback mode SQLite answers such a lock upgrade race with an immediate SQLITE_BUSY
  // (deadlock avoidance skips the busy timeout), so the whole step is retried for a while.
  Status st = prepare();
  for (int attempt = 1; !st && st.code() == ErrorCode::kUnavailable && attempt <= 100; ++attempt) {
    std::this_thread::sleep_for(std::chrono::milliseconds(std::min(20 * attempt, 200)));
    st = prepare();
  }
  if (!st) return st.error();
  return std::unique_ptr<Store>(std::move(s));
}

SqliteStore::~SqliteStore() { sqlite3_close(db_); }

Result<std::optional<Image>> SqliteStore::find_image(const std::string& listing_id,
                                                     const std::string& source,
                                                     const std::string& model_id) {
  std::lock_guard lock(mu_);
  Stmt q(db_, (std::string("SELECT ") + kImageCols +
               " FROM images i JOIN photos p ON p.sha256 = i.sha256 AND p.model_id = ?3"
               " WHERE i.listing_id = ?1 AND i.source = ?2")
                  .c_str());
  if (!q.ok()) return error("find_image");
  q.bind(1, listing_id);
  q.bind(2, source);
  q.bind(3, model_id);
  const int rc = q.step();
  if (rc == SQLITE_ROW) return std::optional<Image>(read_image(q));
  if (rc != SQLITE_DONE) return error("find_image " + listing_id + " " + source);
  return std::optional<Image>();
}

Result<bool> SqliteStore::has_photo(const std::string& sha256, const std::string& model_id) {
  std::lock_guard lock(mu_);
  Stmt q(db_, "SELECT 1 FROM photos WHERE sha256 = ? AND model_id = ?");
  if (!q.ok()) return error("has_photo");
  q.bind(1, sha256);
  q.bind(2, model_id);
  const int rc = q.step();
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return error("has_photo " + sha256);
  return rc == SQLITE_ROW;
}

Status SqliteStore::log_changes(const ChangeSet& changes) {
  if (changes.empty()) return {};
  const auto keys = changes.keys();
  // SQLite runs one write transaction at a time (BEGIN IMMEDIATE), so any allocation order is
  // commit order here; the counter row is what PostgresStore needs for the same guarantee.
  Stmt bump(db_, "UPDATE change_counter SET seq = seq + ? WHERE id = 1 RETURNING seq");
  Stmt put(db_,
           "INSERT INTO changes(kind, key, seq) VALUES(?,?,?) "
           "ON CONFLICT(kind, key) DO UPDATE SET seq = excluded.seq");
  if (!bump.ok() || !put.ok()) return error("preparing the change log");
  bump.bind(1, static_cast<std::int64_t>(keys.size()));
  if (bump.step() != SQLITE_ROW) return error("advancing the change counter");
  std::int64_t seq = bump.int64(0) - static_cast<std::int64_t>(keys.size());
  for (const auto& [kind, key] : keys) {
    put.bind(1, kind);
    put.bind(2, key);
    put.bind(3, ++seq);
    if (put.step() != SQLITE_DONE) return error("logging a change of " + key);
    put.reset();
  }
  return {};
}

Status SqliteStore::write(const WriteBatch& batch) {
  std::lock_guard lock(mu_);
  return transaction([&]() -> Status { return write_locked(batch); });
}

Status SqliteStore::write_locked(const WriteBatch& batch) {
  const std::string now = now_utc();
  ChangeSet changes;
  {
    Stmt q(db_,
           "INSERT INTO listings(id, price, beds, baths, area, zip, extra, updated_at) "
           "VALUES(?,?,?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET price=excluded.price, "
           "beds=excluded.beds, baths=excluded.baths, area=excluded.area, zip=excluded.zip, "
           "extra=excluded.extra, updated_at=excluded.updated_at");
    if (!q.ok()) return error("preparing listing upsert");
    for (const Listing& l : batch.listings) {
      q.bind(1, l.id);
      q.bind(2, l.price);
      q.bind(3, l.beds);
      q.bind(4, l.baths);
      q.bind(5, l.area);
      q.bind_text_or_null(6, l.zip);
      q.bind(7, map_to_json(l.extra));
      q.bind(8, now);
      if (q.step() != SQLITE_DONE) return error("writing listing " + l.id);
      q.reset();
      changes.listing(l.id);
    }
  }
  {
    Stmt exists(db_, "SELECT 1 FROM photos WHERE sha256 = ? AND model_id = ?");
    Stmt q(db_,
           "INSERT INTO photos(sha256, model_id, width, height, embedding, code, front, room, "
           "room_probs, style, style_probs, stories, stories_probs, heads_id, head_embedding) "
           "VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(sha256, model_id) DO UPDATE SET "
           "front=excluded.front, room=excluded.room, room_probs=excluded.room_probs, "
           "style=excluded.style, style_probs=excluded.style_probs, stories=excluded.stories, "
           "stories_probs=excluded.stories_probs, heads_id=excluded.heads_id "
           "WHERE excluded.heads_id IS NOT NULL");
    if (!q.ok() || !exists.ok()) return error("preparing photo insert");
    for (const Photo& p : batch.photos) {
      if (!p.tags.heads_id.empty()) {  // an existing row gets these tags: log it
        exists.bind(1, p.sha256);
        exists.bind(2, p.model_id);
        if (exists.step() == SQLITE_ROW) changes.photo(p.sha256);
        exists.reset();
      }
      q.bind(1, p.sha256);
      q.bind(2, p.model_id);
      q.bind(3, p.width);
      q.bind(4, p.height);
      q.bind_blob(5, p.embedding.data(), p.embedding.size() * sizeof(float));
      q.bind_blob(6, p.code.data(), p.code.size());
      q.bind(7, p.tags.front);
      q.bind_text_or_null(8, p.tags.room);
      q.bind_text_or_null(9, probs_to_json(p.tags.room_probs));
      q.bind_text_or_null(10, p.tags.style);
      q.bind_text_or_null(11, probs_to_json(p.tags.style_probs));
      q.bind_text_or_null(12, p.tags.stories);
      q.bind_text_or_null(13, probs_to_json(p.tags.stories_probs));
      q.bind_text_or_null(14, p.tags.heads_id);
      q.bind_blob(15, p.head_embedding.data(), p.head_embedding.size() * sizeof(float));
      if (q.step() != SQLITE_DONE) return error("writing photo " + p.sha256);
      q.reset();
    }
  }
  {
    Stmt q(db_,
           "INSERT INTO images(listing_id, source, sha256, photo_order, is_title, indexed_at, "
           "extra, title_explicit, path) VALUES(?,?,?,?,?,?,?,?,?) ON CONFLICT(listing_id, source) "
           "DO UPDATE SET sha256=excluded.sha256, photo_order=excluded.photo_order, "
           "is_title=excluded.is_title, indexed_at=excluded.indexed_at, extra=excluded.extra, "
           "title_explicit=excluded.title_explicit, path=excluded.path RETURNING id");
    if (!q.ok()) return error("preparing image upsert");
    for (const Image& im : batch.images) {
      q.bind(1, im.listing_id);
      q.bind(2, im.source);
      q.bind(3, im.sha256);
      q.bind(4, im.photo_order);
      q.bind(5, im.is_title ? 1 : 0);
      q.bind(6, im.indexed_at.empty() ? now : im.indexed_at);
      q.bind(7, map_to_json(im.extra));
      q.bind(8, im.title_explicit ? 1 : 0);
      q.bind(9, im.path);
      if (q.step() != SQLITE_ROW) return error("writing image " + im.source);
      changes.image(q.int64(0));
      if (q.step() != SQLITE_DONE) return error("writing image " + im.source);
      q.reset();
    }
  }
  {
    Stmt q(db_, "INSERT OR IGNORE INTO blobs(sha256, content_type, bytes) VALUES(?,?,?)");
    if (!q.ok()) return error("preparing blob insert");
    for (const Blob& b : batch.blobs) {
      q.bind(1, b.sha256);
      q.bind(2, b.content_type);
      q.bind_blob(3, b.bytes.data(), b.bytes.size());
      if (q.step() != SQLITE_DONE) return error("writing photo bytes " + b.sha256);
      q.reset();
    }
  }
  return log_changes(changes);
}

Status SqliteStore::scan_listings(const std::function<void(const Listing&)>& fn) {
  std::lock_guard lock(mu_);
  Stmt q(db_, (std::string("SELECT ") + kListingCols + " FROM listings ORDER BY id").c_str());
  if (!q.ok()) return error("scan_listings");
  int rc;
  while ((rc = q.step()) == SQLITE_ROW) fn(read_listing(q));
  if (rc != SQLITE_DONE) return error("scan_listings");
  return {};
}

Result<std::optional<Blob>> SqliteStore::get_blob(const std::string& sha256) {
  std::lock_guard lock(mu_);
  Stmt q(db_, "SELECT content_type, bytes FROM blobs WHERE sha256 = ?");
  if (!q.ok()) return error("get_blob");
  q.bind(1, sha256);
  const int rc = q.step();
  if (rc == SQLITE_DONE) return std::optional<Blob>();
  if (rc != SQLITE_ROW) return error("get_blob " + sha256);
  Blob b;
  b.sha256 = sha256;
  b.content_type = q.text(0);
  auto bytes = q.blob<char>(1);
  b.bytes.assign(bytes.begin(), bytes.end());
  return std::optional<Blob>(std::move(b));
}

Result<std::optional<Image>> SqliteStore::get_image(std::int64_t id) {
  std::lock_guard lock(mu_);
  Stmt q(db_, (std::string("SELECT ") + kImageCols + " FROM images i WHERE i.id = ?").c_str());
  if (!q.ok()) return error("get_image");
  q.bind(1, id);
  const int rc = q.step();
  if (rc == SQLITE_ROW) return std::optional<Image>(read_image(q));
  if (rc != SQLITE_DONE) return error("get_image " + std::to_string(id));
  return std::optional<Image>();
}

Result<std::optional<ImageWithPhoto>> SqliteStore::get_image_with_photo(
    std::int64_t id, const std::string& model_id) {
  std::lock_guard lock(mu_);
  Stmt q(db_, (std::string("SELECT ") + kImageCols + ", " + kPhotoCols +
               " FROM images i JOIN photos p ON p.sha256 = i.sha256 AND p.model_id = ?2"
               " WHERE i.id = ?1")
                  .c_str());
  if (!q.ok()) return error("get_image_with_photo");
  q.bind(1, id);
  q.bind(2, model_id);
  const int rc = q.step();
  if (rc == SQLITE_ROW)
    return std::optional<ImageWithPhoto>(ImageWithPhoto{read_image(q, 0), read_photo(q, 10)});
  if (rc != SQLITE_DONE) return error("get_image_with_photo " + std::to_string(id));
  return std::optional<ImageWithPhoto>();
}

Result<std::vector<std::int64_t>> SqliteStore::images_of_photo(const std::string& sha256) {
  std::lock_guard lock(mu_);
  Stmt q(db_, "SELECT id FROM images WHERE sha256 = ? ORDER BY id");
  if (!q.ok()) return error("images_of_photo");
  q.bind(1, sha256);
  std::vector<std::int64_t> ids;
  int rc;
  while ((rc = q.step()) == SQLITE_ROW) ids.push_back(q.int64(0));
  if (rc != SQLITE_DONE) return error("images_of_photo " + sha256);
  return ids;
}

Result<std::optional<Photo>> SqliteStore::get_photo(const std::string& sha256,
                                                    const std::string& model_id) {
  std::lock_guard lock(mu_);
  Stmt q(db_, (std::string("SELECT ") + kPhotoCols +
               " FROM photos p WHERE p.sha256 = ? AND p.model_id = ?")
                  .c_str());
  if (!q.ok()) return error("get_photo");
  q.bind(1, sha256);
  q.bind(2, model_id);
  const int rc = q.step();
  if (rc == SQLITE_ROW) return std::optional<Photo>(read_photo(q, 0));
  if (rc != SQLITE_DONE) return error("get_photo " + sha256);
  return std::optional<Photo>();
}

Result<std::optional<Listing>> SqliteStore::get_listing(const std::string& id) {
  std::lock_guard lock(mu_);
  Stmt q(db_, (std::string("SELECT ") + kListingCols + " FROM listings WHERE id = ?").c_str());
  if (!q.ok()) return error("get_listing");
  q.bind(1, id);
  const int rc = q.step();
  if (rc == SQLITE_ROW) return std::optional<Listing>(read_listing(q));
  if (rc != SQLITE_DONE) return error("get_listing " + id);
  return std::optional<Listing>();
}

Result<std::vector<Image>> SqliteStore::listing_images(const std::string& listing_id) {
  std::lock_guard lock(mu_);
  Stmt q(db_, (std::string("SELECT ") + kImageCols +
               " FROM images i WHERE i.listing_id = ? ORDER BY i.photo_order, i.id")
                  .c_str());
  if (!q.ok()) return error("listing_images");
  q.bind(1, listing_id);
  std::vector<Image> out;
  int rc;
  while ((rc = q.step()) == SQLITE_ROW) out.push_back(read_image(q));
  if (rc != SQLITE_DONE) return error("listing_images " + listing_id);
  return out;
}

Status SqliteStore::scan(const std::string& model_id,
                         const std::function<void(const ImageWithPhoto&)>& fn) {
  std::lock_guard lock(mu_);
  Stmt q(db_, (std::string("SELECT ") + kImageCols + ", " + kPhotoCols +
               " FROM images i JOIN photos p ON p.sha256 = i.sha256 AND p.model_id = ?"
               " ORDER BY i.id")
                  .c_str());
  if (!q.ok()) return error("scan");
  q.bind(1, model_id);
  int rc;
  while ((rc = q.step()) == SQLITE_ROW) {
    ImageWithPhoto row{read_image(q, 0), read_photo(q, 10)};
    fn(row);
  }
  if (rc != SQLITE_DONE) return error("scan");
  return {};
}

Result<std::optional<std::vector<float>>> SqliteStore::get_centres(const std::string& model_id) {
  std::lock_guard lock(mu_);
  Stmt q(db_, "SELECT centres FROM models WHERE model_id = ?");
  if (!q.ok()) return error("get_centres");
  q.bind(1, model_id);
  const int rc = q.step();
  if (rc == SQLITE_ROW) return std::optional<std::vector<float>>(q.blob<float>(0));
  if (rc != SQLITE_DONE) return error("get_centres " + model_id);
  return std::optional<std::vector<float>>();
}

Status SqliteStore::recompute_codes(const std::string& model_id,
                                    const std::vector<float>& centres, bool only_missing) {
  Stmt sel(db_, only_missing
                    ? "SELECT rowid, embedding FROM photos WHERE model_id = ? AND code IS NULL"
                    : "SELECT rowid, embedding FROM photos WHERE model_id = ?");
  Stmt upd(db_, "UPDATE photos SET code = ? WHERE rowid = ?");
  if (!sel.ok() || !upd.ok()) return error("preparing code update");
  sel.bind(1, model_id);
  std::vector<std::pair<std::int64_t, std::vector<std::uint8_t>>> codes;
  while (sel.step() == SQLITE_ROW) {
    auto e = sel.blob<float>(1);
    if (e.size() != centres.size()) continue;
    codes.emplace_back(sel.int64(0), model::binary_code(e, centres));
  }
  for (auto& [rowid, code] : codes) {
    upd.bind_blob(1, code.data(), code.size());
    upd.bind(2, rowid);
    if (upd.step() != SQLITE_DONE) return error("updating code");
    upd.reset();
  }
  return {};
}

Status SqliteStore::set_centres_and_codes(const std::string& model_id,
                                          const std::vector<float>& centres) {
  std::lock_guard lock(mu_);
  return transaction([&]() -> Status {
    Stmt q(db_, "INSERT OR REPLACE INTO models(model_id, dim, centres) VALUES(?,?,?)");
    q.bind(1, model_id);
    q.bind(2, static_cast<int>(centres.size()));
    q.bind_blob(3, centres.data(), centres.size() * sizeof(float));
    if (q.step() != SQLITE_DONE) return error("writing centres");
    return recompute_codes(model_id, centres, false);
  });
}

Status SqliteStore::fill_missing_codes(const std::string& model_id) {
  auto centres = get_centres(model_id);
  if (!centres) return centres.error();
  if (!centres->has_value()) return {};
  std::lock_guard lock(mu_);
  return transaction([&] { return recompute_codes(model_id, **centres, true); });
}

Status SqliteStore::assign_titles(const std::vector<std::string>& listing_ids,
                                  const std::string& model_id) {
  std::lock_guard lock(mu_);
  return transaction([&]() -> Status {
    Stmt explicit_q(db_, "SELECT 1 FROM images WHERE listing_id = ? AND title_explicit = 1");
    Stmt pick(db_,
              "SELECT i.id FROM images i LEFT JOIN photos p ON p.sha256 = i.sha256 AND "
              "p.model_id = ?2 WHERE i.listing_id = ?1 "
              "ORDER BY COALESCE(p.front, -1) DESC, i.photo_order, i.id LIMIT 1");
    Stmt clear(db_, "UPDATE images SET is_title = (id = ?2) WHERE listing_id = ?1");
    if (!explicit_q.ok() || !pick.ok() || !clear.ok()) return error("preparing title update");
    ChangeSet changes;
    for (const std::string& id : listing_ids) {
      changes.listing(id);
      explicit_q.bind(1, id);
      const bool has_explicit = explicit_q.step() == SQLITE_ROW;
      explicit_q.reset();
      if (has_explicit) continue;
      pick.bind(1, id);
      pick.bind(2, model_id);
      const bool found = pick.step() == SQLITE_ROW;
      const std::int64_t best = found ? pick.int64(0) : 0;
      pick.reset();
      if (!found) continue;
      clear.bind(1, id);
      clear.bind(2, best);
      if (clear.step() != SQLITE_DONE) return error("setting the title photo of listing " + id);
      clear.reset();
    }
    return log_changes(changes);
  });
}

Status SqliteStore::delete_orphans(const std::vector<std::string>& sha256s) {
  Stmt photos(db_,
              "DELETE FROM photos WHERE sha256 = ?1 AND "
              "NOT EXISTS (SELECT 1 FROM images WHERE sha256 = ?1)");
  Stmt blobs(db_,
             "DELETE FROM blobs WHERE sha256 = ?1 AND "
             "NOT EXISTS (SELECT 1 FROM images WHERE sha256 = ?1)");
  if (!photos.ok() || !blobs.ok()) return error("preparing orphan cleanup");
  for (const std::string& sha : sha256s) {
    for (Stmt* q : {&photos, &blobs}) {
      q->bind(1, sha);
      if (q->step() != SQLITE_DONE) return error("deleting unused photo " + sha);
      q->reset();
    }
  }
  return {};
}

Status SqliteStore::delete_image(std::int64_t id) {
  std::lock_guard lock(mu_);
  const std::string what = "deleting image " + std::to_string(id);
  return transaction([&]() -> Status {
    Stmt q(db_, "DELETE FROM images WHERE id = ? RETURNING listing_id, sha256");
    if (!q.ok()) return error(what);
    q.bind(1, id);
    const int rc = q.step();
    if (rc == SQLITE_DONE) return {};  // already gone: nothing changed
    if (rc != SQLITE_ROW) return error(what);
    ChangeSet changes;
    changes.image(id);
    changes.listing(q.text(0));
    const std::string sha = q.text(1);
    if (q.step() != SQLITE_DONE) return error(what);
    if (auto st = delete_orphans({sha}); !st) return st;
    return log_changes(changes);
  });
}

Status SqliteStore::delete_listing(const std::string& id) {
  std::lock_guard lock(mu_);
  const std::string what = "deleting listing " + id;
  return transaction([&]() -> Status {
    ChangeSet changes;
    std::vector<std::string> shas;
    {
      Stmt q(db_, "DELETE FROM images WHERE listing_id = ? RETURNING id, sha256");
      if (!q.ok()) return error(what);
      q.bind(1, id);
      int rc;
      while ((rc = q.step()) == SQLITE_ROW) {
        changes.image(q.int64(0));
        shas.push_back(q.text(1));
      }
      if (rc != SQLITE_DONE) return error(what);
    }
    Stmt q(db_, "DELETE FROM listings WHERE id = ?");
    if (!q.ok()) return error(what);
    q.bind(1, id);
    if (q.step() != SQLITE_DONE) return error(what);
    if (sqlite3_changes(db_) == 0 && changes.empty()) return {};  // never there
    changes.listing(id);
    if (auto st = delete_orphans(shas); !st) return st;
    return log_changes(changes);
  });
}

Result<StoreStats> SqliteStore::stats() {
  std::lock_guard lock(mu_);
  StoreStats s;
  Stmt q(db_,
         "SELECT (SELECT COUNT(*) FROM listings), (SELECT COUNT(*) FROM images), "
         "(SELECT COUNT(*) FROM photos)");
  if (!q.ok() || q.step() != SQLITE_ROW) return error("stats");
  s.listings = q.int64(0);
  s.images = q.int64(1);
  s.photos = q.int64(2);
  return s;
}

Result<std::int64_t> SqliteStore::last_change() {
  std::lock_guard lock(mu_);
  Stmt q(db_, "SELECT seq FROM change_counter WHERE id = 1");
  if (!q.ok() || q.step() != SQLITE_ROW) return error("reading the change counter");
  return q.int64(0);
}

Result<std::vector<Change>> SqliteStore::changes_since(std::int64_t after, std::size_t limit) {
  std::lock_guard lock(mu_);
  Stmt q(db_, "SELECT kind, key, seq FROM changes WHERE seq > ? ORDER BY seq LIMIT ?");
  if (!q.ok()) return error("changes_since");
  q.bind(1, after);
  q.bind(2, static_cast<std::int64_t>(std::min<std::size_t>(limit, INT64_MAX)));
  std::vector<Change> out;
  int rc;
  while ((rc = q.step()) == SQLITE_ROW)
    out.push_back(Change{change_kind(q.int64(0)), q.text(1), q.int64(2)});
  if (rc != SQLITE_DONE) return error("changes_since " + std::to_string(after));
  return out;
}


Result<std::optional<std::string>> SqliteStore::get_meta(const std::string& key) {
  std::lock_guard lock(mu_);
  Stmt q(db_, "SELECT value FROM meta WHERE key = ?");
  if (!q.ok()) return error("get_meta");
  q.bind(1, key);
  const int rc = q.step();
  if (rc == SQLITE_DONE) return std::optional<std::string>();
  if (rc != SQLITE_ROW) return error("get_meta " + key);
  return std::optional<std::string>(q.text(0));
}

Status SqliteStore::set_meta(const std::string& key, const std::string& value) {
  std::lock_guard lock(mu_);
  Stmt q(db_, "INSERT OR REPLACE INTO meta(key, value) VALUES(?, ?)");
  if (!q.ok()) return error("set_meta");
  q.bind(1, key);
  q.bind(2, value);
  if (q.step() != SQLITE_DONE) return error("set_meta " + key);
  return {};
}

}  // namespace homelens::store

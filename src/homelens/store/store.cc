#include "homelens/store/store.h"

#include "homelens/store/postgres_store.h"
#include "homelens/store/sqlite_store.h"

namespace homelens::store {

Result<std::unique_ptr<Store>> open_store(const std::string& url) {
  if (url.rfind("postgresql://", 0) == 0 || url.rfind("postgres://", 0) == 0)
    return PostgresStore::open(url);
  std::string path = url;
  if (path.rfind("sqlite:", 0) == 0) path = path.substr(7);
  return SqliteStore::open(path);
}

}  // namespace homelens::store

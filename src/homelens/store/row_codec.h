// What both stores share about rows: the JSON text of map columns, the time stamp format and
// the set of changes a transaction logs. Internal to store/.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "homelens/store/store.h"

namespace homelens::store::internal {

// Now, as UTC ISO-8601 ("2024-05-01T12:00:00Z").
std::string now_utc();

// extra columns: a JSON object of strings ("{}" when empty).
std::string map_to_json(const std::map<std::string, std::string>& m);
std::map<std::string, std::string> json_to_map(const std::string& s);
// *_probs columns: a JSON object of numbers, or "" (NULL) when empty.
std::string probs_to_json(const std::map<std::string, float>& m);
std::map<std::string, float> json_to_probs(const std::string& s);

// The keys one transaction changed, each once, sorted by (kind, key) so that concurrent
// writers lock change-log rows in the same order.
class ChangeSet {
 public:
  void listing(const std::string& id) { add(Change::Kind::kListing, id); }
  void image(std::int64_t id) { add(Change::Kind::kImage, std::to_string(id)); }
  void photo(const std::string& sha256) { add(Change::Kind::kPhoto, sha256); }
  bool empty() const { return keys_.empty(); }
  // Sorted, without duplicates.
  std::vector<std::pair<int, std::string>> keys() const;

 private:
  void add(Change::Kind kind, const std::string& key) { keys_.emplace_back(static_cast<int>(kind), key); }
  std::vector<std::pair<int, std::string>> keys_;
};

// The Kind stored as an integer column; kListing for an unknown value never happens because
// only ChangeSet writes the column.
Change::Kind change_kind(std::int64_t stored);

}  // namespace homelens::store::internal

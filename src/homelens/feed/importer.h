// Imports listings and photos from a RESO Web API (or saved response pages) into the table
// through the engine, and keeps them in sync: incremental by ModificationTimestamp with the
// high-water mark kept in the table, changed photos replaced, vanished ones removed,
// listings leaving the active statuses removed.
#pragma once

#include <atomic>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "homelens/core/progress.h"
#include "homelens/core/result.h"
#include "homelens/engine/engine.h"
#include "homelens/feed/client.h"
#include "homelens/feed/metadata.h"

namespace homelens::feed {

struct ImportOptions {
  std::string base_url;             // the Web API root (BASE/$metadata, BASE/Property); "" with files
  std::vector<std::string> files;   // saved Property response pages, imported in order
  std::string metadata_file;        // an EDMX file read instead of BASE/$metadata
  std::optional<std::string> since; // overrides the stored high-water mark ("" = everything)
  std::set<std::string> active_statuses{"Active", "ActiveUnderContract", "ComingSoon", "Pending"};
  bool dry_run = false;             // report what would change; write nothing, download nothing
  int concurrency = 4;              // photo downloads (and their indexing) at once
  std::size_t page_size = 200;      // $top of each request
  ClientOptions client;
  ProgressMode progress = ProgressMode::kAuto;
  const std::atomic<bool>* stop = nullptr;  // set: finish the current page and stop
};

struct ImportProblem {
  std::string key;     // listing key, listing/MediaKey, or the file or URL
  std::string reason;
};

// What one listing would get (dry runs list these instead of writing).
struct ImportChange {
  std::string key;
  std::string action;  // add | change | remove
  bool attributes = false;  // change: price, beds, baths, area, zip, style, levels or status differ
  std::size_t photos_new = 0, photos_removed = 0, photos_reordered = 0;
};

struct ImportSummary {
  std::string media_access;  // how Media was reached (metadata.h)
  std::size_t pages = 0, seen = 0, added = 0, changed = 0, unchanged = 0, removed = 0, skipped = 0;
  std::size_t photos_downloaded = 0, photos_failed = 0, photos_removed = 0, photos_unchanged = 0;
  std::size_t photos_reordered = 0;  // kept photos whose Order or title flag changed
  std::vector<ImportProblem> problems;  // skipped records and failed photos, with the reason
  std::vector<ImportChange> changes;    // dry run only: every listing that would change
  std::string since;       // the mark this run started from ("" = everything)
  std::string high_water;  // the mark stored for the next run ("" = unchanged)
  bool interrupted = false, dry_run = false;
  double seconds = 0;
};

// The meta key under which the high-water mark of a feed is kept.
std::string high_water_key(const std::string& base_url);

// Runs one import. Bad records and photos are reported in the summary and skipped; an error
// is returned only when the feed itself cannot be read (metadata, a page after its retries,
// credentials) or the table cannot be written; what was imported before stays.
Result<ImportSummary> run_import(engine::Engine& engine, const ImportOptions& options);

}  // namespace homelens::feed

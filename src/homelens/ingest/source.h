// Where photos to index come from: a folder tree or a CSV manifest. Both turn
// into the same ordered list of items, so the pipeline has one input shape.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "homelens/core/result.h"
#include "homelens/store/records.h"

namespace homelens::ingest {

struct Item {
  std::size_t seq = 0;    // position in the source; commits follow this order
  std::string path;       // file to read
  std::string source;     // what is stored: the manifest's path value unchanged, or the folder-relative path
  store::Listing listing; // id and attributes
  int photo_order = 0;
  std::optional<bool> is_title;  // explicit title flag, when the source gives one
  std::map<std::string, std::string> extra;
};

struct SourceProblem {
  std::string where;  // "manifest.csv line 12" or a path
  std::string reason;
};

struct SourceItems {
  std::vector<Item> items;
  std::vector<SourceProblem> problems;  // rows or files left out, and why
};

// Column mapping of a manifest; empty names are absent columns.
struct ManifestColumns {
  std::string path = "path";
  std::string listing;  // empty: each photo is its own listing, named by its path
  std::string order;
  std::string title;
  std::string price, beds, baths, area, zip;
  std::vector<std::string> extra;  // copied to the image's extra attributes
};

// Parses "name=column" mappings (keys: path, listing, order, title, price, beds,
// baths, area, zip, extra) into cols. Errors name the bad mapping.
Status apply_column_mapping(const std::vector<std::string>& mappings, ManifestColumns& cols);

// Reads a manifest. Relative paths resolve against base_dir (default: the
// manifest's folder). Broken rows (bad CSV, empty path, non-numeric price...) are
// reported in problems with their line; missing mapped columns are an error.
Result<SourceItems> read_manifest(const std::string& manifest_path, const ManifestColumns& cols,
                                  const std::string& base_dir = "");

// Lists photo files (jpg, jpeg, png, webp, bmp, tif, tiff; also gif, heic, avif,
// jp2, jxl, which then fail with a reason) under dir, sorted by path. Each file is its own listing named by its relative path without
// extension; with listing_per_folder, the photos of one folder form a listing.
Result<SourceItems> scan_folder(const std::string& dir, bool listing_per_folder);

}  // namespace homelens::ingest

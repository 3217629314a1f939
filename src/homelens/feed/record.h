// One RESO Property record (and its Media) as HomeLens keeps it, read tolerantly: real feeds
// send numbers as strings, 12.0 for integers, timestamps without an offset, and a field as a
// scalar in one record and an array in the next.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "homelens/core/result.h"
#include "homelens/store/records.h"

namespace homelens::feed {

struct FeedMedia {
  std::string key;       // MediaKey
  std::string url;       // MediaURL
  int order = 0;         // Order, else the position in the record
  std::optional<bool> preferred;  // PreferredPhotoYN
  std::string category;  // MediaCategory as sent
  std::string image_of;  // ImageOf as sent
  std::string modified;  // MediaModificationTimestamp, normalized (empty when absent)
  // What identifies this version of the photo in the table: a new timestamp or URL is a new photo.
  std::string source() const;
  bool title_hint() const;  // PreferredPhotoYN, or ImageOf FrontOfStructure
};

struct FeedRecord {
  std::string key;                   // ListingKey (or the metadata's key field)
  std::optional<std::string> status; // StandardStatus as sent
  bool deleted = false;              // the feed withdrew the record (MlgCanView false, status Delete)
  std::string modified;              // ModificationTimestamp, normalized; empty when absent
  store::Listing listing;            // id, price, beds, baths, area, zip; extra: style, levels, status
  std::optional<std::vector<FeedMedia>> media;  // nullopt: the record does not carry its Media
  std::vector<std::string> media_problems;     // media left out of `media`, with the reason
};

// "2026-06-01T12:00:00.123Z", "2026-06-01T10:00:00" (taken as UTC), "...+02:00" ->
// "YYYY-MM-DDTHH:MM:SS.mmmZ" in UTC, which orders as text. Errors name the value.
Result<std::string> normalize_timestamp(const std::string& text);

// Maps one record of a Property response. `key_field` is the metadata's key; `media_field`
// the field that carries Media inline ("" = none). Errors (kInvalidArgument) name the key
// when there is one and the field that could not be read.
Result<FeedRecord> map_record(const nlohmann::json& record, const std::string& key_field = "ListingKey",
                              const std::string& media_field = "Media");

// Maps Media records (inline or from a Media resource) into photos, in Order. Non-photo
// media (virtual tours, floor plans, documents) are left out silently; unusable ones are
// described in `problems`.
std::vector<FeedMedia> map_media(const nlohmann::json& media, std::vector<std::string>& problems);

// Whether a StandardStatus keeps a listing: compared without case and spaces against `active`
// ("Active Under Contract" == "ActiveUnderContract"). An absent status keeps it.
bool status_is_active(const std::optional<std::string>& status, const std::set<std::string>& active);

}  // namespace homelens::feed

// The rows HomeLens keeps: listings, photos (content, computed once per
// distinct bytes and model) and images (a photo's place in a listing).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace homelens::store {

struct Listing {
  std::string id;
  std::optional<double> price;
  std::optional<double> beds;
  std::optional<double> baths;
  std::optional<double> area;
  std::string zip;
  std::map<std::string, std::string> extra;  // other attributes, kept as given
};

// What the classifier heads said about a photo (filled by `homelens index` when heads are given).
struct Tags {
  std::optional<float> front;  // probability the photo shows the house front
  std::string room;
  std::map<std::string, float> room_probs;
  std::string style;
  std::map<std::string, float> style_probs;
  std::string stories;
  std::map<std::string, float> stories_probs;
  std::string heads_id;  // which heads produced these; empty = no tags
};

// Content-addressed: one row per (sha256, model) however many listings use the photo.
struct Photo {
  std::string sha256;
  std::string model_id;
  int width = 0;
  int height = 0;
  std::vector<float> embedding;      // L2-normalized
  // What the tag heads judge when the model's head_view differs from the embedding
  // (model::Embedding::head_vector; kept so stored photos can be retagged); else empty.
  std::vector<float> head_embedding;
  std::vector<std::uint8_t> code;    // binary code; empty until the model's centres exist
  Tags tags;
};

struct Image {
  std::int64_t id = 0;  // assigned by the store
  std::string listing_id;
  std::string source;   // path or URL as given to the indexer
  std::string path;     // where the bytes can be read again (absolute); empty when kept as a blob
  std::string sha256;
  int photo_order = 0;  // position within the listing, 0 first
  bool is_title = false;
  bool title_explicit = false;  // the source said which photo is the title; never re-chosen
  std::string indexed_at;  // UTC ISO-8601
  std::map<std::string, std::string> extra;
};

// Photo bytes the store keeps itself (uploads have no file to read back).
struct Blob {
  std::string sha256;
  std::string content_type;
  std::string bytes;
};

// An image joined with its photo, as the search side needs it.
struct ImageWithPhoto {
  Image image;
  Photo photo;
};

}  // namespace homelens::store

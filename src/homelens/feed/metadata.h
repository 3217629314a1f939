// What an importer needs to know of a RESO Web API's $metadata (an OData 4 EDMX document):
// which entity set holds the listings and its key, how their photos are reached, and the
// declared types of the fields it maps.
#pragma once

#include <map>
#include <string>

#include "homelens/core/result.h"

namespace homelens::feed {

// How a listing's Media records are reached.
enum class MediaAccess {
  kNone,               // the service publishes no Media
  kNavigation,         // Property?$expand=<media_path> (a navigation property)
  kComplexCollection,  // Property's field <media_path> is a collection of a complex type, sent inline
  kSeparateResource,   // the <media_set> entity set, joined to Property by ResourceRecordKey
};

const char* media_access_name(MediaAccess access);

struct FieldType {
  std::string type;  // the EDM type as declared, without Collection(...): "Edm.Decimal", "Enums.StandardStatus"
  bool collection = false;
};

struct FeedMetadata {
  std::string property_set;   // the entity set to page: "Property" or a vendor name ("PropertyResi")
  std::string property_type;  // its entity type, qualified
  std::string key = "ListingKey";
  MediaAccess media = MediaAccess::kNone;
  std::string media_path;  // kNavigation / kComplexCollection: the field of Property
  std::string media_set;   // kSeparateResource: the entity set
  std::map<std::string, FieldType> property_fields;  // structural fields of Property (with inherited ones)
  std::map<std::string, FieldType> media_fields;     // fields of the Media type, when there is one

  bool has_property_field(const std::string& name) const { return property_fields.count(name) > 0; }
};

// Reads an EDMX document. Elements are matched by local name, so non-standard namespace
// URIs or prefixes are accepted. Errors (kInvalidArgument) name `where` and the reason: not
// well-formed XML, no Edmx root, no Property resource, an entity set whose type no schema
// defines, a Property type without a key, a Media navigation whose target does not exist.
Result<FeedMetadata> parse_metadata(const std::string& xml, const std::string& where);
Result<FeedMetadata> read_metadata_file(const std::string& path);

}  // namespace homelens::feed

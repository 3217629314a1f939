// Real feeds' quirks map to the same listing: numbers as strings, 12.0 for integers,
// timestamps without an offset, scalars where arrays were sent before; a bad record is
// refused naming its key and field.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "homelens/feed/record.h"

namespace homelens::feed {
namespace {

using nlohmann::json;

TEST(FeedRecord, MapsTheFieldsWithTheirQuirks) {
  const json rec = json::parse(R"({
    "ListingKey": "L1", "ListPrice": "425000", "BedroomsTotal": 4.0, "BathroomsTotalInteger": "2",
    "LivingArea": 2400.5, "PostalCode": 60000, "StandardStatus": "Active",
    "ArchitecturalStyle": ["Colonial", "Traditional"], "Levels": "Two", "StoriesTotal": "2",
    "ModificationTimestamp": "2026-06-01T10:00:00",
    "Media": [
      {"MediaKey": "M2", "MediaURL": "http://x/2.jpg", "Order": "1", "MediaCategory": "Photo",
       "MediaModificationTimestamp": "2026-05-20T10:00:00+02:00"},
      {"MediaKey": "M1", "MediaURL": "http://x/1.jpg", "Order": 0.0, "ImageOf": "FrontOfStructure"},
      {"MediaKey": "T1", "MediaURL": "http://x/tour", "MediaCategory": "Branded Virtual Tour"},
      {"MediaKey": "F1", "MediaURL": "http://x/plan.pdf", "MediaType": "pdf"},
      {"MediaURL": "http://x/nokey.jpg"}
    ]})");
  auto r = map_record(rec);
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r->key, "L1");
  EXPECT_EQ(r->listing.price, 425000);
  EXPECT_EQ(r->listing.beds, 4);
  EXPECT_EQ(r->listing.baths, 2);
  EXPECT_EQ(r->listing.area, 2400.5);
  EXPECT_EQ(r->listing.zip, "60000");
  EXPECT_EQ(r->listing.extra.at("style"), "Colonial, Traditional");
  EXPECT_EQ(r->listing.extra.at("levels"), "Two");
  EXPECT_EQ(r->listing.extra.at("stories"), "2");
  EXPECT_EQ(r->modified, "2026-06-01T10:00:00.000Z");  // no offset: taken as UTC
  ASSERT_TRUE(r->media.has_value());
  ASSERT_EQ(r->media->size(), 2u);  // the tour and the floor plan are not photos
  EXPECT_EQ((*r->media)[0].key, "M1");
  EXPECT_TRUE((*r->media)[0].title_hint());
  EXPECT_EQ((*r->media)[1].key, "M2");
  EXPECT_EQ((*r->media)[1].order, 1);
  EXPECT_FALSE((*r->media)[1].title_hint());
  EXPECT_EQ((*r->media)[1].modified, "2026-05-20T08:00:00.000Z");
  ASSERT_EQ(r->media_problems.size(), 1u);
  EXPECT_NE(r->media_problems[0].find("no MediaKey"), std::string::npos);
}

TEST(FeedRecord, BathroomPartsGiveADecimalCount) {
  auto r = map_record(json::parse(
      R"({"ListingKey": "B", "BathroomsTotalInteger": 3, "BathroomsFull": "2", "BathroomsHalf": 1})"));
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r->listing.baths, 2.5);
}

TEST(FeedRecord, AScalarOrAnArrayGivesTheSameText) {
  auto a = map_record(json::parse(R"({"ListingKey": "A", "ArchitecturalStyle": "Ranch"})"));
  auto b = map_record(json::parse(R"({"ListingKey": "B", "ArchitecturalStyle": ["Ranch"]})"));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->listing.extra.at("style"), b->listing.extra.at("style"));
}

TEST(FeedRecord, RefusesABadRecordNamingItsKeyAndField) {
  auto r = map_record(json::parse(R"({"ListingKey": "K9", "ListPrice": "call agent"})"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.message(), "listing K9: ListPrice: \"call agent\" is not a number");
  auto half = map_record(json::parse(R"({"ListingKey": "K8", "BedroomsTotal": 2.5})"));
  ASSERT_FALSE(half.ok());
  EXPECT_NE(half.message().find("BedroomsTotal"), std::string::npos);
  auto nokey = map_record(json::parse(R"({"ListPrice": 1})"));
  ASSERT_FALSE(nokey.ok());
  EXPECT_NE(nokey.message().find("no ListingKey"), std::string::npos);
  auto stamp = map_record(json::parse(R"({"ListingKey": "K7", "ModificationTimestamp": "TBD"})"));
  ASSERT_FALSE(stamp.ok());
  EXPECT_NE(stamp.message().find("ModificationTimestamp"), std::string::npos);
}

TEST(FeedRecord, WithdrawnAndInactiveRecords) {
  auto gone = map_record(json::parse(R"({"ListingKey": "D", "MlgCanView": false})"));
  ASSERT_TRUE(gone.ok());
  EXPECT_TRUE(gone->deleted);
  const std::set<std::string> active{"Active", "ActiveUnderContract"};
  EXPECT_TRUE(status_is_active(std::string("Active Under Contract"), active));
  EXPECT_TRUE(status_is_active(std::nullopt, active));
  EXPECT_FALSE(status_is_active(std::string("Withdrawn"), active));
}

TEST(FeedRecord, NormalizesTimestamps) {
  EXPECT_EQ(*normalize_timestamp("2026-06-01T12:00:00.123456Z"), "2026-06-01T12:00:00.123Z");
  EXPECT_EQ(*normalize_timestamp("2026-06-01T00:30:00-01:00"), "2026-06-01T01:30:00.000Z");
  EXPECT_EQ(*normalize_timestamp("2026-06-01"), "2026-06-01T00:00:00.000Z");
  EXPECT_FALSE(normalize_timestamp("TBD").ok());
  EXPECT_FALSE(normalize_timestamp("2026-13-01T00:00:00Z").ok());
}

}  // namespace
}  // namespace homelens::feed

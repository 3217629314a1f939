// Every $metadata file in ../shared/data/reso/metadata is read (Property key, how Media is
// reached), and the broken ones are refused with a message naming the file and the reason.
#include <gtest/gtest.h>

#include "homelens/feed/metadata.h"
#include "support/testing.h"

namespace homelens::feed {
namespace {

std::string meta_path(const std::string& name) {
  return (testing::shared_dir() / "data/reso/metadata" / name).string();
}

struct Expect {
  const char* file;
  const char* set;
  MediaAccess media;
  const char* media_where;  // media_path, or media_set for a separate resource
};

TEST(FeedMetadata, ReadsEveryGoodFile) {
  const Expect cases[] = {
      {"dd-2.0-enum.xml", "Property", MediaAccess::kNavigation, "Media"},
      {"dd-2.0-lookup-resource.xml", "Property", MediaAccess::kNavigation, "Media"},
      {"REQ-WA103-END3_Metadata_CorLogicTrestle_Gene_CoreLogicTrestle.xml", "Property", MediaAccess::kNavigation,
       "Media"},
      {"REQ-WA103-END3_Metadata_MLSGrid_MLSGrid.xml", "PropertyResi", MediaAccess::kSeparateResource, "Media"},
      {"actris_ref_metadata.xml", "Property", MediaAccess::kComplexCollection, "Media"},
  };
  for (const Expect& e : cases) {
    SCOPED_TRACE(e.file);
    auto m = read_metadata_file(meta_path(e.file));
    ASSERT_TRUE(m.ok()) << m.message();
    EXPECT_EQ(m->property_set, e.set);
    EXPECT_EQ(m->key, "ListingKey");
    EXPECT_EQ(m->media, e.media) << media_access_name(m->media);
    EXPECT_EQ(m->media == MediaAccess::kSeparateResource ? m->media_set : m->media_path, e.media_where);
    // The mapped fields carry their declared types.
    ASSERT_TRUE(m->has_property_field("ListPrice"));
    const std::string price = m->property_fields.at("ListPrice").type;
    EXPECT_TRUE(price == "Edm.Decimal" || price == "Edm.Double") << price;
    ASSERT_TRUE(m->has_property_field("ModificationTimestamp"));
    EXPECT_EQ(m->property_fields.at("ModificationTimestamp").type, "Edm.DateTimeOffset");
    EXPECT_TRUE(m->media_fields.count("MediaURL"));
  }
}

TEST(FeedMetadata, RefusesEveryBadFileWithTheReason) {
  const std::pair<const char*, const char*> cases[] = {
      {"bad-edmx-no-keyfield.xml", "has no Key"},
      {"bad-edmx-unparsable-xml.xml", "stray text"},
      {"bad-edmx-wrong-edm-binding-target.xml", "which no schema defines"},
  };
  for (const auto& [file, reason] : cases) {
    SCOPED_TRACE(file);
    auto m = read_metadata_file(meta_path(file));
    ASSERT_FALSE(m.ok());
    EXPECT_EQ(m.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(m.message().find(file), std::string::npos) << m.message();
    EXPECT_NE(m.message().find(reason), std::string::npos) << m.message();
  }
}

TEST(FeedMetadata, ToleratesNonStandardNamespaces) {
  // A vendor's own prefixes and namespace URIs, an Alias, and the key on a base type.
  const std::string xml = R"xml(<?xml version="1.0"?>
<ex:Edmx xmlns:ex="urn:vendor:edmx" Version="4.0"><ex:DataServices>
 <d:Schema xmlns:d="urn:vendor:edm" Namespace="Vendor.Model.v2" Alias="V">
  <d:EntityType Name="Base"><d:Key><d:PropertyRef Name="ListingKey"/></d:Key>
   <d:Property Name="ListingKey" Type="Edm.String"/></d:EntityType>
  <d:EntityType Name="Listing" BaseType="V.Base">
   <d:Property Name="ListPrice" Type="Edm.Decimal"/>
   <d:Property Name="ModificationTimestamp" Type="Edm.DateTimeOffset"/>
   <d:NavigationProperty Name="Photos" Type="Collection(V.Media)"/>
   <d:Annotation Term="RESO.OData.Metadata.StandardName" String="Property"/>
  </d:EntityType>
  <d:EntityType Name="Media"><d:Key><d:PropertyRef Name="MediaKey"/></d:Key>
   <d:Property Name="MediaKey" Type="Edm.String"/><d:Property Name="MediaURL" Type="Edm.String"/></d:EntityType>
  <d:EntityContainer Name="C"><d:EntitySet Name="Listings" EntityType="V.Listing"/>
   <d:EntitySet Name="Media" EntityType="Vendor.Model.v2.Media"/></d:EntityContainer>
 </d:Schema></ex:DataServices></ex:Edmx>)xml";
  auto m = parse_metadata(xml, "vendor.xml");
  ASSERT_TRUE(m.ok()) << m.message();
  EXPECT_EQ(m->property_set, "Listings");
  EXPECT_EQ(m->key, "ListingKey");
  EXPECT_EQ(m->media, MediaAccess::kNavigation);
  EXPECT_EQ(m->media_path, "Photos");
}

TEST(FeedMetadata, RefusesXmlThatIsNotWellFormed) {
  auto m = parse_metadata("<edmx:Edmx><edmx:DataServices></edmx:Edmx>", "cut.xml");
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.message().find("cut.xml: not well-formed XML"), std::string::npos) << m.message();
}

TEST(FeedMetadata, RefusesADocumentThatIsNotEdmx) {
  auto m = parse_metadata("<html><body>login</body></html>", "BASE/$metadata");
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.message().find("BASE/$metadata: not an OData EDMX document"), std::string::npos) << m.message();
}

}  // namespace
}  // namespace homelens::feed

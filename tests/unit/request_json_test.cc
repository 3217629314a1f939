// Request bodies: the candidate listing ids come out as strings, everything else
// stays a JSON document, and bad bodies are refused with the message the API sends.
#include "homelens/serve/request_json.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace homelens::serve {
namespace {

TEST(RequestJson, CandidateListingIdsComeOutAsStringsAndTheRestStaysADocument) {
  auto r = parse_request_json(
      R"({"query": {"listing_id": "59"}, "k": 1000,
          "candidates": {"listing_ids": ["a", "L2", 17, 18446744073709551615], "image_ids": [3, 4]},
          "filters": {"price_max": 500000, "zip_prefix": "85"}, "weights": {"visual": 2.5}})");
  ASSERT_TRUE(r) << r.message();
  ASSERT_TRUE(r->listing_ids.has_value());
  EXPECT_EQ(*r->listing_ids, (std::vector<std::string>{"a", "L2", "17", "18446744073709551615"}));
  EXPECT_EQ(r->body["query"]["listing_id"], "59");
  EXPECT_EQ(r->body["k"], 1000);
  EXPECT_EQ(r->body["candidates"]["image_ids"], nlohmann::json::array({3, 4}));
  EXPECT_TRUE(r->body["candidates"]["listing_ids"].is_null());
  EXPECT_EQ(r->body["filters"]["zip_prefix"], "85");
  EXPECT_EQ(r->body["weights"]["visual"], 2.5);
}

TEST(RequestJson, ListingIdsAnywhereElseAreOrdinaryJson) {
  auto r = parse_request_json(R"({"listing_ids": ["x"], "filters": {"listing_ids": ["y"]}, "candidates": {}})");
  ASSERT_TRUE(r) << r.message();
  EXPECT_FALSE(r->listing_ids.has_value());
  EXPECT_EQ(r->body["listing_ids"], nlohmann::json::array({"x"}));
  EXPECT_EQ(r->body["filters"]["listing_ids"], nlohmann::json::array({"y"}));
  auto empty = parse_request_json(R"({"candidates": {"listing_ids": []}})");
  ASSERT_TRUE(empty) << empty.message();
  ASSERT_TRUE(empty->listing_ids.has_value());
  EXPECT_TRUE(empty->listing_ids->empty());
}

TEST(RequestJson, CandidateIdsThatAreNotStringsOrWholeNumbersAreRefused) {
  for (const char* body : {R"({"candidates": {"listing_ids": ["a", 1.5]}})", R"({"candidates": {"listing_ids": [true]}})",
                           R"({"candidates": {"listing_ids": [null]}})", R"({"candidates": {"listing_ids": [{"id": "a"}]}})",
                           R"({"candidates": {"listing_ids": [["a"]]}})"}) {
    auto r = parse_request_json(body);
    ASSERT_FALSE(r) << body;
    EXPECT_EQ(r.message(), "candidates.listing_ids must hold strings") << body;
  }
}

TEST(RequestJson, BrokenOrNonObjectBodiesAreRefused) {
  for (const char* body : {"{", R"({"candidates": {"listing_ids": ["a", ]}})", "nul", R"({"k": 1} trailing)"}) {
    auto r = parse_request_json(body);
    ASSERT_FALSE(r) << body;
    EXPECT_EQ(r.message(), "the body is not valid JSON") << body;
  }
  for (const char* body : {"[1, 2]", "\"text\"", "42"}) {
    auto r = parse_request_json(body);
    ASSERT_FALSE(r) << body;
    EXPECT_EQ(r.message(), "the JSON body must be an object") << body;
  }
}

}  // namespace
}  // namespace homelens::serve

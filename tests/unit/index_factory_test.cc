// The factory turns a spec string into the right kind of index, the default is
// the exact-answer fast kind this CPU supports, and a bad spec is an error that
// quotes it.
#include "homelens/index/index_factory.h"
#include "homelens/index/half_flat_index.h"

#include <gtest/gtest.h>

namespace homelens::index {
namespace {

TEST(IndexFactoryTest, EachSpecMakesItsKindOfTheGivenDimension) {
  for (std::string spec : {"Flat", "HalfFlat", "SQ8Flat", "Refine(HalfFlat)", "Refine(SQ8Flat)", "Refine(Flat)",
                           "Refine(Refine(HalfFlat))"}) {
    auto index = make_index(spec, 7);
    if (spec.find("HalfFlat") != std::string::npos && !HalfFlatIndex::supported()) {
      ASSERT_FALSE(index.ok());
      EXPECT_EQ(index.code(), ErrorCode::kUnavailable);
      continue;
    }
    ASSERT_TRUE(index.ok()) << spec << ": " << index.message();
    EXPECT_EQ((*index)->kind(), spec);
    EXPECT_EQ((*index)->dim(), 7u);
    EXPECT_EQ((*index)->size(), 0u);
  }
}

TEST(IndexFactoryTest, ExactnessFollowsTheKind) {
  auto flat = make_index("Flat", 4);
  ASSERT_TRUE(flat.ok());
  EXPECT_EQ((*flat)->error_bound(), 0.0f);
  auto sq8 = make_index("Refine(SQ8Flat)", 4);
  ASSERT_TRUE(sq8.ok());
  EXPECT_EQ((*sq8)->error_bound(), 0.0f);
  if (!HalfFlatIndex::supported()) GTEST_SKIP() << "no F16C";
  auto half = make_index("HalfFlat", 4);
  auto refine = make_index("Refine(HalfFlat)", 4);
  ASSERT_TRUE(half.ok() && refine.ok());
  EXPECT_GT((*half)->error_bound(), 0.0f);
  EXPECT_EQ((*refine)->error_bound(), 0.0f);
}

TEST(IndexFactoryTest, DefaultIsAn8BitScanWithExactRefineWhereTheCpuHasAvx2AndF16c) {
  const std::string want = HalfFlatIndex::supported() ? "Refine(SQ8Flat)" : "Flat";  // the same instructions
  EXPECT_EQ(default_index_spec(), want);
  for (std::string spec : {"", "default"}) {
    auto index = make_index(spec, 16);
    ASSERT_TRUE(index.ok()) << index.message();
    EXPECT_EQ((*index)->kind(), want);
  }
}

TEST(IndexFactoryTest, AnUnknownSpecIsAnInvalidArgumentQuotingIt) {
  for (std::string spec : {"IVF4096,PQ8", "flat", "Refine(HalfFlat", "Refine()", "Refine(Bogus)", " Flat"}) {
    auto index = make_index(spec, 8);
    ASSERT_FALSE(index.ok()) << spec;
    EXPECT_EQ(index.code(), ErrorCode::kInvalidArgument) << spec;
    EXPECT_NE(index.message().find("\"" + spec + "\""), std::string::npos) << index.message();
  }
}

}  // namespace
}  // namespace homelens::index

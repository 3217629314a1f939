// Selectors decide which ids a search may return: a batch, everything but some
// ids, and a bitmap over an index's rows that answers by row or by id.
#include "homelens/index/id_selector.h"
#include "homelens/index/flat_index.h"

#include <gtest/gtest.h>

#include <vector>

namespace homelens::index {
namespace {

TEST(IDSelectorTest, BatchHoldsExactlyItsIds) {
  const std::vector<std::int64_t> ids = {3, -7, 42, 3};
  const IDSelectorBatch batch(ids);
  for (std::int64_t id : ids) EXPECT_TRUE(batch.is_member(id)) << id;
  for (std::int64_t id : {0, 4, 41, -3}) EXPECT_FALSE(batch.is_member(id)) << id;
  EXPECT_TRUE(batch.is_member_row(999, 42)) << "the row is irrelevant to an id set";
}

TEST(IDSelectorTest, AllButHoldsEverythingElse) {
  const std::vector<std::int64_t> ids = {5, 6};
  const IDSelectorAllBut others(ids);
  EXPECT_FALSE(others.is_member(5));
  EXPECT_FALSE(others.is_member(6));
  for (std::int64_t id : std::vector<std::int64_t>{0, 4, 7, -5, INT64_MAX}) EXPECT_TRUE(others.is_member(id)) << id;
  const IDSelectorAllBut everything(std::span<const std::int64_t>{});
  EXPECT_TRUE(everything.is_member(123));
}

TEST(IDSelectorTest, BitmapMarksRowsOnceAndAnswersByRowOrById) {
  FlatIndex index(2);
  const std::vector<float> v = {1, 0};
  for (std::int64_t id : {100, 200, 300}) ASSERT_TRUE(index.add(id, v).ok());
  IDSelectorBitmap bits(index);
  const std::uint32_t row200 = *index.row_of(200);
  EXPECT_FALSE(bits.contains(row200));
  EXPECT_TRUE(bits.insert(row200));
  EXPECT_FALSE(bits.insert(row200)) << "second insert of the same row";
  EXPECT_FALSE(bits.insert(3)) << "a row past the index's capacity";
  EXPECT_TRUE(bits.contains(row200));
  EXPECT_TRUE(bits.is_member(200));
  EXPECT_FALSE(bits.is_member(100));
  EXPECT_FALSE(bits.is_member(999)) << "an id the index does not have";
  EXPECT_TRUE(bits.is_member_row(row200, -1)) << "by row, the id is not looked up";
  EXPECT_FALSE(bits.is_member_row(*index.row_of(300), 300));
  // As a search filter: only the marked row comes back.
  auto hits = index.search(v, 10, &bits);
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].id, 200);
}

}  // namespace
}  // namespace homelens::index

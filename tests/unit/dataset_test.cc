#include "homelens/tags/dataset.h"

#include <gtest/gtest.h>

#include <fstream>

#include "support/testing.h"

namespace homelens::tags {
namespace {

class Dataset : public ::testing::Test {
 protected:
  void SetUp() override {
    std::ofstream(tmp_ / "manifest.csv") << "path,house_id,room_type\n"
                                            "images/1_frontal.jpg,1,frontal\n"
                                            "images/1_kitchen.jpg,1,kitchen\n"
                                            "images/2_frontal.jpg,2,frontal\n"
                                            "images/2_bedroom.jpg,2,bedroom\n";
    opt_.manifest = (tmp_ / "manifest.csv").string();
    opt_.labels = (tmp_ / "labels.csv").string();
  }
  void labels(const std::string& text) { std::ofstream(tmp_ / "labels.csv") << text; }

  testing::TempDir tmp_;
  DatasetOptions opt_;
};

TEST_F(Dataset, ReadsStyleWithLowConfidenceWeightedDown) {
  labels(
      "house_id,stories,stories_conf,style,style_conf,is_front\n1,1,high,spanish,low,1\n"
      "2,2,high,ranch,high,0\n");
  opt_.low_conf_weight = 0.25;
  auto s = load_task(Task::kStyle, opt_);
  ASSERT_TRUE(s) << s.message();
  ASSERT_EQ(s->examples.size(), 2u);
  EXPECT_EQ(s->classes[s->examples[0].label], "spanish");
  EXPECT_DOUBLE_EQ(s->examples[0].weight, 0.25);
  EXPECT_EQ(s->examples[1].group, "2");
  EXPECT_NE(s->examples[0].path.find("1_frontal.jpg"), std::string::npos);
}

TEST_F(Dataset, FrontTaskAddsInteriorsAsNegativesOutsideTheSubset) {
  labels("house_id,style,is_front\n1,spanish,1\n2,other,0\n");
  auto s = load_task(Task::kFront, opt_);
  ASSERT_TRUE(s) << s.message();
  ASSERT_EQ(s->examples.size(), 4u);
  int subset = 0, positives = 0;
  for (const auto& e : s->examples) {
    subset += e.subset;
    positives += e.label;
  }
  EXPECT_EQ(subset, 2);
  EXPECT_EQ(positives, 1);
}

TEST_F(Dataset, RoomTaskComesFromTheManifest) {
  opt_.labels.clear();
  auto s = load_task(Task::kRoom, opt_);
  ASSERT_TRUE(s) << s.message();
  ASSERT_EQ(s->examples.size(), 4u);
  EXPECT_EQ(s->classes[s->examples[0].label], "front");
  EXPECT_EQ(s->classes[s->examples[1].label], "kitchen");
}

TEST_F(Dataset, HousesMissingFromTheLabelsTrainNoHeadUnlessAllHousesAreAsked) {
  // House 2 stands for a held-out test house: its photos must not train room or front.
  labels("house_id,style,is_front\n1,spanish,1\n");
  for (Task t : {Task::kRoom, Task::kFront}) {
    auto s = load_task(t, opt_);
    ASSERT_TRUE(s) << s.message();
    ASSERT_EQ(s->examples.size(), 2u) << task_name(t);
    for (const auto& e : s->examples) EXPECT_EQ(e.group, "1") << task_name(t) << " " << e.path;
  }
  opt_.all_houses = true;
  auto room = load_task(Task::kRoom, opt_);
  ASSERT_TRUE(room) << room.message();
  EXPECT_EQ(room->examples.size(), 4u);
  auto front = load_task(Task::kFront, opt_);
  ASSERT_TRUE(front) << front.message();
  EXPECT_EQ(front->examples.size(), 3u);  // house 1's two photos and house 2's bedroom
}

TEST_F(Dataset, MissingColumnIsNamed) {
  labels("house_id,stories\n1,1\n");
  auto s = load_task(Task::kStyle, opt_);
  ASSERT_FALSE(s);
  EXPECT_NE(s.message().find("labels.csv"), std::string::npos);
  EXPECT_NE(s.message().find("missing column \"style\""), std::string::npos);
}

TEST_F(Dataset, UnknownClassNamesTheRow) {
  labels("house_id,style\n1,spanish\n2,gothic\n");
  auto s = load_task(Task::kStyle, opt_);
  ASSERT_FALSE(s);
  EXPECT_NE(s.message().find("labels.csv line 3"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("gothic"), std::string::npos);
}

TEST_F(Dataset, UnknownPhotoNamesTheRow) {
  labels("house_id,stories\n1,1\n2,2\n999,1\n");
  auto s = load_task(Task::kStories, opt_);
  ASSERT_FALSE(s);
  EXPECT_NE(s.message().find("labels.csv line 4"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("999"), std::string::npos);
}

TEST_F(Dataset, BadIsFrontValueNamesTheRow) {
  labels("house_id,is_front\n1,yes\n");
  auto s = load_task(Task::kFront, opt_);
  ASSERT_FALSE(s);
  EXPECT_NE(s.message().find("labels.csv line 2"), std::string::npos) << s.message();
}

TEST_F(Dataset, UnknownTaskIsRefused) {
  auto t = parse_task("colour");
  ASSERT_FALSE(t);
  EXPECT_NE(t.message().find("colour"), std::string::npos);
}

}  // namespace
}  // namespace homelens::tags

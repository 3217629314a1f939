// The tag heads on the real houses: held-out room accuracy, and the train / tag / index
// commands end to end. Embeddings come from the shared houses index (the fixture), so nothing
// is embedded twice.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "homelens/model/model_spec.h"
#include "homelens/store/store.h"
#include "homelens/tags/features.h"
#include "homelens/tags/head.h"
#include "homelens/tags/train.h"
#include "support/testing.h"

namespace homelens {
namespace {

namespace fs = std::filesystem;
using testing::shell_quote;

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string bin() { return shell_quote(testing::homelens_bin().string()); }
std::string houses_opts() {
  return " --manifest " + shell_quote((testing::houses_dir() / "manifest.csv").string()) +
         " --labels " + shell_quote((testing::houses_dir() / "labels_train.csv").string()) +
         " --db " + shell_quote(testing::houses_db().string());
}

// `tag --json` output: one object a line.
std::vector<nlohmann::json> json_lines(const std::string& out) {
  std::istringstream lines(out);
  std::string line;
  std::vector<nlohmann::json> rows;
  while (std::getline(lines, line)) rows.push_back(nlohmann::json::parse(line));
  return rows;
}

TEST(HousesTags, RoomHeadPutsHeldOutKitchensInTheKitchen) {
  tags::DatasetOptions o;
  o.manifest = (testing::houses_dir() / "manifest.csv").string();
  auto set = tags::load_task(tags::Task::kRoom, o);
  ASSERT_TRUE(set) << set.message();
  auto spec = model::find_model_spec(model::kDefaultModelId, model::default_models_dir());
  ASSERT_TRUE(spec) << spec.message();
  std::vector<std::string> paths;
  for (const auto& e : set->examples) paths.push_back(e.path);
  tags::FeatureOptions fo;
  fo.db = testing::houses_db().string();
  auto feats = tags::embed_paths(paths, *spec, fo);
  ASSERT_TRUE(feats) << feats.message();

  // Houses 501..520 are held out: the head never sees any of their photos.
  auto held_out = [](const std::string& house) {
    const int id = std::stoi(house);
    return id >= 501 && id <= 520;
  };
  tags::TrainingData train;
  train.set = *set;
  train.set.examples.clear();
  train.x.cols = feats->x.cols;
  std::vector<std::size_t> kitchens;
  for (std::size_t i = 0; i < set->examples.size(); ++i) {
    const auto& e = set->examples[i];
    if (held_out(e.group)) {
      if (set->classes[e.label] == "kitchen") kitchens.push_back(i);
      continue;
    }
    train.set.examples.push_back(e);
    train.x.data.insert(train.x.data.end(), feats->x.row(i), feats->x.row(i) + feats->x.cols);
    train.sha256.push_back(feats->sha256[i]);
  }
  train.x.rows = train.set.examples.size();
  ASSERT_EQ(kitchens.size(), 20u);
  tags::TrainOptions to;
  to.folds = 0;
  to.l2_grid = {0.01};  // the penalty cross-validation picks for the room head
  auto trained = tags::train_head(train, spec->id, to);
  ASSERT_TRUE(trained) << trained.message();
  int in_kitchen = 0;
  for (std::size_t i : kitchens) {
    auto p = tags::predict(trained->head,
                           std::vector<float>(feats->x.row(i), feats->x.row(i) + feats->x.cols),
                           spec->id);
    ASSERT_TRUE(p) << p.message();
    const auto best = std::max_element(p->begin(), p->end()) - p->begin();
    in_kitchen += trained->head.classes[best] == "kitchen";
  }
  EXPECT_GE(in_kitchen, 19) << "kitchens of 20 held-out houses tagged kitchen";
}

TEST(HousesTags, TrainIsDeterministicAndReportsFiguresAndAPicture) {
  testing::TempDir tmp;
  const std::string args =
      " train --task style --folds 3 --inner-folds 3 --l2 1 --l2 3 --json -q" + houses_opts();
  auto a = testing::run_command(bin() + args + " --heads " + shell_quote((tmp / "a").string()));
  ASSERT_EQ(a.exit_code, 0) << a.err;
  auto b = testing::run_command(bin() + args + " --heads " + shell_quote((tmp / "b").string()));
  ASSERT_EQ(b.exit_code, 0) << b.err;
  const std::string rel = std::string(model::kDefaultModelId) + "/style.json";
  const std::string head_a = slurp(tmp / "a" / rel);
  ASSERT_FALSE(head_a.empty());
  EXPECT_TRUE(head_a == slurp(tmp / "b" / rel)) << "same data and seed must give the same head";

  auto j = nlohmann::json::parse(a.out);
  const auto& t = j["tasks"][0];
  EXPECT_EQ(t["task"], "style");
  EXPECT_EQ(t["listings"].get<int>(),
            345);  // 349 houses; duplicates 59=72, 199=214, 292=293, 331=351
  EXPECT_GT(t["headline"]["accuracy"].get<double>(),
            t["headline"]["baseline_accuracy"].get<double>());
  EXPECT_EQ(t["all"]["confusion"].size(), 5u);
  const std::string svg = slurp(t["confusion_svg"].get<std::string>());
  EXPECT_NE(svg.find("<svg"), std::string::npos);
  EXPECT_NE(svg.find("traditional"), std::string::npos);
}

class HousesTagsCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir;
    // One penalty, no CV: the fastest way to real heads for the commands below.
    auto r =
        testing::run_command(bin() +
                             " train --task front --task room --task style "
                             "--task stories --task domain --folds 0 --l2 1 -q" +
                             houses_opts() + " --heads " + shell_quote((*dir_ / "heads").string()));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    // Two houses, their front photo listed last so the title cannot come from the order.
    std::ofstream m(*dir_ / "m.csv");
    m << "photo,house\n";
    for (const char* h : {"7", "8"})
      for (const char* room : {"kitchen", "bedroom", "bathroom", "frontal"})
        m << (testing::houses_dir() / "images" / (std::string(h) + "_" + room + ".jpg")).string()
          << "," << h << "\n";
  }
  static void TearDownTestSuite() { delete dir_; }
  static std::string heads() { return " --heads " + shell_quote((*dir_ / "heads").string()); }
  static std::string manifest() {
    return " --manifest " + shell_quote((*dir_ / "m.csv").string()) + " --col path=photo";
  }
  static testing::TempDir* dir_;
};
testing::TempDir* HousesTagsCli::dir_ = nullptr;

TEST_F(HousesTagsCli, TagPrintsOneJsonObjectAPhotoWithThePathUnchanged) {
  auto r = testing::run_command(bin() + " tag --json" + heads() + manifest());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto rows = json_lines(r.out);
  ASSERT_EQ(rows.size(), 8u);
  EXPECT_EQ(rows[0]["path"], (testing::houses_dir() / "images" / "7_kitchen.jpg").string());
  EXPECT_EQ(rows[0]["room"], "kitchen");
  EXPECT_EQ(rows[3]["room"], "front");
  EXPECT_GT(rows[3]["front"].get<double>(), 0.5);
  EXPECT_LT(rows[0]["front"].get<double>(), 0.5);
  for (const char* k : {"style", "style_probs", "stories", "stories_probs"})
    EXPECT_TRUE(rows[3].contains(k)) << k;
  EXPECT_EQ(rows[3]["style_probs"].size(), 5u);
}

TEST_F(HousesTagsCli, IndexStoresTagsAndTitlesTheFrontAndTagsOlderPhotos) {
  testing::TempDir tmp;
  const std::string db = (tmp / "t.db").string();
  auto plain = testing::run_command(bin() + " index --quiet --no-heads --db " + shell_quote(db) +
                                    " --col listing=house" + manifest());
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  auto tagged = testing::run_command(bin() + " index --json --db " + shell_quote(db) +
                                     " --col listing=house" + heads() + manifest());
  ASSERT_EQ(tagged.exit_code, 0) << tagged.err;
  EXPECT_EQ(nlohmann::json::parse(tagged.out)["retagged"].get<int>(), 8)
      << "photos indexed before the heads existed are tagged from their stored embeddings";

  auto store = store::open_store(db);
  ASSERT_TRUE(store) << store.message();
  for (const char* house : {"7", "8"}) {
    auto images = (*store)->listing_images(house);
    ASSERT_TRUE(images) << images.message();
    ASSERT_EQ(images->size(), 4u);
    for (const auto& im : *images) {
      auto photo = (*store)->get_photo(im.sha256, model::kDefaultModelId);
      ASSERT_TRUE(photo && photo->has_value());
      const auto& t = (*photo)->tags;
      EXPECT_FALSE(t.heads_id.empty());
      ASSERT_TRUE(t.front.has_value());
      const bool front = im.source.find("frontal") != std::string::npos;
      EXPECT_EQ(t.room, front ? "front"
                              : im.source.substr(im.source.rfind('_') + 1,
                                                 im.source.size() - im.source.rfind('_') - 5))
          << im.source;
      EXPECT_EQ(im.is_title, front) << im.source << " title";
      EXPECT_FALSE(t.style.empty());
      EXPECT_FALSE(t.stories.empty());
    }
  }
}

TEST_F(HousesTagsCli, PhotosAreTaggedAsTheyAreIndexed) {
  testing::TempDir tmp;
  const std::string db = (tmp / "fresh.db").string();
  auto r = testing::run_command(bin() + " index --json --quiet --db " + shell_quote(db) +
                                " --col listing=house" + heads() + manifest());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["retagged"].get<int>(), 0);
  auto store = store::open_store(db);
  ASSERT_TRUE(store) << store.message();
  int tagged = 0;
  auto st = (*store)->scan(model::kDefaultModelId, [&](const store::ImageWithPhoto& row) {
    EXPECT_FALSE(row.photo.tags.heads_id.empty()) << row.image.source;
    EXPECT_TRUE(row.photo.tags.front.has_value()) << row.image.source;
    EXPECT_FALSE(row.photo.tags.room.empty()) << row.image.source;
    tagged += row.photo.tags.front.has_value();
  });
  ASSERT_TRUE(st) << st.message();
  EXPECT_EQ(tagged, 8);
}

TEST_F(HousesTagsCli, PhotosUnlikeAnyHousePhotoAreLeftUntagged) {
  // Wang Corel-1k: a dinosaur, an elephant, a flower, a horse and a plate of food. Without the
  // domain model the front head calls many such photos house fronts (87% of the mountains) and
  // every one gets a style, which the ranking would count as if they were houses.
  testing::TempDir tmp;
  std::ofstream m(tmp / "mixed.csv");
  m << "photo,house\n";
  for (const char* w : {"400", "500", "600", "700", "900"})
    m << (testing::shared_dir() / "data" / "wang_corel1k" / "images" / (std::string(w) + ".jpg"))
             .string()
      << ",wang\n";
  for (const char* room : {"frontal", "kitchen"})
    m << (testing::houses_dir() / "images" / (std::string("8_") + room + ".jpg")).string()
      << ",8\n";
  m.close();
  auto r = testing::run_command(bin() + " tag --json" + heads() + " --manifest " +
                                shell_quote((tmp / "mixed.csv").string()) + " --col path=photo");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto rows = json_lines(r.out);
  ASSERT_EQ(rows.size(), 7u);
  for (std::size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(rows[i]["front"].get<double>(), 0.0) << rows[i]["path"];
    for (const char* k : {"room", "style", "stories"})
      EXPECT_TRUE(rows[i][k].is_null()) << rows[i]["path"] << " " << k;
    // The score it was judged by, for whoever tunes --domain-quantile.
    EXPECT_FALSE(rows[i]["domain"]["inside"].get<bool>()) << rows[i]["path"];
    EXPECT_LT(rows[i]["domain"]["score"].get<double>(), rows[i]["domain"]["threshold"].get<double>());
  }
  EXPECT_GT(rows[5]["front"].get<double>(), 0.5);
  EXPECT_EQ(rows[5]["room"], "front");
  EXPECT_EQ(rows[6]["room"], "kitchen");
  for (std::size_t i = 5; i < 7; ++i) {
    for (const char* k : {"style", "stories"}) EXPECT_TRUE(rows[i][k].is_string()) << k;
    EXPECT_TRUE(rows[i]["domain"]["inside"].get<bool>()) << rows[i]["path"];
  }
}

TEST_F(HousesTagsCli, HeadsOfOneModelRefuseTheOther) {
  testing::TempDir tmp;
  // The heads folder for the torchvision model, given to an index run with the Keras model.
  auto r = testing::run_command(bin() + " index --quiet --model mobilenetv2-keras-imagenet --db " +
                                shell_quote((tmp / "k.db").string()) + " --heads " +
                                shell_quote((*dir_ / "heads" / model::kDefaultModelId).string()) +
                                manifest());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find(std::string("trained for model ") + model::kDefaultModelId),
            std::string::npos)
      << r.err;
}

}  // namespace
}  // namespace homelens

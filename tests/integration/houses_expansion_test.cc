// A query photo the tag heads find unlike house photos (their domain model leaves it untagged) is
// compared by its embedding expanded with its nearest indexed photos; house photos never are, so
// their answers stay exactly what they were.
#include <gtest/gtest.h>

#include <filesystem>

#include "homelens/engine/engine.h"
#include "homelens/model/model_spec.h"
#include "homelens/tags/tagger.h"
#include "support/bad_corpus.h"
#include "support/testing.h"

namespace homelens {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

class Expansion : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir;
    db_ = new fs::path(*dir_ / "houses.db");
    fs::copy_file(testing::houses_db(), *db_);
    // Heads with their domain model, the index as the embedding cache (a few seconds).
    const fs::path houses = testing::houses_dir();
    auto r = testing::run_command(
        testing::shell_quote(testing::homelens_bin().string()) + " train --quiet --db " +
        testing::shell_quote(db_->string()) + " --heads " +
        testing::shell_quote((*dir_ / "heads").string()) + " --manifest " +
        testing::shell_quote((houses / "manifest.csv").string()) + " --labels " +
        testing::shell_quote((houses / "labels_train.csv").string()) +
        " --task room --task style --task domain --folds 0 --domain-centroids 8");
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  static void TearDownTestSuite() {
    delete db_;
    delete dir_;
  }

  static std::unique_ptr<engine::Engine> open(std::size_t neighbours) {
    auto spec =
        model::find_model_spec(model::kDefaultModelId, (testing::shared_dir() / "models").string());
    EXPECT_TRUE(spec.ok()) << spec.message();
    auto heads = tags::load_heads_for((*dir_ / "heads").string(), *spec);
    EXPECT_TRUE(heads.ok() && !(*heads)->empty() && (*heads)->domain()) << "heads with a domain";
    engine::EngineOptions o;
    o.db = db_->string();
    o.spec = *spec;
    o.tagger = tags::make_tagger(*heads);
    o.refresh_seconds = 0;
    o.index = "Flat";
    o.expand_outside.neighbours = neighbours;
    auto e = engine::Engine::open(o);
    EXPECT_TRUE(e.ok()) << e.message();
    return e.ok() ? std::move(*e) : nullptr;
  }

  static engine::QuerySpec upload(const fs::path& p) {
    engine::QuerySpec q;
    q.bytes = testing::read_bytes(p);
    q.filename = p.filename().string();
    return q;
  }

  static TempDir* dir_;
  static fs::path* db_;
};
TempDir* Expansion::dir_ = nullptr;
fs::path* Expansion::db_ = nullptr;

std::vector<std::int64_t> ids(const engine::SimilarAnswer& a) {
  std::vector<std::int64_t> out;
  for (const auto& r : a.results) out.push_back(r.image_id);
  return out;
}

TEST_F(Expansion, APhotoThatIsNotAHouseIsExpandedAndItsCosinesMove) {
  auto on = open(10), off = open(0);
  ASSERT_TRUE(on && off);
  const auto flower = upload(testing::shared_dir() / "data/wang_corel1k/images/600.jpg");
  auto a = on->similar(flower, {});
  auto b = off->similar(flower, {});
  ASSERT_TRUE(a.ok() && b.ok()) << (a.ok() ? b.message() : a.message());
  EXPECT_TRUE(a->query.expanded);
  EXPECT_FALSE(b->query.expanded);
  EXPECT_TRUE(a->query.tags.style.empty()) << "outside the domain: no style";
  ASSERT_EQ(a->results.size(), 10u);
  // The expanded vector leans towards its neighbours, so it is nearer them than the photo is.
  EXPECT_GT(a->results[0].score, b->results[0].score + 0.02f);
  auto rec = on->recommend(flower, {});
  ASSERT_TRUE(rec.ok()) << rec.message();
  EXPECT_TRUE(rec->query.expanded);
  for (const auto& r : rec->results) {
    EXPECT_EQ(r.breakdown.cls, 0.0f) << "no class part for a photo that is not a house";
    EXPECT_EQ(r.breakdown.tag, 0.0f);
  }
}

TEST_F(Expansion, HousePhotosAreNeverExpandedAndGetTheSameAnswer) {
  auto on = open(10), off = open(0);
  ASSERT_TRUE(on && off);
  for (const char* name :
       {"images/1_frontal.jpg", "images/7_kitchen.jpg", "images/12_bedroom.jpg"}) {
    const auto house = upload(testing::houses_dir() / name);
    auto a = on->similar(house, {});
    auto b = off->similar(house, {});
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_FALSE(a->query.expanded) << name;
    EXPECT_FALSE(a->query.tags.room.empty()) << name << " is inside the heads' domain";
    EXPECT_EQ(ids(*a), ids(*b)) << name;
    auto ra = on->recommend(house, {});
    auto rb = off->recommend(house, {});
    ASSERT_TRUE(ra.ok() && rb.ok());
    ASSERT_EQ(ra->results.size(), rb->results.size());
    for (std::size_t i = 0; i < ra->results.size(); ++i) {
      EXPECT_EQ(ra->results[i].listing_id, rb->results[i].listing_id) << name << " rank " << i;
      EXPECT_EQ(ra->results[i].score, rb->results[i].score) << name << " rank " << i;
    }
  }
}

}  // namespace
}  // namespace homelens

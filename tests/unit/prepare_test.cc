// One way to prepare a photo: decode (named errors, reduced scale), then embed, tag and code a
// batch, on the real house photos and the real model.
#include "homelens/ingest/prepare.h"

#include <gtest/gtest.h>

#include <cmath>

#include "homelens/model/embedding.h"
#include "homelens/tags/head.h"
#include "support/testing.h"

namespace homelens::ingest {
namespace {

std::string photo_path(int house, const char* room) {
  return (testing::houses_dir() / "images" / (std::to_string(house) + "_" + room + ".jpg")).string();
}

std::string read(const std::string& path) {
  auto b = image::read_file(path, 64u << 20);
  EXPECT_TRUE(b.ok()) << b.message();
  return b.ok() ? *b : std::string();
}

class Prepare : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto spec = model::find_model_spec(model::kDefaultModelId, (testing::shared_dir() / "models").string());
    ASSERT_TRUE(spec.ok()) << spec.message();
    auto e = model::Embedder::open(*spec, {1, true});
    ASSERT_TRUE(e.ok()) << e.message();
    embedder_ = new model::Embedder(std::move(*e));
  }
  static void TearDownTestSuite() {
    delete embedder_;
    embedder_ = nullptr;
  }
  // Decoded photos of houses 1..n, `room` photo each.
  static std::vector<DecodedPhoto> decode_houses(int n, const char* room) {
    std::vector<DecodedPhoto> out;
    for (int h = 1; h <= n; ++h) {
      const std::string path = photo_path(h, room);
      auto d = decode_photo(read(path), path, {}, embedder_->min_decode_side());
      EXPECT_TRUE(d.ok()) << d.message();
      if (d.ok()) out.push_back(std::move(*d));
    }
    return out;
  }
  static model::Embedder* embedder_;
};
model::Embedder* Prepare::embedder_ = nullptr;

TEST_F(Prepare, ABrokenPhotoIsAnInvalidArgumentNamingIt) {
  const std::string bytes = read(photo_path(1, "frontal"));
  auto truncated = decode_photo(bytes.substr(0, bytes.size() / 2), "upload-17.jpg", {}, 224);
  ASSERT_FALSE(truncated.ok());
  EXPECT_EQ(truncated.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(truncated.message().find("upload-17.jpg"), std::string::npos) << truncated.message();
  auto text = decode_photo("not a photo at all", "notes.txt", {}, 224);
  ASSERT_FALSE(text.ok());
  EXPECT_EQ(text.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(text.message().find("notes.txt"), std::string::npos);
  image::DecodeOptions small;
  small.max_pixels = 1000;
  auto big = decode_photo(bytes, "big.jpg", small, 224);
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(big.message().find("big.jpg"), std::string::npos);
}

TEST_F(Prepare, DecodeKeepsTheFullSizeAndIdentityButNoMorePixelsThanTheModelNeeds) {
  const std::string bytes = read(photo_path(3, "kitchen"));
  auto full = decode_photo(bytes, "k.jpg", {}, 0);
  auto reduced = decode_photo(bytes, "k.jpg", {}, 100);
  ASSERT_TRUE(full.ok() && reduced.ok());
  EXPECT_EQ(full->sha256, image::sha256_hex(bytes));
  EXPECT_EQ(reduced->sha256, full->sha256);
  EXPECT_EQ(reduced->width, full->width);
  EXPECT_EQ(reduced->height, full->height);
  EXPECT_EQ(full->rgb.cols, full->width);
  EXPECT_LT(reduced->rgb.cols, full->rgb.cols);
  EXPECT_GE(std::min(reduced->rgb.cols, reduced->rgb.rows), 100);
}

TEST_F(Prepare, EmbedGivesUnitVectorsInOrderAndCodesWhenCentresAreGiven) {
  auto batch = decode_houses(4, "frontal");
  ASSERT_EQ(batch.size(), 4u);
  const auto shas = std::vector<std::string>{batch[0].sha256, batch[1].sha256, batch[2].sha256, batch[3].sha256};
  auto plain = embed_photos(batch, *embedder_, "m", {}, nullptr);
  ASSERT_TRUE(plain.ok()) << plain.message();
  ASSERT_EQ(plain->size(), 4u);
  for (std::size_t i = 0; i < 4; ++i) {
    const store::Photo& p = (*plain)[i];
    EXPECT_EQ(p.sha256, shas[i]);
    EXPECT_EQ(p.model_id, "m");
    EXPECT_GT(p.width, 0);
    ASSERT_EQ(static_cast<int>(p.embedding.size()), embedder_->spec().embedding_dim);
    EXPECT_NEAR(model::dot(p.embedding, p.embedding), 1.0f, 1e-4f);
    EXPECT_TRUE(p.code.empty());
    EXPECT_TRUE(p.tags.heads_id.empty());
    EXPECT_TRUE(batch[i].rgb.empty()) << "pixels are released once embedded";
  }
  EXPECT_LT(model::dot((*plain)[0].embedding, (*plain)[1].embedding), 0.999f) << "different houses";

  // With centres: each photo gets the code its embedding gives.
  std::vector<float> rows;
  for (const auto& p : *plain) rows.insert(rows.end(), p.embedding.begin(), p.embedding.end());
  const auto centres = model::compute_centres(rows, 4, (*plain)[0].embedding.size());
  auto again = decode_houses(4, "frontal");
  auto coded = embed_photos(again, *embedder_, "m", {}, &centres);
  ASSERT_TRUE(coded.ok());
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_EQ((*coded)[i].embedding, (*plain)[i].embedding) << "same photo, same vector";
    EXPECT_EQ((*coded)[i].code, model::binary_code((*coded)[i].embedding, centres));
    EXPECT_FALSE((*coded)[i].code.empty());
  }
}

// A real front head, trained here on the embeddings of 6 fronts and 6 kitchens.
tags::Head train_front_head(const std::vector<store::Photo>& fronts,
                            const std::vector<store::Photo>& kitchens, const std::string& model_id) {
  tags::Matrix x;
  x.cols = fronts[0].embedding.size();
  std::vector<int> labels;
  for (const auto* set : {&kitchens, &fronts})
    for (const auto& p : *set) {
      x.data.insert(x.data.end(), p.embedding.begin(), p.embedding.end());
      labels.push_back(set == &fronts ? 1 : 0);
      ++x.rows;
    }
  tags::Head h;
  h.task = tags::Task::kFront;
  h.model_id = model_id;
  h.classes = tags::task_classes(tags::Task::kFront);
  h.standardizer = tags::fit_standardizer(x);
  h.model = tags::fit_logreg(tags::standardize(x, h.standardizer), labels,
                             std::vector<double>(labels.size(), 1.0), 2, {});
  return h;
}

TEST_F(Prepare, ATaggerTagsEachPhotoAndAFailingOneLeavesItUntaggedWithTheReason) {
  const std::string model_id = embedder_->spec().id;
  auto fronts_in = decode_houses(6, "frontal");
  auto kitchens_in = decode_houses(6, "kitchen");
  auto fronts = embed_photos(fronts_in, *embedder_, model_id, {}, nullptr);
  auto kitchens = embed_photos(kitchens_in, *embedder_, model_id, {}, nullptr);
  ASSERT_TRUE(fronts.ok() && kitchens.ok());
  testing::TempDir dir;
  const std::string root = dir.path().string();
  ASSERT_TRUE(tags::save_head(train_front_head(*fronts, *kitchens, model_id),
                              tags::head_path(root, model_id, tags::Task::kFront)));
  auto heads = tags::HeadSet::load(root, model_id);
  ASSERT_TRUE(heads.ok()) << heads.message();
  const tags::Tagger tagger = tags::make_tagger(std::make_shared<const tags::HeadSet>(*heads));

  auto batch = decode_houses(2, "frontal");
  auto kitchen = decode_houses(2, "kitchen");
  for (auto& k : kitchen) batch.push_back(std::move(k));
  std::vector<std::string> failures;
  auto tagged = embed_photos(batch, *embedder_, model_id, tagger, nullptr, &failures);
  ASSERT_TRUE(tagged.ok()) << tagged.message();
  ASSERT_EQ(failures, std::vector<std::string>(4));
  for (std::size_t i = 0; i < 4; ++i) {
    const store::Tags& t = (*tagged)[i].tags;
    EXPECT_EQ(t.heads_id, heads->id());
    ASSERT_TRUE(t.front.has_value());
    if (i < 2) EXPECT_GT(*t.front, 0.5f) << "front photo " << i;
    else EXPECT_LT(*t.front, 0.5f) << "kitchen photo " << i;
  }

  // Heads trained on other embeddings (4-d) cannot tag these: the photos keep their
  // embeddings, stay untagged, and each failure names its photo.
  tags::Head wrong = train_front_head(*fronts, *kitchens, model_id);
  wrong.model.dim = 4;
  wrong.model.weights.resize(2 * 4);
  wrong.standardizer.mean.resize(4);
  wrong.standardizer.scale.resize(4);
  testing::TempDir dir2;
  ASSERT_TRUE(tags::save_head(wrong, tags::head_path(dir2.path().string(), model_id, tags::Task::kFront)));
  auto bad_heads = tags::HeadSet::load(dir2.path().string(), model_id);
  ASSERT_TRUE(bad_heads.ok()) << bad_heads.message();
  auto again = decode_houses(2, "frontal");
  const std::string name = again[1].name;
  auto untagged = embed_photos(again, *embedder_, model_id,
                               tags::make_tagger(std::make_shared<const tags::HeadSet>(*bad_heads)),
                               nullptr, &failures);
  ASSERT_TRUE(untagged.ok()) << untagged.message();
  ASSERT_EQ(failures.size(), 2u);
  EXPECT_NE(failures[1].find(name), std::string::npos) << failures[1];
  EXPECT_NE(failures[1].find("not tagged"), std::string::npos) << failures[1];
  for (const auto& p : *untagged) {
    EXPECT_TRUE(p.tags.heads_id.empty());
    EXPECT_FALSE(p.tags.front.has_value());
    EXPECT_NEAR(model::dot(p.embedding, p.embedding), 1.0f, 1e-4f);
  }
}

}  // namespace
}  // namespace homelens::ingest

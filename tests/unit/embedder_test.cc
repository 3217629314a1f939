// The pretrained models behave as published, and embeddings are reproducible.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include <opencv2/imgproc.hpp>

#include "homelens/image/decode.h"
#include "homelens/model/embedder.h"
#include "homelens/model/embedding.h"
#include "homelens/model/preprocess.h"
#include "support/testing.h"

namespace homelens {
namespace {

using testing::shared_dir;

model::ModelSpec spec_for(const std::string& id) {
  auto spec = model::find_model_spec(id, (shared_dir() / "models").string());
  EXPECT_TRUE(spec.ok()) << spec.message();
  return *spec;
}

cv::Mat load(const std::filesystem::path& p) {
  auto img = image::decode_file(p.string());
  EXPECT_TRUE(img.ok()) << img.message();
  return img->rgb;
}

struct MacawCase {
  const char* model_id;
  int macaw_index;
};

class MacawTest : public ::testing::TestWithParam<MacawCase> {};

TEST_P(MacawTest, ParrotPhotoIsAMacawWithEachModelSpec) {
  auto spec = spec_for(GetParam().model_id);
  auto embedder = model::Embedder::open(spec);
  ASSERT_TRUE(embedder.ok()) << embedder.message();
  auto out = embedder->embed({load(shared_dir() / "models/testdata/parrot.jpg")});
  ASSERT_TRUE(out.ok()) << out.message();
  const auto& probs = (*out)[0].probabilities;
  ASSERT_EQ(static_cast<int>(probs.size()), spec.num_classes);
  const int top = static_cast<int>(std::max_element(probs.begin(), probs.end()) - probs.begin());
  EXPECT_EQ(top, GetParam().macaw_index);
  EXPECT_GT(probs[top], 0.9f);
  auto labels = model::load_labels(spec.labels);
  ASSERT_TRUE(labels.ok());
  EXPECT_EQ((*labels)[top], "macaw");
}

INSTANTIATE_TEST_SUITE_P(BothSpecs, MacawTest,
                         ::testing::Values(MacawCase{"mobilenetv2-torchvision-imagenet", 88},
                                           MacawCase{"mobilenetv2-keras-imagenet", 89}));

TEST(Embedder, HotDogPhotoIsAHotdog) {
  auto embedder = model::Embedder::open(spec_for(model::kDefaultModelId));
  ASSERT_TRUE(embedder.ok());
  auto out = embedder->embed({load(shared_dir() / "models/testdata/hot_dog.jpg")});
  ASSERT_TRUE(out.ok());
  const auto& p = (*out)[0].probabilities;
  EXPECT_EQ(std::max_element(p.begin(), p.end()) - p.begin(), 934);
}

TEST(Embedder, EmbeddingsAreUnitLengthAnd1280Wide) {
  auto embedder = model::Embedder::open(spec_for(model::kDefaultModelId));
  ASSERT_TRUE(embedder.ok());
  auto out = embedder->embed({load(testing::houses_dir() / "images/1_frontal.jpg")});
  ASSERT_TRUE(out.ok());
  const auto& v = (*out)[0].vector;
  ASSERT_EQ(v.size(), 1280u);
  EXPECT_NEAR(model::dot(v, v), 1.0f, 1e-5);
}

TEST(Embedder, SamePhotoGivesTheSameEmbeddingAcrossRunsAndBatchSizes) {
  const auto spec = spec_for(model::kDefaultModelId);
  std::vector<cv::Mat> photos;
  for (const char* name : {"1_frontal.jpg", "1_kitchen.jpg", "2_bedroom.jpg", "3_bathroom.jpg",
                           "4_frontal.jpg", "5_kitchen.jpg", "6_frontal.jpg"})
    photos.push_back(load(testing::houses_dir() / "images" / name));

  auto first = model::Embedder::open(spec);
  ASSERT_TRUE(first.ok());
  auto batch7 = first->embed(photos);
  ASSERT_TRUE(batch7.ok());
  // A fresh network (another run) with batches of 1 and 3.
  auto second = model::Embedder::open(spec);
  ASSERT_TRUE(second.ok());
  for (std::size_t batch : {1u, 3u}) {
    for (std::size_t b = 0; b < photos.size(); b += batch) {
      std::vector<cv::Mat> part(photos.begin() + b,
                                photos.begin() + std::min(photos.size(), b + batch));
      auto out = second->embed(part);
      ASSERT_TRUE(out.ok());
      for (std::size_t i = 0; i < part.size(); ++i) {
        const auto& a = (*batch7)[b + i].vector;
        const auto& c = (*out)[i].vector;
        float max_diff = 0;
        for (std::size_t d = 0; d < a.size(); ++d) max_diff = std::max(max_diff, std::fabs(a[d] - c[d]));
        EXPECT_LT(max_diff, 1e-5f) << "photo " << b + i << " batch " << batch;
      }
    }
  }
}

// How far the one-pass network input (model::write_input) is from resize_and_crop then
// write_planes: the largest difference in 8-bit levels and the share of values that differ.
struct InputDiff {
  double max_levels = 0;
  double share_differing = 0;
};

InputDiff input_diff(const cv::Mat& rgb, const model::InputSpec& in) {
  const int n = 3 * in.width * in.height;
  std::vector<float> fused(n), two_step(n);
  model::write_input(rgb, in, fused.data());
  model::write_planes(model::resize_and_crop(rgb, in), in, two_step.data());
  InputDiff d;
  const int plane = in.width * in.height;
  int differing = 0;
  for (int i = 0; i < n; ++i) {
    const double level = in.scale / in.std[i / plane];  // one 8-bit step in this plane
    const double levels = std::fabs(fused[i] - two_step[i]) / level;
    d.max_levels = std::max(d.max_levels, levels);
    if (levels > 1e-3) ++differing;
  }
  d.share_differing = static_cast<double>(differing) / n;
  return d;
}

// The network sees the pixels it always saw: the fused resize+crop+normalize gives the
// two-step blob (at most one 8-bit level off where float sums round the other way) on
// house photos at full and reduced decode scale, a large photo and a small one (enlarged).
TEST(Preprocess, OnePassInputIsTheResizeCropNormalizeInput) {
  for (const char* id : {"mobilenetv2-torchvision-imagenet", "mobilenetv2-keras-imagenet"}) {
    const model::InputSpec in = spec_for(id).input;
    std::vector<cv::Mat> images;
    for (int h = 1; h <= 20; ++h) images.push_back(load(testing::houses_dir() / "images" / (std::to_string(h) + "_frontal.jpg")));
    const cv::Mat house = images.front();
    cv::Mat big, small, half;
    cv::resize(house, big, cv::Size(1531, 1017), 0, 0, cv::INTER_CUBIC);
    cv::resize(house, small, cv::Size(200, 150), 0, 0, cv::INTER_AREA);
    cv::resize(house, half, cv::Size(320, 240), 0, 0, cv::INTER_AREA);
    images.insert(images.end(), {big, small, half, house.t()});
    for (std::size_t i = 0; i < images.size(); ++i) {
      const InputDiff d = input_diff(images[i], in);
      EXPECT_LE(d.max_levels, 1.001) << id << " image " << i << " " << images[i].cols << "x" << images[i].rows;
      EXPECT_LT(d.share_differing, 0.001) << id << " image " << i;
    }
  }
}

// An upload on an idle server runs its network on every core (engine's wide_when_idle):
// the embedding is the one-thread one, for both specs.
TEST(Embedder, TwoThreadsGiveTheOneThreadEmbedding) {
  for (const char* id : {"mobilenetv2-torchvision-imagenet", "mobilenetv2-keras-imagenet"}) {
    const auto spec = spec_for(id);
    auto one = model::Embedder::open(spec, {1, true});
    auto two = model::Embedder::open(spec, {2, true});
    ASSERT_TRUE(one.ok() && two.ok());
    for (const char* name : {"59_frontal.jpg", "3_bathroom.jpg"}) {
      const cv::Mat photo = load(testing::houses_dir() / "images" / name);
      auto a = one->embed({photo});
      auto b = two->embed({photo});
      ASSERT_TRUE(a.ok() && b.ok());
      EXPECT_GT(model::dot((*a)[0].vector, (*b)[0].vector), 0.99999f) << id << " " << name;
    }
  }
}

TEST(ModelSpec, UnknownSpecAndMissingModelFileAreClearErrors) {
  auto missing = model::find_model_spec("no-such-model", (shared_dir() / "models").string());
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.message().find("no-such-model"), std::string::npos);

  auto wrong_dir = model::find_model_spec(model::kDefaultModelId, "/nonexistent-models");
  ASSERT_FALSE(wrong_dir.ok());
  EXPECT_NE(wrong_dir.message().find("model file not found"), std::string::npos);
}

TEST(ModelSpec, TorchvisionAndKerasNormalizationsDiffer) {
  auto tv = spec_for("mobilenetv2-torchvision-imagenet");
  auto keras = spec_for("mobilenetv2-keras-imagenet");
  // x/255 then ImageNet mean/std, against (x - 127.5) / 127.5.
  EXPECT_NEAR(tv.input.mean[0], 0.485, 1e-9);
  EXPECT_NEAR((255 * keras.input.scale - keras.input.mean[0]) / keras.input.std[0], 1.0, 1e-9);
  EXPECT_NEAR((0 * keras.input.scale - keras.input.mean[0]) / keras.input.std[0], -1.0, 1e-9);
}

}  // namespace
}  // namespace homelens

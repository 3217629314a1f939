// The pretrained models behave as published, and embeddings are reproducible.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iterator>

#include <opencv2/imgproc.hpp>

#include "homelens/image/decode.h"
#include "homelens/model/embedder.h"
#include "homelens/model/embedding.h"
#include "homelens/model/preprocess.h"
#include "support/testing.h"

namespace homelens {
namespace {

using testing::shared_dir;
using testing::TempDir;

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
                                           MacawCase{"mobilenetv2-torchvision-imagenet-whole", 88},
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
        for (std::size_t d = 0; d < a.size(); ++d)
          max_diff = std::max(max_diff, std::fabs(a[d] - c[d]));
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
  const cv::Size size = model::input_size(rgb.size(), in);
  const int plane = size.width * size.height, n = 3 * plane;
  std::vector<float> fused(n), two_step(n);
  model::write_input(rgb, in, fused.data());
  model::write_planes(model::resize_and_crop(rgb, in), in, two_step.data());
  InputDiff d;
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
  for (const char* id : {"mobilenetv2-torchvision-imagenet",
                         "mobilenetv2-torchvision-imagenet-whole", "mobilenetv2-keras-imagenet"}) {
    const model::InputSpec in = spec_for(id).input;
    std::vector<cv::Mat> images;
    for (int h = 1; h <= 20; ++h)
      images.push_back(
          load(testing::houses_dir() / "images" / (std::to_string(h) + "_frontal.jpg")));
    const cv::Mat house = images.front();
    cv::Mat big, small, half;
    cv::resize(house, big, cv::Size(1531, 1017), 0, 0, cv::INTER_CUBIC);
    cv::resize(house, small, cv::Size(200, 150), 0, 0, cv::INTER_AREA);
    cv::resize(house, half, cv::Size(320, 240), 0, 0, cv::INTER_AREA);
    images.insert(images.end(), {big, small, half, house.t()});
    for (std::size_t i = 0; i < images.size(); ++i) {
      const InputDiff d = input_diff(images[i], in);
      EXPECT_LE(d.max_levels, 1.001)
          << id << " image " << i << " " << images[i].cols << "x" << images[i].rows;
      // A shrink by a factor close to 1 (320x240 to 304x228 for the whole-photo spec) rounds
      // the other way most often: 0.2% of its values.
      EXPECT_LT(d.share_differing, 0.005) << id << " image " << i;
    }
  }
}

// An upload on an idle server runs its network on every core (engine's wide_when_idle):
// the embedding is the one-thread one, for both specs.
TEST(Embedder, TwoThreadsGiveTheOneThreadEmbedding) {
  for (const char* id : {"mobilenetv2-torchvision-imagenet",
                         "mobilenetv2-torchvision-imagenet-whole", "mobilenetv2-keras-imagenet"}) {
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

// The whole-photo spec gives the network the photo at its own aspect: listing photos are
// mostly 3:2 and 4:3, and a portrait is not turned on its side.
TEST(Preprocess, WholeSpecKeepsEachPhotosAspect) {
  const model::InputSpec in = spec_for("mobilenetv2-torchvision-imagenet-whole").input;
  EXPECT_EQ(model::input_size({720, 480}, in), cv::Size(336, 224));  // 3:2
  EXPECT_EQ(model::input_size({480, 720}, in), cv::Size(224, 336));  // its portrait
  EXPECT_EQ(model::input_size({640, 480}, in), cv::Size(304, 224));  // 4:3: 298.7 -> 304
  EXPECT_EQ(model::input_size({500, 500}, in), cv::Size(224, 224));
  EXPECT_EQ(model::input_size({1600, 400}, in), cv::Size(448, 224));  // 4:1, held at 2:1
  const cv::Mat house = load(testing::houses_dir() / "images/59_frontal.jpg");
  const cv::Mat x = model::resize_and_crop(house, in);
  EXPECT_EQ(x.size(), model::input_size(house.size(), in));
  // The centre-crop spec keeps its fixed square.
  EXPECT_EQ(model::input_size({720, 480}, spec_for("mobilenetv2-torchvision-imagenet").input),
            cv::Size(224, 224));
}

// The photo with its outer sixths, left and right, painted grey.
cv::Mat with_sides_painted(const cv::Mat& photo) {
  cv::Mat painted = photo.clone();
  const int side = photo.cols / 6;
  painted(cv::Rect(0, 0, side, photo.rows)).setTo(cv::Scalar(128, 128, 128));
  painted(cv::Rect(photo.cols - side, 0, side, photo.rows)).setTo(cv::Scalar(128, 128, 128));
  return painted;
}

// What a person sees at the sides of a house front (the garage, the next house) counts: painting
// over the outer sixths of a 3:2 photo leaves the centre-crop embedding as it was and moves the
// whole-photo one, and photos of several shapes in one batch embed as they do alone.
TEST(Embedder, WholeSpecSeesTheSidesTheCentreCropDrops) {
  cv::Mat photo = load(testing::houses_dir() / "images/1_frontal.jpg");
  ASSERT_GT(photo.cols, photo.rows * 1.4);
  const cv::Mat painted = with_sides_painted(photo);
  auto crop = model::Embedder::open(spec_for("mobilenetv2-torchvision-imagenet"));
  auto whole = model::Embedder::open(spec_for("mobilenetv2-torchvision-imagenet-whole"));
  ASSERT_TRUE(crop.ok() && whole.ok());
  auto c = crop->embed({photo, painted});
  auto w = whole->embed({photo, painted});
  ASSERT_TRUE(c.ok() && w.ok());
  EXPECT_GT(model::dot((*c)[0].vector, (*c)[1].vector), 0.999f);
  EXPECT_LT(model::dot((*w)[0].vector, (*w)[1].vector), 0.98f);

  const cv::Mat portrait = photo.t();
  const cv::Mat square = photo(cv::Rect(0, 0, photo.rows, photo.rows)).clone();
  auto mixed = whole->embed({photo, portrait, square, painted});
  ASSERT_TRUE(mixed.ok());
  const std::vector<cv::Mat> alone_photos{photo, portrait, square, painted};
  for (std::size_t i = 0; i < alone_photos.size(); ++i) {
    auto alone = whole->embed({alone_photos[i]});
    ASSERT_TRUE(alone.ok());
    EXPECT_GT(model::dot((*alone)[0].vector, (*mixed)[i].vector), 0.99999f) << "photo " << i;
  }
}

// One forward pass, two views: the embedding is the whole-photo spec's, and the heads' view is
// what the centre crop sees, so painting over the sides leaves it nearly where it was.
TEST(Embedder, TwoViewSpecGivesTheEmbeddingTheWholePhotoAndTheHeadsTheCentre) {
  cv::Mat photo = load(testing::houses_dir() / "images/1_frontal.jpg");
  const cv::Mat painted = with_sides_painted(photo);
  auto crop = model::Embedder::open(spec_for("mobilenetv2-torchvision-imagenet"));
  auto whole = model::Embedder::open(spec_for("mobilenetv2-torchvision-imagenet-whole"));
  auto two = model::Embedder::open(spec_for("mobilenetv2-torchvision-imagenet-two-view"));
  ASSERT_TRUE(crop.ok() && whole.ok() && two.ok());
  auto c = crop->embed({photo, painted});
  auto w = whole->embed({photo, painted});
  auto t = two->embed({photo, painted});
  ASSERT_TRUE(c.ok() && w.ok() && t.ok());
  for (int i = 0; i < 2; ++i) {
    EXPECT_GT(model::dot((*t)[i].vector, (*w)[i].vector), 0.99999f) << "photo " << i;
    ASSERT_EQ((*t)[i].head_vector.size(), (*t)[i].vector.size());
    EXPECT_NEAR(model::dot((*t)[i].head_vector, (*t)[i].head_vector), 1.0f, 1e-5f);
    std::printf("photo %d: cos(heads' view, centre crop) %.4f, cos(embedding, centre crop) %.4f\n",
                i, model::dot((*t)[i].head_vector, (*c)[i].vector),
                model::dot((*t)[i].vector, (*c)[i].vector));
    EXPECT_GT(model::dot((*t)[i].head_vector, (*c)[i].vector),
              model::dot((*t)[i].vector, (*c)[i].vector))
        << "the heads' view is nearer the centre crop than the whole photo is";
  }
  const float heads_moved = 1 - model::dot((*t)[0].head_vector, (*t)[1].head_vector);
  const float whole_moved = 1 - model::dot((*t)[0].vector, (*t)[1].vector);
  std::printf("painting the sides moves the heads' view %.4f, the embedding %.4f\n", heads_moved,
              whole_moved);
  EXPECT_LT(heads_moved, 0.6f * whole_moved);
  EXPECT_TRUE((*c)[0].head_vector.empty()) << "a one-view spec has no second vector";
}

TEST(ModelSpec, AHeadViewNeedsTheWholePhotoAndAFeatureMap) {
  auto spec = spec_for("mobilenetv2-torchvision-imagenet-two-view");
  EXPECT_EQ(spec.head_view, "centre");
  EXPECT_FALSE(spec.feature_map_output.empty());
  TempDir dir;
  std::ifstream in(spec.spec_path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string crop = "\"crop\": \"whole\"";
  ASSERT_NE(text.find(crop), std::string::npos);
  const std::string path = (dir / "centre.json").string();
  std::ofstream(path) << std::string(text).replace(text.find(crop), crop.size(),
                                                   "\"crop\": \"center\"");
  auto bad = model::load_model_spec(path, (shared_dir() / "models").string());
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find(path), std::string::npos) << bad.message();
  EXPECT_NE(bad.message().find("head_view"), std::string::npos) << bad.message();
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

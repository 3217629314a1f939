// The oneDNN backend gives the embeddings and classes OpenCV DNN gives, refuses
// graphs it cannot run by naming the operator, and "auto" falls back to OpenCV.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "homelens/image/decode.h"
#include "homelens/model/embedder.h"
#include "homelens/model/embedding.h"
#include "homelens/model/onednn_backend.h"
#include "support/testing.h"

namespace homelens {
namespace {

using testing::shared_dir;

model::ModelSpec spec_for(const std::string& id, const std::string& backend) {
  auto spec = model::find_model_spec(id, (shared_dir() / "models").string());
  EXPECT_TRUE(spec.ok()) << spec.message();
  spec->backend = backend;
  return *spec;
}

cv::Mat load(const std::filesystem::path& p) {
  auto img = image::decode_file(p.string());
  EXPECT_TRUE(img.ok()) << img.message();
  return img->rgb;
}

// 50 house photos (every room type), the same for every model.
const std::vector<cv::Mat>& house_photos() {
  static const std::vector<cv::Mat> photos = [] {
    std::vector<std::filesystem::path> files;
    for (const auto& e : std::filesystem::directory_iterator(testing::houses_dir() / "images"))
      files.push_back(e.path());
    std::sort(files.begin(), files.end());
    std::vector<cv::Mat> out;
    for (std::size_t i = 0; i < files.size() && out.size() < 50; i += files.size() / 50)
      out.push_back(load(files[i]));
    return out;
  }();
  return photos;
}

std::vector<model::Embedding> embed_all(model::Embedder& e, const std::vector<cv::Mat>& photos,
                                        std::size_t batch) {
  std::vector<model::Embedding> all;
  for (std::size_t i = 0; i < photos.size(); i += batch) {
    std::vector<cv::Mat> part(photos.begin() + i,
                              photos.begin() + std::min(photos.size(), i + batch));
    auto out = e.embed(part);
    EXPECT_TRUE(out.ok()) << out.message();
    if (out) all.insert(all.end(), out->begin(), out->end());
  }
  return all;
}

class OneDnnAgreesTest : public ::testing::TestWithParam<const char*> {};

TEST_P(OneDnnAgreesTest, EmbeddingsMatchOpenCvOnFiftyHousePhotos) {
  auto cv_e = model::Embedder::open(spec_for(GetParam(), "opencv"));
  auto dnn_e = model::Embedder::open(spec_for(GetParam(), "onednn"));
  ASSERT_TRUE(cv_e.ok()) << cv_e.message();
  ASSERT_TRUE(dnn_e.ok()) << dnn_e.message();
  const auto& photos = house_photos();
  ASSERT_EQ(photos.size(), 50u);
  // Batches of 8 (the last one 2) on oneDNN, one by one on OpenCV: batch size must not matter.
  auto a = embed_all(*cv_e, photos, 1);
  auto b = embed_all(*dnn_e, photos, 8);
  ASSERT_EQ(a.size(), photos.size());
  ASSERT_EQ(b.size(), photos.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_GE(model::dot(a[i].vector, b[i].vector), 0.99999f) << "photo " << i;
    // A two-view spec's heads' view comes from each backend's feature map output.
    ASSERT_EQ(a[i].head_vector.size(), b[i].head_vector.size()) << "photo " << i;
    if (!a[i].head_vector.empty()) {
      EXPECT_GE(model::dot(a[i].head_vector, b[i].head_vector), 0.99999f) << "photo " << i;
    }
    const auto top = [](const std::vector<float>& p) {
      return std::max_element(p.begin(), p.end()) - p.begin();
    };
    EXPECT_EQ(top(a[i].probabilities), top(b[i].probabilities)) << "photo " << i;
  }
}

TEST_P(OneDnnAgreesTest, ParrotIsStillAMacaw) {
  auto spec = spec_for(GetParam(), "onednn");
  auto e = model::Embedder::open(spec);
  ASSERT_TRUE(e.ok()) << e.message();
  auto out = e->embed({load(shared_dir() / "models/testdata/parrot.jpg")});
  ASSERT_TRUE(out.ok()) << out.message();
  const auto& p = (*out)[0].probabilities;
  ASSERT_EQ(static_cast<int>(p.size()), spec.num_classes);
  const auto top = std::max_element(p.begin(), p.end()) - p.begin();
  auto labels = model::load_labels(spec.labels);
  ASSERT_TRUE(labels.ok());
  EXPECT_EQ((*labels)[top], "macaw");
  EXPECT_GT(p[top], 0.9f);
}

TEST_P(OneDnnAgreesTest, AutoChoosesOneDnnForTheSharedModels) {
  auto backend = model::create_backend(spec_for(GetParam(), "auto"));
  ASSERT_TRUE(backend.ok()) << backend.message();
  EXPECT_STREQ((*backend)->name(), "onednn");
}

INSTANTIATE_TEST_SUITE_P(BothSpecs, OneDnnAgreesTest,
                         ::testing::Values("mobilenetv2-torchvision-imagenet",
                                           "mobilenetv2-torchvision-imagenet-whole",
                                           "mobilenetv2-torchvision-imagenet-two-view",
                                           "mobilenetv2-keras-imagenet"));

// data (N x 3 x 224 x 224) -> Sigmoid -> GlobalAveragePool -> Flatten -> embedding (N x 3):
// OpenCV DNN runs it, the oneDNN backend has no Sigmoid.
model::ModelSpec write_sigmoid_model(const std::filesystem::path& dir) {
  onnx::ModelProto m;
  m.set_ir_version(6);
  m.add_opset_import()->set_version(10);
  auto* g = m.mutable_graph();
  g->set_name("sigmoid_pool");
  auto* in = g->add_input();
  in->set_name("data");
  auto* tt = in->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(onnx::TensorProto::FLOAT);
  for (int d : {1, 3, 224, 224}) tt->mutable_shape()->add_dim()->set_dim_value(d);
  auto* out = g->add_output();
  out->set_name("embedding");
  auto* ot = out->mutable_type()->mutable_tensor_type();
  ot->set_elem_type(onnx::TensorProto::FLOAT);
  for (int d : {1, 3}) ot->mutable_shape()->add_dim()->set_dim_value(d);
  auto add_node = [&](const char* op, const char* from, const char* to) {
    auto* n = g->add_node();
    n->set_op_type(op);
    n->set_name(op);
    n->add_input(from);
    n->add_output(to);
  };
  add_node("Sigmoid", "data", "squashed");
  add_node("GlobalAveragePool", "squashed", "pool");
  add_node("Flatten", "pool", "embedding");
  const auto file = dir / "sigmoid.onnx";
  std::ofstream f(file, std::ios::binary);
  EXPECT_TRUE(m.SerializeToOstream(&f));
  f.close();

  model::ModelSpec spec;
  spec.id = "sigmoid-test";
  spec.format = "onnx";
  spec.files = {file.string()};
  spec.embedding_output = "embedding";
  spec.embedding_dim = 3;
  spec.spec_path = (dir / "sigmoid.json").string();
  return spec;
}

TEST(OneDnnBackend, RefusesAGraphWithAnUnsupportedOperatorByName) {
  testing::TempDir dir;
  auto spec = write_sigmoid_model(dir.path());
  auto backend = model::open_onednn_backend(spec, {});
  ASSERT_FALSE(backend.ok());
  EXPECT_NE(backend.message().find("operator Sigmoid"), std::string::npos) << backend.message();
  EXPECT_NE(backend.message().find("sigmoid.onnx"), std::string::npos) << backend.message();
  spec.backend = "onednn";
  auto embedder = model::Embedder::open(spec);
  ASSERT_FALSE(embedder.ok());
  EXPECT_NE(embedder.message().find("Sigmoid"), std::string::npos);
}

TEST(OneDnnBackend, AutoFallsBackToOpenCvAndStillRunsTheModel) {
  testing::TempDir dir;
  auto spec = write_sigmoid_model(dir.path());
  spec.backend = "auto";
  auto backend = model::create_backend(spec, {0, false});
  ASSERT_TRUE(backend.ok()) << backend.message();
  EXPECT_STREQ((*backend)->name(), "opencv");
  // A zero image: sigmoid(0) = 0.5 everywhere, so each pooled channel is 0.5.
  const int dims[] = {2, 3, 224, 224};
  cv::Mat blob(4, dims, CV_32F, cv::Scalar(0));
  auto out = (*backend)->forward(blob);
  ASSERT_TRUE(out.ok()) << out.message();
  ASSERT_EQ(out->embeddings.rows, 2);
  ASSERT_EQ(out->embeddings.cols, 3);
  for (int r = 0; r < 2; ++r)
    for (int c = 0; c < 3; ++c) EXPECT_NEAR(out->embeddings.at<float>(r, c), 0.5f, 1e-6);
}

TEST(OneDnnBackend, RejectsABlobOfTheWrongShape) {
  for (const char* id :
       {"mobilenetv2-torchvision-imagenet", "mobilenetv2-torchvision-imagenet-whole"}) {
    auto backend = model::open_onednn_backend(spec_for(id, "onednn"), {});
    ASSERT_TRUE(backend.ok()) << backend.message();
    const int dims[] = {1, 3, 100, 100};
    cv::Mat blob(4, dims, CV_32F, cv::Scalar(0));
    EXPECT_FALSE((*backend)->forward(blob).ok()) << id;
    // A 3:2 input is a shape only the whole-photo spec makes.
    const int wide[] = {1, 3, 224, 336};
    cv::Mat blob2(4, wide, CV_32F, cv::Scalar(0));
    EXPECT_EQ((*backend)->forward(blob2).ok(),
              std::string(id) == "mobilenetv2-torchvision-imagenet-whole")
        << id;
  }
}

}  // namespace
}  // namespace homelens

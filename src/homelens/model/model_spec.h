// A model spec (JSON) says everything needed to turn pixels into an embedding
// with one network: files, input geometry, normalization, output names.
#pragma once

#include <string>
#include <vector>

#include "homelens/core/result.h"

namespace homelens::model {

struct InputSpec {
  std::string name = "data";
  int width = 224;
  int height = 224;
  int resize_shorter = 256;        // shorter side scaled to this, then cropped; 0 = resize to WxH
  // "center": WxH from the middle of the photo; "none": the photo squeezed to WxH;
  // "whole": the whole photo at its own aspect (model::input_size), the input size varying.
  std::string crop = "center";
  // For "whole": the longer side is a multiple of size_step, at most max_aspect times the shorter.
  int size_step = 16;
  double max_aspect = 2.0;
  std::string interpolation = "area";  // "area", "linear", "cubic"
  std::string color = "RGB";       // channel order the network wants: "RGB" or "BGR"
  // Each channel becomes (pixel * scale - mean[c]) / std[c].
  double scale = 1.0 / 255.0;
  std::vector<double> mean{0.0, 0.0, 0.0};
  std::vector<double> std{1.0, 1.0, 1.0};
};

struct ModelSpec {
  std::string id;               // stable name stored with every embedding and head
  std::string description;
  std::string format;           // "onnx" or "caffe"
  std::string backend = "auto";  // runtime: "auto", "onednn" or "opencv" (model/backend.h)
  std::vector<std::string> files;  // resolved to absolute paths by load_model_spec
  std::string labels;           // resolved path, may be empty
  InputSpec input;
  std::string embedding_output;  // graph output used as the embedding
  std::string probabilities_output;  // graph output with class probabilities (may be empty)
  // Graph output with the last feature map (N x C x h x w) whose mean is the embedding; may be
  // empty, needed by head_view "centre".
  std::string feature_map_output;
  // What the tag heads (and their domain model) are given: "" the embedding itself; "centre" the
  // mean of the feature map's cells a centre crop (input.resize_shorter, then width x height)
  // would cover. With crop "whole" one forward pass then gives the visual part the whole photo
  // and the heads the centre view they judge style from best (docs/eval.md, "two views").
  std::string head_view;
  int embedding_dim = 0;
  int num_classes = 0;
  std::string spec_path;
};

// Parses a spec file; relative model and label paths are resolved against
// models_dir. Errors name the spec file and the field.
Result<ModelSpec> load_model_spec(const std::string& spec_path, const std::string& models_dir);

// Finds a spec by file path or by id among the specs shipped in the repository's
// models/ folder (HOMELENS_SPECS_DIR, overridable with $HOMELENS_SPECS).
Result<ModelSpec> find_model_spec(const std::string& path_or_id, const std::string& models_dir);

// The folder holding model weights: $HOMELENS_MODELS, else ../shared/models of the build.
std::string default_models_dir();

// The spec used when none is given. (Not the "-whole" spec: it gains on Wang and loses house
// style likeness; docs/eval.md, "the whole photo".)
inline constexpr const char* kDefaultModelId = "mobilenetv2-torchvision-imagenet";

// Class names, one a line, index = line number.
Result<std::vector<std::string>> load_labels(const std::string& path);

}  // namespace homelens::model

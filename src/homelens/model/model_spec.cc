#include "homelens/model/model_spec.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

namespace homelens::model {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string resolve(const std::string& p, const std::string& models_dir) {
  fs::path path(p);
  if (path.is_absolute()) return path.string();
  return (fs::path(models_dir) / path).lexically_normal().string();
}

std::string specs_dir() {
  if (const char* env = std::getenv("HOMELENS_SPECS")) return env;
  return HOMELENS_SPECS_DIR;
}

}  // namespace

std::string default_models_dir() {
  if (const char* env = std::getenv("HOMELENS_MODELS")) return env;
  return HOMELENS_DEFAULT_MODELS_DIR;
}

Result<ModelSpec> load_model_spec(const std::string& spec_path, const std::string& models_dir) {
  std::ifstream in(spec_path);
  if (!in) return make_error(spec_path, "cannot open model spec");
  json j;
  try {
    j = json::parse(in);
  } catch (const std::exception& e) {
    return make_error(spec_path, std::string("invalid JSON: ") + e.what());
  }
  ModelSpec s;
  s.spec_path = spec_path;
  try {
    s.id = j.at("id").get<std::string>();
    s.description = j.value("description", "");
    s.format = j.value("format", "onnx");
    if (s.format != "onnx" && s.format != "caffe")
      return make_error(spec_path, "format must be \"onnx\" or \"caffe\", not \"" + s.format + "\"");
    s.backend = j.value("backend", "auto");
    if (s.backend != "auto" && s.backend != "onednn" && s.backend != "opencv")
      return make_error(spec_path, "backend must be \"auto\", \"onednn\" or \"opencv\", not \"" +
                                       s.backend + "\"");
    for (const auto& f : j.at("files")) s.files.push_back(resolve(f.get<std::string>(), models_dir));
    if (s.files.empty()) return make_error(spec_path, "\"files\" is empty");
    if (s.format == "caffe" && s.files.size() != 2)
      return make_error(spec_path, "a caffe model needs two files: prototxt and caffemodel");
    if (j.contains("labels")) s.labels = resolve(j["labels"].get<std::string>(), models_dir);
    const json& in_j = j.at("input");
    s.input.name = in_j.value("name", s.input.name);
    s.input.width = in_j.at("width").get<int>();
    s.input.height = in_j.at("height").get<int>();
    s.input.resize_shorter = in_j.value("resize_shorter", 0);
    s.input.crop = in_j.value("crop", "center");
    s.input.size_step = in_j.value("size_step", s.input.size_step);
    s.input.max_aspect = in_j.value("max_aspect", s.input.max_aspect);
    s.input.interpolation = in_j.value("interpolation", "area");
    s.input.color = in_j.value("color", "RGB");
    s.input.scale = in_j.value("scale", 1.0);
    s.input.mean = in_j.value("mean", std::vector<double>{0, 0, 0});
    s.input.std = in_j.value("std", std::vector<double>{1, 1, 1});
    const json& out_j = j.at("outputs");
    s.embedding_output = out_j.at("embedding").get<std::string>();
    s.probabilities_output = out_j.value("probabilities", "");
    s.feature_map_output = out_j.value("feature_map", "");
    s.head_view = j.value("head_view", "");
    s.embedding_dim = j.at("embedding_dim").get<int>();
    s.num_classes = j.value("num_classes", 0);
  } catch (const std::exception& e) {
    return make_error(spec_path, std::string("bad or missing field: ") + e.what());
  }
  if (s.input.mean.size() != 3 || s.input.std.size() != 3)
    return make_error(spec_path, "input.mean and input.std need 3 values");
  for (double v : s.input.std)
    if (v == 0) return make_error(spec_path, "input.std must not contain 0");
  if (s.input.width <= 0 || s.input.height <= 0 || s.embedding_dim <= 0)
    return make_error(spec_path, "input size and embedding_dim must be positive");
  if (s.input.color != "RGB" && s.input.color != "BGR")
    return make_error(spec_path, "input.color must be RGB or BGR");
  if (s.input.crop != "center" && s.input.crop != "none" && s.input.crop != "whole")
    return make_error(spec_path, "input.crop must be \"center\", \"none\" or \"whole\"");
  if (s.input.crop == "whole" && (s.input.size_step <= 0 || s.input.max_aspect < 1 ||
                                  std::min(s.input.width, s.input.height) % s.input.size_step != 0))
    return make_error(
        spec_path,
        "with crop \"whole\", input.size_step must be positive and divide the shorter "
        "of width and height, and input.max_aspect must be at least 1");
  if (!s.head_view.empty() && s.head_view != "centre")
    return make_error(spec_path,
                      "head_view must be \"centre\" or absent, not \"" + s.head_view + "\"");
  if (s.head_view == "centre" &&
      (s.input.crop != "whole" || s.feature_map_output.empty() || s.input.resize_shorter <= 0))
    return make_error(spec_path,
                      "head_view \"centre\" needs input.crop \"whole\", input.resize_shorter (the "
                      "centre crop's scale) and outputs.feature_map");
  for (const auto& f : s.files)
    if (!fs::exists(f)) return make_error(spec_path, "model file not found: " + f);
  return s;
}

Result<ModelSpec> find_model_spec(const std::string& path_or_id, const std::string& models_dir) {
  if (fs::exists(path_or_id) && fs::is_regular_file(path_or_id))
    return load_model_spec(path_or_id, models_dir);
  fs::path candidate = fs::path(specs_dir()) / (path_or_id + ".json");
  if (fs::exists(candidate)) return load_model_spec(candidate.string(), models_dir);
  return make_error(path_or_id, "no such model spec file, and no spec with that id in " + specs_dir());
}

Result<std::vector<std::string>> load_labels(const std::string& path) {
  std::ifstream in(path);
  if (!in) return make_error(path, "cannot open labels file");
  std::vector<std::string> labels;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    labels.push_back(line);
  }
  return labels;
}

}  // namespace homelens::model

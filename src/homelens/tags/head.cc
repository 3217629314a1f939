#include "homelens/tags/head.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "homelens/image/decode.h"

namespace homelens::tags {

namespace fs = std::filesystem;
using json = nlohmann::json;

// Floats, not doubles, on disk: half the size, and a float prints and parses back exactly.
json to_floats(const std::vector<double>& v) {
  json a = json::array();
  for (double x : v) a.push_back(static_cast<float>(x));
  return a;
}

Result<std::vector<double>> from_floats(const json& j, std::size_t n, const std::string& what,
                                        const std::string& path) {
  if (!j.is_array() || j.size() != n)
    return make_error(path,
                      "\"" + what + "\" must be an array of " + std::to_string(n) + " numbers");
  std::vector<double> v;
  v.reserve(n);
  for (const auto& x : j) {
    if (!x.is_number()) return make_error(path, "\"" + what + "\" holds a non-number");
    v.push_back(static_cast<double>(x.get<float>()));
  }
  return v;
}

Result<std::vector<double>> rows_from_floats(const json& rows, std::size_t n,
                                             const std::string& what, const std::string& path) {
  if (!rows.is_array() || rows.empty())
    return make_error(path, "\"" + what + "\" must be a non-empty array of rows");
  std::vector<double> out;
  for (const auto& row : rows) {
    auto r = from_floats(row, n, what, path);
    if (!r) return r.error();
    out.insert(out.end(), r->begin(), r->end());
  }
  return out;
}

Result<json> read_json_file(const std::string& path, const std::string& format, int max_version,
                            const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(path, "cannot open " + what);
  json j = json::parse(in, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return make_error(path, "not a JSON " + what);
  if (j.value("format", "") != format)
    return make_error(path, "not a " + what + " (format is not \"" + format + "\")");
  if (!j.contains("version") || !j["version"].is_number_integer() || j["version"].get<int>() < 1 ||
      j["version"].get<int>() > max_version)
    return make_error(path, "unsupported " + what + " version (this build reads version" +
                                (max_version > 1 ? "s 1 to " : " ") + std::to_string(max_version) +
                                ")");
  return j;
}

Status write_json_file(const json& j, const std::string& path, const std::string& what) {
  std::error_code ec;
  if (fs::path(path).has_parent_path()) fs::create_directories(fs::path(path).parent_path(), ec);
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return make_error(path, "cannot write " + what);
    out << j.dump() << "\n";
    if (!out) return make_error(path, "cannot write " + what);
  }
  fs::rename(tmp, path, ec);  // atomic: a reader never sees half a file
  if (ec) return make_error(path, "cannot write " + what + ": " + ec.message());
  return {};
}

Result<std::vector<double>> predict(const Head& head, std::span<const float> embedding,
                                    const std::string& model_id) {
  if (model_id != head.model_id)
    return make_error(std::string(task_name(head.task)) + " head",
                      "trained on embeddings of model " + head.model_id +
                          ", refusing embeddings of model " + model_id);
  if (embedding.size() != head.model.dim)
    return make_error(std::string(task_name(head.task)) + " head",
                      "expects " + std::to_string(head.model.dim) + "-d embeddings, got " +
                          std::to_string(embedding.size()));
  Matrix z;
  z.rows = 1;
  z.cols = embedding.size();
  z.data.assign(embedding.begin(), embedding.end());
  apply_transform(head.transform, z.data);
  for (std::size_t j = 0; j < z.cols; ++j)
    z.data[j] = (z.data[j] - head.standardizer.mean[j]) / head.standardizer.scale[j];
  return predict_proba(head.model, z);
}

Status save_head(const Head& h, const std::string& path) {
  json j;
  j["format"] = kHeadFormat;
  j["version"] = kHeadVersion;
  j["task"] = task_name(h.task);
  j["model_id"] = h.model_id;
  j["embedding_dim"] = h.model.dim;
  j["classes"] = h.classes;
  // The L2-normalized embedding, transformed, then standardized per dimension.
  j["features"] = h.transform.name();
  j["transform"] = transform_json(h.transform);
  j["mean"] = to_floats(h.standardizer.mean);
  j["scale"] = to_floats(h.standardizer.scale);
  json w = json::array();
  for (std::size_t c = 0; c < h.model.classes; ++c)
    w.push_back(to_floats(std::vector<double>(h.model.weights.begin() + c * h.model.dim,
                                              h.model.weights.begin() + (c + 1) * h.model.dim)));
  j["weights"] = w;
  j["bias"] = to_floats(h.model.bias);
  j["training"] = h.training;
  return write_json_file(j, path, "head file");
}

Result<Head> load_head(const std::string& path) {
  auto file = read_json_file(path, kHeadFormat, kHeadVersion, "head file");
  if (!file) return file.error();
  const json& j = *file;
  const int version = j["version"].get<int>();
  Head h;
  try {
    if (version == 1) {
      // Version 1 heads standardize the embedding itself.
      if (j.value("features", "embedding") != "embedding")
        return make_error(path, "version 1 head with unknown \"features\"");
    } else {
      auto t = parse_transform(j.at("transform"), path);
      if (!t) return t.error();
      h.transform = *t;
    }
    auto t = parse_task(j.at("task").get<std::string>());
    if (!t) return make_error(path, t.message());
    h.task = *t;
    h.model_id = j.at("model_id").get<std::string>();
    h.classes = j.at("classes").get<std::vector<std::string>>();
    const auto dim = j.at("embedding_dim").get<std::size_t>();
    if (h.classes != task_classes(h.task))
      return make_error(path,
                        "classes do not match the " + std::string(task_name(h.task)) + " task");
    if (dim == 0) return make_error(path, "\"embedding_dim\" must be positive");
    auto mean = from_floats(j.at("mean"), dim, "mean", path);
    if (!mean) return mean.error();
    auto scale = from_floats(j.at("scale"), dim, "scale", path);
    if (!scale) return scale.error();
    for (double s : *scale)
      if (!(s > 0)) return make_error(path, "\"scale\" must be positive");
    h.standardizer = {std::move(*mean), std::move(*scale)};
    const json& w = j.at("weights");
    if (!w.is_array() || w.size() != h.classes.size())
      return make_error(path, "\"weights\" must have one row per class");
    h.model.classes = h.classes.size();
    h.model.dim = dim;
    for (const auto& row : w) {
      auto r = from_floats(row, dim, "weights", path);
      if (!r) return r.error();
      h.model.weights.insert(h.model.weights.end(), r->begin(), r->end());
    }
    auto b = from_floats(j.at("bias"), h.classes.size(), "bias", path);
    if (!b) return b.error();
    h.model.bias = std::move(*b);
    h.training = j.value("training", json::object());
  } catch (const json::exception& e) {
    return make_error(path, std::string("malformed head: ") + e.what());
  }
  return h;
}

std::string head_path(const std::string& root, const std::string& model_id, Task task) {
  return (fs::path(root) / model_id / (std::string(task_name(task)) + ".json")).string();
}

std::string default_heads_dir() {
  if (const char* env = std::getenv("HOMELENS_HEADS")) return env;
  return HOMELENS_DEFAULT_HEADS_DIR;
}

// Head and domain files are a few hundred KB to a few MB; the cap only guards the read.
constexpr std::size_t kMaxHeadsFileBytes = std::size_t{1} << 30;

Result<HeadSet> HeadSet::load(const std::string& root, const std::string& model_id) {
  HeadSet set;
  set.model_id_ = model_id;
  fs::path folder = fs::path(root) / model_id;
  std::error_code ec;
  if (!fs::is_directory(folder, ec)) folder = root;
  set.folder_ = folder.string();
  std::string fingerprint = model_id;
  for (Task t : kAllTasks) {
    const fs::path p = folder / (std::string(task_name(t)) + ".json");
    if (!fs::exists(p, ec)) continue;
    auto h = load_head(p.string());
    if (!h) return h.error();
    if (h->task != t)
      return make_error(p.string(), "holds a " + std::string(task_name(h->task)) + " head");
    if (h->model_id != model_id)
      return make_error(p.string(), "head trained for model " + h->model_id +
                                        ", not for the model in use (" + model_id + ")");
    auto bytes = image::read_file(p.string(), kMaxHeadsFileBytes);
    if (!bytes) return bytes.error();
    fingerprint += *bytes;
    set.heads_.push_back(std::move(*h));
  }
  if (set.heads_.empty()) return set;
  set.heads_only_id_ = "heads-" + image::sha256_hex(fingerprint).substr(0, 16);
  // The domain model changes what the heads say, so it is part of the heads' identity.
  const fs::path domain = folder / "domain.json";
  if (fs::exists(domain, ec)) {
    auto d = load_domain(domain.string());
    if (!d) return d.error();
    if (d->model_id != model_id)
      return make_error(domain.string(), "domain model learned on " + d->model_id +
                                             ", not on the model in use (" + model_id + ")");
    auto bytes = image::read_file(domain.string(), kMaxHeadsFileBytes);
    if (!bytes) return bytes.error();
    fingerprint += *bytes;
    set.domain_ = std::move(*d);
  }
  set.id_ = "heads-" + image::sha256_hex(fingerprint).substr(0, 16);
  return set;
}

HeadSet HeadSet::without_domain() const {
  HeadSet s = *this;
  s.domain_.reset();
  s.id_ = heads_only_id_;
  return s;
}

std::string HeadSet::tasks() const {
  std::string s;
  for (const auto& h : heads_) s += (s.empty() ? "" : ", ") + std::string(task_name(h.task));
  if (domain_) s += (s.empty() ? "" : ", ") + std::string("domain");
  return s;
}

const Head* HeadSet::get(Task t) const {
  for (const auto& h : heads_)
    if (h.task == t) return &h;
  return nullptr;
}

Status HeadSet::tag(std::span<const float> embedding, const std::string& model_id,
                    store::Tags& tags) const {
  if (domain_) {
    auto score = domain_score(*domain_, embedding, model_id);
    if (!score) return score.error();
    if (*score < domain_->threshold) {
      if (get(Task::kFront)) tags.front = 0.0f;
      tags.room.clear();
      tags.room_probs.clear();
      tags.style.clear();
      tags.style_probs.clear();
      tags.stories.clear();
      tags.stories_probs.clear();
      tags.heads_id = id_;
      return {};
    }
  }
  for (const auto& h : heads_) {
    auto p = predict(h, embedding, model_id);
    if (!p) return p.error();
    const std::size_t best =
        static_cast<std::size_t>(std::max_element(p->begin(), p->end()) - p->begin());
    std::map<std::string, float> probs;
    for (std::size_t c = 0; c < h.classes.size(); ++c)
      probs[h.classes[c]] = static_cast<float>((*p)[c]);
    switch (h.task) {
      case Task::kFront:
        tags.front = static_cast<float>((*p)[1]);
        break;
      case Task::kRoom:
        tags.room = h.classes[best];
        tags.room_probs = std::move(probs);
        break;
      case Task::kStyle:
        tags.style = h.classes[best];
        tags.style_probs = std::move(probs);
        break;
      case Task::kStories:
        tags.stories = h.classes[best];
        tags.stories_probs = std::move(probs);
        break;
    }
  }
  tags.heads_id = id_;
  return {};
}

}  // namespace homelens::tags
